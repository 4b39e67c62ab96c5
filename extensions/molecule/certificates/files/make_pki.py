# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test inputs for the certificates scenario, made inside the test container.

Writes, with the container's own cryptography (38 on Debian 12, 43 on Debian 13) and openssl for
what cryptography no longer signs (MD5, SHA-1):

* PKI (a "commercial" chain): root -> intermediate 1 -> intermediate 2 -> leaves, plus an
  unrelated CA, an impostor intermediate 2 (same name, other key), another root, a shuffled chain
  file with an extra certificate, a duplicate and the root, and one bad leaf per install refusal.
* /etc/postmaster-tls/...: keys and CSRs laid out as the roles will (see the interfaces brief),
  for the local CA, the RSA and ECDSA certificates, the self-signed lab certificate, the renewal
  and the re-issue cases.

Usage: make_pki.py PKI_DIR ETC_DIR (both are created).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve=None):
    return ec.generate_private_key(curve or ec.SECP256R1())


def name(common_name):
    """CAs ("PM ...") get an organization too, so messages show multi-attribute names; leaves only a CN."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if common_name.startswith("PM "):
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, "postmaster.tls tests"))
    return x509.Name(attributes)


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def cert_pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def ca_cert(common_name, key, *, issuer=None, issuer_key=None, path_length=None, days=3650, name_constraints=None):
    issuer_name = issuer.subject if issuer is not None else name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + days * DAY)
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


def leaf_cert(common_name, key, issuer, issuer_key, *, sans=("mail.example.org", "smtp.example.org"),
              eku=(ExtendedKeyUsageOID.SERVER_AUTH,), not_before=None, not_after=None, usage=None, critical_oid=None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 90 * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
        .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        # RFC 5280 4.2.1.1: conforming CAs include it; cryptography's verifier (Debian 13) requires it.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if critical_oid is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(critical_oid), b"\x05\x00"), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def csr_pem(key, common_name, sans):
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def openssl_sign(csr, ca_path, ca_key_path, digest, extensions, out_path):
    """Sign with a digest cryptography refuses (md5, sha1): openssl still does it."""
    with tempfile.TemporaryDirectory() as tmp:
        csr_path = os.path.join(tmp, "req.csr")
        ext_path = os.path.join(tmp, "ext.cnf")
        write(csr_path, csr)
        write(ext_path, ("[v3]\n" + extensions).encode())
        serial = "0x%x" % x509.random_serial_number()
        subprocess.run(["openssl", "x509", "-req", "-in", csr_path, "-CA", ca_path, "-CAkey", ca_key_path, "-" + digest,
                        "-days", "90", "-set_serial", serial, "-extfile", ext_path, "-extensions", "v3", "-out", out_path],
                       check=True, capture_output=True)


def make_chain_pki(pki):
    root_key, int1_key, int2_key = rsa_key(), rsa_key(), rsa_key()
    root = ca_cert("PM Test Root CA", root_key)
    int1 = ca_cert("PM Test Intermediate CA 1", int1_key, issuer=root, issuer_key=root_key, path_length=1, days=1800)
    int2 = ca_cert("PM Test Intermediate CA 2", int2_key, issuer=int1, issuer_key=int1_key, path_length=0, days=1000)
    other_root_key = ec_key()
    other_root = ca_cert("PM Other Root CA", other_root_key)
    unrelated = ca_cert("PM Unrelated CA", ec_key())
    impostor = ca_cert("PM Test Intermediate CA 2", ec_key(), issuer=int1, issuer_key=int1_key, path_length=0)
    write(f"{pki}/root.pem", cert_pem(root))
    write(f"{pki}/root.key", key_pem(root_key), 0o600)
    write(f"{pki}/int2.key", key_pem(int2_key), 0o600)
    write(f"{pki}/other-root.pem", cert_pem(other_root))
    write(f"{pki}/chain.pem", cert_pem(int2, int1))
    write(f"{pki}/int2.pem", cert_pem(int2))
    # Shuffled, with an unrelated certificate, a duplicate and the root: must come out int2, int1.
    write(f"{pki}/chain-shuffled.pem", cert_pem(int1, unrelated, root, int2, int1))
    write(f"{pki}/chain-impostor.pem", cert_pem(impostor, int1))

    leaf_rsa_key, leaf_ec_key, test_key = rsa_key(), ec_key(), ec_key()
    write(f"{pki}/leaf-rsa.key", key_pem(leaf_rsa_key), 0o600)
    write(f"{pki}/leaf-ecdsa.key", key_pem(leaf_ec_key), 0o600)
    write(f"{pki}/test.key", key_pem(test_key), 0o600)
    write(f"{pki}/leaf-rsa.pem", cert_pem(leaf_cert("mail.example.org", leaf_rsa_key, int2, int2_key)))
    write(f"{pki}/leaf-ecdsa.pem", cert_pem(leaf_cert("mail.example.org", leaf_ec_key, int2, int2_key)))

    # One bad leaf per refusal (all for test.key unless the key is the point).
    bad = {
        "expired": leaf_cert("expired.example.org", test_key, int2, int2_key, not_before=NOW - 100 * DAY, not_after=NOW - DAY),
        "notyet": leaf_cert("notyet.example.org", test_key, int2, int2_key, not_before=NOW + 2 * DAY, not_after=NOW + 92 * DAY),
        "short": leaf_cert("short.example.org", test_key, int2, int2_key, not_after=NOW + 10 * DAY),
        "wildcard": leaf_cert("*.example.org", test_key, int2, int2_key, sans=("*.example.org",)),
        "clientauth": leaf_cert("client-only.example.org", test_key, int2, int2_key, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
    }
    for label, cert in bad.items():
        write(f"{pki}/{label}.pem", cert_pem(cert))
    make_chains_clients_refuse(pki, root, root_key, int1, int1_key, int2, int2_key, test_key)
    weak_key = rsa_key(1024)
    write(f"{pki}/rsa1024.key", key_pem(weak_key), 0o600)
    write(f"{pki}/rsa1024.pem", cert_pem(leaf_cert("weak-rsa.example.org", weak_key, int2, int2_key)))

    leaf_ext = ("basicConstraints = critical, CA:FALSE\nsubjectAltName = DNS:mail.example.org\n"
                "extendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n")
    openssl_sign(csr_pem(test_key, "sha1.example.org", ["mail.example.org"]), f"{pki}/int2.pem", f"{pki}/int2.key", "sha1",
                 leaf_ext, f"{pki}/sha1.pem")
    md5_int_key = ec_key()
    write(f"{pki}/md5-int.key", key_pem(md5_int_key), 0o600)
    ca_ext = "basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
    builder = x509.CertificateSigningRequestBuilder().subject_name(name("PM Weak MD5 Intermediate"))
    md5_csr = builder.sign(md5_int_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    openssl_sign(md5_csr, f"{pki}/root.pem", f"{pki}/root.key", "md5", ca_ext, f"{pki}/md5-int.pem")
    with open(f"{pki}/md5-int.pem", "rb") as handle:
        md5_int = x509.load_pem_x509_certificate(handle.read())
    write(f"{pki}/md5-leaf.pem", cert_pem(leaf_cert("md5-chain.example.org", test_key, md5_int, md5_int_key)))


def make_chains_clients_refuse(pki, root, root_key, int1, int1_key, int2, int2_key, test_key):
    """Issue 22 section 4: chains RFC 5280 path validation refuses, for test.key and one reason each."""
    int3_key = ec_key()
    int3 = ca_cert("PM Test Intermediate CA 3", int3_key, issuer=int2, issuer_key=int2_key, days=900)  # below pathLen 0
    constrained_key = ec_key()
    constrained = ca_cert("PM Test Constrained CA", constrained_key, issuer=int1, issuer_key=int1_key, path_length=0, days=900,
                          name_constraints=x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.net")], excluded_subtrees=None))
    no_tls_usage = x509.KeyUsage(digital_signature=False, content_commitment=True, key_encipherment=False, data_encipherment=True,
                                 key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    write(f"{pki}/pathlen.pem", cert_pem(leaf_cert("pathlen.example.org", test_key, int3, int3_key, sans=("mail.example.org",))))
    write(f"{pki}/chain-pathlen.pem", cert_pem(int3, int2, int1))
    write(f"{pki}/nameconstraints.pem", cert_pem(leaf_cert("nc.example.org", test_key, constrained, constrained_key, sans=("mail.example.org",))))
    write(f"{pki}/chain-nameconstraints.pem", cert_pem(constrained, int1))
    write(f"{pki}/keyusage.pem", cert_pem(leaf_cert("keyusage.example.org", test_key, int2, int2_key, usage=no_tls_usage)))
    write(f"{pki}/critical.pem", cert_pem(leaf_cert("critical.example.org", test_key, int2, int2_key, critical_oid="1.3.6.1.4.1.55555.7")))


def make_etc(etc):
    """Keys and CSRs where the roles put them."""
    names = ["mail.example.test", "smtp.example.test", "imap.example.test"]
    write(f"{etc}/ca/ca.key", key_pem(ec_key(ec.SECP384R1())), 0o600)
    write(f"{etc}/ca2/ca.key", key_pem(ec_key()), 0o600)
    for kind, key in (("rsa", rsa_key()), ("ecdsa", ec_key())):
        write(f"{etc}/mail/{kind}/privkey.pem", key_pem(key), 0o600)
        write(f"{etc}/mail/{kind}/request.csr", csr_pem(key, names[0], names))
    lab = ec_key()
    write(f"{etc}/lab/ecdsa/privkey.pem", key_pem(lab), 0o600)
    write(f"{etc}/lab/ecdsa/request.csr", csr_pem(lab, "lab.example.test", ["lab.example.test"]))
    renew = ec_key()
    write(f"{etc}/renew/ecdsa/privkey.pem", key_pem(renew), 0o600)
    write(f"{etc}/renew/ecdsa/request.csr", csr_pem(renew, names[0], names[:1]))
    key_a, key_b = ec_key(), ec_key()
    write(f"{etc}/reissue/a.key", key_pem(key_a), 0o600)
    write(f"{etc}/reissue/a.csr", csr_pem(key_a, names[0], names[:1]))
    write(f"{etc}/reissue/a-more-names.csr", csr_pem(key_a, names[0], names))
    write(f"{etc}/reissue/b.key", key_pem(key_b), 0o600)
    write(f"{etc}/reissue/b.csr", csr_pem(key_b, names[0], names))


def main(pki, etc):
    make_chain_pki(pki)
    make_etc(etc)
    write(f"{pki}/.done", b"made by make_pki.py\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
