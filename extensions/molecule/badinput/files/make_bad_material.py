# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad inputs for the badinput scenario, made on the controller (never with the modules under test).

A small PKI of its own (root -> intermediate 1 -> intermediate 2 -> leaves) and, per bad input, the
file a careless operator would hand over. Leaves that are bad for one reason only are issued for the
public key of the host's deployed RSA key (taken from its CSR), so every other check would pass and
the check under test is the one that must refuse. SHA-1 is signed by the openssl command line, which
still does it; everything else by cryptography.

Usage: make_bad_material.py OUT_DIR HOST_CSR MAIL_NAME PASSPHRASE   (HOST_CSR "-": read it from stdin)
Writes OUT_DIR/badinput/ (*.pem, *.key and a-file, a regular file for "a path under a file") and the
same as OUT_DIR/badinput.tar, to be unpacked on the host in one step.
"""

from __future__ import annotations

import base64
import datetime
import os
import subprocess
import sys
import tarfile
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def key_pem(key, passphrase: str | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def ca(common_name: str, key, issuer: x509.Certificate | None = None, issuer_key=None, path_length: int | None = None,
       name_constraints: x509.NameConstraints | None = None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(issuer.subject if issuer else name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 1000 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key((issuer_key or key).public_key()), critical=False)
    )
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=True)
    return builder.sign(issuer_key or key, hashes.SHA256())


def leaf(public_key, issuer: x509.Certificate, issuer_key, dns: str, *, not_before=None, not_after=None,
         usage: x509.KeyUsage | None = None, critical_oid: str | None = None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(dns))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 90 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # RFC 5280 4.2.1.1: conforming CAs include it; cryptography's verifier (Debian 13) requires it.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if critical_oid is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(critical_oid), b"\x05\x00"), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def garbage(label: str) -> bytes:
    """PEM armour around random bytes: looks like PEM, parses as nothing."""
    body = base64.encodebytes(os.urandom(600)).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n".encode()


def truncated(pem: bytes) -> bytes:
    """The first half of a PEM file, as a copy cut short would leave it (no END line)."""
    return pem[: len(pem) // 2]


def sign_sha1(csr_path: str, issuer_pem: bytes, issuer_key, dns: str, out_path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ca_path, ca_key_path, ext_path = (os.path.join(tmp, n) for n in ("ca.pem", "ca.key", "ext.cnf"))
        for path, data in ((ca_path, issuer_pem), (ca_key_path, key_pem(issuer_key))):
            with open(path, "wb") as handle:
                handle.write(data)
        with open(ext_path, "w", encoding="ascii") as handle:
            handle.write(f"[v3]\nbasicConstraints = critical, CA:FALSE\nsubjectAltName = DNS:{dns}\nextendedKeyUsage = serverAuth\n")
        subprocess.run(["openssl", "x509", "-req", "-in", csr_path, "-CA", ca_path, "-CAkey", ca_key_path, "-sha1",
                        "-days", "90", "-set_serial", "0x%x" % x509.random_serial_number(), "-extfile", ext_path,
                        "-extensions", "v3", "-out", out_path], check=True, capture_output=True)


def chains_clients_refuse(host_key, root, root_key, int1, int1_key, int2, int2_key, dns: str) -> dict[str, bytes]:
    """Issue 22 section 4: chains that `openssl verify -purpose sslserver` rejects, each for the host's key and one
    reason only, and a P-192 key that no module may take (the key floors are P-256 and RSA 2048 everywhere)."""
    # A CA below Intermediate 2, whose pathLenConstraint is 0: the path is too long.
    int3_key = ec.generate_private_key(ec.SECP256R1())
    int3 = ca("PM Bad Input Intermediate 3", int3_key, int2, int2_key)
    # A CA whose name constraints permit example.net only.
    nc_key = ec.generate_private_key(ec.SECP256R1())
    constrained = ca("PM Bad Input Constrained CA", nc_key, int1, int1_key, path_length=0,
                     name_constraints=x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.net")], excluded_subtrees=None))
    no_tls_usage = x509.KeyUsage(digital_signature=False, content_commitment=True, key_encipherment=False, data_encipherment=True,
                                 key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    p192_key = ec.generate_private_key(ec.SECP192R1())
    return {
        "leaf-pathlen.pem": cert_pem(leaf(host_key, int3, int3_key, dns)),
        "chain-pathlen.pem": cert_pem(int3, int2, int1),
        "leaf-nameconstraints.pem": cert_pem(leaf(host_key, constrained, nc_key, dns)),
        "chain-nameconstraints.pem": cert_pem(constrained, int1),
        "leaf-keyusage.pem": cert_pem(leaf(host_key, int2, int2_key, dns, usage=no_tls_usage)),
        "leaf-critical.pem": cert_pem(leaf(host_key, int2, int2_key, dns, critical_oid="1.3.6.1.4.1.55555.7")),
        "p192.key": key_pem(p192_key),
        "p192.pem": cert_pem(leaf(p192_key.public_key(), int2, int2_key, dns)),
    }


def main(out_dir: str, csr_path: str, dns: str, passphrase: str) -> None:
    os.umask(0o077)
    out = os.path.join(out_dir, "badinput")
    os.makedirs(out, exist_ok=True)
    if csr_path == "-":
        csr_path = os.path.join(out_dir, "host.csr")
        with open(csr_path, "wb") as handle:
            handle.write(sys.stdin.buffer.read())
    with open(csr_path, "rb") as handle:
        host_key = x509.load_pem_x509_csr(handle.read()).public_key()

    root_key, int1_key, int2_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = ca("PM Bad Input Root CA", root_key)
    int1 = ca("PM Bad Input Intermediate 1", int1_key, root, root_key, path_length=1)
    int2 = ca("PM Bad Input Intermediate 2", int2_key, int1, int1_key, path_length=0)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    encrypted_key = ec.generate_private_key(ec.SECP256R1())
    good = leaf(host_key, int2, int2_key, dns)
    other = leaf(other_key.public_key(), int2, int2_key, dns)

    files = {
        "root.pem": cert_pem(root),
        "chain.pem": cert_pem(int2, int1),
        "chain-wrong-order.pem": cert_pem(int1, int2),
        "chain-missing-intermediate.pem": cert_pem(int1),
        "leaf.pem": cert_pem(good),
        "garbage.pem": garbage("CERTIFICATE"),
        "garbage.key": garbage("PRIVATE KEY"),
        "truncated.pem": truncated(cert_pem(good)),
        # A full chain whose last certificate was cut short: the leaf still parses.
        "fullchain-truncated.pem": cert_pem(good, int2) + truncated(cert_pem(int1)),
        "truncated.key": truncated(key_pem(other_key)),
        "other.key": key_pem(other_key),
        "other.pem": cert_pem(other),
        "expired.pem": cert_pem(leaf(host_key, int2, int2_key, dns, not_before=NOW - 120 * DAY, not_after=NOW - DAY)),
        "notyet.pem": cert_pem(leaf(host_key, int2, int2_key, dns, not_before=NOW + 2 * DAY, not_after=NOW + 92 * DAY)),
        "otherhost.pem": cert_pem(leaf(host_key, int2, int2_key, "other.example.net")),
        "weak.key": key_pem(weak_key),
        "weak.pem": cert_pem(leaf(weak_key.public_key(), int2, int2_key, dns)),
        "encrypted.key": key_pem(encrypted_key, passphrase),
        "encrypted.pem": cert_pem(leaf(encrypted_key.public_key(), int2, int2_key, dns)),
        # Postfix's combined files: the key, then its certificate and chain.
        "combined-garbage.pem": key_pem(other_key) + garbage("CERTIFICATE"),
        "combined-truncated.pem": key_pem(other_key) + cert_pem(other, int2) + truncated(cert_pem(int1)),
        "combined-mismatch.pem": key_pem(other_key) + cert_pem(good, int2, int1),
        "combined-weak.pem": key_pem(weak_key) + cert_pem(leaf(weak_key.public_key(), int2, int2_key, dns), int2, int1),
        "a-file": b"a regular file: nothing can be created below it\n",
    }
    files.update(chains_clients_refuse(host_key, root, root_key, int1, int1_key, int2, int2_key, dns))
    for file_name, data in files.items():
        with open(os.path.join(out, file_name), "wb") as handle:
            handle.write(data)
    sign_sha1(csr_path, cert_pem(int2), int2_key, dns, os.path.join(out, "sha1.pem"))
    with tarfile.open(os.path.join(out_dir, "badinput.tar"), "w") as tar:
        tar.add(out, arcname="badinput")


if __name__ == "__main__":
    main(*sys.argv[1:5])
