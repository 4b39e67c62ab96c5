# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificate transparency: the SCTs embedded in a certificate, checked offline against a log list.

Used by postmaster.tls.certificate_info and postmaster.tls.mail_tls_verify. The SCTs come from
cryptography's own parser (``x509.PrecertificateSignedCertificateTimestamps``); the log list is the
public JSON format (Chrome's ``log_list.json`` v3, Apple's has the same ``operators[].logs[]``
shape) read from a file the user provides: nothing is downloaded.

An embedded SCT signs, per RFC 6962 section 3.2, a ``digitally-signed`` structure over the
*precertificate*: the certificate's TBSCertificate without the SCT list extension
(cryptography's ``tbs_precertificate_bytes``) and the SHA-256 of the issuer's public key. Only that
small structure is written out here; the signature check is cryptography's.

A floor module: it imports only _crypto and _fileio.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import math
import ssl
import struct
import typing as t
import warnings

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

SCT_LIST_OID = "1.3.6.1.4.1.11129.2.4.2"

# How many embedded SCTs a publicly trusted certificate needs, by lifetime. Chrome and Apple ask the same:
# - Chrome CT Policy (https://googlechrome.github.io/CertificateTransparency/ct_policy.html; the change
#   announced at https://groups.google.com/a/chromium.org/g/ct-policy/c/507lPdbbwSk, in force since
#   Chrome 100): lifetime of 180 days or less: 2 SCTs, more than 180 days: 3 SCTs, from logs of at
#   least 2 distinct operators.
# - Apple's CT policy (https://support.apple.com/en-us/103214): 180 days or less: 2 SCTs from distinct
#   logs, 181 to 398 days: 3. The lifetime counts from notBefore through notAfter inclusive, in days of
#   86,400 seconds, any remainder counting as one more day.
POLICY_SHORT_LIFETIME_DAYS = 180
POLICY_SCTS_SHORT = 2
POLICY_SCTS_LONG = 3
POLICY_MIN_OPERATORS = 2

# RFC 6962 3.2 / 3.4: the only version and the two constants of the signed structure.
_SCT_VERSION_V1 = 0
_SIGNATURE_TYPE_CERTIFICATE_TIMESTAMP = 0
_ENTRY_TYPE_PRECERT = 1

Scope = t.Literal["public", "private", "self-signed", "unknown"]


class CTError(Exception):
    """The log list cannot be used; the message names the file, the problem and the fix."""


class Log(t.NamedTuple):
    log_id: bytes
    key: t.Any
    description: str
    operator: str
    state: str | None


# ---------------------------------------------------------------------------------------------
# The log list
# ---------------------------------------------------------------------------------------------
def load_log_list(data: bytes, *, source: str) -> dict[bytes, Log]:
    """Logs by log id from a log list JSON (``operators[].logs[]`` and ``operators[].tiled_logs[]``).

    Each log's id must be the SHA-256 of its key (RFC 6962 3.2), so a list edited by hand cannot
    attribute an SCT to the wrong key without this saying so.
    """
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CTError(f"ct_log_list_path {source} is not JSON ({exc}); give the log list file as published "
                      "(for example Chrome's log_list.json v3)") from None
    if not isinstance(document, dict) or not isinstance(document.get("operators"), list):
        raise CTError(f"ct_log_list_path {source} has no 'operators' list; it is not a CT log list in the public "
                      "JSON format (operators[].logs[] with log_id and key)")
    logs: dict[bytes, Log] = {}
    for op_index, operator in enumerate(document["operators"]):
        if not isinstance(operator, dict):
            raise CTError(f"ct_log_list_path {source}: operators[{op_index}] is not an object")
        name = str(operator.get("name") or f"operator {op_index}")
        for kind in ("logs", "tiled_logs"):
            entries = operator.get(kind) or []
            if not isinstance(entries, list):
                raise CTError(f"ct_log_list_path {source}: operators[{op_index}].{kind} is not a list")
            for index, entry in enumerate(entries):
                where = f"ct_log_list_path {source}: operators[{op_index}].{kind}[{index}]"
                log = _load_log(entry, where=where, operator=name)
                logs[log.log_id] = log
    if not logs:
        raise CTError(f"ct_log_list_path {source} lists no logs")
    return logs


def _load_log(entry: t.Any, *, where: str, operator: str) -> Log:
    if not isinstance(entry, dict) or "key" not in entry or "log_id" not in entry:
        raise CTError(f"{where} needs 'log_id' and 'key'")
    try:
        key_der = base64.b64decode(str(entry["key"]), validate=True)
        log_id = base64.b64decode(str(entry["log_id"]), validate=True)
    except (binascii.Error, ValueError):
        raise CTError(f"{where}: 'key' and 'log_id' must be base64") from None
    try:
        key = serialization.load_der_public_key(key_der)
    except (ValueError, UnsupportedAlgorithm):
        raise CTError(f"{where}: 'key' is not a DER SubjectPublicKeyInfo") from None
    if hashlib.sha256(key_der).digest() != log_id:
        raise CTError(f"{where}: 'log_id' is not the SHA-256 of 'key' (RFC 6962 3.2); the entry is corrupt")
    state = entry.get("state")
    state_name = next(iter(state)) if isinstance(state, dict) and state else None
    return Log(log_id=log_id, key=key, description=str(entry.get("description") or ""), operator=operator, state=state_name)


def load_log_list_file(path: str) -> dict[bytes, Log]:
    try:
        data = _fileio.read_option_file(path, option="ct_log_list_path", missing="download the log list to that file first "
                                        "(https://www.gstatic.com/ct/log_list/v3/log_list.json)")
    except _fileio.FileIOError as exc:
        raise CTError(str(exc)) from None
    return load_log_list(data, source=path)


# ---------------------------------------------------------------------------------------------
# SCTs
# ---------------------------------------------------------------------------------------------
def embedded_scts(cert: x509.Certificate) -> list[t.Any]:
    """The certificate's embedded SCTs (empty when it has none)."""
    try:
        return list(cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value)
    except x509.ExtensionNotFound:
        return []


def timestamp_ms(sct: t.Any) -> int:
    """The SCT's timestamp as RFC 6962 has it: milliseconds since the epoch."""
    stamp = sct.timestamp
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    delta = stamp - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta // datetime.timedelta(microseconds=1) + 500) // 1000


def _opaque(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


def precert_signed_data(*, timestamp: int, issuer_key_hash: bytes, tbs_precertificate: bytes, extensions: bytes = b"") -> bytes:
    """RFC 6962 3.2: the bytes a log signs for an SCT over a precertificate (v1)."""
    return (
        struct.pack(">BBQH", _SCT_VERSION_V1, _SIGNATURE_TYPE_CERTIFICATE_TIMESTAMP, timestamp, _ENTRY_TYPE_PRECERT)
        + issuer_key_hash
        + _opaque(tbs_precertificate, 3)
        + _opaque(extensions, 2)
    )


def issuer_key_hash(issuer: x509.Certificate) -> bytes:
    return hashlib.sha256(_crypto.public_key_der(issuer.public_key())).digest()


def verify_sct(sct: t.Any, *, cert: x509.Certificate, issuer: x509.Certificate, key: t.Any) -> bool:
    """True when the log key signed this embedded SCT for this certificate and issuer."""
    data = precert_signed_data(
        timestamp=timestamp_ms(sct),
        issuer_key_hash=issuer_key_hash(issuer),
        tbs_precertificate=cert.tbs_precertificate_bytes,
        extensions=sct.extension_bytes,
    )
    algorithm = sct.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sct.signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(sct.signature, data, padding.PKCS1v15(), algorithm)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def lifetime_days(cert: x509.Certificate) -> int:
    """The lifetime as the CT policies count it: notBefore through notAfter inclusive, 86,400 s a day,
    any remainder one day more (RFC 5280 4.1.2.5)."""
    seconds = (_crypto.not_valid_after(cert) - _crypto.not_valid_before(cert)).total_seconds() + 1
    return max(1, math.ceil(seconds / 86400))


def required_scts(cert: x509.Certificate) -> int:
    return POLICY_SCTS_SHORT if lifetime_days(cert) <= POLICY_SHORT_LIFETIME_DAYS else POLICY_SCTS_LONG


# ---------------------------------------------------------------------------------------------
# Where a certificate's trust comes from
# ---------------------------------------------------------------------------------------------
def trust_scope(cert: x509.Certificate, *, candidates: t.Sequence[x509.Certificate],
                roots: PublicRoots) -> tuple[Scope, x509.Certificate | None]:
    """('public' | 'private' | 'self-signed' | 'unknown', the issuer certificate or None).

    Walks up from ``cert`` through ``candidates`` (the served or filed chain, a local CA certificate)
    and the system trust store; public when the path reaches a certificate of the trust store.
    """
    if cert.issuer == cert.subject and _crypto.is_signed_by(cert, cert):
        return "self-signed", None
    current = cert
    issuer_of_leaf = None
    for _depth in range(8):
        issuer = _issuer_in(current, candidates) or _issuer_in(current, roots.certificates())
        if issuer is None:
            return "unknown", issuer_of_leaf
        if issuer_of_leaf is None:
            issuer_of_leaf = issuer
        if _crypto.cert_fingerprint_sha256(issuer) in roots.fingerprints():
            return "public", issuer_of_leaf
        if issuer.subject == issuer.issuer:
            return "private", issuer_of_leaf
        current = issuer
    return "unknown", issuer_of_leaf


def _issuer_in(cert: x509.Certificate, candidates: t.Iterable[x509.Certificate]) -> x509.Certificate | None:
    return next((c for c in candidates if c.subject == cert.issuer and _crypto.is_signed_by(cert, c)), None)


def system_roots() -> list[x509.Certificate]:
    """The certificates of OpenSSL's default trust store file (what clients on this host trust).

    Asked from OpenSSL itself, so no bundle path is named here; the hashed directory is not listed
    by OpenSSL, which keeps Debian's snake-oil certificate (linked there) out of the public roots.
    """
    context = ssl.create_default_context()
    out = []
    with warnings.catch_warnings():
        # Some trust stores hold an old root with a zero or negative serial; cryptography warns about it.
        warnings.simplefilter("ignore")
        for der in context.get_ca_certs(binary_form=True):
            try:
                out.append(x509.load_der_x509_certificate(der))
            except ValueError:
                continue
    return out


class PublicRoots:
    """The system trust store, loaded once and only when a decision needs it."""

    def __init__(self, loader: t.Callable[[], t.Sequence[x509.Certificate]] = system_roots) -> None:
        self._loader = loader
        self._certs: t.Sequence[x509.Certificate] | None = None
        self._fingerprints: set[str] | None = None

    def certificates(self) -> t.Sequence[x509.Certificate]:
        if self._certs is None:
            # The loader returns nothing when the host has no trust store: then nothing counts as public.
            self._certs = list(self._loader())
        return self._certs

    def fingerprints(self) -> set[str]:
        if self._fingerprints is None:
            self._fingerprints = {_crypto.cert_fingerprint_sha256(c) for c in self.certificates()}
        return self._fingerprints


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------
def report(cert: x509.Certificate, *, issuer: x509.Certificate | None, scope: Scope,
           logs: dict[bytes, Log] | None) -> dict[str, t.Any]:
    """The CT facts of one certificate and the findings against the browser policy.

    A certificate from a private CA or a self-signed one carries no SCTs by design: that is
    reported as expected (``policy: not_applicable``), never as a finding.
    """
    scts = embedded_scts(cert)
    entries = []
    for sct in scts:
        log = logs.get(sct.log_id) if logs is not None else None
        if logs is None:
            signature = "not_checked"
        elif log is None:
            signature = "unknown_log"
        elif issuer is None:
            signature = "no_issuer"
        else:
            signature = "valid" if verify_sct(sct, cert=cert, issuer=issuer, key=log.key) else "invalid"
        stamp = sct.timestamp if sct.timestamp.tzinfo else sct.timestamp.replace(tzinfo=datetime.timezone.utc)
        entries.append({
            "log_id": base64.b64encode(sct.log_id).decode("ascii"),
            "log": log.description if log else None,
            "operator": log.operator if log else None,
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "signature": signature,
        })
    out: dict[str, t.Any] = {
        "count": len(entries),
        "scts": entries,
        "scope": scope,
        "required": None,
        "policy": "not_applicable",
        "findings": [],
        "log_list_checked": logs is not None,
    }
    findings = out["findings"]
    for entry in entries:
        if entry["signature"] == "invalid":
            findings.append(f"the SCT from {entry['log'] or entry['log_id']} has a signature that does not verify "
                            "(the certificate or the SCT was altered)")
        elif entry["signature"] == "unknown_log":
            findings.append(f"an SCT names log {entry['log_id']}, which the log list does not know")
    if scope in ("private", "self-signed"):
        out["note"] = ("no SCTs expected: the certificate is self-signed" if scope == "self-signed"
                       else "no SCTs expected: the certificate is from a private CA, which logs nothing")
        return out
    if scope == "unknown" and not entries:
        out["note"] = "not judged: the issuer is not known here, so it is unknown whether the certificate is publicly trusted"
        return out
    required = required_scts(cert)
    out["required"] = required
    counted = [e for e in entries if e["signature"] in ("valid", "not_checked", "no_issuer")]
    distinct_logs = {e["log_id"] for e in counted}
    operators = {e["operator"] for e in counted if e["operator"]}
    days = lifetime_days(cert)
    if len(distinct_logs) < required:
        findings.append(f"carries {len(distinct_logs)} embedded SCT(s) from distinct logs"
                        f"{' with valid signatures' if logs is not None else ''}; Chrome and Apple ask for {required} "
                        f"for a certificate of {days} days")
    elif logs is not None and len(operators) < POLICY_MIN_OPERATORS:
        findings.append(f"its SCTs come from {len(operators)} log operator(s); Chrome asks for at least {POLICY_MIN_OPERATORS}")
    out["policy"] = "compliant" if not findings else "insufficient"
    if scope == "unknown":
        out["note"] = "judged as publicly trusted because it carries SCTs, though its issuer is not known here"
    return out
