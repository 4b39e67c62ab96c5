# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the keys scenario left on the containers, checked with openssl rather than with the modules."""

from __future__ import annotations

import json
import shlex

import pytest

BASE = "/etc/postmaster-tls/mail.example.test"
LAB = "/srv/pm-keys-lab"
PASSPHRASE = "Pm-Molecule-Passphrase-5"
KEYS = ["rsa", "ecdsa", "ed25519"]
ENCRYPTED = {"ed25519"}
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # what sha256sum prints when openssl failed


def saved(host, name: str) -> dict:
    return json.loads(host.file(f"/root/{name}").content_string)


def run_ok(host, command: str) -> str:
    result = host.run(command)
    assert result.rc == 0, f"{command}: {result.stderr}"
    return result.stdout + result.stderr


def openssl_spki(host, key_path: str, passphrase: str | None = None) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, as openssl computes it from the private key."""
    passin = f"-passin pass:{shlex.quote(passphrase)}" if passphrase else ""
    out = run_ok(host, f"openssl pkey -in {key_path} {passin} -pubout -outform DER | sha256sum")
    assert out.split()[0] != EMPTY_SHA256, f"openssl could not read {key_path}"
    return out.split()[0]


def csr_spki(host, csr_path: str) -> str:
    out = run_ok(host, f"openssl req -in {csr_path} -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum")
    assert out.split()[0] != EMPTY_SHA256, f"openssl could not read {csr_path}"
    return out.split()[0]


@pytest.mark.parametrize("name", KEYS)
def test_key_spki_matches_what_the_module_returned(host, name):
    passphrase = PASSPHRASE if name in ENCRYPTED else None
    assert openssl_spki(host, f"{BASE}/{name}/privkey.pem", passphrase) == saved(host, "pm-keys-results.json")["spki_sha256"][name]


def test_key_types_and_sizes(host):
    assert "Private-Key: (3072 bit" in run_ok(host, f"openssl pkey -in {BASE}/rsa/privkey.pem -noout -text")
    assert "ASN1 OID: prime256v1" in run_ok(host, f"openssl pkey -in {BASE}/ecdsa/privkey.pem -noout -text")
    assert "ED25519 Private-Key" in run_ok(host, f"openssl pkey -in {BASE}/ed25519/privkey.pem -passin pass:{PASSPHRASE} -noout -text")


@pytest.mark.parametrize(("name", "mode", "group"), [("rsa", 0o600, "root"), ("ecdsa", 0o640, "ssl-cert"), ("ed25519", 0o600, "root")])
def test_key_file_modes(host, name, mode, group):
    key = host.file(f"{BASE}/{name}/privkey.pem")
    assert key.mode == mode
    assert key.user == "root"
    assert key.group == group
    csr = host.file(f"{BASE}/{name}/request.csr")
    assert csr.mode == 0o644


def test_passphrase_protected_key_is_encrypted(host):
    key = host.file(f"{BASE}/ed25519/privkey.pem").content_string
    assert key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert host.run(f"openssl pkey -in {BASE}/ed25519/privkey.pem -passin pass:wrong -noout").rc != 0


@pytest.mark.parametrize("name", KEYS)
def test_csr_self_signature_verifies(host, name):
    out = run_ok(host, f"openssl req -in {BASE}/{name}/request.csr -verify -noout")
    assert "verify OK" in out


@pytest.mark.parametrize("name", KEYS)
def test_csr_is_for_the_key(host, name):
    passphrase = PASSPHRASE if name in ENCRYPTED else None
    assert csr_spki(host, f"{BASE}/{name}/request.csr") == openssl_spki(host, f"{BASE}/{name}/privkey.pem", passphrase)


def test_csr_contents(host):
    rsa = run_ok(host, f"openssl req -in {BASE}/rsa/request.csr -noout -text")
    for text in ("DNS:mail.example.test", "DNS:smtp.example.test", "DNS:imap.example.test", "IP Address:127.0.0.1",
                 "email:postmaster@example.test", "TLS Web Server Authentication", "Digital Signature, Key Encipherment",
                 "sha256WithRSAEncryption"):
        assert text in rsa
    ecdsa = run_ok(host, f"openssl req -in {BASE}/ecdsa/request.csr -noout -text")
    assert "ecdsa-with-SHA384" in ecdsa
    assert "Key Encipherment" not in ecdsa
    ed = run_ok(host, f"openssl req -in {BASE}/ed25519/request.csr -noout -text")
    assert "Signature Algorithm: ED25519" in ed
    # OCSP must-staple is refused for mail servers (Postfix and Dovecot cannot staple).
    assert "TLS Feature" not in ed and "status_request" not in ed


@pytest.mark.parametrize(("name", "subject"), [("rsa", "CN=mail.example.test"), ("ed25519", "CN=mail.example.test,O=Example Test Ltd,C=DE")])
def test_csr_subject(host, name, subject):
    # RFC 2253 output reads the same on OpenSSL 3.0 and 3.5 (their -text layouts differ).
    out = run_ok(host, f"openssl req -in {BASE}/{name}/request.csr -noout -subject -nameopt RFC2253")
    assert out.strip() == f"subject={subject}"
    assert saved(host, "pm-keys-results.json")["subject"][name] == subject


def test_subject_alt_names_match_what_the_module_returned(host):
    results = saved(host, "pm-keys-results.json")
    assert results["subject_alt_names"]["rsa"] == ["DNS:mail.example.test", "DNS:smtp.example.test", "DNS:imap.example.test",
                                                   "IP:127.0.0.1", "email:postmaster@example.test"]


@pytest.mark.parametrize(
    ("name", "first_line"),
    [
        ("pkcs8-rsa.pem", "-----BEGIN PRIVATE KEY-----"),
        ("trad-rsa.pem", "-----BEGIN RSA PRIVATE KEY-----"),
        ("sec1-ec.pem", "-----BEGIN EC PARAMETERS-----"),
        ("ed25519.pem", "-----BEGIN PRIVATE KEY-----"),
        ("trad-enc-rsa.pem", "-----BEGIN RSA PRIVATE KEY-----"),
        ("openssl.csr", "-----BEGIN CERTIFICATE REQUEST-----"),
    ],
)
def test_files_written_by_openssl_keep_their_flavour(host, name, first_line):
    content = host.file(f"{LAB}/{name}").content_string
    assert content.startswith(first_line)
    if name == "trad-enc-rsa.pem":
        assert "Proc-Type: 4,ENCRYPTED" in content


@pytest.mark.parametrize("name", ["missing", "by-pmkeys.pem", "encrypted.csr", "corrupt.csr", "nokey.csr"])
def test_failure_cases_wrote_nothing(host, name):
    assert not host.file(f"{LAB}/{name}").exists


def test_corrupt_key_is_still_corrupt(host):
    assert host.run(f"openssl pkey -in {LAB}/corrupt.pem -noout").rc != 0


def test_partial_idempotence_replaced_the_rsa_key_and_kept_a_backup(host):
    policies = saved(host, "pm-keys-policies.json")
    assert "ASN1 OID: prime256v1" in run_ok(host, f"openssl pkey -in {LAB}/policy-partial.pem -noout -text")
    assert openssl_spki(host, f"{LAB}/policy-partial.pem") == policies["partial_spki_sha256"]
    backup = policies["partial_backup"]
    assert openssl_spki(host, backup) == openssl_spki(host, f"{LAB}/pkcs8-rsa.pem")
    assert host.file(backup).mode == 0o600


def test_full_idempotence_backed_up_the_corrupt_key(host):
    policies = saved(host, "pm-keys-policies.json")
    assert host.file(policies["corrupt_backup"]).content_string == host.file(f"{LAB}/corrupt.pem").content_string
    assert "ASN1 OID: secp384r1" in run_ok(host, f"openssl pkey -in {LAB}/policy-full-corrupt.pem -noout -text")


def test_adding_a_passphrase_kept_the_key(host):
    policies = saved(host, "pm-keys-policies.json")
    content = host.file(f"{LAB}/policy-reprotect.pem").content_string
    assert content.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    spki = openssl_spki(host, f"{LAB}/policy-reprotect.pem", PASSPHRASE)
    assert spki == openssl_spki(host, f"{LAB}/ed25519.pem") == policies["reprotect_spki_sha256"]


def test_always_left_the_last_generated_key(host):
    policies = saved(host, "pm-keys-policies.json")
    assert openssl_spki(host, f"{LAB}/policy-always.pem") == policies["always_spki_sha256"]
