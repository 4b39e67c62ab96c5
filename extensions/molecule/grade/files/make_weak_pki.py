#!/usr/bin/python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A chain the graders must flag: root -> intermediate signed with SHA-1 -> RSA 3072 leaf (SHA-256).

Writes root.pem, chain.pem (leaf, intermediate) and leaf.key into the directory given. Made with
cryptography in the test (never with the collection's code); the SHA-1 signature by the openssl
command, since newer cryptography (Debian 13) refuses to make one.
"""
import datetime
import os
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)


def name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def issue(subject, key, issuer, issuer_key, digest, *, ca: bool, days: int):
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    else:
        builder = (builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.example.test")]), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    return builder.sign(issuer_key, digest)


root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
root = issue(name("Grade Test Root"), root_key, name("Grade Test Root"), root_key, hashes.SHA256(), ca=True, days=3650)
int_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = serialization.Encoding.PEM
with tempfile.TemporaryDirectory() as tmp:
    def put(name_: str, data: bytes) -> str:
        path = os.path.join(tmp, name_)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    csr = x509.CertificateSigningRequestBuilder().subject_name(name("Grade Test SHA-1 Intermediate")).sign(
        int_key, hashes.SHA256())
    ext = put("int.ext", b"basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n")
    root_key_path = put("root.key", root_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    subprocess.run(["openssl", "x509", "-req", "-in", put("int.csr", csr.public_bytes(pem)),
                    "-CA", put("root.pem", root.public_bytes(pem)), "-CAkey", root_key_path, "-sha1",
                    "-days", "1825", "-set_serial", str(x509.random_serial_number()), "-extfile", ext,
                    "-out", os.path.join(tmp, "int.pem")], check=True, capture_output=True)
    with open(os.path.join(tmp, "int.pem"), "rb") as handle:
        inter = x509.load_pem_x509_certificate(handle.read())
leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
leaf = issue(name("mail.example.test"), leaf_key, inter.subject, int_key, hashes.SHA256(), ca=False, days=90)

os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "root.pem"), "wb") as handle:
    handle.write(root.public_bytes(pem))
with open(os.path.join(out, "chain.pem"), "wb") as handle:
    handle.write(leaf.public_bytes(pem) + inter.public_bytes(pem))
fd = os.open(os.path.join(out, "leaf.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "wb") as handle:
    handle.write(leaf_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
