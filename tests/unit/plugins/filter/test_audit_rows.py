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
