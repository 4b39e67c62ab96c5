# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local CA on the controller (plugin_utils._local_ca): created once, renewed by date, signing by the
modules' own rules, check mode writing nothing, the key read only when something is signed."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crl, _crypto
from ansible_collections.postmaster.tls.plugins.plugin_utils import _local_ca


def csr_pem(pki, label="mail", names=("mail.example.org",)) -> str:
    return pki.pem(pki.csr(pki.key(label), sans=names)).decode()


def write_ca(pki, directory, *, days=3650, key=None):
    """A CA like the one LocalCA makes, with a cached key (RSA 3072 is slow to generate)."""
    key = key or pki.key("local-ca", "rsa", 3072)
    os.makedirs(os.path.join(directory, "issued"), exist_ok=True)
    with open(os.path.join(directory, "ca.key"), "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    now = _crypto.utcnow()
    cert = _certificate.issue_ca(key, subject=_certificate.ca_subject("postmaster.tls local CA"), valid_days=days,
                                 path_length=0, now=now)
    with open(os.path.join(directory, "ca.pem"), "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def open_ca(directory, *, check_mode=False, create=True):
    return _local_ca.LocalCA(str(directory), common_name="postmaster.tls local CA", create=create, check_mode=check_mode).open()


def sign(ca, pki, **kw):
    args = {"host": "mx1", "name": "mail.example.org", "key_type": "ecdsa", "csr_pem": csr_pem(pki),
            "valid_days": 90, "renew_before_days": 30, "force": False}
    args.update(kw)
    return ca.sign(**args)


def test_a_new_ca_is_made_private_then_signs_and_keeps(tmp_path, pki):
    directory = tmp_path / "ca"
    ca = open_ca(directory)
    assert [c.split(" ")[0] for c in ca.changes] == ["create", "create", "issue"]
    assert stat.S_IMODE(os.stat(directory / "ca.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory / "ca.pem").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(directory / "issued").st_mode) == 0o700
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.cert_pem == (directory / "ca.pem").read_text()

    first = sign(ca, pki)
    assert first.changed and first.reason.startswith("no certificate at")
    assert first.path == str(directory / "issued" / "mx1-mail.example.org-ecdsa.pem")
    leaf = x509.load_pem_x509_certificate(first.pem.encode())
    assert _crypto.is_signed_by(leaf, ca_cert) and _crypto.dns_names(leaf) == ["mail.example.org"]
    assert first.diff["after"].startswith("subject: CN=mail.example.org")

    again = open_ca(directory)
    assert again.changes == [] and again.key is None
    kept = sign(again, pki)
    assert not kept.changed and kept.pem == first.pem and kept.diff is None


def test_a_run_that_signs_nothing_does_not_read_the_ca_key(tmp_path, pki, monkeypatch):
    write_ca(pki, tmp_path)
    sign(open_ca(tmp_path), pki)

    def refuse(*_args, **_kwargs):
        raise AssertionError("the CA key was read")

    monkeypatch.setattr(_crypto, "load_private_key", refuse)
    assert not sign(open_ca(tmp_path), pki).changed


def test_renewal_by_date_by_csr_and_by_force(tmp_path, pki):
    write_ca(pki, tmp_path)
    first = sign(open_ca(tmp_path), pki)
    assert "force=true" == sign(open_ca(tmp_path), pki, force=True).reason
    other_names = sign(open_ca(tmp_path), pki, csr_pem=csr_pem(pki, names=("mail.example.org", "smtp.example.org")))
    assert other_names.changed and "subjectAltNames changed" in other_names.reason
    # A window larger than what is left renews: 90-day certificate, renew 100 days before expiry.
    due = sign(open_ca(tmp_path), pki, valid_days=200, renew_before_days=100,
               csr_pem=csr_pem(pki, names=("mail.example.org", "smtp.example.org")))
    assert due.changed and "fewer than renew_before_days=100" in due.reason
    assert due.pem != first.pem


def test_check_mode_decides_alike_and_writes_nothing(tmp_path, pki):
    directory = tmp_path / "ca"
    ca = open_ca(directory, check_mode=True)
    assert not directory.exists() and ca.changes and not ca.can_sign
    predicted = sign(ca, pki)
    assert predicted.changed and predicted.pem is None and not directory.exists()

    write_ca(pki, directory)
    ca = open_ca(directory, check_mode=True)
    signed = sign(ca, pki)  # signed in memory, for the install's own check-mode decision
    assert signed.changed and signed.pem and not os.path.exists(signed.path)


def test_a_replaced_ca_key_re_issues_the_ca_certificate_before_signing(tmp_path, pki):
    old = write_ca(pki, tmp_path)
    sign(open_ca(tmp_path), pki)
    new_key = pki.key("other-ca", "rsa", 3072)
    (tmp_path / "ca.key").write_bytes(new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
    ca = open_ca(tmp_path)
    signed = sign(ca, pki, force=True)
    renewed = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    assert renewed.serial_number != old.serial_number
    assert any("the key was replaced" in change for change in ca.changes)
    assert _crypto.is_signed_by(x509.load_pem_x509_certificate(signed.pem.encode()), renewed)
    assert ca.cert_pem == (tmp_path / "ca.pem").read_text()


def test_a_ca_close_to_expiry_is_renewed_a_year_ahead(tmp_path, pki):
    old = write_ca(pki, tmp_path, days=200)
    ca = open_ca(tmp_path)
    assert any("fewer than renew_before_days=365" in change for change in ca.changes)
    assert x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes()).serial_number != old.serial_number


def test_without_create_a_missing_ca_is_an_error_naming_the_variable(tmp_path):
    with pytest.raises(_local_ca.LocalCAError, match="there is no local CA in .* set certificate_ca_create"):
        open_ca(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()


def test_bad_csr_and_bad_names_are_refused(tmp_path, pki):
    write_ca(pki, tmp_path)
    ca = open_ca(tmp_path)
    with pytest.raises(_local_ca.LocalCAError, match="the CSR of mx1"):
        sign(ca, pki, csr_pem="-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    with pytest.raises(_local_ca.LocalCAError, match="inventory host name '../x'"):
        sign(ca, pki, host="../x")
    with pytest.raises(_local_ca.LocalCAError, match="renew_before_days"):
        sign(ca, pki, valid_days=30, renew_before_days=30)
    assert os.listdir(tmp_path / "issued") == []


def _open_in_child(directory: str) -> None:
    open_ca(directory)


def test_hosts_opening_a_new_ca_at_once_make_one_ca(tmp_path):
    directory = str(tmp_path / "ca")
    os.makedirs(os.path.join(directory, "issued"))
    context = multiprocessing.get_context("spawn")  # fork would copy the threads of other tests
    children = [context.Process(target=_open_in_child, args=(directory,)) for _child in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join()
        assert child.exitcode == 0
    ca = open_ca(directory)
    assert ca.changes == []  # one of them made it; the others found it made, so nothing is left to do
    key = _crypto.load_private_key((tmp_path / "ca" / "ca.key").read_bytes())
    cert = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.pem").read_bytes())
    assert _crypto.same_public_key(cert.public_key(), key.public_key())
    assert _crypto.days_remaining(cert, now=datetime.datetime.now(datetime.timezone.utc)) > 3000


# --- the lifetime rule and the CRL distribution point -------------------------------------------------------
def test_short_lived_certificates_renew_at_half_life_not_on_every_run(tmp_path, pki):
    write_ca(pki, tmp_path)
    born = open_ca(tmp_path)
    born.now -= datetime.timedelta(days=2)
    assert sign(born, pki, valid_days=6, renew_before_days=5).changed
    # 2 of 6 days gone: by the days alone (5) it would be due; counted as at most half the lifetime (3) it is not.
    assert not sign(open_ca(tmp_path), pki, valid_days=6, renew_before_days=5).changed
    later = open_ca(tmp_path)
    later.now += datetime.timedelta(days=1, hours=12)
    due = sign(later, pki, valid_days=6, renew_before_days=5)
    assert due.changed and "fewer than renew_before_days=5 (counted as 3 days" in due.reason
    # The new one, issued at that moment, is not due at once.
    again = open_ca(tmp_path)
    again.now = later.now
    assert not sign(again, pki, valid_days=6, renew_before_days=5).changed


def test_the_fraction_renews_a_long_certificate_before_the_days_would(tmp_path, pki):
    write_ca(pki, tmp_path)
    born = open_ca(tmp_path)
    born.now -= datetime.timedelta(days=270)
    sign(born, pki, valid_days=398, renew_before_days=30)
    due = sign(open_ca(tmp_path), pki, valid_days=398, renew_before_days=30)  # 128 days left: under a third of 398
    assert due.changed and "less than renew_fraction=0.3333" in due.reason
    with pytest.raises(_local_ca.LocalCAError, match="renew_fraction must be above 0 and at most 0.5"):
        sign(open_ca(tmp_path), pki, renew_fraction=0.6)


def test_the_crl_distribution_point_is_written_and_a_change_reissues(tmp_path, pki):
    write_ca(pki, tmp_path)
    url = "http://crl.example.org/mail-ca.crl"
    first = sign(open_ca(tmp_path), pki, crl_distribution_points=[url])
    assert _crl.distribution_points(x509.load_pem_x509_certificate(first.pem.encode())) == [url]
    assert not sign(open_ca(tmp_path), pki, crl_distribution_points=[url]).changed
    dropped = sign(open_ca(tmp_path), pki)
    assert dropped.changed and dropped.reason == f"the CRL distribution points changed ({url} -> none)"


# --- the CRL ---------------------------------------------------------------------------------------------------
def _revoke_by_hand(directory, serial: int, *, age_days: float, number: int) -> None:
    """A CRL as postmaster.tls.local_ca_crl leaves it after a revocation, made ``age_days`` ago."""
    cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    key = _crypto.load_private_key((directory / "ca.key").read_bytes())
    then = _crypto.utcnow() - datetime.timedelta(days=age_days)
    crl = _crl.build_crl(issuer_cert=cert, issuer_key=key, revoked=[(serial, then, "keyCompromise")], number=number,
                         this_update=then, next_update=then + datetime.timedelta(days=7))
    (directory / "crl.pem").write_bytes(_crl.crl_pem(crl))


def test_the_first_crl_is_made_then_kept_and_openssl_reads_it(tmp_path, pki):
    write_ca(pki, tmp_path)
    kept = open_ca(tmp_path).keep_crl(valid_days=7)
    assert kept.resigned and kept.facts["crl_number"] == 1 and kept.facts["revoked"] == []
    for name in ("crl.pem", "crl.der"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644
    text = subprocess.run(["openssl", "crl", "-noout", "-text", "-in", str(tmp_path / "crl.der"), "-inform", "DER"],
                          capture_output=True, text=True, check=True).stdout
    assert "Issuer: CN = postmaster.tls local CA" in text and "X509v3 CRL Number" in text
    assert kept.pem == (tmp_path / "crl.pem").read_text() and kept.diff["before"] == "(no CRL)\n"
    before = (tmp_path / "crl.pem").read_bytes()
    again = open_ca(tmp_path).keep_crl(valid_days=7)
    assert not again.resigned and again.diff is None and (tmp_path / "crl.pem").read_bytes() == before


def test_a_crl_is_resigned_before_next_update_with_its_revocations(tmp_path, pki):
    write_ca(pki, tmp_path)
    _revoke_by_hand(tmp_path, 0x4F2A, age_days=1, number=4)
    assert not open_ca(tmp_path).keep_crl(valid_days=7).resigned  # 6 of 7 days left
    _revoke_by_hand(tmp_path, 0x4F2A, age_days=5.5, number=4)
    kept = open_ca(tmp_path).keep_crl(valid_days=7)
    assert kept.resigned and kept.facts["crl_number"] == 5
    assert [(e["serial"], e["reason"]) for e in kept.facts["revoked"]] == [("4f:2a", "keyCompromise")]
    assert kept.reasons[0].startswith("re-signed before its nextUpdate")
    _revoke_by_hand(tmp_path, 0x4F2A, age_days=8, number=5)
    expired = open_ca(tmp_path).keep_crl(valid_days=7)
    assert expired.resigned and "clients have refused it since then" in expired.warning


def test_check_mode_keeps_the_crl_in_memory_only(tmp_path, pki):
    ca = open_ca(tmp_path / "new", check_mode=True)
    predicted = ca.keep_crl(valid_days=7)
    assert predicted.resigned and predicted.pem is None and not (tmp_path / "new").exists()
    write_ca(pki, tmp_path)
    in_memory = open_ca(tmp_path, check_mode=True).keep_crl(valid_days=7)
    assert in_memory.resigned and "BEGIN X509 CRL" in in_memory.pem
    assert not (tmp_path / "crl.pem").exists() and not (tmp_path / "crl.der").exists()


def test_a_file_that_is_not_a_crl_is_never_overwritten(tmp_path, pki):
    write_ca(pki, tmp_path)
    (tmp_path / "crl.pem").write_text("not a CRL\n")
    with pytest.raises(_local_ca.LocalCAError, match="does not hold a readable CRL; refusing to overwrite it"):
        open_ca(tmp_path).keep_crl(valid_days=7)
    assert (tmp_path / "crl.pem").read_text() == "not a CRL\n" and not (tmp_path / "crl.der").exists()
    with pytest.raises(_local_ca.LocalCAError, match="certificate_crl_valid_days must be at least 1"):
        open_ca(tmp_path).keep_crl(valid_days=0)
