# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificate revocation lists: read, check, build, look up, and fetch them from a distribution point.

Used by postmaster.tls.local_ca_crl (which keeps a local CA's CRL), postmaster.tls.certificate (the
CRL distribution point it writes into certificates), postmaster.tls.certificate_info and
postmaster.tls.mail_tls_verify (the revocation status of a certificate). Everything goes through
cryptography's own CRL parser and builder; nothing here shells out.

A floor module: it imports only the collection's floors (_crypto, _fileio, _x509). Works with
cryptography 38 (Debian 12): the ``*_utc`` properties that appeared later are wrapped here once.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import time
import typing as t
import urllib.parse

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _x509

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

# RFC 5280 5.3.1 reason codes by the names the RFC gives them (cryptography's ReasonFlags values).
# removeFromCRL only makes sense in delta CRLs, which this collection does not issue.
REASON_NAMES: tuple[str, ...] = (
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise",
)
# Larger than any CRL a mail CA publishes; a distribution point that sends more is not sending a CRL.
MAX_CRL_BYTES = 16 * 1024 * 1024
FETCH_SCHEMES = ("http", "https")

Status = t.Literal["good", "revoked", "unknown", "not_checked", "not_applicable"]


class CRLError(Exception):
    """A CRL cannot be used as given (corrupt, expired, from another CA); the message names it and the fix."""


class FetchError(Exception):
    """A distribution point did not deliver a CRL (unreachable, slow, an HTTP error)."""


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def load_crl(data: bytes, *, source: str) -> x509.CertificateRevocationList:
    """A CRL in PEM or DER (RFC 5280 distribution points serve DER)."""
    try:
        if b"-----BEGIN X509 CRL-----" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CRLError(f"{source} is not a readable CRL ({exc}); give a PEM ('-----BEGIN X509 CRL-----') or DER CRL") from None


def _aware(value: datetime.datetime | None) -> datetime.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.timezone.utc)


def this_update(crl: x509.CertificateRevocationList) -> datetime.datetime:
    value = getattr(crl, "last_update_utc", None)
    return value if value is not None else _aware(crl.last_update)


def next_update(crl: x509.CertificateRevocationList) -> datetime.datetime | None:
    if hasattr(crl, "next_update_utc"):
        return crl.next_update_utc
    return _aware(crl.next_update)


def revocation_date(entry: x509.RevokedCertificate) -> datetime.datetime:
    value = getattr(entry, "revocation_date_utc", None)
    return value if value is not None else _aware(entry.revocation_date)


def crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


def entry_reason(entry: x509.RevokedCertificate) -> str:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        return "unspecified"


def parse_serial(value: t.Any, *, what: str = "serial") -> int:
    """A serial number given as colon-separated hex (as openssl and this collection print it), plain hex
    with a 0x prefix, or a decimal integer."""
    text = str(value).strip()
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            serial = value
        elif ":" in text:
            parts = text.split(":")
            if any(len(part) not in (1, 2) for part in parts):
                raise ValueError(text)
            serial = int("".join(parts), 16)
        elif text.lower().startswith("0x"):
            serial = int(text[2:], 16)
        else:
            serial = int(text, 10)
    except ValueError:
        raise CRLError(f"{what} {text!r} is not a serial number; give it as openssl prints it "
                       "(4f:2a:91:...), as 0x-prefixed hex, or as a decimal number") from None
    if serial <= 0 or serial.bit_length() > 160:
        raise CRLError(f"{what} {text!r} is out of range: X.509 serial numbers are positive and at most 20 bytes")
    return serial


def entries(crl: x509.CertificateRevocationList) -> list[dict[str, t.Any]]:
    """The revoked certificates as small readable facts, oldest revocation first."""
    out = [{"serial": _x509.serial_hex(entry.serial_number), "reason": entry_reason(entry),
            "revocation_date": _x509.iso8601(revocation_date(entry))} for entry in crl]
    return sorted(out, key=lambda item: (item["revocation_date"], item["serial"]))


def facts(crl: x509.CertificateRevocationList) -> dict[str, t.Any]:
    """What modules return about a CRL (public data only)."""
    update = next_update(crl)
    return {
        "issuer": _crypto.name_to_string(crl.issuer),
        "crl_number": crl_number(crl),
        "this_update": _x509.iso8601(this_update(crl)),
        "next_update": _x509.iso8601(update) if update else None,
        "revoked": entries(crl),
    }


def summary(crl: x509.CertificateRevocationList) -> str:
    """A CRL in a few readable lines (diff mode): issuer, CRL number, window, every revoked serial."""
    described = facts(crl)
    lines = [f"issuer: {described['issuer']}", f"crl_number: {described['crl_number']}",
             f"this_update: {described['this_update']}", f"next_update: {described['next_update']}"]
    lines += [f"revoked: {entry['serial']} {entry['reason']} {entry['revocation_date']}" for entry in described["revoked"]]
    return "\n".join(lines) + "\n"


def signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """True when the CRL names ``issuer`` and its signature verifies with ``issuer``'s key."""
    if crl.issuer != issuer.subject:
        return False
    try:
        return bool(crl.is_signature_valid(issuer.public_key()))
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return False


def check_current(crl: x509.CertificateRevocationList, *, source: str, now: datetime.datetime) -> None:
    """A CRL whose nextUpdate has passed says nothing reliable about revocations since; refuse it."""
    update = next_update(crl)
    if update is not None and update <= now:
        raise CRLError(f"{source} expired on {_x509.iso8601(update)} (its nextUpdate); the CA must sign a new one "
                       "(postmaster.tls.local_ca_crl re-signs a local CA's CRL before then)")
    if this_update(crl) > now + datetime.timedelta(minutes=5):
        raise CRLError(f"{source} is not valid before {_x509.iso8601(this_update(crl))} (its thisUpdate); check the clock")


def check_issued_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate, *, source: str, issuer_source: str) -> None:
    if crl.issuer != issuer.subject:
        raise CRLError(f"{source} was issued by '{_crypto.name_to_string(crl.issuer)}', not by the CA "
                       f"'{_crypto.name_to_string(issuer.subject)}' of {issuer_source}; give that CA's CRL")
    if not signed_by(crl, issuer):
        raise CRLError(f"{source} names '{_crypto.name_to_string(crl.issuer)}' as its issuer, but its signature does not "
                       f"verify with the key of {issuer_source} (another CA with the same name, or a tampered CRL); "
                       "give the CRL that CA signed")


def distribution_points(cert: x509.Certificate) -> list[str]:
    """The URIs of the certificate's CRL distribution points (full names only), in order."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    out = []
    for point in points:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier):
                out.append(name.value)
    return out


def check_distribution_point(url: str, *, option: str) -> str:
    """A URL fit for a certificate's CRL distribution point (RFC 5280 4.2.1.13: HTTP serving DER)."""
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise CRLError(f"{option}: {url!r} contains spaces or control characters; give a plain http:// URL")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "ldap") or not parsed.hostname:
        raise CRLError(f"{option}: {url!r} is not an http:// URL with a host. RFC 5280 asks for http (or ldap) "
                       "distribution points; https would need the CRL to check its own server. Example: http://crl.example.org/mail-ca.crl")
    if not url.isascii():
        raise CRLError(f"{option}: {url!r} has non-ASCII characters; give the host in its ASCII (punycode) form")
    return url


def distribution_points_extension(urls: t.Sequence[str]) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([
        x509.DistributionPoint(full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None, crl_issuer=None)
        for url in urls
    ])


# OCSP must-staple (RFC 7633 TLS feature status_request) is the other revocation mechanism, and the
# one a mail server cannot take part in: Postfix and Dovecot do not staple OCSP responses.
MUST_STAPLE_REFUSAL = (
    "asks for OCSP must-staple (the TLS feature extension with status_request, RFC 7633). Postfix and Dovecot "
    "cannot staple OCSP responses, so every client that honours the extension would refuse this mail server. "
    "Leave ocsp_must_staple off (revocation is published through the CA's CRL instead)"
)


def asks_must_staple(extensions: x509.Extensions) -> bool:
    """True when the extensions (of a CSR or certificate) ask for OCSP must-staple."""
    try:
        feature = extensions.get_extension_for_class(x509.TLSFeature).value
    except x509.ExtensionNotFound:
        return False
    return x509.TLSFeatureType.status_request in list(feature)


# ---------------------------------------------------------------------------------------------
# Building (the local CA's CRL)
# ---------------------------------------------------------------------------------------------
def build_crl(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: t.Any,
    revoked: t.Sequence[tuple[int, datetime.datetime, str]],
    number: int,
    this_update: datetime.datetime,
    next_update: datetime.datetime,
) -> x509.CertificateRevocationList:
    """A complete CRL signed by the CA: CRL number, authority key identifier, one entry per
    (serial, revocation date, reason). The reason code is left out for ``unspecified``, as RFC 5280
    5.3.1 asks. The signature uses the hash the CA certificate itself is signed with."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())
    builder = builder.add_extension(aki, critical=False)
    for serial, when, reason in sorted(revoked, key=lambda item: (item[1], item[0])):
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason != "unspecified":
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags(reason)), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(private_key=issuer_key, algorithm=issuer_cert.signature_hash_algorithm)


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def crl_der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------------------------------------
# Fetching from a distribution point, in bounded time
# ---------------------------------------------------------------------------------------------
def fetch(url: str, *, timeout: float, max_bytes: int = MAX_CRL_BYTES) -> bytes:
    """GET a CRL from an http(s) distribution point within ``timeout`` seconds in total (connect,
    request and body together), or raise FetchError saying what happened.

    A plain HTTP/1.0 exchange on one socket, every read bounded by what is left of the deadline: the
    server closes the connection after the answer and cannot use chunked encoding, and no redirect is
    followed (a distribution point answers with the CRL itself).
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in FETCH_SCHEMES or not parsed.hostname:
        raise FetchError(f"{parsed.scheme or 'this'} distribution points are not fetched (only http and https)")
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        raise FetchError("the URL's port is not a number") from None
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(f"no complete answer within {timeout:g} s")
        return left

    target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    host = parsed.hostname if ":" not in parsed.hostname else f"[{parsed.hostname}]"
    request = (f"GET {target} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: postmaster.tls\r\n"
               "Accept: application/pkix-crl, */*\r\nConnection: close\r\n\r\n").encode("ascii", "strict")
    sock = None
    try:
        sock = socket.create_connection((parsed.hostname, port), timeout=remaining())
        if parsed.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parsed.hostname)
        sock.settimeout(remaining())
        sock.sendall(request)
        answer = b""
        while True:
            sock.settimeout(remaining())
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
            if len(answer) > max_bytes:
                raise FetchError(f"the answer is larger than {max_bytes} bytes; that is not a CRL")
    except FetchError:
        raise
    except (socket.timeout, TimeoutError):
        raise FetchError(f"no complete answer within {timeout:g} s") from None
    except ConnectionRefusedError:
        raise FetchError("connection refused (nothing listens there)") from None
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {parsed.hostname}: {exc.strerror}") from None
    except ssl.SSLError as exc:
        raise FetchError(f"TLS failed: {exc.reason or exc}") from None
    except OSError as exc:
        raise FetchError(f"cannot connect: {exc.strerror or exc}") from None
    finally:
        if sock is not None:
            sock.close()
    head, separator, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if not separator or len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise FetchError("the answer is not HTTP")
    if parts[1] != "200":
        raise FetchError(f"HTTP {parts[1]} {parts[2] if len(parts) > 2 else ''}".rstrip())
    return body


# ---------------------------------------------------------------------------------------------
# Revocation status of one certificate
# ---------------------------------------------------------------------------------------------
def find_issuer(cert: x509.Certificate, candidates: t.Iterable[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject == cert.issuer and _crypto.is_signed_by(cert, candidate):
            return candidate
    return None


class RevocationChecker:
    """The revocation status of certificates from CRL files and, when allowed, their distribution points.

    One checker serves a whole module run: a distribution point is fetched once however many
    endpoints serve certificates that name it, and the CRL files are matched to certificates by
    issuer. ``unused_files()`` lists the given CRLs that matched no certificate's issuer, which the
    modules report as a bad input (a CRL from another CA).
    """

    def __init__(self, files: t.Sequence[tuple[str, x509.CertificateRevocationList]], *, fetch_crls: bool, timeout: float,
                 now: datetime.datetime | None = None) -> None:
        self.now = now or _crypto.utcnow()
        for source, crl in files:
            check_current(crl, source=source, now=self.now)
        self.files = list(files)
        self.used: set[str] = set()
        self.fetch_crls = fetch_crls
        self.timeout = timeout
        self._fetched: dict[str, tuple[x509.CertificateRevocationList | None, str | None, float]] = {}

    @classmethod
    def from_paths(cls, paths: t.Sequence[str], *, fetch_crls: bool, timeout: float,
                   now: datetime.datetime | None = None) -> RevocationChecker:
        files = []
        for path in paths:
            try:
                data = _fileio.read_option_file(path, option="crl_path", missing="give the CRL file (for a local CA, the "
                                                "crl.pem postmaster.tls.local_ca_crl writes)")
            except _fileio.FileIOError as exc:
                raise CRLError(str(exc)) from None
            files.append((path, load_crl(data, source=f"crl_path {path}")))
        return cls(files, fetch_crls=fetch_crls, timeout=timeout, now=now)

    def unused_files(self) -> list[tuple[str, str]]:
        return [(source, _crypto.name_to_string(crl.issuer)) for source, crl in self.files if source not in self.used]

    def unused_problem(self, seen_issuers: t.Iterable[str]) -> str | None:
        """What is wrong when a CRL file matched no checked certificate's issuer (None: every file was used)."""
        unused = self.unused_files()
        if not unused:
            return None
        issuers = sorted(set(seen_issuers))
        details = "; ".join(f"{source} is from '{issuer}'" for source, issuer in unused)
        return (f"crl_path: {details}, but no checked certificate was issued by that CA "
                f"(they come from {', '.join(repr(i) for i in issuers) or 'no CA'}); give the CRL of the CA that issued them")

    def check_unused(self, seen_issuers: t.Iterable[str]) -> None:
        """Fail on a CRL file that no checked certificate's issuer signed: it was given for nothing."""
        problem = self.unused_problem(seen_issuers)
        if problem:
            raise CRLError(problem)

    def _fetch(self, url: str) -> tuple[x509.CertificateRevocationList | None, str | None, float]:
        """(CRL or None, the error or None, seconds taken); each URL once per checker."""
        if url not in self._fetched:
            started = time.monotonic()
            crl, error = None, None
            try:
                crl = load_crl(fetch(url, timeout=self.timeout), source=f"the CRL at {url}")
            except (FetchError, CRLError) as exc:
                error = str(exc)
            self._fetched[url] = (crl, error, round(time.monotonic() - started, 3))
        return self._fetched[url]

    def status(self, cert: x509.Certificate, issuers: t.Sequence[x509.Certificate]) -> dict[str, t.Any]:
        """The revocation status of ``cert``; ``issuers`` are the certificates its issuer may be among."""
        points = distribution_points(cert)
        out: dict[str, t.Any] = {
            "status": "not_checked", "source": None, "serial": _x509.serial_hex(cert.serial_number), "reason": None,
            "revocation_date": None, "crl_number": None, "crl_next_update": None, "distribution_points": points,
            "errors": [], "fetch_seconds": None,
        }
        if cert.issuer == cert.subject and _crypto.is_signed_by(cert, cert):
            out["status"] = "not_applicable"
            out["errors"].append("self-signed: no CA can revoke it (replace it to withdraw it)")
            return out
        issuer = find_issuer(cert, issuers)
        issuer_name = _crypto.name_to_string(cert.issuer)
        for source, crl in self.files:
            if crl.issuer != cert.issuer:
                continue
            self.used.add(source)
            if issuer is None:
                out["status"] = "unknown"
                out["errors"].append(f"the CA certificate '{issuer_name}' is not known here, so the signature of {source} "
                                     "cannot be checked; serve the chain or give the CA certificate")
                return out
            check_issued_by(crl, issuer, source=f"crl_path {source}", issuer_source=f"the CA '{issuer_name}'")
            return self._judge(out, crl, cert, source)
        if not self.fetch_crls:
            if points:
                out["errors"].append("no CRL given for this issuer and fetching is off (crl_fetch)")
            return out
        if not points:
            out["errors"].append("the certificate names no CRL distribution point and no CRL was given for its issuer")
            return out
        if issuer is None:
            out["status"] = "unknown"
            out["errors"].append(f"the CA certificate '{issuer_name}' is not known here, so a fetched CRL could not be checked")
            return out
        out["fetch_seconds"] = 0.0
        for url in points:
            crl, error, seconds = self._fetch(url)
            out["fetch_seconds"] = round(out["fetch_seconds"] + seconds, 3)
            if crl is None:
                out["errors"].append(f"CRL distribution point {url}: {error}")
                continue
            try:
                check_issued_by(crl, issuer, source=f"the CRL at {url}", issuer_source=f"the CA '{issuer_name}'")
                check_current(crl, source=f"the CRL at {url}", now=self.now)
            except CRLError as exc:
                out["errors"].append(str(exc))
                continue
            return self._judge(out, crl, cert, url)
        out["status"] = "unknown"
        return out

    @staticmethod
    def _judge(out: dict[str, t.Any], crl: x509.CertificateRevocationList, cert: x509.Certificate, source: str) -> dict[str, t.Any]:
        out["source"] = source
        out["crl_number"] = crl_number(crl)
        update = next_update(crl)
        out["crl_next_update"] = _x509.iso8601(update) if update else None
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is None:
            out["status"] = "good"
            return out
        out["status"] = "revoked"
        out["reason"] = entry_reason(entry)
        out["revocation_date"] = _x509.iso8601(revocation_date(entry))
        return out


def finding(status: dict[str, t.Any]) -> str | None:
    """The failure sentence for a revoked certificate (None for every other status)."""
    if status.get("status") != "revoked":
        return None
    return (f"certificate {status['serial']} is revoked ({status['reason']}, since {status['revocation_date']}) "
            f"according to {status['source']}")
