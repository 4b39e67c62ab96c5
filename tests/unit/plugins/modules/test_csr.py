# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.csr end to end through main(): the JSON a controller would receive."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
from unittest import mock

import pytest
from ansible.module_utils import _internal as module_internal
from ansible.module_utils.common import warnings as common_warnings
from ansible.module_utils.testing import patch_module_args
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto
from ansible_collections.postmaster.tls.plugins.modules import csr as csr_module

PASSPHRASE = "Pm-Unit-Csr-Passphrase-7"


def run(args: dict, *, check: bool = False, diff: bool = True) -> tuple[str, dict]:
    params = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    out = io.StringIO()
    # Module-side warnings land in the result only outside the controller; other unit tests in the
    # same process import controller code, which flips that switch. Start each run with no warnings.
    with patch_module_args(params), contextlib.redirect_stdout(out), pytest.raises(SystemExit), \
            mock.patch.object(module_internal, "is_controller", False), \
            mock.patch.object(common_warnings, "_global_warnings", {}):
        csr_module.main()
    text = out.getvalue()
    return text, json.loads(text)


def warnings_of(result: dict) -> list[str]:
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


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


def test_create_then_keep(tmp_path, rsa_key_path):
    key_path, key = rsa_key_path
    args = args_for(tmp_path, key_path)
    _text, predicted = run(args, check=True)
    assert predicted["changed"] is True
    assert predicted["privatekey_matches"] is True
    assert not (tmp_path / "request.csr").exists()

    _text, created = run(args)
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
        _text, again = run(args, check=check)
        assert again["changed"] is False
        assert again["reasons"] == []
    assert (tmp_path / "request.csr").read_bytes() == content


def test_a_new_name_makes_a_new_csr(tmp_path, rsa_key_path):
    key_path, _key = rsa_key_path
    run(args_for(tmp_path, key_path))
    _text, result = run(args_for(tmp_path, key_path, subject_alt_names=["imap.example.org", "IP:127.0.0.1", "smtp.example.org"],
                                 backup=True))
    assert result["changed"] is True
    assert result["reasons"] == ["subject alternative names differ (missing DNS:smtp.example.org)"]
    assert "DNS:smtp.example.org" in result["diff"]["after"]["subject_alt_names"]
    assert "DNS:smtp.example.org" not in result["diff"]["before"]["subject_alt_names"]
    assert os.path.exists(result["backup_file"])


def test_a_new_key_makes_a_new_csr(tmp_path, rsa_key_path):
    key_path, _key = rsa_key_path
    run(args_for(tmp_path, key_path))
    other = ec.generate_private_key(ec.SECP256R1())
    write_key(key_path, other)
    _text, result = run(args_for(tmp_path, key_path))
    assert result["changed"] is True
    assert "the CSR is for another key" in result["reasons"]
    assert result["key_usage"] == ["digitalSignature"]
    assert result["spki_sha256"] == _crypto.spki_sha256(other.public_key())


def test_csr_from_another_tool_is_kept(tmp_path, rsa_key_path):
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
    _text, result = run(args_for(tmp_path, key_path, subject_alt_names=["imap.example.org"], country_name="DE"))
    assert result["changed"] is False
    assert path.read_bytes() == before


def test_ed25519_key_with_passphrase(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    key_path = tmp_path / "privkey.pem"
    write_key(key_path, key, PASSPHRASE)
    _text, result = run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE, digest="sha512"))
    assert result["changed"] is True
    assert result["digest"] is None
    assert result["key_usage"] == ["digitalSignature"]
    _text, again = run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE))
    assert again["changed"] is False


def test_must_staple_is_asked_for_and_warned_about(tmp_path, rsa_key_path):
    key_path, _key = rsa_key_path
    _text, result = run(args_for(tmp_path, key_path, ocsp_must_staple=True))
    assert result["ocsp_must_staple"] is True
    assert any("do not staple OCSP" in warning for warning in warnings_of(result))
    parsed = x509.load_pem_x509_csr(result["csr"].encode())
    assert x509.TLSFeatureType.status_request in parsed.extensions.get_extension_for_class(x509.TLSFeature).value


def test_missing_key_fails_for_real_and_is_predicted_in_check_mode(tmp_path):
    args = args_for(tmp_path, tmp_path / "missing.pem")
    _text, predicted = run(args, check=True)
    assert predicted["changed"] is True
    assert any("check mode assumes an earlier task creates it" in warning for warning in warnings_of(predicted))
    _text, result = run(args)
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
def test_failures_leave_the_existing_csr_alone(tmp_path, rsa_key_path, extra, message):
    key_path, key = rsa_key_path
    if "privatekey_passphrase" in extra:
        write_key(key_path, key, PASSPHRASE)
        run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE))
        message = "wrong privatekey_passphrase"
    else:
        run(args_for(tmp_path, key_path))
    before = (tmp_path / "request.csr").read_bytes()
    for check in (True, False):
        _text, result = run(args_for(tmp_path, key_path, **extra), check=check)
        assert result["failed"] is True
        assert message in result["msg"]
    assert (tmp_path / "request.csr").read_bytes() == before


def test_refuses_to_overwrite_a_private_key(tmp_path, rsa_key_path):
    key_path, _key = rsa_key_path
    before = key_path.read_bytes()
    _text, result = run({"path": str(key_path), "privatekey_path": str(key_path), "common_name": "mail.example.org"})
    assert result["failed"] is True
    assert "refusing to overwrite it" in result["msg"]
    assert key_path.read_bytes() == before


def test_corrupt_csr_is_replaced(tmp_path, rsa_key_path):
    key_path, _key = rsa_key_path
    path = tmp_path / "request.csr"
    path.write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    _text, result = run(args_for(tmp_path, key_path))
    assert result["changed"] is True
    assert result["reasons"] == [f"{path} is a corrupt CSR"]
    assert result["diff"]["before"]["state"] == "unreadable"


def test_no_key_bytes_or_passphrase_in_any_result(tmp_path):
    key = ec.generate_private_key(ec.SECP384R1())
    key_path = tmp_path / "privkey.pem"
    write_key(key_path, key, PASSPHRASE)
    outputs = [
        run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE), check=True)[0],
        run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE))[0],
        run(args_for(tmp_path, key_path, privatekey_passphrase=PASSPHRASE))[0],
        run(args_for(tmp_path, key_path, privatekey_passphrase="Wrong-Passphrase-3"))[0],
        run(args_for(tmp_path, key_path))[0],
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


def test_expected_errors_keep_their_message_unexpected_ones_only_their_type(monkeypatch, tmp_path, rsa_key_path):
    key_path, _key = rsa_key_path
    args = args_for(tmp_path, key_path)

    def refuse(module, request):
        raise csr_module._csr.CsrError("refused for a reason")

    monkeypatch.setattr(csr_module._csr, "ensure_csr", refuse)
    _text, result = run(args)
    assert (result["failed"], result["msg"], result["path"]) == (True, "refused for a reason", args["path"])

    def explode(module, request):
        raise KeyError("-----BEGIN PRIVATE KEY-----")

    monkeypatch.setattr(csr_module._csr, "ensure_csr", explode)
    _text, result = run(args)
    assert result["msg"] == f"unexpected error while making {args['path']}: KeyError"
