# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PEM and X.509 basics shared by every module: parsing, fingerprints, key facts.

Works with cryptography 38 (Debian 12's python3-cryptography) and newer: the few APIs that appeared
later (``not_valid_after_utc``, ``load_pem_x509_certificates``) are wrapped here once.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import traceback
import typing as t

CRYPTOGRAPHY_IMP_ERR: str | None
try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMP_ERR = None
except ImportError:  # pragma: no cover - exercised by the sanity import test
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMP_ERR = traceback.format_exc()

MIN_CRYPTOGRAPHY_VERSION = "3.4"

_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=label)-----",
    re.DOTALL,
)

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule


def require_cryptography(module: AnsibleModule) -> None:
    """Fail the module, with the import traceback, when cryptography cannot be imported."""
    if not HAS_CRYPTOGRAPHY:
        # Imported only here: the controller's filter plugins load this file too, and need no module code.
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib(f"cryptography >= {MIN_CRYPTOGRAPHY_VERSION}"), exception=CRYPTOGRAPHY_IMP_ERR)


class PEMError(ValueError):
    """Input is not the PEM that was expected; the message names the input and the problem."""


class KeyPassphraseError(PEMError):
    """The private key is encrypted and the passphrase is missing or wrong."""


def pem_blocks(data: bytes, *, labels: t.Iterable[str] | None = None) -> list[tuple[str, bytes]]:
    """Split a PEM bundle into (label, block) pairs, optionally keeping only some labels."""
    wanted = set(labels) if labels is not None else None
    out = []
    for match in _PEM_BLOCK.finditer(data):
        label = match.group("label").decode("ascii")
        if wanted is None or label in wanted:
            out.append((label, match.group(0) + b"\n"))
    return out


def load_certificates(data: bytes, *, source: str = "input") -> list[x509.Certificate]:
    """Parse every CERTIFICATE block of ``data``; fail naming the block that does not parse."""
    blocks = pem_blocks(data, labels=("CERTIFICATE", "TRUSTED CERTIFICATE"))
    if not blocks:
        if data.lstrip().startswith(b"0\x82"):
            try:
                return [x509.load_der_x509_certificate(data)]
            except ValueError as exc:
                raise PEMError(f"{source}: DER data is not a valid certificate ({exc})") from exc
        raise PEMError(f"{source}: no PEM certificate found (expected a '-----BEGIN CERTIFICATE-----' block)")
    certs = []
    for index, (_label, block) in enumerate(blocks, start=1):
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise PEMError(f"{source}: certificate block {index} is corrupt or truncated ({exc})") from exc
    return certs


def load_certificate(data: bytes, *, source: str = "input") -> x509.Certificate:
    """Parse exactly the first certificate of ``data``."""
    return load_certificates(data, source=source)[0]


def load_private_key(data: bytes, *, passphrase: str | None = None, source: str = "private key"):
    """Parse a PEM (or DER) private key in any flavour (PKCS#1, SEC1, PKCS#8, encrypted or not)."""
    secret = passphrase.encode("utf-8") if passphrase else None
    loaders = [serialization.load_pem_private_key] if b"-----BEGIN" in data else [serialization.load_der_private_key]
    for loader in loaders:
        try:
            return loader(data, password=secret)
        except TypeError as exc:
            # cryptography says TypeError for "encrypted but no password" and "password given to an
            # unencrypted key"; both are a passphrase problem for the user.
            if secret is None:
                raise KeyPassphraseError(f"{source} is encrypted; set the passphrase option") from exc
            raise KeyPassphraseError(f"{source} is not encrypted, but a passphrase was given; remove the passphrase option") from exc
        except ValueError as exc:
            if secret is not None and b"ENCRYPTED" in data:
                raise KeyPassphraseError(f"{source}: the passphrase is wrong (or the key is corrupt)") from exc
            raise PEMError(f"{source} is corrupt, truncated or not a private key") from None
        except UnsupportedAlgorithm as exc:
            raise PEMError(f"{source} uses an unsupported algorithm ({exc})") from exc
    raise PEMError(f"{source}: no private key found")  # pragma: no cover


def key_label(key: t.Any) -> str:
    """A short human name for any key (private or public): "RSA 4096-bit", "ECDSA secp521r1", "Ed448"."""
    found = describe_public_key(key.public_key() if hasattr(key, "public_key") else key)
    if found["type"] == "rsa":
        return f"RSA {found['size']}-bit"
    if found["type"] == "ecdsa":
        return f"ECDSA {found['curve']}"
    return {"ed25519": "Ed25519", "ed448": "Ed448"}.get(found["type"], str(found["type"]))


@dataclasses.dataclass(frozen=True)
class ExistingKey:
    """What is in a key file: nothing, a key that could be read, or a file that could not."""

    status: t.Literal["absent", "readable", "unreadable"]
    key: t.Any = None
    encrypted: bool = False
    problem: str = ""
    passphrase_problem: bool = False

    @property
    def readable(self) -> bool:
        return self.status == "readable"


def read_key(data: bytes | None, *, passphrase: str | None, source: str, passphrase_option: str = "passphrase") -> ExistingKey:
    """Parse a key file's content in any PEM/DER flavour; report, never raise, when it cannot be read.

    ``problem`` says why in words that name ``passphrase_option``; it never quotes the file.
    """
    if data is None:
        return ExistingKey(status="absent")
    if not data.strip():
        return ExistingKey(status="unreadable", problem=f"{source} is empty")
    try:
        key = load_private_key(data, passphrase=passphrase or None, source=source)
        return ExistingKey(status="readable", key=key, encrypted=bool(passphrase))
    except KeyPassphraseError:
        pass
    except PEMError as exc:
        if "unsupported algorithm" in str(exc):
            return ExistingKey(status="unreadable", problem=f"{source} holds a key of an algorithm this host's cryptography cannot read")
        return ExistingKey(status="unreadable", problem=f"{source} is corrupt, truncated or not a private key")
    if not passphrase:
        return ExistingKey(status="unreadable", problem=f"{source} is encrypted and no {passphrase_option} was given", passphrase_problem=True)
    # A passphrase was given and refused: either the key is not encrypted at all, or it is wrong.
    try:
        key = load_private_key(data, passphrase=None, source=source)
    except PEMError:
        return ExistingKey(status="unreadable", passphrase_problem=True,
                           problem=f"{source} cannot be decrypted with the given {passphrase_option} (wrong {passphrase_option}, or the file is corrupt)")
    return ExistingKey(status="readable", key=key, encrypted=False)


def not_valid_after(cert: x509.Certificate) -> datetime.datetime:
    """The certificate's notAfter as an aware UTC datetime on every cryptography version."""
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def not_valid_before(cert: x509.Certificate) -> datetime.datetime:
    """The certificate's notBefore as an aware UTC datetime on every cryptography version."""
    value = getattr(cert, "not_valid_before_utc", None)
    if value is None:
        value = cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    return value


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def days_remaining(cert: x509.Certificate, *, now: datetime.datetime | None = None) -> int:
    """Whole days until notAfter (negative once expired)."""
    delta = not_valid_after(cert) - (now or utcnow())
    return int(delta.total_seconds() // 86400)


def public_key_der(public_key) -> bytes:
    """DER SubjectPublicKeyInfo: what DANE selector 1 and HPKP-style pins hash."""
    return public_key.public_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def spki_sha256(public_key) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo (a DANE "3 1 1" record's data)."""
    return hashlib.sha256(public_key_der(public_key)).hexdigest()


def colon_hex(digest: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in digest)


def cert_fingerprint_sha256(cert: x509.Certificate) -> str:
    """Lower-case, colon-separated SHA-256 of the certificate's DER (as browsers and openssl show)."""
    return colon_hex(cert.fingerprint(hashes.SHA256()))


def public_key_fingerprints(public_key) -> dict[str, str]:
    """Fingerprints of the public key (DER SPKI), by hash name, colon-separated."""
    der = public_key_der(public_key)
    return {name: colon_hex(hashlib.new(name, der).digest()) for name in ("sha256", "sha512")}


def describe_public_key(public_key) -> dict[str, t.Any]:
    """Type and strength of a public key: {'type': 'rsa', 'size': 2048} or {'type': 'ecdsa', 'curve': ...}."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return {"type": "rsa", "size": public_key.key_size}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"type": "ecdsa", "curve": public_key.curve.name, "size": public_key.curve.key_size}
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return {"type": "ed25519", "size": 256}
    if isinstance(public_key, ed448.Ed448PublicKey):
        return {"type": "ed448", "size": 456}
    return {"type": type(public_key).__name__, "size": None}


def same_public_key(a, b) -> bool:
    """True when two public keys (or the public halves of keys) are the same key."""
    return public_key_der(a) == public_key_der(b)


def signature_hash_name(cert_or_csr: x509.Certificate | x509.CertificateSigningRequest) -> str | None:
    """The hash of a certificate's or CSR's signature ('sha256', 'sha1', ...); None for EdDSA."""
    try:
        algorithm = cert_or_csr.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unsupported"
    return algorithm.name if algorithm is not None else None


def is_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key verifies ``cert``'s signature and the names link.

    Written out (rather than ``verify_directly_issued_by``) because Debian 12 ships cryptography 38.
    """
    if cert.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = cert.signature_algorithm_parameters if hasattr(cert, "signature_algorithm_parameters") else padding.PKCS1v15()
            if not isinstance(pad, (padding.PKCS1v15, padding.PSS)):
                pad = padding.PKCS1v15()
            key.verify(cert.signature, cert.tbs_certificate_bytes, pad, cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def subject_alt_names(cert_or_csr) -> list[str]:
    """SANs as 'DNS:name' / 'IP:addr' / 'email:x' strings, in the certificate's order."""
    try:
        ext = cert_or_csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    out = []
    for name in ext.value:
        if isinstance(name, x509.DNSName):
            out.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            out.append(f"IP:{name.value}")
        elif isinstance(name, x509.RFC822Name):
            out.append(f"email:{name.value}")
        elif isinstance(name, x509.UniformResourceIdentifier):
            out.append(f"URI:{name.value}")
        else:
            out.append(f"other:{name.value!r}")
    return out


def dns_names(cert: x509.Certificate) -> list[str]:
    """The DNS names a certificate is for: its DNS SANs, or its CN when it has no SAN (legacy)."""
    names = [entry[4:] for entry in subject_alt_names(cert) if entry.startswith("DNS:")]
    if names:
        return names
    return [attr.value for attr in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def name_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 section 6.4 matching: case-insensitive, a wildcard only as the whole left-most label,
    matching exactly one label, never a bare public suffix-like ``*.tld``."""
    pattern = pattern.rstrip(".").lower()
    hostname = hostname.rstrip(".").lower()
    if pattern == hostname:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[2:]
    if suffix.count(".") < 1 or "*" in suffix:
        return False
    head, sep, rest = hostname.partition(".")
    return bool(sep) and bool(head) and rest == suffix


def covers(cert: x509.Certificate, hostname: str) -> bool:
    """True when the certificate is valid for ``hostname`` (DNS names or IP SANs)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        address = None
    if address is not None:
        return f"IP:{address}" in subject_alt_names(cert)
    return any(name_matches(pattern, hostname) for pattern in dns_names(cert))


def name_to_string(name: x509.Name) -> str:
    """An RFC 4514 string for a Name (``CN=mail.example.org,O=Example``)."""
    return name.rfc4514_string()
