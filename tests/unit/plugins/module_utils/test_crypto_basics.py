# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared PEM/X.509 basics, checked against openssl as an outside witness where it matters."""

from __future__ import annotations

import datetime
import hashlib
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto


def _cert(key, issuer_key=None, *, cn="mail.example.org", issuer_cn=None, sans=("mail.example.org",), days=30):
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn or cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def test_load_certificates_reads_a_bundle_in_order(rsa_key, ec_key):
    a = _cert(rsa_key, cn="a.example.org", sans=("a.example.org",))
    b = _cert(ec_key, cn="b.example.org", sans=("b.example.org",))
    bundle = b"junk before\n" + a.public_bytes(serialization.Encoding.PEM) + b"\n" + b.public_bytes(serialization.Encoding.PEM)
    certs = _crypto.load_certificates(bundle)
    assert [c.serial_number for c in certs] == [a.serial_number, b.serial_number]


def test_load_certificates_names_the_corrupt_block(rsa_key):
    good = _cert(rsa_key).public_bytes(serialization.Encoding.PEM)
    bad = b"-----BEGIN CERTIFICATE-----\nMIIBdGFydGlhbA==\n-----END CERTIFICATE-----\n"
    with pytest.raises(_crypto.PEMError, match=r"chain\.pem: certificate block 2 is corrupt"):
        _crypto.load_certificates(good + bad, source="chain.pem")


def test_load_certificates_without_pem():
    with pytest.raises(_crypto.PEMError, match=r"no PEM certificate found"):
        _crypto.load_certificates(b"hello", source="x")


def test_private_key_passphrase_errors(rsa_key):
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"right")
    )
    plain = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    with pytest.raises(_crypto.KeyPassphraseError, match=r"is encrypted; set the passphrase"):
        _crypto.load_private_key(encrypted)
    with pytest.raises(_crypto.KeyPassphraseError, match=r"passphrase is wrong"):
        _crypto.load_private_key(encrypted, passphrase="wrong")
    with pytest.raises(_crypto.KeyPassphraseError, match=r"not encrypted"):
        _crypto.load_private_key(plain, passphrase="unneeded")
    assert _crypto.same_public_key(_crypto.load_private_key(encrypted, passphrase="right").public_key(), rsa_key.public_key())
    with pytest.raises(_crypto.PEMError, match=r"corrupt, truncated"):
        _crypto.load_private_key(plain[:200])


def test_error_messages_never_contain_key_material(rsa_key):
    plain = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(_crypto.PEMError) as caught:
        _crypto.load_private_key(plain[:300] + b"\n-----END PRIVATE KEY-----\n")
    message = str(caught.value)
    assert "-----BEGIN" not in message
    for line in plain.splitlines()[1:-1]:
        assert line.decode()[:16] not in message


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is the outside witness")
def test_spki_sha256_equals_openssl(tmp_path, ec_key):
    cert = _cert(ec_key)
    path = tmp_path / "c.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pub = subprocess.run(["openssl", "x509", "-in", str(path), "-pubkey", "-noout"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True, capture_output=True).stdout
    assert _crypto.spki_sha256(cert.public_key()) == hashlib.sha256(der).hexdigest()
    fp = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-fingerprint", "-sha256"], check=True, capture_output=True, text=True)
    assert _crypto.cert_fingerprint_sha256(cert) == fp.stdout.strip().split("=", 1)[1].lower()


def test_dates_are_aware_utc(rsa_key):
    cert = _cert(rsa_key, days=10)
    assert _crypto.not_valid_after(cert).tzinfo is not None
    assert 8 <= _crypto.days_remaining(cert) <= 10


def test_describe_public_key(rsa_key, ec_key):
    assert _crypto.describe_public_key(rsa_key.public_key()) == {"type": "rsa", "size": 2048}
    assert _crypto.describe_public_key(ec_key.public_key()) == {"type": "ecdsa", "curve": "secp256r1", "size": 256}


def test_is_signed_by(rsa_key, ec_key):
    ca = _cert(ec_key, cn="Test CA", sans=())
    leaf = _cert(rsa_key, ec_key, cn="mail.example.org", issuer_cn="Test CA")
    other_ca = _cert(rsa_key, cn="Test CA", sans=())  # same name, other key: must not link
    assert _crypto.is_signed_by(leaf, ca)
    assert not _crypto.is_signed_by(leaf, other_ca)
    assert not _crypto.is_signed_by(ca, leaf)


@pytest.mark.parametrize(
    ("pattern", "hostname", "expected"),
    [
        ("mail.example.org", "MAIL.example.org.", True),
        ("*.example.org", "mail.example.org", True),
        ("*.example.org", "a.b.example.org", False),
        ("*.example.org", "example.org", False),
        ("*.org", "example.org", False),
        ("m*.example.org", "mail.example.org", False),
        ("mail.example.org", "smtp.example.org", False),
    ],
)
def test_name_matches_rfc6125(pattern, hostname, expected):
    assert _crypto.name_matches(pattern, hostname) is expected


def test_covers_uses_sans_then_cn(rsa_key):
    with_san = _cert(rsa_key, cn="ignored.example.org", sans=("mail.example.org", "*.example.net"))
    assert _crypto.covers(with_san, "mail.example.org")
    assert _crypto.covers(with_san, "mx.example.net")
    assert not _crypto.covers(with_san, "ignored.example.org")
    cn_only = _cert(rsa_key, cn="legacy.example.org", sans=())
    assert _crypto.covers(cn_only, "legacy.example.org")
