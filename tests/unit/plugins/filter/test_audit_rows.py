# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.postmaster.tls.plugins.filter.audit_rows import audit_rows


def cert(days, **extra):
    facts = {"path": "/etc/postmaster-tls/mail.example.org/rsa/live/cert.pem", "subject_alt_names": ["DNS:mail.example.org"],
             "issuer": "CN=CA", "key_type": "rsa", "key_size": 2048, "key_curve": None, "not_after": "2027-01-01T00:00:00Z",
             "days_remaining": days, "spki_sha256": "ab"}
    facts.update(extra)
    return facts


def test_one_row_per_certificate_with_its_status():
    verify = {"failed_endpoints": [{"endpoint": "127.0.0.1:25/smtp", "failures": ["served certificate X is not the expected one"]},
                                   {"endpoint": "127.0.0.1:993/imaps", "failures": ["served certificate X is not the expected one"]}]}
    rows = audit_rows([cert(80), cert(10, key_type="ecdsa", key_curve="secp256r1", key_size=256), cert(-1)],
                      host="mx1", verify=verify, warn_days=21)
    assert [r["status"] for r in rows] == ["PORTS-FAIL", "EXPIRING", "EXPIRED"]
    assert rows[0]["names"] == ["mail.example.org"] and rows[0]["key"] == "rsa 2048" and rows[1]["key"] == "ecdsa secp256r1"
    assert rows[0]["ports_failed"] == ["127.0.0.1:25/smtp", "127.0.0.1:993/imaps"]
    assert rows[0]["port_failures"] == ["served certificate X is not the expected one"]
    assert audit_rows([cert(80)], host="mx1")[0]["status"] == "ok"
    assert audit_rows([], host="mx1") == []


PATH = "/etc/postmaster-tls/mail.example.org/rsa/live/cert.pem"


def lifecycle(*, status="good", due=False, serial="4f:2a", scts=0, scope="private", policy="not_applicable"):
    """What mail_tls_verify (expect_installed) reports for an installed certificate."""
    return {"path": PATH, "fingerprint_sha256": "3F:9A",
            "revocation": {"status": status, "serial": serial, "reason": "keyCompromise" if status == "revoked" else None},
            "renewal": {"due": due, "reason": "10 days remain" if due else None, "renew_at": "2026-12-20T00:00:00Z"},
            "certificate_transparency": {"count": scts, "scope": scope, "policy": policy}}


def test_revocation_renewal_and_ct_columns_come_from_the_checks_of_the_installed_certificates():
    verify = {"installed_certificates": [lifecycle()], "endpoints": [{"revocation": {"status": "good", "serial": "4f:2a"}}]}
    [row] = audit_rows([cert(80, serial="4f:2a")], host="mx1", verify=verify)
    assert (row["status"], row["serial"], row["revocation"], row["renew_at"]) == ("ok", "4f:2a", "good", "2026-12-20T00:00:00Z")
    assert row["ct"] == "0 SCT(s), none needed (private)" and row["served_revoked"] == []
    public = {"installed_certificates": [lifecycle(scts=3, scope="public", policy="compliant")]}
    assert audit_rows([cert(80)], host="mx1", verify=public)[0]["ct"] == "3 SCT(s), compliant"


def test_revoked_comes_first_then_expired_then_the_renewal_rule():
    revoked = {"installed_certificates": [lifecycle(status="revoked")]}
    assert audit_rows([cert(-3)], host="mx1", verify=revoked)[0]["status"] == "REVOKED"
    # Installed certificate fine, but a port still serves a revoked one (the old key after a revoke).
    served = {"installed_certificates": [lifecycle()], "failed_endpoints": [{"endpoint": "127.0.0.1:25/smtp", "failures": ["x"]}],
              "endpoints": [{"revocation": {"status": "revoked", "serial": "01:02"}}, {"revocation": {}}, {}]}
    row = audit_rows([cert(80)], host="mx1", verify=served)[0]
    assert row["status"] == "REVOKED" and row["served_revoked"] == ["01:02"]
    # The rule decides, not the days: 3 days left of a 6-day certificate is not due yet; 120 of 398 is, by the fraction.
    assert audit_rows([cert(3)], host="mx1", verify={"installed_certificates": [lifecycle(due=False)]})[0]["status"] == "ok"
    assert audit_rows([cert(120)], host="mx1", verify={"installed_certificates": [lifecycle(due=True)]})[0]["status"] == "EXPIRING"
    # Without mail_tls_verify's verdicts the certificate facts' own are used.
    own = cert(50, revocation={"status": "revoked", "serial": "4f:2a"}, renewal={"due": False})
    assert audit_rows([own], host="mx1")[0]["status"] == "REVOKED"


def test_rows_carry_the_hosts_worst_grade_and_the_subtests_per_port():
    grades = [{"endpoint": "127.0.0.1:25/smtp", "verdict": "would pass", "insufficient": [], "phase_out": ["cert_pubkey"]},
              {"endpoint": "127.0.0.1:993/imaps", "verdict": "would fail", "insufficient": ["tls_version", "tls_ciphers"],
               "phase_out": ["cert_pubkey"]},
              {"endpoint": "127.0.0.1:110/pop3", "verdict": "not graded", "insufficient": [], "phase_out": []}]
    verify = {"failed_endpoints": [{"endpoint": "127.0.0.1:993/imaps",
                                    "failures": ["internet.nl grade would fail (insufficient: tls_version, tls_ciphers)"]}],
              "grades": grades}
    [row] = audit_rows([cert(80)], host="mx1", verify=verify)
    assert row["grade"] == "would fail"
    assert row["grade_insufficient"] == ["127.0.0.1:993/imaps: tls_version, tls_ciphers"]
    assert row["grade_phase_out"] == ["127.0.0.1:25/smtp: cert_pubkey", "127.0.0.1:993/imaps: cert_pubkey"]
    assert row["status"] == "PORTS-FAIL"
    assert audit_rows([cert(80)], host="mx1", verify={"grades": grades[2:]})[0]["grade"] == "not graded"
    assert audit_rows([cert(80)], host="mx1", verify={"grades": grades[:1]})[0]["grade"] == "would pass"
    ungraded = audit_rows([cert(80)], host="mx1", verify={"failed_endpoints": []})[0]
    assert (ungraded["grade"], ungraded["grade_insufficient"], ungraded["grade_phase_out"]) == ("", [], [])


def test_bad_input_is_refused_naming_the_filter():
    with pytest.raises(AnsibleFilterError, match="expects the list of certificate facts"):
        audit_rows("x", host="mx1")
    with pytest.raises(AnsibleFilterError, match="warn_days 'soon' is not a whole number"):
        audit_rows([cert(1)], host="mx1", warn_days="soon")
