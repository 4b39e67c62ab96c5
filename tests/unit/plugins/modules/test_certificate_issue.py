# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.certificate and postmaster.tls.local_ca run in-process: check, apply, idempotence, renewal."""

from __future__ import annotations

import datetime
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto
from ansible_collections.postmaster.tls.plugins.modules import certificate, local_ca


@pytest.fixture
def files(pki):
    """A leaf key and CSR plus a CA key on disk."""
    leaf_key = pki.key("leaf")
    return {
        "key": pki.write("leaf.key", leaf_key),
        "csr": pki.write("leaf.csr", pki.csr(leaf_key, "mail.example.org", ["mail.example.org", "smtp.example.org"])),
        "ca_key": pki.write("ca.key", pki.key("ca")),
        "ca": str(pki.dir / "ca.pem"),
        "cert": str(pki.dir / "issued.pem"),
    }


def _ca_args(files, **extra):
    args = {"path": files["ca"], "privatekey_path": files["ca_key"], "common_name": "Unit Test CA"}
    args.update(extra)
    return args


def _ownca_args(files, **extra):
    args = {"path": files["cert"], "csr_path": files["csr"], "provider": "ownca", "ca_cert_path": files["ca"],
            "ca_privatekey_path": files["ca_key"], "privatekey_path": files["key"], "valid_days": 90, "renew_before_days": 30}
    args.update(extra)
    return args


def _load(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def test_local_ca_check_apply_idempotence(run_module, files):
    check = run_module(local_ca.main, _ca_args(files), check_mode=True)
    assert check["changed"] and not os.path.exists(files["ca"])
    assert check["renew_reason"].startswith("no certificate at")
    applied = run_module(local_ca.main, _ca_args(files))
    assert applied["changed"] and applied["renewed"] is False and applied["is_ca"] and applied["self_signed"]
    assert stat.S_IMODE(os.stat(files["ca"]).st_mode) == 0o644
    again_check = run_module(local_ca.main, _ca_args(files), check_mode=True)
    again = run_module(local_ca.main, _ca_args(files))
    assert not again_check["changed"] and not again["changed"] and again["renew_reason"] is None
    assert again["fingerprint_sha256"] == applied["fingerprint_sha256"]


def test_local_ca_subject_change_renews_with_the_same_key(run_module, files):
    run_module(local_ca.main, _ca_args(files))
    first = _load(files["ca"])
    renewed = run_module(local_ca.main, _ca_args(files, common_name="Renamed CA"))
    assert renewed["changed"] and renewed["renewed"] and "subject changed" in renewed["renew_reason"]
    assert _crypto.same_public_key(first.public_key(), _load(files["ca"]).public_key())


def test_ownca_check_apply_idempotence(run_module, files):
    run_module(local_ca.main, _ca_args(files))
    check = run_module(certificate.main, _ownca_args(files), check_mode=True, diff=True)
    assert check["changed"] and not os.path.exists(files["cert"])
    assert "subject: CN=mail.example.org" in check["diff"]["after"]
    applied = run_module(certificate.main, _ownca_args(files))
    assert applied["changed"] and not applied["renewed"]
    assert applied["subject_alt_names"] == ["DNS:mail.example.org", "DNS:smtp.example.org"]
    assert applied["issuer"] == "CN=Unit Test CA"
    assert applied["days_remaining"] in (89, 90)
    issued = _load(files["cert"])
    assert applied["fingerprint_sha256"] == _crypto.cert_fingerprint_sha256(issued)
    assert applied["not_after"] == _crypto.not_valid_after(issued).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert not run_module(certificate.main, _ownca_args(files), check_mode=True)["changed"]
    assert not run_module(certificate.main, _ownca_args(files))["changed"]


def test_short_lived_certificate_is_renewed_once(run_module, files):
    run_module(local_ca.main, _ca_args(files))
    run_module(certificate.main, _ownca_args(files, valid_days=2, renew_before_days=1))
    renewed = run_module(certificate.main, _ownca_args(files, valid_days=30, renew_before_days=10))
    assert renewed["changed"] and renewed["renewed"] is True
    assert renewed["renew_reason"] in ("1 days remain, fewer than renew_before_days=10", "2 days remain, fewer than renew_before_days=10")
    after = run_module(certificate.main, _ownca_args(files, valid_days=30, renew_before_days=10))
    assert not after["changed"] and after["renewed"] is False and after["days_remaining"] >= 29


def test_reissue_when_csr_key_or_ca_change(run_module, files, pki):
    run_module(local_ca.main, _ca_args(files))
    run_module(certificate.main, _ownca_args(files))
    # New names in the CSR.
    pki.write("leaf.csr", pki.csr(pki.key("leaf"), "mail.example.org", ["mail.example.org"]))
    result = run_module(certificate.main, _ownca_args(files))
    assert result["renewed"] and "subjectAltNames changed" in result["renew_reason"]
    # A new key and CSR.
    pki.write("leaf.key", pki.key("leaf2"))
    pki.write("leaf.csr", pki.csr(pki.key("leaf2"), "mail.example.org", ["mail.example.org"]))
    result = run_module(certificate.main, _ownca_args(files))
    assert result["renewed"] and "key differs" in result["renew_reason"]
    # A new CA (new key).
    pki.write("ca.key", pki.key("ca2"))
    run_module(local_ca.main, _ca_args(files))
    result = run_module(certificate.main, _ownca_args(files))
    assert result["renewed"] and "not issued by the CA" in result["renew_reason"]
    assert not run_module(certificate.main, _ownca_args(files))["changed"]


def test_key_replaced_without_new_csr_fails(run_module, files, pki):
    run_module(local_ca.main, _ca_args(files))
    pki.write("leaf.key", pki.key("leaf3"))
    result = run_module(certificate.main, _ownca_args(files))
    assert result["failed"] and "create the CSR again" in result["msg"]
    assert not os.path.exists(files["cert"])


def test_selfsigned(run_module, files):
    args = {"path": files["cert"], "csr_path": files["csr"], "privatekey_path": files["key"], "provider": "selfsigned"}
    first = run_module(certificate.main, args)
    assert first["changed"] and first["self_signed"] and first["issuer"] == "CN=mail.example.org"
    assert not run_module(certificate.main, args)["changed"]


def test_force_and_mode_changes(run_module, files):
    args = {"path": files["cert"], "csr_path": files["csr"], "privatekey_path": files["key"], "provider": "selfsigned"}
    first = run_module(certificate.main, args)
    forced = run_module(certificate.main, dict(args, force=True))
    assert forced["changed"] and forced["renew_reason"] == "force=true" and forced["serial"] != first["serial"]
    mode_check = run_module(certificate.main, dict(args, mode="0600"), check_mode=True)
    assert mode_check["changed"] and mode_check["renew_reason"] is None
    assert stat.S_IMODE(os.stat(files["cert"]).st_mode) == 0o644
    run_module(certificate.main, dict(args, mode="0600"))
    assert stat.S_IMODE(os.stat(files["cert"]).st_mode) == 0o600
    assert not run_module(certificate.main, dict(args, mode="0600"))["changed"]


def test_missing_inputs(run_module, files):
    args = _ownca_args(files)
    predicted = run_module(certificate.main, args, check_mode=True)
    assert predicted["changed"] and "does not exist yet (check mode)" in predicted["renew_reason"]
    assert any("does not exist yet" in w for w in predicted["warnings"])
    real = run_module(certificate.main, args)
    assert real["failed"] and "CA certificate" in real["msg"] and "does not exist" in real["msg"]


def test_renew_window_must_fit_the_validity(run_module, files):
    run_module(local_ca.main, _ca_args(files))
    result = run_module(certificate.main, _ownca_args(files, valid_days=30, renew_before_days=30))
    assert result["failed"] and "every run would issue" in result["msg"]


def test_ca_that_expires_too_soon_is_refused(run_module, files):
    run_module(local_ca.main, _ca_args(files, valid_days=40, renew_before_days=5))
    result = run_module(certificate.main, _ownca_args(files, valid_days=90, renew_before_days=45))
    assert result["failed"] and "renew the CA first" in result["msg"]
    assert not os.path.exists(files["cert"])


def test_unreadable_existing_file_is_replaced(run_module, files):
    with open(files["cert"], "w", encoding="ascii") as handle:
        handle.write("not a certificate\n")
    args = {"path": files["cert"], "csr_path": files["csr"], "privatekey_path": files["key"], "provider": "selfsigned", "backup": True}
    result = run_module(certificate.main, args)
    assert result["changed"] and result["renewed"] and "does not hold a readable certificate" in result["renew_reason"]
    assert os.path.exists(result["backup_file"])


def test_passphrases_stay_out_of_the_result(run_module, files, pki):
    from cryptography.hazmat.primitives import serialization

    secret = "Very-Secret-Phrase-42"
    encryption = serialization.BestAvailableEncryption(secret.encode())
    encrypted = pki.key("leaf").private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    pki.write("leaf.key", encrypted)
    args = {"path": files["cert"], "csr_path": files["csr"], "privatekey_path": files["key"], "provider": "selfsigned",
            "privatekey_passphrase": secret}
    result = run_module(certificate.main, args)
    assert result["changed"] and secret not in repr(result)
    wrong = run_module(certificate.main, dict(args, privatekey_passphrase="Not-The-Right-One-7"))
    assert wrong["failed"] and "the passphrase is wrong" in wrong["msg"] and "Not-The-Right-One-7" not in repr(wrong)


def test_not_after_is_utc_iso8601(run_module, files):
    args = {"path": files["cert"], "csr_path": files["csr"], "privatekey_path": files["key"], "provider": "selfsigned", "valid_days": 10,
            "renew_before_days": 2}
    result = run_module(certificate.main, args)
    parsed = datetime.datetime.strptime(result["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    assert abs((parsed - datetime.datetime.now(datetime.timezone.utc)) - datetime.timedelta(days=10)) < datetime.timedelta(minutes=1)


def test_csr_content_signs_like_the_file(run_module, files):
    """The role hands a host's CSR to the controller's CA as task input (no copy to a file first)."""
    run_module(local_ca.main, _ca_args(files))
    with open(files["csr"], encoding="ascii") as handle:
        csr_pem = handle.read()
    by_content = _ownca_args(files, csr_content=csr_pem)
    del by_content["csr_path"]
    applied = run_module(certificate.main, by_content)
    assert applied["changed"] and applied["subject_alt_names"] == ["DNS:mail.example.org", "DNS:smtp.example.org"]
    # The same request from the file is the same certificate: nothing to do.
    assert not run_module(certificate.main, _ownca_args(files))["changed"]
    assert not run_module(certificate.main, by_content)["changed"]
    garbage = run_module(certificate.main, dict(by_content, csr_content="-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"))
    assert garbage["failed"] and "CSR (csr_content) is not a certificate signing request" in garbage["msg"]
    both = run_module(certificate.main, dict(by_content, csr_path=files["csr"]))
    assert both["failed"] and "mutually exclusive" in both["msg"]


def test_batch_signs_each_certificate_like_a_single_run(run_module, files, pki):
    """One module run for a fleet's CSRs: each decided alone, one bad CSR does not stop the others."""
    run_module(local_ca.main, _ca_args(files))
    with open(files["csr"], encoding="ascii") as handle:
        good = handle.read()
    other_key = pki.key("other")
    other = pki.csr(other_key, "mx2.example.org", ["mx2.example.org"]).public_bytes(serialization.Encoding.PEM).decode("ascii")
    first, second, broken = (str(pki.dir / name) for name in ("mx1.pem", "mx2.pem", "mx3.pem"))
    args = {"provider": "ownca", "ca_cert_path": files["ca"], "ca_privatekey_path": files["ca_key"],
            "batch": [{"certificates": {first: good}, "valid_days": 90, "renew_before_days": 30},
                      {"certificates": {second: other}}]}
    check = run_module(certificate.main, args, check_mode=True, diff=True)
    assert check["changed"] and not os.path.exists(first) and not os.path.exists(second)
    applied = run_module(certificate.main, args)
    assert applied["changed"] and set(applied["certificates"]) == {first, second}
    assert applied["certificates"][first]["days_remaining"] in (89, 90)
    assert applied["certificates"][second]["days_remaining"] in (364, 365)  # the module's default
    assert _load(second).subject.rfc4514_string() == "CN=mx2.example.org"
    again = run_module(certificate.main, args)
    assert not again["changed"] and all(not entry["changed"] for entry in again["certificates"].values())
    # A garbage CSR fails its own certificate only; the good ones are still decided (and kept).
    args["batch"].append({"certificates": {broken: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}})
    mixed = run_module(certificate.main, args)
    assert mixed["failed"] and mixed["certificates"][broken]["failed"] and broken in mixed["msg"]
    assert not mixed["certificates"][first]["changed"] and "failed" not in mixed["certificates"][first]
    assert not os.path.exists(broken)
    forced = run_module(certificate.main, dict(args, batch=[{"certificates": {first: good}, "force": True}]))
    assert forced["certificates"][first]["renewed"] is True


def test_batch_refuses_a_path_twice_and_selfsigned(run_module, files):
    run_module(local_ca.main, _ca_args(files))
    with open(files["csr"], encoding="ascii") as handle:
        good = handle.read()
    twice = run_module(certificate.main, {"provider": "ownca", "ca_cert_path": files["ca"], "ca_privatekey_path": files["ca_key"],
                                          "batch": [{"certificates": {files["cert"]: good}}, {"certificates": {files["cert"]: good}}]})
    assert twice["failed"] and "listed more than once" in twice["msg"] and not os.path.exists(files["cert"])
    selfsigned = run_module(certificate.main, {"provider": "selfsigned", "privatekey_path": files["key"],
                                               "batch": [{"certificates": {files["cert"]: good}}]})
    assert selfsigned["failed"] and "provider=ownca" in selfsigned["msg"]
    missing_ca = run_module(certificate.main, {"provider": "ownca", "ca_cert_path": files["ca"] + ".nope",
                                               "ca_privatekey_path": files["ca_key"], "batch": [{"certificates": {files["cert"]: good}}]})
    assert missing_ca["failed"] and "does not exist" in missing_ca["certificates"][files["cert"]]["msg"]
