# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one certificate vocabulary of the collection: TLS versions, trust stores, key floors, hashes, facts, checks.

Every module that makes, installs, serves or probes a certificate takes these from here, so that a key
floor, an EKU name or the keys of a certificate's facts cannot differ between two modules:

* ``TLS_VERSIONS`` (oldest first) and ``LEGACY_TLS_VERSIONS``;
* ``SYSTEM_CA_BUNDLES`` and :func:`system_ca_bundle`, the distribution's CA bundle;
* ``EKU_OIDS`` (names as openssl prints them) and :func:`eku_name`;
* the key floors ``MIN_RSA_BITS``/``MIN_EC_BITS`` and :func:`key_strength_problem`;
* ``WEAK_SIGNATURE_HASHES``, ``SIGNING_DIGESTS`` and the signature algorithm names;
* :func:`certificate_facts` and ``FACT_KEYS``: one set of keys for every certificate a module reports;
* :class:`CheckError` and :func:`check_served_leaf`: what a certificate must pass before a mail service
  may serve it (dates, key floor, signature hash, extended and plain key usage).

Works with cryptography 38 (Debian 12) and newer; nothing here reads or writes files.
"""

from __future__ import annotations

import datetime
import os
import ssl
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------
TLSVersion = t.Literal["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
TLS_VERSIONS: tuple[TLSVersion, ...] = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
LEGACY_TLS_VERSIONS = frozenset(("TLSv1", "TLSv1.1"))

# The distribution's CA bundle files, for when Python's compiled-in default points nowhere. The hashed
# directory next to them is not among them: Debian's make-ssl-cert links the snake-oil certificate into
# /etc/ssl/certs, so trusting that directory would trust the very certificate a deployment replaces.
SYSTEM_CA_BUNDLES: tuple[str, ...] = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # Alpine, BSDs
)

EKU_OIDS: dict[str, str] = {
    "serverAuth": "1.3.6.1.5.5.7.3.1",
    "clientAuth": "1.3.6.1.5.5.7.3.2",
    "codeSigning": "1.3.6.1.5.5.7.3.3",
    "emailProtection": "1.3.6.1.5.5.7.3.4",
    "timeStamping": "1.3.6.1.5.5.7.3.8",
    "OCSPSigning": "1.3.6.1.5.5.7.3.9",
    "anyExtendedKeyUsage": "2.5.29.37.0",
}
_EKU_NAMES = {oid: name for name, oid in EKU_OIDS.items()}

# Key floors: what every module refuses to create, sign, install, serve or call good.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256

# Hashes no client accepts in a certificate signature any more, and the ones this collection signs with.
WEAK_SIGNATURE_HASHES = frozenset({"md2", "md4", "md5", "sha1"})
SIGNING_DIGESTS: tuple[str, ...] = ("sha256", "sha384", "sha512")

# Names openssl prints for the common signature algorithms (cryptography's own names are private).
_SIGNATURE_NAMES = {
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.3.101.112": "ED25519",
    "1.3.101.113": "ED448",
}


def system_ca_bundle() -> str | None:
    """The system's CA bundle file (resolved: Debian's /usr/lib/ssl/cert.pem is a link), or None."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, *SYSTEM_CA_BUNDLES):
        if candidate and os.path.isfile(candidate):
            return os.path.realpath(candidate)
    return None


def eku_name(oid: str) -> str:
    """``serverAuth`` for 1.3.6.1.5.5.7.3.1; an unknown usage stays its dotted OID."""
    return _EKU_NAMES.get(oid, oid)


def key_strength_problem(public_key) -> str | None:
    """Why a key is below the floors (``an RSA key of 1024 bits ...``), or None when it is strong enough."""
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        return f"an RSA key of {public_key.key_size} bits, fewer than {MIN_RSA_BITS}"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size < MIN_EC_BITS:
        return f"an EC key on {public_key.curve.name} ({public_key.curve.key_size} bits), weaker than P-256"
    if isinstance(public_key, dsa.DSAPublicKey):
        return "a DSA key, which TLS servers no longer use"
    return None


def weak_signature_hash(cert_or_csr) -> str | None:
    """The hash of a weak (or unknown) signature, such as ``sha1``; None when the signature is sound."""
    name = _crypto.signature_hash_name(cert_or_csr)
    return name if name in WEAK_SIGNATURE_HASHES or name == "unsupported" else None


def signature_algorithm_name(cert: x509.Certificate) -> str:
    dotted = cert.signature_algorithm_oid.dotted_string
    return _SIGNATURE_NAMES.get(dotted, dotted)


def iso8601(value: datetime.datetime) -> str:
    """``2026-12-01T10:00:00Z``: ISO 8601 in UTC, to the second."""
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def serial_hex(serial: int) -> str:
    """Serial number as openssl's ``-text`` shows it: lower-case, colon-separated, whole bytes."""
    raw = serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")
    return _crypto.colon_hex(raw)


def extended_key_usages(cert: x509.Certificate) -> list[str] | None:
    """EKU names (``serverAuth``...), or None when the certificate has no EKU (any purpose)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None
    return [eku_name(oid.dotted_string) for oid in ext.value]


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _crypto.is_signed_by(cert, cert)


def ca_usage_problem(cert: x509.Certificate, *, signs: str = "certificates") -> str | None:
    """Why ``cert`` cannot sign ``signs`` ("certificates" or "CRLs"): not a CA, or its keyUsage (when present)
    leaves out keyCertSign or cRLSign. None when it can."""
    if not is_ca(cert):
        return "it is not a CA certificate (basicConstraints CA:TRUE missing)"
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    bit, allowed = ("cRLSign", usage.crl_sign) if signs == "CRLs" else ("keyCertSign", usage.key_cert_sign)
    return None if allowed else f"its keyUsage does not allow {bit}, so clients refuse the {signs} it signs"


def signing_ca_problem(ca_cert: x509.Certificate, ca_key: t.Any, *, signs: str, ca_source: str, key_source: str,
                       now: datetime.datetime) -> str | None:
    """Why the CA ``ca_cert`` with ``ca_key`` cannot sign ``signs`` now (the fix is in the message); None when it can.
    One check for every signer: the local CA issuing leaves and signing its CRL."""
    problem = ca_usage_problem(ca_cert, signs=signs)
    if problem:
        return (f"{ca_source} ('{_crypto.name_to_string(ca_cert.subject)}'): {problem}; give the local CA's certificate, "
                "or create or renew it with postmaster.tls.local_ca")
    if not _crypto.same_public_key(ca_cert.public_key(), ca_key.public_key()):
        return f"{key_source} is not the private key of the CA certificate {ca_source}; give the CA's own key"
    if _crypto.not_valid_after(ca_cert) <= now:
        return (f"the CA certificate {ca_source} expired on {iso8601(_crypto.not_valid_after(ca_cert))}; "
                f"renew it (postmaster.tls.local_ca) before it signs {signs}")
    if _crypto.not_valid_before(ca_cert) > now:
        return f"the CA certificate {ca_source} is not valid before {iso8601(_crypto.not_valid_before(ca_cert))}; check the clock"
    return None


# ---------------------------------------------------------------------------------------------
# Facts: the one shape every module returns a certificate in
# ---------------------------------------------------------------------------------------------
FACT_KEYS: tuple[str, ...] = (
    "subject", "subject_alt_names", "dns_names", "issuer", "serial", "not_before", "not_after", "days_remaining",
    "expired", "key_type", "key_size", "key_curve", "signature_algorithm", "fingerprint_sha256", "spki_sha256",
    "is_ca", "self_signed", "extended_key_usage",
)


def certificate_facts(cert: x509.Certificate, *, now: datetime.datetime | None = None, path: str | None = None) -> dict[str, t.Any]:
    """The public facts of a certificate (``FACT_KEYS``), with ``path`` first when they are about a file."""
    now = now or _crypto.utcnow()
    key = _crypto.describe_public_key(cert.public_key())
    not_after = _crypto.not_valid_after(cert)
    facts: dict[str, t.Any] = {} if path is None else {"path": path}
    facts.update({
        "subject": _crypto.name_to_string(cert.subject),
        "subject_alt_names": _crypto.subject_alt_names(cert),
        "dns_names": _crypto.dns_names(cert),
        "issuer": _crypto.name_to_string(cert.issuer),
        "serial": serial_hex(cert.serial_number),
        "not_before": iso8601(_crypto.not_valid_before(cert)),
        "not_after": iso8601(not_after),
        "days_remaining": _crypto.days_remaining(cert, now=now),
        "expired": not_after <= now,
        "key_type": key["type"],
        "key_size": key.get("size"),
        "key_curve": key.get("curve"),
        "signature_algorithm": signature_algorithm_name(cert),
        "fingerprint_sha256": _crypto.cert_fingerprint_sha256(cert),
        "spki_sha256": _crypto.spki_sha256(cert.public_key()),
        "is_ca": is_ca(cert),
        "self_signed": is_self_signed(cert),
        "extended_key_usage": extended_key_usages(cert),
    })
    return facts


# ---------------------------------------------------------------------------------------------
# Checks: what a certificate must pass before it is installed or served
# ---------------------------------------------------------------------------------------------
CHECK_KEY_MATCH = "key match"
CHECK_CHAIN_LINKING = "chain linking"
CHECK_TRUST_ANCHOR = "trust anchor"
CHECK_VALIDITY = "validity"
CHECK_DAYS_REMAINING = "days remaining"
CHECK_NAMES = "names"
CHECK_KEY_STRENGTH = "key strength"
CHECK_SIGNATURE = "signature algorithm"
CHECK_EKU = "extended key usage"
CHECK_KEY_USAGE = "key usage"
CHECK_CA = "CA constraints"
CHECK_PATH = "path validation"


class CheckError(Exception):
    """A certificate failed a check. ``check`` is the check's name, ``concerned`` the certificate."""

    def __init__(self, check: str, concerned: str, detail: str) -> None:
        self.check = check
        self.concerned = concerned
        super().__init__(f"refused by the {check} check: {concerned}: {detail}; nothing was written")


def describe(cert: x509.Certificate, role: str) -> str:
    """``leaf certificate 'CN=mail.example.org' (sha256 ab:cd:ef:01:...)``: enough to find it again."""
    fingerprint = _crypto.cert_fingerprint_sha256(cert)
    return f"{role} '{_crypto.name_to_string(cert.subject)}' (sha256 {fingerprint[:23]}...)"


def check_validity(cert: x509.Certificate, role: str, now: datetime.datetime) -> None:
    not_after = _crypto.not_valid_after(cert)
    not_before = _crypto.not_valid_before(cert)
    if not_after <= now:
        raise CheckError(CHECK_VALIDITY, describe(cert, role), f"it expired on {iso8601(not_after)}; renew it before installing")
    if not_before > now:
        raise CheckError(CHECK_VALIDITY, describe(cert, role),
                         f"it is not valid before {iso8601(not_before)} (not yet valid); check the clocks or wait")


def check_key_strength(cert: x509.Certificate, role: str) -> None:
    problem = key_strength_problem(cert.public_key())
    if problem:
        raise CheckError(CHECK_KEY_STRENGTH, describe(cert, role),
                         f"it has {problem}; issue a certificate for an RSA key of {MIN_RSA_BITS} bits or more, or P-256 or stronger")


def check_signature_hash(cert: x509.Certificate, role: str) -> None:
    name = weak_signature_hash(cert)
    if name:
        raise CheckError(CHECK_SIGNATURE, describe(cert, role),
                         f"it is signed with {name.upper()}, which clients refuse; have the CA re-issue it with SHA-256 or better")


def check_eku(cert: x509.Certificate, role: str) -> None:
    usages = extended_key_usages(cert)
    if usages is None or "serverAuth" in usages or "anyExtendedKeyUsage" in usages:
        return
    raise CheckError(CHECK_EKU, describe(cert, role),
                     f"its extended key usage ({', '.join(usages)}) does not allow serverAuth, so clients refuse it "
                     "for a server; have it issued for TLS server authentication")


def check_server_key_usage(cert: x509.Certificate, role: str = "leaf certificate") -> None:
    """A TLS server signs its handshake (ECDHE, TLS 1.3) or decrypts the key exchange (RSA): its keyUsage, when
    present, needs digitalSignature or keyEncipherment (RFC 5280 4.2.1.3, RFC 8446 4.4.2.2)."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if usage.digital_signature or usage.key_encipherment:
        return
    raise CheckError(CHECK_KEY_USAGE, describe(cert, role),
                     "its keyUsage allows neither digitalSignature nor keyEncipherment, so TLS clients refuse it for a "
                     "server; have it issued with digitalSignature (and keyEncipherment for RSA)")


def check_served_leaf(leaf: x509.Certificate, *, now: datetime.datetime | None = None) -> None:
    """What a leaf must pass to be served at all: dates, key floor, signature hash, extended and plain key usage.

    Names and the chain are for certificate_install and mail_tls_verify, which know the names and the trust
    anchors; postfix_tls and dovecot_tls, which point a service at files they did not install, run only this.
    """
    role = "leaf certificate"
    check_validity(leaf, role, now or _crypto.utcnow())
    check_key_strength(leaf, role)
    check_signature_hash(leaf, role)
    check_eku(leaf, role)
    check_server_key_usage(leaf, role)
