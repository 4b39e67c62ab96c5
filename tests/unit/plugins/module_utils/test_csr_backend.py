# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The CSR backend: names, options, building, and comparing CSRs by meaning."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _csr


def request(**params) -> _csr.CsrRequest:
    base = {"path": "/r.csr", "privatekey_path": "/k.pem", "common_name": "mail.example.org"}
    base.update(params)
    return _csr.CsrRequest.from_params(base)


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "normalised"),
    [
        ("mail.example.org", "DNS:mail.example.org"),
        ("Mail.Example.ORG.", "DNS:mail.example.org"),
        ("DNS:*.example.org", "DNS:*.example.org"),
        ("dns: imap.example.org", "DNS:imap.example.org"),
        ("IP:192.0.2.25", "IP:192.0.2.25"),
        ("IP:2001:DB8:0::25", "IP:2001:db8::25"),
        ("email:postmaster@Example.ORG", "email:postmaster@example.org"),
        ("xn--bcher-kva.example", "DNS:xn--bcher-kva.example"),
        ("localhost", "DNS:localhost"),
    ],
)
def test_parse_san_normalises(entry, normalised):
    assert _csr.parse_san(entry) == normalised


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("192.0.2.25", "bare names are DNS names, write IP:192.0.2.25"),
        ("2001:db8::25", "write IP:2001:db8::25"),
        ("URI:https://example.org", "unsupported type 'URI'"),
        ("IP:mail.example.org", "is not an IPv4 or IPv6 address"),
        ("email:postmaster", "is not an e-mail address"),
        ("mail_server.example.org", "label 'mail_server' must be"),
        ("mail.*.example.org", "wildcard is only allowed as the whole left-most label"),
        ("*.org", "a wildcard needs at least two labels"),
        ("bücher.example", "write it as xn--bcher-kva.example"),
        ("", "empty entry"),
        ("1.2.3.999", "its last label is numeric"),
    ],
)
def test_parse_san_refuses(entry, message):
    with pytest.raises(_csr.CsrOptionError, match=message.replace("*", r"\*")):
        _csr.parse_san(entry)


def test_common_name_goes_first_into_the_sans_once():
    req = request(subject_alt_names=["imap.example.org", "MAIL.example.org", "IP:127.0.0.1"])
    assert req.subject_alt_names == ("DNS:mail.example.org", "DNS:imap.example.org", "IP:127.0.0.1")
    assert request(common_name="192.0.2.25").subject_alt_names == ("IP:192.0.2.25",)


def test_add_cn_to_san_false_keeps_the_cn_out():
    req = request(common_name="Example Mail Service", add_cn_to_san=False, subject_alt_names=["mail.example.org"])
    assert req.subject_alt_names == ("DNS:mail.example.org",)
    assert ("2.5.4.3", "Example Mail Service") in req.subject


def test_a_cn_that_is_no_host_name_names_the_option():
    with pytest.raises(_csr.CsrOptionError, match="add_cn_to_san=false"):
        request(common_name="Example Mail Service")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"digest": "sha1"}, "digest=sha1 is refused"),
        ({"digest": "MD5"}, "digest=MD5 is refused"),
        ({"digest": "sha3_256"}, "not supported"),
        ({"country_name": "DEU"}, "two-letter ISO 3166 code"),
        ({"organization_name": "x" * 65}, "at most 64"),
        ({"key_usage": ["signing"]}, "key_usage 'signing' is not a key usage"),
        ({"extended_key_usage": ["webAuth"]}, "extended_key_usage 'webAuth' is not known"),
        ({"common_name": None}, "the CSR names nothing"),
    ],
)
def test_request_refuses_bad_options(params, message):
    with pytest.raises(_csr.CsrOptionError, match=message):
        request(**params)


def test_usage_names_are_normalised():
    req = request(key_usage=["Digital Signature", "nonRepudiation"], extended_key_usage=["serverauth", "1.3.6.1.5.5.7.3.2"])
    assert req.key_usage == ("contentCommitment", "digitalSignature")
    assert req.extended_key_usage == ("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2")


def test_key_usage_defaults_by_key_type(rsa_key, ec_key):
    req = request()
    assert req.key_usage_for(rsa_key) == ("digitalSignature", "keyEncipherment")
    assert req.key_usage_for(ec_key) == ("digitalSignature",)
    with pytest.raises(_csr.CsrOptionError, match="keyEncipherment needs an RSA key"):
        request(key_usage=["keyEncipherment"]).key_usage_for(ec_key)


# ---------------------------------------------------------------------------------------------
# Building and comparing
# ---------------------------------------------------------------------------------------------
def test_build_csr_holds_what_was_asked(rsa_key):
    req = request(subject_alt_names=["imap.example.org", "IP:127.0.0.1", "email:postmaster@example.org"],
                  organization_name="Example Ltd", country_name="DE", ocsp_must_staple=True, digest="sha384")
    csr = _csr.build_csr(req, rsa_key)
    assert csr.is_signature_valid
    assert csr.signature_hash_algorithm.name == "sha384"
    assert csr.subject.rfc4514_string() == "CN=mail.example.org,O=Example Ltd,C=DE"
    assert _crypto.subject_alt_names(csr) == ["DNS:mail.example.org", "DNS:imap.example.org", "IP:127.0.0.1",
                                              "email:postmaster@example.org"]
    assert csr.extensions.get_extension_for_class(x509.KeyUsage).critical
    assert list(csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert x509.TLSFeatureType.status_request in csr.extensions.get_extension_for_class(x509.TLSFeature).value
    assert _csr.differences(_csr.content_of(csr), req.wanted(rsa_key)) == []


def test_ed25519_csr_has_no_digest():
    key = ed25519.Ed25519PrivateKey.generate()
    req = request()
    csr = _csr.build_csr(req, key)
    assert csr.is_signature_valid
    assert _csr.content_of(csr).digest is None
    assert req.wanted(key).digest is None


def test_san_only_csr_marks_san_critical(ec_key):
    req = request(common_name=None, subject_alt_names=["mail.example.org"])
    csr = _csr.build_csr(req, ec_key)
    assert csr.subject == x509.Name([])
    assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_a_csr_from_another_tool_that_means_the_same_is_equal(rsa_key):
    # Other attribute order, other SAN order, upper-case names, non-critical key usage.
    other = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.org"),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Ltd")]))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("IMAP.example.org"), x509.DNSName("mail.example.org")]),
                       critical=False)
        .sign(rsa_key, hashes.SHA256())
    )
    req = request(organization_name="Example Ltd", subject_alt_names=["imap.example.org", "IP:127.0.0.1"])
    assert _csr.differences(_csr.content_of(other), req.wanted(rsa_key)) == []


def test_differences_name_each_change(rsa_key, ec_key):
    found = _csr.content_of(_csr.build_csr(request(subject_alt_names=["imap.example.org"]), rsa_key))
    wanted = request(subject_alt_names=["smtp.example.org"], extended_key_usage=["serverAuth", "clientAuth"],
                     ocsp_must_staple=True, digest="sha512", organization_name="Example Ltd").wanted(ec_key)
    reasons = _csr.differences(found, wanted)
    assert "the CSR is for another key" in reasons
    assert "subject alternative names differ (missing DNS:smtp.example.org; extra DNS:imap.example.org)" in reasons
    assert any(reason.startswith("subject differs") for reason in reasons)
    assert "key usage differs (digitalSignature, keyEncipherment != digitalSignature)" in reasons
    assert "extended key usage differs (serverAuth != serverAuth, clientAuth)" in reasons
    assert "OCSP must-staple is not set, wanted" in reasons
    assert "signature digest is sha256, sha512 asked" in reasons


def test_unexpected_extensions_are_a_difference(rsa_key):
    req = request()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.org")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.example.org")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(rsa_key, hashes.SHA256())
    )
    reasons = _csr.differences(_csr.content_of(csr), req.wanted(rsa_key))
    assert "the CSR has extensions that were not asked for (2.5.29.19)" in reasons


def test_read_existing_csr_refuses_to_overwrite_keys_and_certificates(rsa_key):
    from cryptography.hazmat.primitives import serialization

    key_pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(_csr.CsrError, match="holds a private key, not a CSR; refusing to overwrite it"):
        _csr.read_existing_csr(key_pem, path="/r.csr")
    assert _csr.read_existing_csr(None, path="/r.csr") == (None, "no CSR at /r.csr")
    csr, problem = _csr.read_existing_csr(b"garbage", path="/r.csr")
    assert csr is None
    assert "not a readable CSR" in problem
    corrupt = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    assert _csr.read_existing_csr(corrupt, path="/r.csr") == (None, "/r.csr is a corrupt CSR")


def test_subject_facts_read_like_rfc4514(rsa_key):
    req = request(organization_name="Example Ltd", country_name="DE")
    assert req.wanted(rsa_key).facts()["subject"] == "CN=mail.example.org,O=Example Ltd,C=DE"
