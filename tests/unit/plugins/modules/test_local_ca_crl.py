# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.local_ca_crl run in-process: create, revoke, re-sign before nextUpdate, refuse bad input.

openssl on the test host is the outside witness: ``openssl crl -text`` must list what the module says
it revoked, and ``openssl verify -crl_check`` must refuse a revoked certificate and accept another.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crl, _x509
from ansible_collections.postmaster.tls.plugins.modules import local_ca_crl

DAY = datetime.timedelta(days=1)


@pytest.fixture
def ca(pki):
    """A local CA as postmaster.tls.local_ca makes it, two leaves it issued and one from another CA."""
    key = pki.key("crl-ca")
    cert = _certificate.issue_ca(key, subject=_certificate.ca_subject("Unit CRL CA"), valid_days=3650, path_length=0, now=pki.now)
    leaves = []
    for label in ("one", "two"):
        leaf_key = pki.key(f"crl-leaf-{label}")
        leaves.append(_certificate.issue_leaf(pki.csr(leaf_key), signing_key=key, issuer_cert=cert, valid_days=90, now=pki.now))
    other_key = pki.key("crl-other-ca")
    other = _certificate.issue_ca(other_key, subject=_certificate.ca_subject("Other CA"), valid_days=3650, path_length=0, now=pki.now)
    stranger = _certificate.issue_leaf(pki.csr(pki.key("crl-stranger")), signing_key=other_key, issuer_cert=other, valid_days=90, now=pki.now)
    return {
        "cert": cert, "key": key, "other": other, "other_key": other_key,
        "ca_cert_path": pki.write("ca.pem", cert), "ca_privatekey_path": pki.write("ca.key", key),
        "leaf_paths": [pki.write(f"leaf-{i}.pem", leaf) for i, leaf in enumerate(leaves)], "leaves": leaves,
        "stranger_path": pki.write("stranger.pem", stranger),
        "crl": str(pki.dir / "crl.pem"), "der": str(pki.dir / "crl.der"),
    }


def _args(ca, **extra):
    args = {"path": ca["crl"], "ca_cert_path": ca["ca_cert_path"], "ca_privatekey_path": ca["ca_privatekey_path"]}
    args.update(extra)
    return args


def _openssl(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *argv], capture_output=True, text=True, check=False)


def _snapshot(*paths: str) -> dict[str, bytes | None]:
    out = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                out[path] = handle.read()
        except FileNotFoundError:
            out[path] = None
    return out


def test_create_check_apply_and_idempotence(run_module, ca):
    predicted = run_module(local_ca_crl.main, _args(ca, der_path=ca["der"]), check_mode=True, diff=True)
    assert predicted["changed"] and predicted["resigned"] and predicted["reasons"] == [f"no CRL at {ca['crl']} yet"]
    assert not os.path.exists(ca["crl"]) and not os.path.exists(ca["der"])
    assert "crl_number: 1" in predicted["diff"]["after"]
    created = run_module(local_ca_crl.main, _args(ca, der_path=ca["der"]))
    assert created["changed"] and created["crl_number"] == 1 and created["revoked"] == []
    assert created["written"] == [ca["crl"], ca["der"]]
    assert created["issuer"] == "CN=Unit CRL CA" and created["renewal"]["due"] is False
    assert oct(os.stat(ca["crl"]).st_mode & 0o777) == "0o644"
    with open(ca["der"], "rb") as handle:
        der = handle.read()
    with open(ca["crl"], "rb") as handle:
        assert _crl.crl_pem(_crl.load_crl(der, source="der")) == handle.read()
    for check_mode in (True, False):
        again = run_module(local_ca_crl.main, _args(ca, der_path=ca["der"]), check_mode=check_mode)
        assert not again["changed"] and not again["resigned"] and again["crl_number"] == 1


def test_revoke_by_file_and_serial_and_openssl_agrees(run_module, ca):
    run_module(local_ca_crl.main, _args(ca))
    one, two = ca["leaves"]
    serial_two = _x509.serial_hex(two.serial_number)
    revoke = [{"path": ca["leaf_paths"][0], "reason": "keyCompromise"}, {"serial": serial_two, "reason": "superseded"}]
    check = run_module(local_ca_crl.main, _args(ca, revoke=revoke), check_mode=True)
    assert check["changed"] and check["crl_number"] == 2 and len(check["added"]) == 2
    with open(ca["crl"], "rb") as handle:
        assert len(_crl.load_crl(handle.read(), source="crl")) == 0  # nothing written in check mode
    result = run_module(local_ca_crl.main, _args(ca, revoke=revoke))
    assert result["changed"] and result["crl_number"] == 2
    assert set(result["added"]) == {_x509.serial_hex(one.serial_number), serial_two}
    assert {(e["serial"], e["reason"]) for e in result["revoked"]} == {(_x509.serial_hex(one.serial_number), "keyCompromise"),
                                                                       (serial_two, "superseded")}
    # Listing them again changes nothing; the same serial in another spelling neither.
    again = run_module(local_ca_crl.main, _args(ca, revoke=[{"serial": str(one.serial_number), "reason": "keyCompromise"}]))
    assert not again["changed"] and again["crl_number"] == 2

    text = _openssl("crl", "-in", ca["crl"], "-noout", "-text").stdout
    assert {int(value, 16) for value in re.findall(r"Serial Number: ([0-9A-F]+)", text)} == {one.serial_number, two.serial_number}
    assert "Key Compromise" in text and "Superseded" in text and re.search(r"CRL Number:\s*\n\s*2\b", text)
    leaf_two_path = ca["leaf_paths"][1]
    revoked = _openssl("verify", "-crl_check", "-CAfile", ca["ca_cert_path"], "-CRLfile", ca["crl"], ca["leaf_paths"][0])
    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + revoked.stderr
    assert _openssl("verify", "-crl_check", "-CAfile", ca["ca_cert_path"], "-CRLfile", ca["crl"], leaf_two_path).returncode != 0


def test_a_changed_reason_updates_the_entry_and_keeps_its_date(run_module, ca):
    first = run_module(local_ca_crl.main, _args(ca, revoke=[{"path": ca["leaf_paths"][0], "reason": "superseded"}]))
    changed = run_module(local_ca_crl.main, _args(ca, revoke=[{"path": ca["leaf_paths"][0], "reason": "keyCompromise"}]))
    assert changed["changed"] and "changes from superseded to keyCompromise" in changed["reasons"][0]
    assert changed["revoked"][0]["revocation_date"] == first["revoked"][0]["revocation_date"]
    assert changed["revoked"][0]["reason"] == "keyCompromise" and changed["crl_number"] == first["crl_number"] + 1


def test_an_unrevoked_certificate_passes_openssl_crl_check(run_module, ca):
    run_module(local_ca_crl.main, _args(ca, revoke=[{"path": ca["leaf_paths"][0], "reason": "keyCompromise"}]))
    good = _openssl("verify", "-crl_check", "-CAfile", ca["ca_cert_path"], "-CRLfile", ca["crl"], ca["leaf_paths"][1])
    assert good.returncode == 0 and "OK" in good.stdout, good.stdout + good.stderr


def _old_crl(ca, *, this_update, next_update, revoked=(), number=7):
    crl = _crl.build_crl(issuer_cert=ca["cert"], issuer_key=ca["key"], revoked=list(revoked), number=number,
                         this_update=this_update, next_update=next_update)
    with open(ca["crl"], "wb") as handle:
        handle.write(_crl.crl_pem(crl))


def test_resigned_before_next_update_keeping_the_entries(run_module, ca, pki):
    serial = ca["leaves"][0].serial_number
    _old_crl(ca, this_update=pki.now - 6 * DAY, next_update=pki.now + 1 * DAY,
             revoked=[(serial, pki.now - 6 * DAY, "keyCompromise")])
    result = run_module(local_ca_crl.main, _args(ca))
    assert result["changed"] and result["crl_number"] == 8
    assert result["reasons"] == ["re-signed before its nextUpdate: 1 days remain, fewer than renew_before_days=2"]
    assert [(e["serial"], e["reason"]) for e in result["revoked"]] == [(_x509.serial_hex(serial), "keyCompromise")]
    assert result["revoked"][0]["revocation_date"] == _x509.iso8601((pki.now - 6 * DAY).replace(microsecond=0))
    assert not run_module(local_ca_crl.main, _args(ca))["changed"]


def test_an_expired_crl_is_resigned(run_module, ca, pki):
    _old_crl(ca, this_update=pki.now - 10 * DAY, next_update=pki.now - 3 * DAY)
    result = run_module(local_ca_crl.main, _args(ca))
    assert result["changed"] and result["reasons"][0].startswith("re-signed before its nextUpdate: the CRL expired on ")
    assert any("clients have refused it since then" in warning for warning in result["warnings"])


# ---------------------------------------------------------------------------------------------
# Bad input: a clear message, nothing changed
# ---------------------------------------------------------------------------------------------
def _fails_and_changes_nothing(run_module, ca, args, message):
    before = _snapshot(ca["crl"], ca["der"])
    result = run_module(local_ca_crl.main, args)
    assert result.get("failed"), result
    assert message in result["msg"], result["msg"]
    assert _snapshot(ca["crl"], ca["der"]) == before


def test_a_crl_of_another_ca_is_never_overwritten(run_module, ca, pki):
    other = _crl.build_crl(issuer_cert=ca["other"], issuer_key=ca["other_key"], revoked=[], number=3,
                           this_update=pki.now, next_update=pki.now + 7 * DAY)
    with open(ca["crl"], "wb") as handle:
        handle.write(_crl.crl_pem(other))
    _fails_and_changes_nothing(run_module, ca, _args(ca, der_path=ca["der"]), "was issued by 'CN=Other CA', not by the CA")


def test_a_crl_with_the_same_name_but_another_key_is_refused(run_module, ca, pki):
    impostor_key = pki.key("crl-impostor")
    impostor = _certificate.issue_ca(impostor_key, subject=ca["cert"].subject, valid_days=100, path_length=0, now=pki.now)
    forged = _crl.build_crl(issuer_cert=impostor, issuer_key=impostor_key, revoked=[], number=3,
                            this_update=pki.now, next_update=pki.now + 7 * DAY)
    with open(ca["crl"], "wb") as handle:
        handle.write(_crl.crl_pem(forged))
    _fails_and_changes_nothing(run_module, ca, _args(ca), "its signature does not verify with the key of")


def test_a_file_that_is_not_a_crl_is_never_overwritten(run_module, ca):
    shutil.copy(ca["ca_cert_path"], ca["crl"])
    _fails_and_changes_nothing(run_module, ca, _args(ca), "does not hold a readable CRL; refusing to overwrite it")


def test_a_certificate_of_another_ca_cannot_be_revoked(run_module, ca):
    run_module(local_ca_crl.main, _args(ca))
    _fails_and_changes_nothing(run_module, ca, _args(ca, revoke=[{"path": ca["stranger_path"], "reason": "keyCompromise"}]),
                               "was not issued by this CA")


@pytest.mark.parametrize(("serial", "message"), [
    ("zz:01", "is not a serial number"),
    ("0", "is out of range"),
    ("1:2:345", "is not a serial number"),
])
def test_a_bad_serial_is_refused(run_module, ca, serial, message):
    run_module(local_ca_crl.main, _args(ca))
    _fails_and_changes_nothing(run_module, ca, _args(ca, revoke=[{"serial": serial}]), message)


@pytest.mark.parametrize(("extra", "message"), [
    ({"valid_days": 0}, "valid_days must be at least 1"),
    ({"renew_fraction": 0.9}, "renew_fraction must be above 0 and at most 0.5"),
    ({"renew_before_days": -1}, "renew_before_days cannot be negative"),
    ({"der_path": "/tmp/crl\n.der"}, "der_path: '/tmp/crl\\n.der' contains the control character(s) LF"),
    ({"der_path": "crl.der"}, "der_path: 'crl.der' is not an absolute path"),
])
def test_bad_options_are_refused(run_module, ca, extra, message):
    _fails_and_changes_nothing(run_module, ca, _args(ca, **extra), message)


def test_der_path_must_differ(run_module, ca):
    _fails_and_changes_nothing(run_module, ca, _args(ca, der_path=ca["crl"]), "der_path must differ from path")


def test_a_key_that_is_not_the_cas_is_refused(run_module, ca, pki):
    args = _args(ca, ca_privatekey_path=pki.write("wrong.key", pki.key("crl-wrong")))
    _fails_and_changes_nothing(run_module, ca, args, "is not the private key of the CA certificate")


def test_missing_ca_in_check_mode_predicts_and_warns(run_module, ca, pki):
    args = _args(ca, ca_cert_path=str(pki.dir / "later-ca.pem"))
    predicted = run_module(local_ca_crl.main, args, check_mode=True)
    assert predicted["changed"] and "does not exist yet (check mode)" in predicted["reasons"][0]
    assert any("check mode assumes" in warning for warning in predicted["warnings"])
    real = run_module(local_ca_crl.main, args)
    assert real["failed"] and "does not exist; create the local CA first" in real["msg"]
