# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What converge left on the host, checked with openssl in the container (not with the modules)."""

from __future__ import annotations

import re

import pytest

ETC = "/etc/postmaster-tls"
PKI = "/root/pki"
PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----\n.*?-----END \1-----\n", re.DOTALL)
KINDS = ["rsa", "ecdsa"]
LIVE_DIRS = [f"{ETC}/mail/rsa/live", f"{ETC}/mail/ecdsa/live", f"{ETC}/chain/rsa/live", f"{ETC}/chain/ecdsa/live", f"{ETC}/wildcard/live"]


def text(host, path: str) -> str:
    return host.check_output(f"openssl x509 -in {path} -noout -text")


def extension(cert_text: str, name: str) -> tuple[bool, str]:
    """(critical, value) of an X509v3 extension in `openssl x509 -text` output."""
    match = re.search(rf"X509v3 {re.escape(name)}:( critical)?[ \t]*\n\s*(.*?)\n", cert_text)
    assert match, f"no {name} in\n{cert_text}"
    return bool(match.group(1)), match.group(2).strip()


def blocks(host, path: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(0)) for m in PEM_BLOCK.finditer(host.file(path).content_string)]


def pubkey(host, command: str) -> str:
    return host.check_output(command)


def test_local_ca_has_ca_constraints_and_key_usage(host):
    cert = text(host, f"{ETC}/ca/ca.pem")
    assert extension(cert, "Basic Constraints") == (True, "CA:TRUE, pathlen:0")
    assert extension(cert, "Key Usage") == (True, "Certificate Sign, CRL Sign")
    _critical, ski = extension(cert, "Subject Key Identifier")
    assert re.fullmatch(r"([0-9A-F]{2}:){19}[0-9A-F]{2}", ski)
    assert "Issuer: O = postmaster.tls tests, CN = postmaster.tls Test Mail CA" in cert or \
        "Issuer: O=postmaster.tls tests, CN=postmaster.tls Test Mail CA" in cert


@pytest.mark.parametrize("kind", KINDS)
def test_issued_leaf_has_the_server_profile(host, kind):
    path = f"{ETC}/mail/{kind}/issued.pem"
    verify = host.run(f"openssl verify -purpose sslserver -CAfile {ETC}/ca/ca.pem {path}")
    assert verify.rc == 0 and verify.stdout.strip() == f"{path}: OK", verify.stdout + verify.stderr
    cert = text(host, path)
    ca = text(host, f"{ETC}/ca/ca.pem")
    assert extension(cert, "Basic Constraints") == (True, "CA:FALSE")
    assert extension(cert, "Extended Key Usage") == (False, "TLS Web Server Authentication")
    usage = extension(cert, "Key Usage")
    assert usage == (True, "Digital Signature, Key Encipherment" if kind == "rsa" else "Digital Signature")
    _c, ski = extension(cert, "Subject Key Identifier")
    _c, aki = extension(cert, "Authority Key Identifier")
    _c, ca_ski = extension(ca, "Subject Key Identifier")
    assert aki.replace("keyid:", "") == ca_ski and ski != ca_ski
    # The SANs are the CSR's, exactly.
    csr = host.check_output(f"openssl req -in {ETC}/mail/{kind}/request.csr -noout -text")
    csr_sans = re.search(r"X509v3 Subject Alternative Name:.*?\n\s*(.*?)\n", csr).group(1).strip()
    assert extension(cert, "Subject Alternative Name")[1] == csr_sans == \
        "DNS:mail.example.test, DNS:smtp.example.test, DNS:imap.example.test"


@pytest.mark.parametrize("kind", KINDS)
def test_serial_numbers_are_random_159_bit(host, kind):
    serial = host.check_output(f"openssl x509 -in {ETC}/mail/{kind}/issued.pem -noout -serial").split("=", 1)[1]
    value = int(serial, 16)
    assert 64 < value.bit_length() <= 159


@pytest.mark.parametrize("kind", KINDS)
def test_commercial_chain_verifies_as_installed(host, kind):
    live = f"{ETC}/chain/{kind}/live"
    verify = host.run(f"openssl verify -CAfile {PKI}/root.pem -untrusted {live}/chain.pem {live}/cert.pem")
    assert verify.rc == 0 and verify.stdout.strip() == f"{live}/cert.pem: OK", verify.stdout + verify.stderr
    # The shuffled input (extra CA, duplicate, root) came out as exactly intermediate 2, intermediate 1.
    subjects = host.check_output(f"openssl crl2pkcs7 -nocrl -certfile {live}/chain.pem | openssl pkcs7 -print_certs -noout")
    names = [line for line in subjects.splitlines() if line.startswith("subject")]
    assert len(names) == 2
    assert "PM Test Intermediate CA 2" in names[0] and "PM Test Intermediate CA 1" in names[1]
    # fullchain = cert + chain, and it verifies on its own as well.
    full = blocks(host, f"{live}/fullchain.pem")
    assert [b for _l, b in full] == [b for _l, b in blocks(host, f"{live}/cert.pem") + blocks(host, f"{live}/chain.pem")]


@pytest.mark.parametrize("kind", KINDS)
def test_local_ca_certificate_verifies_as_installed(host, kind):
    live = f"{ETC}/mail/{kind}/live"
    verify = host.run(f"openssl verify -purpose sslserver -CAfile {ETC}/ca/ca.pem {live}/cert.pem")
    assert verify.rc == 0, verify.stdout + verify.stderr
    assert host.file(f"{live}/chain.pem").size == 0  # issued straight by the trust anchor: no intermediates


@pytest.mark.parametrize("live", LIVE_DIRS)
def test_combined_is_key_then_leaf_then_chain(host, live):
    combined = blocks(host, f"{live}/combined.pem")
    labels = [label for label, _b in combined]
    assert labels[0] == "PRIVATE KEY" and set(labels[1:]) == {"CERTIFICATE"}
    assert [b for _l, b in combined[1:]] == [b for _l, b in blocks(host, f"{live}/fullchain.pem")]
    # The key in the combined file is the leaf's key (openssl reads the first key / first certificate).
    key_pub = pubkey(host, f"openssl pkey -in {live}/combined.pem -pubout")
    cert_pub = pubkey(host, f"openssl x509 -in {live}/cert.pem -noout -pubkey")
    assert key_pub == cert_pub


@pytest.mark.parametrize(("live", "mode", "group"), [
    (f"{ETC}/mail/rsa/live", 0o600, "root"),
    (f"{ETC}/mail/ecdsa/live", 0o640, "ssl-cert"),
    (f"{ETC}/chain/rsa/live", 0o600, "root"),
])
def test_file_modes(host, live, mode, group):
    combined = host.file(f"{live}/combined.pem")
    assert combined.mode == mode and combined.user == "root" and combined.group == group
    for name in ("cert.pem", "chain.pem", "fullchain.pem"):
        assert host.file(f"{live}/{name}").mode == 0o644


def test_rsa_and_ecdsa_side_by_side(host):
    rsa = text(host, f"{ETC}/mail/rsa/live/cert.pem")
    ecdsa = text(host, f"{ETC}/mail/ecdsa/live/cert.pem")
    assert "Public Key Algorithm: rsaEncryption" in rsa
    assert "Public Key Algorithm: id-ecPublicKey" in ecdsa
    assert extension(rsa, "Subject Alternative Name") == extension(ecdsa, "Subject Alternative Name")


def test_renewed_certificate_is_the_30_day_one(host):
    path = f"{ETC}/renew/ecdsa/issued.pem"
    assert host.run(f"openssl x509 -in {path} -noout -checkend {29 * 86400}").rc == 0
    assert host.run(f"openssl x509 -in {path} -noout -checkend {31 * 86400}").rc == 1


def test_reissued_certificate_is_from_the_second_ca_for_the_new_key(host):
    path = f"{ETC}/reissue/issued.pem"
    assert host.run(f"openssl verify -CAfile {ETC}/ca2/ca.pem {path}").rc == 0
    assert host.run(f"openssl verify -CAfile {ETC}/ca/ca.pem {path}").rc != 0
    assert pubkey(host, f"openssl x509 -in {path} -noout -pubkey") == pubkey(host, f"openssl pkey -in {ETC}/reissue/b.key -pubout")


def test_self_signed_lab_certificate(host):
    path = f"{ETC}/lab/ecdsa/issued.pem"
    cert = text(host, path)
    assert "Issuer: CN = lab.example.test" in cert or "Issuer: CN=lab.example.test" in cert
    assert host.run(f"openssl verify -CAfile {path} {path}").rc == 0


@pytest.mark.parametrize("live", LIVE_DIRS)
def test_no_temporary_files_left(host, live):
    assert sorted(host.check_output(f"ls -A {live}").split()) == ["cert.pem", "chain.pem", "combined.pem", "fullchain.pem"]
