# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.csr end to end through main(): the JSON a controller would receive."""

from __future__ import annotations

import functools
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto
from ansible_collections.postmaster.tls.plugins.modules import csr as csr_module

PASSPHRASE = "Pm-Unit-Csr-Passphrase-7"


@pytest.fixture
def run(run_module):
    """csr.main() with diff mode on, as most tests look at the diff; returns the result."""
    return functools.partial(run_module, csr_module.main, diff=True)


def write_key(path, key, passphrase: str | None = None, fmt=serialization.PrivateFormat.PKCS8) -> None:
    enc = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, enc))
    os.chmod(path, 0o600)


@pytest.fixture
def rsa_key_path(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "privkey.pem"
    write_key(path, key)
    return path, key


def args_for(tmp_path, key_path, **extra) -> dict:
    return {"path": str(tmp_path / "request.csr"), "privatekey_path": str(key_path), "common_name": "mail.example.org",
            "subject_alt_names": ["imap.example.org", "IP:127.0.0.1"], **extra}


def test_create_then_keep(tmp_path, rsa_key_path, run):
    key_path, key = rsa_key_path
    args = args_for(tmp_path, key_path)
    predicted = run(args, check_mode=True)
    assert predicted["changed"] is True
    assert predicted["privatekey_matches"] is True
    assert not (tmp_path / "request.csr").exists()

    created = run(args)
    assert created["changed"] is True
    assert created["subject"] == "CN=mail.example.org"
    assert created["subject_alt_names"] == ["DNS:mail.example.org", "DNS:imap.example.org", "IP:127.0.0.1"]
    assert created["privatekey_matches"] is True
    assert created["spki_sha256"] == _crypto.spki_sha256(key.public_key())
    assert created["key_usage"] == ["digitalSignature", "keyEncipherment"]
    assert created["extended_key_usage"] == ["serverAuth"]
    content = (tmp_path / "request.csr").read_bytes()
    assert created["csr"] == content.decode()
    assert stat.S_IMODE(os.stat(tmp_path / "request.csr").st_mode) == 0o644
    parsed = x509.load_pem_x509_csr(content)
    assert parsed.is_signature_valid

    for check in (True, False):
        again = run(args, check_mode=check)
        assert again["changed"] is False
        assert again["reasons"] == []
    assert (tmp_path / "request.csr").read_bytes() == content


def test_a_new_name_makes_a_new_csr(tmp_path, rsa_key_path, run):
    key_path, _key = rsa_key_path
    run(args_for(tmp_path, key_path))
    result = run(args_for(tmp_path, key_path, subject_alt_names=["imap.example.org", "IP:127.0.0.1", "smtp.example.org"],
                          backup=True))
    assert result["changed"] is True
    assert result["reasons"] == ["subject alternative names differ (missing DNS:smtp.example.org)"]
    assert "DNS:smtp.example.org" in result["diff"]["after"]["subject_alt_names"]
    assert "DNS:smtp.example.org" not in result["diff"]["before"]["subject_alt_names"]
    assert os.path.exists(result["backup_file"])


def test_a_new_key_makes_a_new_csr(tmp_path, rsa_key_path, run):
    key_path, _key = rsa_key_path
    run(args_for(tmp_path, key_path))
    other = ec.generate_private_key(ec.SECP256R1())
    write_key(key_path, other)
    result = run(args_for(tmp_path, key_path))
    assert result["changed"] is True
    assert "the CSR is for another key" in result["reasons"]
    assert result["key_usage"] == ["digitalSignature"]
    assert result["spki_sha256"] == _crypto.spki_sha256(other.public_key())


def test_csr_from_another_tool_is_kept(tmp_path, rsa_key_path, run):
    key_path, key = rsa_key_path
    # Same meaning, other order of names and attributes, as openssl req -addext would write it.
    other = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.org"),
                                 x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("imap.example.org"), x509.DNSName("mail.example.org")]),
                       critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "request.csr"
    path.write_bytes(other.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o644)
    before = path.read_bytes()
    result = run(args_for(tmp_path, key_path, subject_alt_names=["imap.example.org"], country_name="DE"))
    assert result["changed"] is False
    assert path.read_bytes() == before


def test_ed25519_key_with_passphrase(tmp_path, run):
    key = ed25519.Ed25519PrivateKey.generate()
    key_path = tmp_path / "privkey.pem"
    write_key(key_path, key, PASSPHRASE)
    result = run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE, digest="sha512"))
    assert result["changed"] is True
    assert result["digest"] is None
    assert result["key_usage"] == ["digitalSignature"]
    again = run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE))
    assert again["changed"] is False


def test_must_staple_is_refused_for_a_mail_server(tmp_path, rsa_key_path, run):
    key_path, _key = rsa_key_path
    for check_mode in (True, False):
        result = run(args_for(tmp_path, key_path, ocsp_must_staple=True), check_mode=check_mode)
        assert result["failed"] is True
        assert "ocsp_must_staple=true asks for OCSP must-staple" in result["msg"]
        assert "Postfix and Dovecot cannot staple OCSP responses" in result["msg"]
        assert not (tmp_path / "request.csr").exists()


def test_missing_key_fails_for_real_and_is_predicted_in_check_mode(tmp_path, run):
    args = args_for(tmp_path, tmp_path / "missing.pem")
    predicted = run(args, check_mode=True)
    assert predicted["changed"] is True
    assert any("check mode assumes an earlier task creates it" in warning for warning in predicted["warnings"])
    result = run(args)
    assert result["failed"] is True
    assert "does not exist; create it first with postmaster.tls.private_key" in result["msg"]
    assert not (tmp_path / "request.csr").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"digest": "sha1"}, "digest=sha1 is refused"),
        ({"digest": "md5"}, "digest=md5 is refused"),
        ({"subject_alt_names": ["192.0.2.25"]}, "write IP:192.0.2.25"),
        ({"privatekey_passphrase": "Wrong-Passphrase-3"}, None),
    ],
)
def test_failures_leave_the_existing_csr_alone(tmp_path, rsa_key_path, extra, message, run):
    key_path, key = rsa_key_path
    if "privatekey_passphrase" in extra:
        write_key(key_path, key, PASSPHRASE)
        run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE))
        message = "wrong privatekey_passphrase"
    else:
        run(args_for(tmp_path, key_path))
    before = (tmp_path / "request.csr").read_bytes()
    for check in (True, False):
        result = run(args_for(tmp_path, key_path, **extra), check_mode=check)
        assert result["failed"] is True
        assert message in result["msg"]
    assert (tmp_path / "request.csr").read_bytes() == before


def test_refuses_to_overwrite_a_private_key(tmp_path, rsa_key_path, run):
    key_path, _key = rsa_key_path
    before = key_path.read_bytes()
    result = run({"path": str(key_path), "privatekey_path": str(key_path), "common_name": "mail.example.org"})
    assert result["failed"] is True
    assert "refusing to overwrite it" in result["msg"]
    assert key_path.read_bytes() == before


def test_corrupt_csr_is_replaced(tmp_path, rsa_key_path, run):
    key_path, _key = rsa_key_path
    path = tmp_path / "request.csr"
    path.write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    result = run(args_for(tmp_path, key_path))
    assert result["changed"] is True
    assert result["reasons"] == [f"{path} is a corrupt CSR"]
    assert result["diff"]["before"]["state"] == "unreadable"


def test_no_key_bytes_or_passphrase_in_any_result(tmp_path, run):
    key = ec.generate_private_key(ec.SECP384R1())
    key_path = tmp_path / "privkey.pem"
    write_key(key_path, key, PASSPHRASE)
    outputs = [
        run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE), check_mode=True).text,
        run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE)).text,
        run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE)).text,
        run(args_for(tmp_path, key_path, privatekey_passphrase="Wrong-Passphrase-3")).text,
        run(args_for(tmp_path, key_path)).text,
    ]
    body = [line for line in key_path.read_text().splitlines() if not line.startswith("-----")]
    plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    body += [line for line in plain.splitlines() if not line.startswith("-----")]
    for text in outputs:
        assert PASSPHRASE not in text
        assert "Wrong-Passphrase-3" not in text
        assert "********" not in text
        assert "PRIVATE KEY" not in text
        for line in body:
            assert line not in text


def test_expected_errors_keep_their_message_unexpected_ones_only_their_type(monkeypatch, tmp_path, rsa_key_path, run):
    key_path, _key = rsa_key_path
    args = args_for(tmp_path, key_path)

    def refuse(module, request):
        raise csr_module._csr.CsrError("refused for a reason")

    monkeypatch.setattr(csr_module._csr, "ensure_csr", refuse)
    result = run(args)
    assert (result["failed"], result["msg"], result["path"]) == (True, "refused for a reason", args["path"])

    def explode(module, request):
        raise KeyError("-----BEGIN PRIVATE KEY-----")

    monkeypatch.setattr(csr_module._csr, "ensure_csr", explode)
    result = run(args)
    assert result["msg"] == f"unexpected error while making {args['path']}: KeyError"


def test_batch_makes_a_csr_per_key_for_the_same_names(tmp_path, run):
    items = []
    for kind, key in (("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)), ("ecdsa", ec.generate_private_key(ec.SECP256R1()))):
        (tmp_path / kind).mkdir()
        write_key(tmp_path / kind / "privkey.pem", key)
        items.append({"path": str(tmp_path / kind / "request.csr"), "privatekey_path": str(tmp_path / kind / "privkey.pem")})
    args = {"batch": items, "common_name": "mail.example.org", "subject_alt_names": ["smtp.example.org"]}
    made = run(args)
    assert made["changed"] is True and list(made["requests"]) == [item["path"] for item in items]
    for item in items:
        outcome = made["requests"][item["path"]]
        request = x509.load_pem_x509_csr(outcome["csr"].encode())
        assert request.is_signature_valid and outcome["privatekey_matches"] is True
        assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mail.example.org"
    assert len(made["diff"]) == 2
    again = run(args)
    assert again["changed"] is False and all("csr" in outcome for outcome in again["requests"].values())

    items.append({"path": str(tmp_path / "missing.csr"), "privatekey_path": str(tmp_path / "missing.key")})
    failed = run(args)
    assert failed["failed"] is True and failed["msg"].startswith(f"{tmp_path / 'missing.csr'}: ")
    assert failed["requests"][items[0]["path"]]["changed"] is False


def test_batch_and_path_exclude_each_other(tmp_path, run):
    result = run({"batch": [{"path": str(tmp_path / "a.csr"), "privatekey_path": str(tmp_path / "a.key")}],
                  "path": str(tmp_path / "b.csr"), "common_name": "mail.example.org"})
    assert result["failed"] is True and "mutually exclusive" in result["msg"]


@pytest.mark.parametrize(("make_key", "says"), [
    (lambda: ec.generate_private_key(ec.SECP192R1()), "is an EC key on secp192r1 (192 bits), weaker than P-256"),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "is an RSA key of 1024 bits, fewer than 2048"),
])
def test_keys_below_the_floors_are_refused_and_nothing_written(tmp_path, run, make_key, says):
    """The same floors as every other module: RSA 2048 bits, EC P-256 (issue 22: a P-192 key was accepted)."""
    key_path = tmp_path / "weak.pem"
    write_key(key_path, make_key())
    for check_mode in (True, False):
        result = run(args_for(tmp_path, key_path), check_mode=check_mode)
        assert result["failed"] and says in result["msg"] and "P-256" in result["msg"]
    assert not (tmp_path / "request.csr").exists()
