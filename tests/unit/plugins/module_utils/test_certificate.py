# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issuing leaves and local CA certificates, renewal decisions and certificate facts."""

from __future__ import annotations

import datetime
import re
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crypto, _x509
from ansible_collections.postmaster.tls.tests.unit.conftest import key_usage_of

DAY = datetime.timedelta(days=1)


@pytest.fixture
def ca(pki):
    key = pki.key("ca")
    return _certificate.issue_ca(key, subject=_certificate.ca_subject("Test Mail CA", "Example"), valid_days=3650,
                                 path_length=0, now=pki.now), key


def _ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


# ---------------------------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------------------------
def test_leaf_from_local_ca_has_the_server_profile(pki, ca):
    ca_cert, ca_key = ca
    leaf_key = pki.key("leaf-rsa", kind="rsa")
    csr = pki.csr(leaf_key, "mail.example.org", ["mail.example.org", "smtp.example.org"])
    cert = _certificate.issue_leaf(csr, signing_key=ca_key, issuer_cert=ca_cert, valid_days=90, now=pki.now)

    assert _crypto.is_signed_by(cert, ca_cert)
    assert cert.subject == csr.subject and cert.issuer == ca_cert.subject
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment and not usage.value.key_cert_sign
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _crypto.subject_alt_names(cert) == ["DNS:mail.example.org", "DNS:smtp.example.org"]
    ski = _ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key())
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(ca_cert, x509.SubjectKeyIdentifier).value.digest
    assert _crypto.not_valid_after(cert) - _crypto.not_valid_before(cert) == 90 * DAY + _certificate.BACKDATE


def test_ecdsa_leaf_has_no_key_encipherment(pki, ca):
    ca_cert, ca_key = ca
    cert = _certificate.issue_leaf(pki.csr(pki.key("leaf")), signing_key=ca_key, issuer_cert=ca_cert, valid_days=30, now=pki.now)
    assert not _ext(cert, x509.KeyUsage).value.key_encipherment


def test_serials_are_random_and_at_most_159_bits(pki, ca):
    ca_cert, ca_key = ca
    csr = pki.csr(pki.key("leaf"))
    serials = {_certificate.issue_leaf(csr, signing_key=ca_key, issuer_cert=ca_cert, valid_days=30, now=pki.now).serial_number
               for _attempt in range(8)}
    assert len(serials) == 8
    assert all(0 < s < 2 ** 159 for s in serials)
    assert max(s.bit_length() for s in serials) > 150


def test_self_signed_leaf(pki):
    key = pki.key("leaf")
    cert = _certificate.issue_leaf(pki.csr(key), signing_key=key, issuer_cert=None, valid_days=30, now=pki.now)
    assert _x509.is_self_signed(cert)
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == _ext(cert, x509.SubjectKeyIdentifier).value.digest


def test_cn_only_csr_gets_its_cn_as_san(pki, ca):
    ca_cert, ca_key = ca
    csr = pki.csr(pki.key("leaf"), "mail.example.org", sans=None)
    cert = _certificate.issue_leaf(csr, signing_key=ca_key, issuer_cert=ca_cert, valid_days=30, now=pki.now)
    assert _crypto.subject_alt_names(cert) == ["DNS:mail.example.org"]


def test_san_is_critical_when_the_subject_is_empty(pki, ca):
    ca_cert, ca_key = ca
    csr = pki.csr(pki.key("leaf"), None, ["mail.example.org"])
    cert = _certificate.issue_leaf(csr, signing_key=ca_key, issuer_cert=ca_cert, valid_days=30, now=pki.now)
    assert _ext(cert, x509.SubjectAlternativeName).critical


def test_leaf_never_outlives_its_ca(pki):
    key = pki.key("ca")
    short_ca = _certificate.issue_ca(key, subject=_certificate.ca_subject("Short CA"), valid_days=20, path_length=0, now=pki.now)
    cert = _certificate.issue_leaf(pki.csr(pki.key("leaf")), signing_key=key, issuer_cert=short_ca, valid_days=90, now=pki.now)
    assert _crypto.not_valid_after(cert) == _crypto.not_valid_after(short_ca)


def test_local_ca_certificate(pki):
    key = pki.key("ca")
    cert = _certificate.issue_ca(key, subject=_certificate.ca_subject("Test Mail CA", "Example"), valid_days=3650, path_length=0, now=pki.now)
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign and not usage.value.digital_signature
    assert _ext(cert, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert _x509.is_self_signed(cert)
    assert cert.subject.rfc4514_string() == "CN=Test Mail CA,O=Example"


def test_openssl_verifies_a_leaf_from_the_local_ca(pki, ca):
    ca_cert, ca_key = ca
    cert = _certificate.issue_leaf(pki.csr(pki.key("leaf")), signing_key=ca_key, issuer_cert=ca_cert, valid_days=30, now=pki.now)
    ca_path, leaf_path = pki.write("ca.pem", ca_cert), pki.write("leaf.pem", cert)
    out = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", ca_path, leaf_path],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def test_check_csr(pki):
    key = pki.key("leaf")
    _certificate.check_csr(pki.csr(key), csr_source="CSR x", private_key=key)
    with pytest.raises(_certificate.CertificateError, match="was not made with the private key"):
        _certificate.check_csr(pki.csr(key), csr_source="CSR x", private_key=pki.key("other"), key_source="k.pem")
    with pytest.raises(_certificate.CertificateError, match="1024 bits"):
        _certificate.check_csr(pki.csr(pki.key("weak", kind="rsa", size=1024)), csr_source="CSR x")
    # The same floors as every module: a P-192 key is refused for a certificate and for a local CA.
    from cryptography.hazmat.primitives.asymmetric import ec

    p192 = ec.generate_private_key(ec.SECP192R1())
    with pytest.raises(_certificate.CertificateError, match=r"secp192r1 .* weaker than P-256"):
        _certificate.check_csr(pki.csr(p192), csr_source="CSR x")
    with pytest.raises(_certificate.CertificateError, match="the CA private key k.pem is an EC key on secp192r1"):
        _certificate.check_key_strength(p192.public_key(), what="the CA private key k.pem")
    with pytest.raises(_certificate.CertificateError, match="neither subjectAltNames nor a common name"):
        _certificate.check_csr(pki.csr(key, None, None), csr_source="CSR x")


def test_load_csr_refuses_garbage():
    with pytest.raises(_certificate.CertificateError, match="not a certificate signing request"):
        _certificate.load_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", source="CSR x")


def test_check_ca(pki, ca):
    ca_cert, ca_key = ca
    _certificate.check_ca(ca_cert, ca_key, ca_source="ca.pem", key_source="ca.key", now=pki.now)
    with pytest.raises(_certificate.CertificateError, match="not the private key of the CA"):
        _certificate.check_ca(ca_cert, pki.key("other"), ca_source="ca.pem", key_source="ca.key", now=pki.now)
    leaf = pki.cert("mail.example.org", pki.key("leaf"))
    with pytest.raises(_certificate.CertificateError, match="is not a CA certificate"):
        _certificate.check_ca(leaf, pki.key("leaf"), ca_source="leaf.pem", key_source="leaf.key", now=pki.now)
    with pytest.raises(_certificate.CertificateError, match="expired"):
        _certificate.check_ca(ca_cert, ca_key, ca_source="ca.pem", key_source="ca.key", now=pki.now + 4000 * DAY)


def test_one_signing_ca_check_for_certificates_and_crls(pki):
    """The local CA issuing leaves and signing its CRL pass the same check; only the keyUsage bit asked differs."""
    key = pki.key("ca-no-crlsign")
    cert = pki.cert("Cert-only CA", key, ca=True, usage=key_usage_of(digital_signature=True, key_cert_sign=True))
    args = dict(ca_source="ca.pem", key_source="ca.key", now=pki.now)
    assert _x509.signing_ca_problem(cert, key, signs="certificates", **args) is None
    problem = _x509.signing_ca_problem(cert, key, signs="CRLs", **args)
    assert problem == ("ca.pem ('CN=Cert-only CA'): its keyUsage does not allow cRLSign, so clients refuse the CRLs it signs; "
                       "give the local CA's certificate, or create or renew it with postmaster.tls.local_ca")
    early = pki.cert("Future CA", key, ca=True, not_before=pki.now + DAY, not_after=pki.now + 100 * DAY)
    assert "is not valid before" in _x509.signing_ca_problem(early, key, signs="CRLs", **args)
    assert "renew it (postmaster.tls.local_ca) before it signs certificates" in _x509.signing_ca_problem(
        cert, key, signs="certificates", ca_source="ca.pem", key_source="ca.key", now=pki.now + 4000 * DAY)


def test_renewal_window():
    _certificate.check_renewal_window(valid_days=90, renew_before_days=30)
    with pytest.raises(_certificate.CertificateError, match="every run would issue"):
        _certificate.check_renewal_window(valid_days=30, renew_before_days=30)
    with pytest.raises(_certificate.CertificateError, match="at least 1"):
        _certificate.check_renewal_window(valid_days=0, renew_before_days=0)
    with pytest.raises(_certificate.CertificateError, match="negative"):
        _certificate.check_renewal_window(valid_days=10, renew_before_days=-1)


# ---------------------------------------------------------------------------------------------
# Renewal decisions
# ---------------------------------------------------------------------------------------------
def _reason(cert, csr, issuer, now, renew_before_days=30):
    return _certificate.leaf_renew_reason(cert, csr=csr, issuer_cert=issuer, issuer_source="ca.pem",
                                          renew_before_days=renew_before_days, now=now)


def test_a_fitting_certificate_is_kept(pki, ca):
    ca_cert, ca_key = ca
    csr = pki.csr(pki.key("leaf"), "mail.example.org", ["smtp.example.org", "mail.example.org"])
    cert = _certificate.issue_leaf(csr, signing_key=ca_key, issuer_cert=ca_cert, valid_days=90, now=pki.now)
    # SAN order and case do not matter.
    reordered = pki.csr(pki.key("leaf"), "mail.example.org", ["MAIL.example.org", "smtp.example.org"])
    assert _reason(cert, reordered, ca_cert, pki.now) is None


def test_renewal_reasons(pki, ca):
    ca_cert, ca_key = ca
    csr = pki.csr(pki.key("leaf"))
    cert = _certificate.issue_leaf(csr, signing_key=ca_key, issuer_cert=ca_cert, valid_days=90, now=pki.now)
    assert "key differs" in _reason(cert, pki.csr(pki.key("new-leaf")), ca_cert, pki.now)
    assert "subject changed" in _reason(cert, pki.csr(pki.key("leaf"), "smtp.example.org", ["mail.example.org"]), ca_cert, pki.now)
    assert "subjectAltNames changed" in _reason(cert, pki.csr(pki.key("leaf"), "mail.example.org", ["mail.example.org", "x.example.org"]),
                                                ca_cert, pki.now)
    other_ca = _certificate.issue_ca(pki.key("other-ca"), subject=_certificate.ca_subject("Test Mail CA", "Example"), valid_days=100,
                                     path_length=0, now=pki.now)
    assert "not issued by the CA" in _reason(cert, csr, other_ca, pki.now)
    assert "not self-signed" in _reason(cert, csr, None, pki.now)
    assert _reason(cert, csr, ca_cert, pki.now + 59 * DAY) is None
    assert _reason(cert, csr, ca_cert, pki.now + 61 * DAY) == "28 days remain, fewer than renew_before_days=30"
    assert "expired" in _reason(cert, csr, ca_cert, pki.now + 91 * DAY)


def test_a_renewed_ca_with_the_same_key_keeps_its_leaves(pki, ca):
    ca_cert, ca_key = ca
    csr = pki.csr(pki.key("leaf"))
    cert = _certificate.issue_leaf(csr, signing_key=ca_key, issuer_cert=ca_cert, valid_days=90, now=pki.now)
    renewed_ca = _certificate.issue_ca(ca_key, subject=ca_cert.subject, valid_days=5000, path_length=0, now=pki.now)
    assert _reason(cert, csr, renewed_ca, pki.now) is None


def test_ca_renewal_reasons(pki):
    key = pki.key("ca")
    subject = _certificate.ca_subject("Test Mail CA")
    cert = _certificate.issue_ca(key, subject=subject, valid_days=3650, path_length=0, now=pki.now)

    def reason(**kwargs):
        options = {"private_key": key, "subject": subject, "path_length": 0, "renew_before_days": 365, "now": pki.now}
        options.update(kwargs)
        return _certificate.ca_renew_reason(cert, **options)

    assert reason() is None
    assert "key differs" in reason(private_key=pki.key("other"))
    assert "subject changed" in reason(subject=_certificate.ca_subject("Other CA"))
    assert "path length changed" in reason(path_length=None)
    assert "fewer than renew_before_days=365" in reason(now=pki.now + 3300 * DAY)
    leaf = pki.cert("Test Mail CA", key, ca=False)
    assert "CA:TRUE" in _certificate.ca_renew_reason(leaf, private_key=key, subject=subject, path_length=0, renew_before_days=1, now=pki.now)


# ---------------------------------------------------------------------------------------------
# Facts
# ---------------------------------------------------------------------------------------------
def test_certificate_facts(pki, ca):
    ca_cert, ca_key = ca
    cert = _certificate.issue_leaf(pki.csr(pki.key("leaf")), signing_key=ca_key, issuer_cert=ca_cert, valid_days=90, now=pki.now)
    facts = _x509.certificate_facts(cert, now=pki.now)
    assert facts["subject"] == "CN=mail.example.org"
    assert facts["issuer"] == "CN=Test Mail CA,O=Example"
    assert facts["subject_alt_names"] == ["DNS:mail.example.org"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", facts["not_after"])
    assert facts["days_remaining"] == 89 or facts["days_remaining"] == 90
    assert facts["key_type"] == "ecdsa" and facts["key_curve"] == "secp256r1" and facts["key_size"] == 256
    assert facts["signature_algorithm"] == "ecdsa-with-SHA256"
    assert facts["fingerprint_sha256"] == _crypto.cert_fingerprint_sha256(cert)
    assert facts["spki_sha256"] == _crypto.spki_sha256(cert.public_key())
    assert facts["extended_key_usage"] == ["serverAuth"]
    assert facts["is_ca"] is False and facts["self_signed"] is False and facts["expired"] is False
    assert int(facts["serial"].replace(":", ""), 16) == cert.serial_number
    assert list(facts) == list(_x509.FACT_KEYS) and facts["dns_names"] == ["mail.example.org"]
    assert list(_x509.certificate_facts(cert, path="/x/cert.pem"))[:2] == ["path", "subject"]


def test_serial_hex_matches_openssl_style():
    assert _x509.serial_hex(0x0A1B) == "0a:1b"
    assert _x509.serial_hex(1) == "01"


def test_diff_summary_has_no_pem(pki):
    text = _certificate.diff_summary(pki.cert("mail.example.org", pki.key("leaf"), sans=["mail.example.org"]))
    assert "fingerprint_sha256" in text and "BEGIN" not in text
    assert _certificate.diff_summary(None) == "(no certificate)\n"


def test_inspect(pki):
    key = pki.key("leaf")
    path = pki.write("cert.pem", [pki.cert("mail.example.org", key), pki.cert("Other", pki.key("other"))])
    key_path = pki.write("key.pem", key)
    entries, warnings = _certificate.inspect([path], privatekey_path=key_path)
    assert entries[0]["count"] == 2 and entries[0]["matches_key"] is True and not warnings
    entries, _warnings = _certificate.inspect([path], privatekey_path=pki.write("other.pem", pki.key("other")))
    assert entries[0]["matches_key"] is False
    with pytest.raises(_certificate.CertificateError, match="does not exist"):
        _certificate.inspect([str(pki.dir / "missing.pem")])
    entries, warnings = _certificate.inspect([str(pki.dir / "missing.pem")], tolerate_missing=True)
    assert entries[0]["exists"] is False and warnings
