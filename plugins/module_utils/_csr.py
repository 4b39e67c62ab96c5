# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificate signing requests for mail servers (postmaster.tls.csr).

A CSR is compared with the request by meaning: its public key, subject (as a set of attributes),
subject alternative names (as a set), key usage, extended key usage, OCSP must-staple and signature
digest. Byte differences (attribute order, another tool's encoding) do not make a new CSR; a real
difference does, and the reasons are returned in words.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _crl, _crypto, _fileio, _x509

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtensionOID

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

DEFAULT_DIGEST = "sha256"
DEFAULT_CSR_MODE = 0o644
DEFAULT_EXTENDED_KEY_USAGE: tuple[str, ...] = ("serverAuth",)

# Option spelling (lower-cased) -> (canonical name, x509.KeyUsage keyword).
_KEY_USAGES: dict[str, tuple[str, str]] = {
    "digitalsignature": ("digitalSignature", "digital_signature"),
    "nonrepudiation": ("contentCommitment", "content_commitment"),
    "contentcommitment": ("contentCommitment", "content_commitment"),
    "keyencipherment": ("keyEncipherment", "key_encipherment"),
    "dataencipherment": ("dataEncipherment", "data_encipherment"),
    "keyagreement": ("keyAgreement", "key_agreement"),
    "keycertsign": ("keyCertSign", "key_cert_sign"),
    "crlsign": ("cRLSign", "crl_sign"),
    "encipheronly": ("encipherOnly", "encipher_only"),
    "decipheronly": ("decipherOnly", "decipher_only"),
}
KEY_USAGE_NAMES: tuple[str, ...] = tuple(dict.fromkeys(name for name, _kw in _KEY_USAGES.values()))

# The usages a CSR may ask for by name (anyExtendedKeyUsage is for CAs to grant, not for a server to ask).
_EKU_CHOICES = tuple(name for name in _x509.EKU_OIDS if name != "anyExtendedKeyUsage")
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")

# Subject options in X.509 order (most significant first) -> (OID dotted string, short name).
SUBJECT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("country_name", "2.5.4.6", "C"),
    ("state_or_province_name", "2.5.4.8", "ST"),
    ("locality_name", "2.5.4.7", "L"),
    ("organization_name", "2.5.4.10", "O"),
    ("organizational_unit_name", "2.5.4.11", "OU"),
    ("common_name", "2.5.4.3", "CN"),
)
_SUBJECT_SHORT = {oid: short for _opt, oid, short in SUBJECT_FIELDS}
_SUBJECT_RANK = {oid: rank for rank, (_opt, oid, _short) in enumerate(SUBJECT_FIELDS)}


def _subject_order(attribute: tuple[str, str]) -> tuple[int, str, str]:
    """Canonical order for comparing subjects: X.509 order for the known fields, then by OID."""
    return (_SUBJECT_RANK.get(attribute[0], len(SUBJECT_FIELDS)), attribute[0], attribute[1])


_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_TLS_FEATURE_OID = "1.3.6.1.5.5.7.1.24"


class CsrError(Exception):
    """The module must stop; the message names the problem and the fix (never key material)."""


class CsrOptionError(CsrError):
    """An option is invalid; raised before anything is read or written."""


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------
def normalize_dns_name(value: str, *, what: str, wildcard: bool = True) -> str:
    """A DNS name as a certificate holds it: lower case, no trailing dot, A-labels, valid labels."""
    name = value.strip()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise CsrOptionError(f"{what} is empty")
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        try:
            hint = f"; write it as {name.encode('idna').decode('ascii')}"
        except UnicodeError:
            hint = ""
        raise CsrOptionError(f"{what} {value!r} is not ASCII: certificates hold internationalised names as A-labels (xn--...){hint}") from None
    name = name.lower()
    if len(name) > 253:
        raise CsrOptionError(f"{what} {value!r} is longer than 253 characters")
    labels = name.split(".")
    for index, label in enumerate(labels):
        if label == "*" and index == 0 and wildcard:
            if len(labels) < 3:
                raise CsrOptionError(f"{what} {value!r}: a wildcard needs at least two labels after it (*.example.org)")
            continue
        if not _LABEL.match(label):
            extra = " (a wildcard is only allowed as the whole left-most label)" if "*" in label else ""
            raise CsrOptionError(f"{what} {value!r} is not a valid host name: label {label!r} must be letters, digits and inner hyphens{extra}")
    if labels[-1].isdigit():
        raise CsrOptionError(f"{what} {value!r} is not a host name (its last label is numeric); for an IP address write IP:{value}")
    return name


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def parse_san(entry: str) -> str:
    """One subject alternative name option value as 'DNS:name', 'IP:addr' or 'email:addr'.

    Bare names are DNS names. A bare IP address is refused rather than guessed: a DNS SAN that holds
    an address matches nothing, and an IP SAN must be asked for on purpose.
    """
    text = str(entry).strip()
    if not text:
        raise CsrOptionError("subject_alt_names holds an empty entry")
    address = _ip(text)
    if address is not None:
        raise CsrOptionError(f"subject_alt_names entry {text!r} is an IP address; bare names are DNS names, write IP:{address}")
    prefix, sep, rest = text.partition(":")
    if not sep:
        return "DNS:" + normalize_dns_name(text, what="subject_alt_names entry")
    kind = prefix.strip().lower()
    rest = rest.strip()
    if kind == "dns":
        return "DNS:" + normalize_dns_name(rest, what="subject_alt_names entry")
    if kind in ("ip", "ip address"):
        address = _ip(rest)
        if address is None:
            raise CsrOptionError(f"subject_alt_names entry {text!r}: {rest!r} is not an IPv4 or IPv6 address")
        return f"IP:{address}"
    if kind == "email":
        local, at, domain = rest.rpartition("@")
        if not at or not local or not _LOCAL_PART.match(local) or ".." in local:
            raise CsrOptionError(f"subject_alt_names entry {text!r} is not an e-mail address (write email:postmaster@example.org)")
        return f"email:{local}@{normalize_dns_name(domain, what='e-mail domain', wildcard=False)}"
    raise CsrOptionError(f"subject_alt_names entry {text!r} has the unsupported type {prefix!r}; use a bare DNS name, DNS:, IP: or email:")


def general_name(san: str) -> x509.GeneralName:
    kind, _sep, value = san.partition(":")
    if kind == "DNS":
        return x509.DNSName(value)
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    return x509.RFC822Name(value)


def _san_of(name: t.Any) -> str:
    if isinstance(name, x509.DNSName):
        return "DNS:" + name.value.lower().rstrip(".")
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.RFC822Name):
        local, _at, domain = name.value.rpartition("@")
        return f"email:{local}@{domain.lower()}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    return f"other:{type(name).__name__}"


def key_usage_names(values: t.Iterable[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        found = _KEY_USAGES.get(str(value).replace(" ", "").replace("_", "").lower())
        if found is None:
            raise CsrOptionError(f"key_usage {value!r} is not a key usage; use {', '.join(KEY_USAGE_NAMES)}")
        out.append(found[0])
    return tuple(sorted(set(out)))


def extended_key_usage_oids(values: t.Iterable[str]) -> tuple[str, ...]:
    by_lower = {name.lower(): _x509.EKU_OIDS[name] for name in _EKU_CHOICES}
    out = []
    for value in values:
        text = str(value).strip()
        oid = by_lower.get(text.replace(" ", "").lower())
        if oid is None and _OID.match(text):
            oid = text
        if oid is None:
            raise CsrOptionError(f"extended_key_usage {value!r} is not known; use {', '.join(_EKU_CHOICES)} or a dotted OID")
        out.append(oid)
    return tuple(sorted(set(out)))


def check_digest(value: str | None) -> str:
    digest = (value or DEFAULT_DIGEST).strip().lower().replace("-", "")
    if digest in _x509.WEAK_SIGNATURE_HASHES:
        raise CsrOptionError(f"digest={value} is refused: {digest} signatures are forgeable and CAs reject them; use digest=sha256 (or sha384, sha512)")
    if digest not in _x509.SIGNING_DIGESTS:
        raise CsrOptionError(f"digest={value} is not supported; use one of {', '.join(_x509.SIGNING_DIGESTS)}")
    return digest


# ---------------------------------------------------------------------------------------------
# The meaning of a CSR, asked or found
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CsrContent:
    """What a CSR says, normalised so that two CSRs that mean the same compare equal."""

    subject: tuple[tuple[str, str], ...]
    subject_alt_names: tuple[str, ...]
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    ocsp_must_staple: bool
    other_extensions: tuple[str, ...]
    digest: str | None
    spki_sha256: str

    def facts(self) -> dict[str, t.Any]:
        """Small readable facts for diffs."""
        return {
            # RFC 4514 order (least significant first), like the subject the module returns.
            "subject": ",".join(f"{_SUBJECT_SHORT.get(oid, oid)}={value}" for oid, value in reversed(self.subject)),
            "subject_alt_names": list(self.subject_alt_names),
            "key_usage": list(self.key_usage),
            "extended_key_usage": [_x509.eku_name(oid) for oid in self.extended_key_usage],
            "ocsp_must_staple": self.ocsp_must_staple,
            "digest": self.digest,
            "public_key_spki_sha256": self.spki_sha256,
        }


def differences(found: CsrContent, wanted: CsrContent) -> list[str]:
    """Why ``found`` is not the CSR that was asked, in words (empty when it is)."""
    reasons = []
    if found.spki_sha256 != wanted.spki_sha256:
        reasons.append("the CSR is for another key")
    if found.subject != wanted.subject:
        reasons.append(f"subject differs ({found.facts()['subject'] or 'empty'} != {wanted.facts()['subject'] or 'empty'})")
    if found.subject_alt_names != wanted.subject_alt_names:
        missing = sorted(set(wanted.subject_alt_names) - set(found.subject_alt_names))
        extra = sorted(set(found.subject_alt_names) - set(wanted.subject_alt_names))
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"extra {', '.join(extra)}"] if extra else [])
        reasons.append("subject alternative names differ (" + "; ".join(parts) + ")")
    if found.key_usage != wanted.key_usage:
        reasons.append(f"key usage differs ({', '.join(found.key_usage) or 'none'} != {', '.join(wanted.key_usage) or 'none'})")
    if found.extended_key_usage != wanted.extended_key_usage:
        have = ", ".join(_x509.eku_name(oid) for oid in found.extended_key_usage) or "none"
        want = ", ".join(_x509.eku_name(oid) for oid in wanted.extended_key_usage) or "none"
        reasons.append(f"extended key usage differs ({have} != {want})")
    if found.ocsp_must_staple != wanted.ocsp_must_staple:
        reasons.append(f"OCSP must-staple is {'set' if found.ocsp_must_staple else 'not set'}, {'wanted' if wanted.ocsp_must_staple else 'not wanted'}")
    if found.other_extensions:
        reasons.append(f"the CSR has extensions that were not asked for ({', '.join(found.other_extensions)})")
    if found.digest != wanted.digest:
        reasons.append(f"signature digest is {found.digest or 'none'}, {wanted.digest or 'none'} asked")
    return reasons


def content_of(csr: x509.CertificateSigningRequest) -> CsrContent:
    """Normalised content of a parsed CSR (ValueError when an extension cannot be parsed)."""
    subject = tuple(sorted(((attr.oid.dotted_string, str(attr.value)) for attr in csr.subject), key=_subject_order))
    sans: tuple[str, ...] = ()
    key_usage: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    must_staple = False
    other = []
    for ext in csr.extensions:
        oid = ext.oid.dotted_string
        if oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string:
            sans = tuple(sorted({_san_of(name) for name in ext.value}))
        elif oid == ExtensionOID.KEY_USAGE.dotted_string:
            key_usage = _key_usage_of(ext.value)
        elif oid == ExtensionOID.EXTENDED_KEY_USAGE.dotted_string:
            eku = tuple(sorted({usage.dotted_string for usage in ext.value}))
        elif oid == _TLS_FEATURE_OID and isinstance(ext.value, x509.TLSFeature):
            must_staple = x509.TLSFeatureType.status_request in list(ext.value)
        else:
            other.append(oid)
    return CsrContent(
        subject=subject,
        subject_alt_names=sans,
        key_usage=key_usage,
        extended_key_usage=eku,
        ocsp_must_staple=must_staple,
        other_extensions=tuple(sorted(other)),
        digest=_crypto.signature_hash_name(csr),
        spki_sha256=_crypto.spki_sha256(csr.public_key()),
    )


def _key_usage_of(value: x509.KeyUsage) -> tuple[str, ...]:
    names = []
    for _lower, (name, keyword) in _KEY_USAGES.items():
        if keyword in ("encipher_only", "decipher_only") and not value.key_agreement:
            continue  # cryptography raises on these unless keyAgreement is set
        if getattr(value, keyword):
            names.append(name)
    return tuple(sorted(set(names)))


# ---------------------------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class CsrRequest:
    """All options of postmaster.tls.csr, validated (key-independent parts)."""

    path: str
    privatekey_path: str
    privatekey_passphrase: str | None
    subject: tuple[tuple[str, str], ...]  # (OID, value) in X.509 order
    subject_alt_names: tuple[str, ...]  # normalised, option order, common name first
    key_usage: tuple[str, ...] | None  # None: chosen by key type
    extended_key_usage: tuple[str, ...]
    ocsp_must_staple: bool = False
    digest: str = DEFAULT_DIGEST
    mode: int = DEFAULT_CSR_MODE
    owner: str | None = None
    group: str | None = None
    backup: bool = False

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> CsrRequest:
        subject = []
        for option, oid, _short in SUBJECT_FIELDS:
            value = params.get(option)
            if value in (None, ""):
                continue
            value = str(value)
            if option == "country_name" and (len(value) != 2 or not value.isalpha() or not value.isascii()):
                raise CsrOptionError(f"country_name={value!r} must be a two-letter ISO 3166 code such as DE or US")
            if len(value) > 64:
                raise CsrOptionError(f"{option} is {len(value)} characters long; X.509 allows at most 64")
            subject.append((oid, value))
        common_name = params.get("common_name")
        sans: list[str] = []
        if common_name and params.get("add_cn_to_san", True):
            address = _ip(str(common_name))
            if address is not None:
                sans.append(f"IP:{address}")
            else:
                try:
                    sans.append("DNS:" + normalize_dns_name(str(common_name), what="common_name"))
                except CsrOptionError as exc:
                    raise CsrOptionError(f"{exc}; it is added to the subject alternative names unless add_cn_to_san=false") from None
        for entry in params.get("subject_alt_names") or []:
            san = parse_san(entry)
            if san not in sans:
                sans.append(san)
        if not subject and not sans:
            raise CsrOptionError("the CSR names nothing: set common_name or subject_alt_names")
        key_usage = params.get("key_usage")
        eku = params.get("extended_key_usage")
        try:
            mode = _fileio.parse_mode(params.get("mode"), default=DEFAULT_CSR_MODE)
        except _fileio.FileIOError as exc:
            raise CsrOptionError(str(exc)) from None
        if mode is None:  # pragma: no cover - parse_mode returns the default for None
            mode = DEFAULT_CSR_MODE
        return cls(
            path=str(params["path"]),
            privatekey_path=str(params["privatekey_path"]),
            privatekey_passphrase=params.get("privatekey_passphrase") or None,
            subject=tuple(subject),
            subject_alt_names=tuple(sans),
            key_usage=None if key_usage is None else key_usage_names(key_usage),
            extended_key_usage=extended_key_usage_oids(DEFAULT_EXTENDED_KEY_USAGE if eku is None else eku),
            ocsp_must_staple=bool(params.get("ocsp_must_staple")),
            digest=check_digest(params.get("digest")),
            mode=mode,
            owner=params.get("owner"),
            group=params.get("group"),
            backup=bool(params.get("backup")),
        )

    def key_usage_for(self, key: t.Any) -> tuple[str, ...]:
        """The key usage for this key: as asked, or what a TLS server certificate of its type needs."""
        is_rsa = isinstance(key, rsa.RSAPrivateKey)
        if self.key_usage is None:
            return ("digitalSignature", "keyEncipherment") if is_rsa else ("digitalSignature",)
        if "keyEncipherment" in self.key_usage and not is_rsa:
            raise CsrOptionError(f"key_usage keyEncipherment needs an RSA key, but the key in {self.privatekey_path} is "
                                 f"{_crypto.key_label(key)}; remove keyEncipherment")
        if ("encipherOnly" in self.key_usage or "decipherOnly" in self.key_usage) and "keyAgreement" not in self.key_usage:
            raise CsrOptionError("key_usage encipherOnly and decipherOnly need keyAgreement as well")
        return self.key_usage

    def digest_for(self, key: t.Any) -> str | None:
        # EdDSA signs the message itself; there is no separate digest to choose.
        if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
            return None
        return self.digest

    def wanted(self, key: t.Any) -> CsrContent:
        return CsrContent(
            subject=tuple(sorted(self.subject, key=_subject_order)),
            subject_alt_names=tuple(sorted(set(self.subject_alt_names))),
            key_usage=self.key_usage_for(key),
            extended_key_usage=self.extended_key_usage,
            ocsp_must_staple=self.ocsp_must_staple,
            other_extensions=(),
            digest=self.digest_for(key),
            spki_sha256=_crypto.spki_sha256(key.public_key()),
        )


def build_csr(request: CsrRequest, key: t.Any) -> x509.CertificateSigningRequest:
    """Build and sign the CSR the request asks for."""
    name = x509.Name([x509.NameAttribute(x509.ObjectIdentifier(oid), value) for oid, value in request.subject])
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    if request.subject_alt_names:
        # RFC 5280 4.2.1.6: with an empty subject, the SAN extension must be critical.
        builder = builder.add_extension(
            x509.SubjectAlternativeName([general_name(san) for san in request.subject_alt_names]),
            critical=not request.subject,
        )
    usage = set(request.key_usage_for(key))
    if usage:
        flags = {keyword: name in usage for name, keyword in _KEY_USAGES.values()}
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if request.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in request.extended_key_usage]), critical=False)
    if request.ocsp_must_staple:
        builder = builder.add_extension(x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False)
    digest = request.digest_for(key)
    algorithm = None if digest is None else {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}[digest]()
    return builder.sign(key, algorithm)


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
_CSR_LABELS = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")


def read_existing_csr(data: bytes | None, *, path: str) -> tuple[x509.CertificateSigningRequest | None, str | None]:
    """The CSR at ``path`` (or None with the reason it is not usable).

    A file that holds a private key or a certificate and no CSR is refused: writing a CSR over it
    would destroy it, and it almost always means path and privatekey_path were swapped.
    """
    if data is None:
        return None, f"no CSR at {path}"
    blocks = _crypto.pem_blocks(data)
    labels = {label for label, _block in blocks}
    csr_blocks = [block for label, block in blocks if label in _CSR_LABELS]
    if not csr_blocks:
        held = next((label for label in labels if "PRIVATE KEY" in label or label in ("CERTIFICATE", "TRUSTED CERTIFICATE")), None)
        if held is not None:
            raise CsrError(f"{path} holds a {held.lower()}, not a CSR; refusing to overwrite it (check path and privatekey_path)")
        if data.lstrip().startswith(b"0"):
            try:
                return x509.load_der_x509_csr(data), None
            except ValueError:
                pass
        return None, f"{path} is not a readable CSR"
    try:
        csr = x509.load_pem_x509_csr(csr_blocks[0])
    except ValueError:
        return None, f"{path} is a corrupt CSR"
    return csr, None


def load_signing_key(request: CsrRequest) -> _crypto.ExistingKey:
    """The private key (status absent when it does not exist); refuse keys no mail CA would sign."""
    try:
        data = _fileio.read_bytes(request.privatekey_path)
    except _fileio.FileIOError as exc:
        raise CsrError(f"{exc}; run with become, or fix the key file's permissions") from None
    existing = _crypto.read_key(data, passphrase=request.privatekey_passphrase, source=f"private key {request.privatekey_path}",
                                passphrase_option="privatekey_passphrase")
    if existing.status == "absent":
        return existing
    if not existing.readable:
        fix = "set the right privatekey_passphrase" if existing.passphrase_problem else "create the key again with postmaster.tls.private_key"
        raise CsrError(f"{existing.problem}; {fix}. Nothing was written")
    key = existing.key
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        raise CsrError(f"private key {request.privatekey_path} is {_crypto.key_label(key)}; use an RSA, ECDSA or Ed25519 key")
    weak = _x509.key_strength_problem(key.public_key())
    if weak:
        raise CsrError(f"private key {request.privatekey_path} is {weak}; CAs and clients refuse it (RSA needs {_x509.MIN_RSA_BITS} "
                       "bits or more, ECDSA P-256 or stronger): make a new key with postmaster.tls.private_key")
    return existing


def ensure_csr(module: AnsibleModule, request: CsrRequest) -> dict[str, t.Any]:
    """Make ``request.path`` hold a CSR as asked for the key; return the module result.

    Check mode takes the same path and builds the CSR in memory (signing is cheap); only the write
    is skipped. When the key does not exist yet in check mode, an earlier task is assumed to create it.
    """
    check_mode = bool(module.check_mode)
    path = request.path
    try:
        _fileio.check_owner_group(request.owner, request.group)
        dir_warning = _fileio.check_target_dir(path, check_mode=check_mode)
    except _fileio.FileIOError as exc:
        raise CsrError(str(exc)) from None
    if dir_warning:
        module.warn(dir_warning)
    if request.ocsp_must_staple:
        raise CsrOptionError(f"ocsp_must_staple=true {_crl.MUST_STAPLE_REFUSAL}. Nothing was written")
    try:
        data = None if dir_warning else _fileio.read_bytes(path)
    except _fileio.FileIOError as exc:
        raise CsrError(f"{exc}; run with become, or fix the file's permissions") from None
    existing, problem = read_existing_csr(data, path=path)

    signing_key = load_signing_key(request)
    key = signing_key.key
    if key is None:
        if not check_mode:
            raise CsrError(f"private key {request.privatekey_path} does not exist; create it first with "
                           "postmaster.tls.private_key. Nothing was written")
        module.warn(f"private key {request.privatekey_path} does not exist yet; check mode assumes an earlier task creates it")
        name = x509.Name([x509.NameAttribute(x509.ObjectIdentifier(oid), value) for oid, value in request.subject])
        return {"path": path, "changed": True, "subject": _crypto.name_to_string(name),
                "subject_alt_names": list(request.subject_alt_names),
                "reasons": [f"private key {request.privatekey_path} does not exist yet"]}
    if request.privatekey_passphrase and not signing_key.encrypted:
        module.warn(f"privatekey_passphrase is set, but {request.privatekey_path} is not encrypted")

    wanted = request.wanted(key)
    found: CsrContent | None = None
    if existing is not None:
        try:
            found = content_of(existing)
        except ValueError:
            problem = f"{path} has an extension that cannot be parsed"
    if found is not None:
        reasons = differences(found, wanted)
        if not existing.is_signature_valid:
            reasons.append("the CSR's signature does not verify")
    else:
        reasons = [problem or f"{path} is not a readable CSR"]

    before_files = _fileio.file_facts(path)
    after_files = {**before_files, "mode": f"{request.mode:04o}"}
    for option in ("owner", "group"):
        if getattr(request, option) not in (None, ""):
            after_files[option] = str(getattr(request, option))

    backup_file = None
    if reasons:
        changed = True
        try:
            _fileio.check_writable_dir(path, missing_ok=True)
        except _fileio.FileIOError as exc:
            raise CsrError(str(exc)) from None
        csr = build_csr(request, key)
        pem = csr_pem(csr)
        if not check_mode:
            try:
                backup_file = _fileio.atomic_write(module, path, pem, mode=request.mode, owner=request.owner,
                                                   group=request.group, backup=request.backup)
            except _fileio.FileIOError as exc:
                raise CsrError(str(exc)) from None
    elif existing is None:  # pragma: no cover - no reasons means an existing CSR was compared
        raise CsrError(f"internal error: no CSR to keep at {path}")
    else:
        csr = existing
        pem = csr_pem(csr)
        try:
            changed = _fileio.set_attributes(module, path, mode=request.mode, owner=request.owner, group=request.group)
        except _fileio.FileIOError as exc:
            raise CsrError(str(exc)) from None

    result_content = content_of(csr)
    result: dict[str, t.Any] = {
        "path": path,
        "changed": changed,
        "subject": _crypto.name_to_string(csr.subject),
        "subject_alt_names": _crypto.subject_alt_names(csr),
        "csr": pem.decode("ascii"),
        "privatekey_matches": _crypto.same_public_key(csr.public_key(), key.public_key()) and csr.is_signature_valid,
        "spki_sha256": wanted.spki_sha256,
        "digest": result_content.digest,
        "key_usage": list(result_content.key_usage),
        "extended_key_usage": [_x509.eku_name(oid) for oid in result_content.extended_key_usage],
        "ocsp_must_staple": result_content.ocsp_must_staple,
        "reasons": reasons,
    }
    if backup_file:
        result["backup_file"] = backup_file
    if module._diff:
        if found is not None:
            before = {"state": "present", **found.facts(), **before_files}
        else:
            before = {"state": "absent" if data is None else "unreadable", **before_files}
        result["diff"] = {"before": before, "after": {"state": "present", **result_content.facts(), **after_files},
                          "before_header": path, "after_header": path}
    return result
