# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Grade mail ports the way internet.nl's mail TLS test does, on every port, from the playbook.

internet.nl (the Dutch public grader, built on the NCSC-NL "IT Security Guidelines for TLS") checks port
25 of each MX. The same subtests are run here against any mail endpoint, each reported under internet.nl's
own name with a verdict (``good``, ``sufficient``, ``phase out``, ``insufficient``, ``not applicable``, or
``not tested`` when this client could not find out) and the evidence behind it. A port *would pass* when
no subtest that internet.nl counts is ``insufficient``; ``phase out`` is a warning there, as here.

How the evidence is gathered: hand-built ClientHellos (``_tlswire``) on connections that the caller has
brought to the point of the TLS handshake (STARTTLS done, or implicit TLS). Each probe reads the server's
answer in the clear and drops the connection; no handshake is finished and no cryptography is written by
hand. One ordinary handshake through Python's ``ssl`` reads the certificate chain when only TLS 1.3 is
spoken (TLS 1.3 encrypts the certificate). The probes of all endpoints run concurrently; every connection
has its own deadline and the grading as a whole has a time budget, after which what is left is reported
``not tested``.

This backend takes the connection opener and the verifier's findings (chain trust, name match) from the
caller, so it depends on no other backend.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import socket
import ssl
import threading
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _tlswire

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

Verdict = t.Literal["good", "sufficient", "phase out", "insufficient", "not applicable", "not tested"]

GOOD, SUFFICIENT, PHASE_OUT, INSUFFICIENT = "good", "sufficient", "phase out", "insufficient"
NOT_APPLICABLE, NOT_TESTED = "not applicable", "not tested"
_RANK = {GOOD: 0, SUFFICIENT: 1, PHASE_OUT: 2, INSUFFICIENT: 3}
VERDICTS: tuple[str, ...] = (GOOD, SUFFICIENT, PHASE_OUT, INSUFFICIENT, NOT_APPLICABLE, NOT_TESTED)

# ================================================================================================
# The classification table.
#
# Source: internet.nl, checks/tasks/tls/tls_constants.py and checks/tasks/tls/evaluation.py (repository
# internetstandards/Internet.nl, main branch as of 2026), which encode NCSC-NL "IT Security Guidelines for
# Transport Layer Security (TLS)" v2.1 (2025): section 3.3.1 (versions), 3.3.2.1 (certificate keys and
# ECDHE curves), 3.3.3.1 (FFDHE groups), 3.3.5 (hash functions), Appendix B (cipher suites). Where
# internet.nl and the guidelines differ, internet.nl is followed, because it is the grader people see:
#   * TLS 1.0 and 1.1 are "insufficient" (internet.nl lists no phase-out versions);
#   * ffdhe2048 is "insufficient" (only ffdhe3072 and larger are "phase out");
#   * TLS_AES_128_GCM_SHA256 is "sufficient", TLS_AES_256_GCM_SHA384 and CHACHA20 "good";
#   * the cipher order test only asks that every good/sufficient TLS 1.2 suite beat every phase-out one;
#   * on mail, certificate trust, name match and client-initiated renegotiation are informational.
# Anything not listed in a better class is "insufficient".
# ================================================================================================
CIPHER_CLASSES: dict[str, str] = {
    **{name: GOOD for name in ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")},
    **{name: SUFFICIENT for name in (
        "TLS_AES_128_GCM_SHA256", "TLS_AES_128_CCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    )},
    **{name: PHASE_OUT for name in (
        "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256",
        "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384",
        "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384",
        "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
        "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384",
        "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384",
        "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256", "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256",
        "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256", "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384",
        "TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384", "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256",
        "TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_DHE_RSA_WITH_AES_256_CCM", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_128_CCM",
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    )},
}
PROTOCOL_CLASSES: dict[str, str] = {"TLSv1.3": GOOD, "TLSv1.2": SUFFICIENT}
# Ephemeral key exchange: named curves (3.3.2.1) and finite-field groups (3.3.3.1).
GROUP_CLASSES: dict[str, str] = {
    **{name: GOOD for name in ("secp521r1", "secp384r1", "secp256r1", "brainpoolP512r1", "brainpoolP384r1",
                               "brainpoolP256r1", "brainpoolP512r1tls13", "brainpoolP384r1tls13",
                               "brainpoolP256r1tls13", "x25519", "x448")},
    "secp224r1": PHASE_OUT,
    **{f"ffdhe{bits}": PHASE_OUT for bits in (3072, 4096, 6144, 8192)},
}
# Certificate keys (3.3.2.1): RSA from 3072 bits good, 2048-3071 phase out; these curves good.
CERT_RSA_GOOD_BITS = 3072
CERT_RSA_PHASE_OUT_BITS = 2048
CERT_CURVE_CLASSES: dict[str, str] = {
    **{name: GOOD for name in ("secp521r1", "secp384r1", "secp256r1", "brainpoolP512r1", "brainpoolP384r1",
                               "brainpoolP256r1")},
    "secp224r1": PHASE_OUT,
}
# Certificate signature hashes (3.3.2, 3.3.5) and the TLS 1.2 key exchange signature hash (3.3.5).
SIGNATURE_HASH_CLASSES: dict[str, str] = {"sha256": GOOD, "sha384": GOOD, "sha512": GOOD, "eddsa": GOOD,
                                          "sha224": PHASE_OUT}
# The subtests internet.nl counts for its mail verdict (a failure there fails the test); the others are
# informational on mail (checks/scoring.py: *_WORST_STATUS = STATUS_INFO).
SUBTESTS: tuple[str, ...] = (
    "starttls_exists", "tls_version", "tls_ciphers", "tls_cipher_order", "fs_params", "kex_hash_func",
    "tls_compression", "renegotiation_secure", "renegotiation_client", "extended_master_secret", "zero_rtt",
    "cert_trust", "cert_pubkey", "cert_signature", "cert_hostmatch", "dane_valid",
)
INFORMATIONAL: frozenset[str] = frozenset(("renegotiation_client", "cert_trust", "cert_hostmatch"))

# What a current client offers (OpenSSL's default group list), as internet.nl's scanner does: the groups
# the server picks from this list are the ones graded; every other group it would accept is evidence.
CLIENT_GROUPS: tuple[int, ...] = (29, 23, 30, 25, 24)
# What every hello below TLS 1.3 offers when it asks about suites: the forward-secret suites first, then
# the rest. The version probes make the same offer as the suite enumeration, so a version probe's answer is
# the enumeration's first step.
_FS12: tuple[int, ...] = tuple(c for c in _tlswire.TLS12_SUITES if _tlswire.suite(c).forward_secret)
TLS12_OFFER: tuple[int, ...] = _FS12 + tuple(c for c in _tlswire.TLS12_SUITES if c not in _FS12)
_ECDHE12: tuple[int, ...] = tuple(c for c in TLS12_OFFER if _tlswire.suite(c).key_exchange == "ECDHE")
# Connections open at a time to one service of a host (Target.service: the ports that share the server's
# processes, e.g. Dovecot's imap-login for 143 and 993). Dovecot starts one login process per connection
# (service_count = 1, Dovecot 2.4: restart_request_count = 1) and its master starts them one after
# another; more connections at once only queue there, and on a busy machine a burst left a port without
# an answer in time. Postfix's smtpd processes are shared by the SMTP ports and reused. sslyze opens 5
# connections per server by default, internet.nl's mail scan 1.
PER_SERVICE_CONNECTIONS = 4


def cipher_class(name: str) -> str:
    return CIPHER_CLASSES.get(name, INSUFFICIENT)


def group_class(name: str | None) -> str:
    """A named group or ffdhe group; ``None`` is a custom (non-RFC 7919) DH group: insufficient."""
    return GROUP_CLASSES.get(name or "", INSUFFICIENT)


def _some(names: list[str], limit: int = 4) -> str:
    """A short list for one-line details: the first few names and how many more."""
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def worst(classes: t.Iterable[str]) -> str | None:
    ranked = [c for c in classes if c in _RANK]
    return max(ranked, key=_RANK.__getitem__) if ranked else None


class GradeError(Exception):
    """Bad grading input (not a finding about a server); the message says how to fix it."""


# ================================================================================================
# Inputs
# ================================================================================================
Opener = t.Callable[[], socket.socket]


@dataclass(frozen=True)
class Target:
    """One endpoint to grade. ``open`` returns a connected socket ready for the ClientHello (STARTTLS done)
    or raises; ``facts`` carries the verifier's findings (``chain_valid``, ``chain_error``,
    ``hostname_matches``, ``names``)."""

    label: str
    port: int
    server_name: str | None
    open: Opener
    facts: dict[str, t.Any] = field(default_factory=dict)
    host: str = ""
    service: str = ""  # targets with the same host and service share connection slots


@dataclass(frozen=True)
class TLSARecord:
    usage: int
    selector: int
    matching_type: int
    data: str
    port: int | None = None  # None: applies to every port

    @property
    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.matching_type} {self.data}"


def parse_tlsa_record(text: str) -> TLSARecord:
    """``3 1 1 <hex>`` (every port) or a zone line ``_25._tcp.mx.example. [ttl] [IN] TLSA 3 1 1 <hex>``."""
    words = str(text).split()
    port = None
    if words and words[0].startswith("_"):
        label = words[0].split(".", 1)[0]
        try:
            port = int(label[1:])
        except ValueError:
            raise GradeError(f"{text!r} does not start with _PORT._tcp") from None
        if "TLSA" not in (w.upper() for w in words):
            raise GradeError(f"{text!r} is not a TLSA record line")
        words = words[[w.upper() for w in words].index("TLSA") + 1:]
    if len(words) < 4 or not all(w.isdigit() for w in words[:3]):
        raise GradeError(f"{text!r} is not 'usage selector matching-type hex' "
                         "(for example '3 1 1 8f1c...' as postmaster.tls.tlsa_rdata writes it)")
    data = "".join(words[3:]).lower()
    usage, selector, mtype = (int(w) for w in words[:3])
    if usage > 3 or selector > 1 or mtype > 2 or any(ch not in "0123456789abcdef" for ch in data):
        raise GradeError(f"{text!r} has a usage above 3, a selector above 1, a matching "
                         "type above 2 or data that is not hex")
    return TLSARecord(usage, selector, mtype, data, port)


def parse_tlsa(records: t.Iterable[str]) -> list[TLSARecord]:
    """Every record of ``records`` (see parse_tlsa_record); the error names the record's position."""
    out = []
    for index, text in enumerate(records, start=1):
        try:
            out.append(parse_tlsa_record(text))
        except GradeError as exc:
            raise GradeError(f"tlsa_records[{index}]: {exc}") from None
    return out


def installed_records(paths: t.Iterable[str]) -> list[TLSARecord]:
    """The DANE ``3 1 1`` records of the keys of the certificate files ``paths`` (what the dns_records role
    publishes for the installed certificates), for every port. A file that cannot be read is left out: the
    verifier reports it."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                cert = _crypto.load_certificate(handle.read(), source=path)
        except (OSError, _crypto.PEMError):
            continue
        record = TLSARecord(3, 1, 1, _crypto.spki_sha256(cert.public_key()))
        if record not in out:
            out.append(record)
    return out


# ================================================================================================
# Probing
# ================================================================================================
class _Budget:
    """The grading run's overall deadline plus each connection's own timeout."""

    def __init__(self, total: float, per_connection: float) -> None:
        self.end = time.monotonic() + total
        self.per_connection = per_connection

    def spent(self) -> bool:
        return time.monotonic() >= self.end

    def timeout(self) -> float:
        return max(0.1, min(self.per_connection, self.end - time.monotonic()))


class _OutOfTime(Exception):
    pass


@dataclass
class _Probe:
    """One ClientHello's outcome."""

    flight: _tlswire.Flight | None = None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.flight is not None and self.flight.accepted

    @property
    def why(self) -> str:
        if self.error:
            return self.error
        return self.flight.refusal if self.flight else "no answer"


class _Prober:
    """Sends hellos to one target and remembers what it saw."""

    def __init__(self, target: Target, budget: _Budget, slots: threading.BoundedSemaphore) -> None:
        self.target = target
        self.budget = budget
        self.connections = 0
        self.lock = threading.Lock()
        self.slots = slots

    def hello(self, version: str, suites: t.Iterable[int], **options: t.Any) -> _Probe:
        if self.budget.spent():
            raise _OutOfTime()
        with self.lock:
            self.connections += 1
        hello = _tlswire.Hello(version=version, suites=tuple(suites), server_name=_sni(self.target.server_name),
                               **options)
        with self.slots:
            if self.budget.spent():
                raise _OutOfTime()
            return self._exchange(hello)

    def _exchange(self, hello: _tlswire.Hello) -> _Probe:
        try:
            sock = self.target.open()
        except Exception as exc:  # pylint: disable=broad-except  # the opener's own errors are findings
            return _Probe(error=f"no connection: {exc}")
        try:
            return _Probe(flight=_tlswire.exchange(sock, hello, timeout=self.budget.timeout()))
        except (socket.timeout, TimeoutError):
            return _Probe(error="no answer in time")
        except _tlswire.WireError as exc:
            return _Probe(error=f"not a TLS answer: {exc}")
        except OSError as exc:
            return _Probe(error=f"connection dropped ({exc.strerror or exc})")
        finally:
            sock.close()


def _sni(name: str | None) -> str | None:
    if not name:
        return None
    try:
        import ipaddress

        ipaddress.ip_address(name)
        return None
    except ValueError:
        return name


@dataclass
class _Accepted:
    code: int
    version: str
    group: str | None = None
    group_class: str | None = None
    dh_bits: int | None = None
    certificates: list[bytes] = field(default_factory=list)

    @property
    def suite(self) -> _tlswire.Suite:
        return _tlswire.suite(self.code)


def _accepted(flight: _tlswire.Flight, version: str) -> _Accepted:
    item = _Accepted(code=flight.suite or 0, version=version, certificates=flight.certificates)
    if version == "TLSv1.3":
        item.group = _tlswire.GROUPS.get(flight.selected_group or 0, f"group {flight.selected_group}")
    elif flight.key_exchange is not None:
        item.group = flight.key_exchange.group
        item.dh_bits = flight.key_exchange.dh_bits
    if item.group is not None or item.dh_bits is not None:
        item.group_class = group_class(item.group)
    return item


def _answered(probe: _Probe | None, version: str) -> bool:
    """The server agreed to exactly this version."""
    return probe is not None and probe.accepted and probe.flight is not None and probe.flight.version == version


@dataclass
class _SuiteScan:
    """What one suite enumeration found."""

    found: list[_Accepted] = field(default_factory=list)
    note: str | None = None
    server_order: bool | None = None  # asked only below TLS 1.3 (check_order)


def _enumerate_suites(prober: _Prober, version: str, candidates: tuple[int, ...], seed: _Probe | None = None, *,
                      check_order: bool = False) -> _SuiteScan:
    """Offer every candidate; note the server's choice; drop it and offer the rest, until it refuses.

    ``seed`` is an earlier answer to this very offer (the version probe's): it is the first step.
    ``check_order``: the step after the first offers everything left *and* the first choice, in reverse
    order. A server that enforces its own order picks its first choice again (one probe spent on the
    order); one that follows the client's picks a new suite (no probe spent)."""
    remaining = list(candidates)
    scan = _SuiteScan()
    probe = seed if _answered(seed, version) and seed and seed.flight and seed.flight.suite in remaining else None
    order_asked = False
    while remaining:
        if probe is None:
            if check_order and len(scan.found) == 1 and not order_asked:
                order_asked = True
                first = scan.found[0].code
                offer = tuple(c for c in reversed(candidates) if c == first or c in remaining)
                probe = prober.hello(version, offer, groups=CLIENT_GROUPS)
                if _answered(probe, version) and probe.flight and probe.flight.suite == first:
                    scan.server_order = True  # kept only if a second suite turns up
                    probe = None
                    continue
                if _answered(probe, version) and probe.flight and probe.flight.suite in remaining:
                    scan.server_order = False
            else:
                probe = prober.hello(version, remaining, groups=CLIENT_GROUPS)
        if not probe.accepted:
            if _uncertain(probe):
                scan.note = f"{version} suite enumeration stopped early: {probe.error}"
            break
        flight = probe.flight
        if flight is None:  # accepted implies a flight; this keeps type checkers and readers sure of it
            break
        if flight.version != version or flight.suite not in remaining:
            scan.note = (f"the server answered a {version} offer with {flight.version} "
                         f"{_tlswire.suite(flight.suite or 0).name}")
            break
        scan.found.append(_accepted(flight, version))
        remaining.remove(flight.suite)
        probe = None
    if len(scan.found) < 2:
        scan.server_order = None  # one suite: nothing to put in order
    return scan


def _enumerate_tls13(prober: _Prober, seed: _Probe) -> tuple[_SuiteScan, list[str]]:
    """TLS 1.3 suites and groups in one enumeration: a TLS 1.3 suite works with any group the server accepts
    (RFC 8446 decouples them), so one hello can offer only the suites *and* only the groups not seen yet, and
    its answer names a new one of each. When such a hello is refused, either list is spent: the rest of each
    is then asked about alone, with the other's known-good members (the suites with a current client's
    groups, as the version probe asked; the groups with every suite).

    Every suite's key exchange group is the one the version probe got with a current client's groups."""
    suites = list(_tlswire.TLS13_SUITES)
    groups = list(_tlswire.GROUPS)
    if not _answered(seed, "TLSv1.3") or seed.flight is None or seed.flight.suite not in suites \
            or seed.flight.selected_group not in groups:
        scan = _enumerate_suites(prober, "TLSv1.3", tuple(suites), seed)
        chosen = seed.flight.selected_group if seed.flight else None
        return scan, _enumerate_groups(prober, "TLSv1.3", tuple(suites), tuple(groups), chosen)
    negotiated = _accepted(seed.flight, "TLSv1.3")
    scan = _SuiteScan(found=[negotiated])
    found_groups = [_tlswire.GROUPS[seed.flight.selected_group]]
    suites.remove(negotiated.code)
    groups.remove(seed.flight.selected_group)
    refused = False
    while suites and groups:
        probe = prober.hello("TLSv1.3", suites, groups=tuple(groups))
        flight = probe.flight
        if not _answered(probe, "TLSv1.3") or flight is None or flight.suite not in suites \
                or flight.selected_group not in groups:
            refused = probe.flight is not None and not probe.accepted
            break
        item = _accepted(flight, "TLSv1.3")
        item.group, item.group_class = negotiated.group, negotiated.group_class
        scan.found.append(item)
        found_groups.append(_tlswire.GROUPS[flight.selected_group])
        suites.remove(flight.suite)
        groups.remove(flight.selected_group)
    more = _enumerate_suites(prober, "TLSv1.3", tuple(suites)) if suites else _SuiteScan()
    scan.found += more.found
    scan.note = more.note
    if groups and not (refused and more.found):
        # (A refused hello whose suites still had a good one had no good group left.)
        found_groups += _enumerate_groups(prober, "TLSv1.3", _tlswire.TLS13_SUITES, tuple(groups))
    return scan, found_groups


def _enumerate_groups(prober: _Prober, version: str, suites: tuple[int, ...], candidates: tuple[int, ...],
                      seed: int | None = None) -> list[str]:
    """The groups the server accepts, in its order of preference: offer all, note the choice, drop it.
    ``seed`` is a group the server already chose for this version (the version probe's): it is not asked again."""
    remaining = list(candidates)
    found: list[str] = []
    if seed in remaining:
        found.append(_tlswire.GROUPS[seed])
        remaining.remove(seed)
    while remaining:
        probe = prober.hello(version, suites, groups=tuple(remaining))
        if not probe.accepted:
            break
        flight = probe.flight
        if flight is None:  # accepted implies a flight; this keeps type checkers and readers sure of it
            break
        if version == "TLSv1.3":
            chosen = flight.selected_group
        else:
            chosen = flight.key_exchange.group_id if flight.key_exchange else None
        if chosen is None or chosen not in remaining:
            break
        found.append(_tlswire.GROUPS[chosen])
        remaining.remove(chosen)
    return found


@dataclass
class _Evidence:
    reachable: bool = True
    error: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    version_details: dict[str, str] = field(default_factory=dict)
    hello_flags: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    suites: dict[str, list[_Accepted]] = field(default_factory=dict)
    suite_notes: list[str] = field(default_factory=list)
    groups_tls13: list[str] | None = None
    curves_tls12: list[str] | None = None
    server_order: bool | None = None
    order_status: str | None = None
    order_violation: list[str] = field(default_factory=list)
    kex_hash: dict[str, str] = field(default_factory=dict)
    chains: dict[str, list[bytes]] = field(default_factory=dict)
    not_tested: list[str] = field(default_factory=list)
    connections: int = 0


def _probe_target(target: Target, budget: _Budget, pool: concurrent.futures.ThreadPoolExecutor,
                  slots: threading.BoundedSemaphore, all_groups: bool) -> _Evidence:
    prober = _Prober(target, budget, slots)
    evidence = _Evidence()
    try:
        _collect(prober, evidence, pool, all_groups=all_groups)
    except _OutOfTime:
        evidence.not_tested.append("the grading time budget was spent before every probe ran")
    evidence.connections = prober.connections
    return evidence


def _version_hello(prober: _Prober, version: str) -> _Probe:
    if version == "TLSv1.3":
        return prober.hello(version, _tlswire.TLS13_SUITES, groups=CLIENT_GROUPS)
    # DEFLATE offered beside NULL: a server that picks it supports TLS compression (CRIME). The suites are
    # the enumeration's offer, so this answer is its first step.
    return prober.hello(version, TLS12_OFFER, groups=CLIENT_GROUPS,
                        compression=(_tlswire.COMPRESSION_DEFLATE, _tlswire.COMPRESSION_NULL))


def _uncertain(probe: _Probe) -> bool:
    """No answer in time, or no connection at all: the probe found nothing out."""
    return bool(probe.error) and probe.error.startswith(("no answer in time", "no connection"))


def _implied_refusal(probe: _Probe, version: str) -> str | None:
    """A server that refuses a hello offering ``version`` and everything older (a ServerHello would name the
    highest it supports) refuses each of them; the detail for the older ones, or None when that is not sure."""
    if probe.flight is None or probe.accepted:
        return None
    return f"refused a hello offering {version} and older ({probe.why})"


class _Jobs:
    """One target's probe jobs on the shared pool, by name."""

    def __init__(self, pool: concurrent.futures.ThreadPoolExecutor) -> None:
        self.pool = pool
        self.futures: dict[str, concurrent.futures.Future] = {}

    def start(self, name: str, function: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> None:
        self.futures[name] = self.pool.submit(function, *args, **kwargs)

    def results(self) -> dict[str, t.Any]:
        return {name: future.result() for name, future in self.futures.items()}


def _tls13_suites_only(prober: _Prober, seed: _Probe) -> tuple[_SuiteScan, None]:
    """The TLS 1.3 suites, each with the group a current client's groups get (no group enumeration)."""
    return _enumerate_suites(prober, "TLSv1.3", _tlswire.TLS13_SUITES, seed), None


def _start_tls13(prober: _Prober, jobs: _Jobs, seed: _Probe, all_groups: bool) -> None:
    jobs.start("tls13", _enumerate_tls13 if all_groups else _tls13_suites_only, prober, seed)


def _start_below13(prober: _Prober, jobs: _Jobs, top: str, seed: _Probe, all_groups: bool) -> None:
    jobs.start("suites12", _enumerate_suites, prober, top, TLS12_OFFER, seed, check_order=True)
    if all_groups:
        exchange = seed.flight.key_exchange if seed.flight else None
        curve = exchange.group_id if exchange is not None and exchange.kind == "ECDHE" else None
        jobs.start("curves12", _enumerate_groups, prober, top, _ECDHE12, _tlswire.ELLIPTIC_GROUPS, curve)
    if top == "TLSv1.2":
        jobs.start("kex_hash", _kex_hash, prober, top)


def _collect(prober: _Prober, evidence: _Evidence, pool: concurrent.futures.ThreadPoolExecutor, *,
             all_groups: bool) -> None:
    """The version probes first; each probe that finds a version starts that version's enumerations at once,
    with its own answer as their first step. SSLv3 and TLS 1.0 are asked about only when the TLS 1.1 hello
    (which offers them too) was not refused outright.

    ``all_groups``: also every key exchange group the server accepts (evidence beside the verdict, which is on
    the groups a current client gets): the TLS 1.2 curves, and the TLS 1.3 groups found with its suites."""
    jobs = _Jobs(pool)
    probes: dict[str, _Probe] = {}
    implied: dict[str, str] = {}
    first = {pool.submit(_version_hello, prober, v): v for v in ("TLSv1.3", "TLSv1.2", "TLSv1.1")}
    for future in concurrent.futures.as_completed(first):
        version = first[future]
        probes[version] = future.result()
        if version == "TLSv1.3" and _answered(probes[version], version):
            _start_tls13(prober, jobs, probes[version], all_groups)
        elif version == "TLSv1.2" and _answered(probes[version], version):
            _start_below13(prober, jobs, version, probes[version], all_groups)
    refusal = _implied_refusal(probes["TLSv1.1"], "TLSv1.1")
    if refusal:
        implied = {"SSLv3": refusal, "TLSv1": refusal}
    else:
        older = {v: pool.submit(_version_hello, prober, v) for v in ("SSLv3", "TLSv1")}
        probes.update({v: f.result() for v, f in older.items()})
    for version in _tlswire.VERSION_ORDER:
        if version in implied:
            evidence.versions[version] = "refused"
            evidence.version_details[version] = implied[version]
            continue
        probe = probes[version]
        if _answered(probe, version) and probe.flight:
            evidence.versions[version] = "accepted"
            flight = probe.flight
            evidence.version_details[version] = _tlswire.suite(flight.suite or 0).name
            evidence.hello_flags[version] = {
                "compression": flight.compression == _tlswire.COMPRESSION_DEFLATE,
                "renegotiation_info": _tlswire.EXT_RENEGOTIATION_INFO in flight.extensions,
                "extended_master_secret": _tlswire.EXT_EXTENDED_MASTER_SECRET in flight.extensions,
            }
        else:
            # A timeout or a failed connection says nothing about the version: "untested", not "refused".
            evidence.versions[version] = "untested" if _uncertain(probe) else "refused"
            evidence.version_details[version] = (
                probe.why if not probe.accepted else f"answered with {probe.flight.version if probe.flight else '?'}")
    errors = [p.error for p in probes.values() if p.error and p.error.startswith("no connection")]
    if len(errors) == len(probes):
        evidence.reachable = False
        evidence.error = errors[0][len("no connection: "):]
        return
    evidence.not_tested.extend(f"{v}: {evidence.version_details[v]}" for v, state in evidence.versions.items()
                               if state == "untested")
    accepted = [v for v in _tlswire.VERSION_ORDER if evidence.versions.get(v) == "accepted"]
    below13 = [v for v in accepted if v != "TLSv1.3"]
    if below13 and below13[-1] != "TLSv1.2":
        _start_below13(prober, jobs, below13[-1], probes[below13[-1]], all_groups)
    if accepted == ["TLSv1.3"]:
        jobs.start("chain13", _chain_over_ssl, prober)
    results = jobs.results()
    if "suites12" in results:
        scan = results["suites12"]
        evidence.suites[below13[-1]] = scan.found
        evidence.server_order = scan.server_order
        if scan.note:
            evidence.suite_notes.append(scan.note)
            evidence.not_tested.append(scan.note)
        evidence.curves_tls12 = results.get("curves12")
        for item in scan.found:
            if item.certificates:
                evidence.chains.setdefault(item.suite.authentication, item.certificates)
    if "tls13" in results:
        scan, evidence.groups_tls13 = results["tls13"]
        evidence.suites["TLSv1.3"] = scan.found
        if scan.note:
            evidence.suite_notes.append(scan.note)
            evidence.not_tested.append(scan.note)
    if results.get("chain13"):
        evidence.chains["TLSv1.3"] = results["chain13"]
    evidence.kex_hash = results.get("kex_hash", {})
    _cipher_order(prober, evidence)


def _kex_hash(prober: _Prober, version: str) -> dict[str, str]:
    """Whether the server signs its key exchange with SHA-1 or SHA-224 when a client asks for nothing
    else. One hello offers both; only when the server picks one is the other asked about alone."""
    both = prober.hello(version, _FS12, groups=CLIENT_GROUPS,
                        signature_schemes=_tlswire.SHA1_SIGNATURE_SCHEMES + _tlswire.SHA224_SIGNATURE_SCHEMES)
    schemes = {"sha1": _tlswire.SHA1_SIGNATURE_SCHEMES, "sha224": _tlswire.SHA224_SIGNATURE_SCHEMES}
    if _uncertain(both):
        return {name: _signed_with(prober.hello(version, _FS12, groups=CLIENT_GROUPS, signature_schemes=offer), offer)
                for name, offer in schemes.items()}
    out = {}
    for name, offer in schemes.items():
        out[name] = _signed_with(both, offer)
        if out[name].startswith("accepted"):
            other = "sha224" if name == "sha1" else "sha1"
            out[other] = _signed_with(prober.hello(version, _FS12, groups=CLIENT_GROUPS,
                                                   signature_schemes=schemes[other]), schemes[other])
            return out
    return out


def _signed_with(probe: _Probe, schemes: tuple[int, ...]) -> str:
    flight = probe.flight
    scheme = flight.key_exchange.signature_scheme if probe.accepted and flight and flight.key_exchange else None
    if scheme in schemes:
        return f"accepted ({_tlswire.SIGNATURE_SCHEMES[scheme]})"
    if probe.accepted and scheme is not None:
        return f"ignored: signed with {_tlswire.SIGNATURE_SCHEMES.get(scheme, hex(scheme))}"
    return f"refused ({probe.why})" if not probe.accepted else "no signed key exchange"


def _cipher_order(prober: _Prober, evidence: _Evidence) -> None:
    """internet.nl's cipher order test (whether the server enforces its own order at all was asked during
    the suite enumeration)."""
    below = [v for v in evidence.suites if v != "TLSv1.3"]
    all_suites = [item for items in evidence.suites.values() for item in items]
    classes = {item.code: cipher_class(item.suite.name) for item in all_suites}
    if not below:
        evidence.order_status = NOT_APPLICABLE
        return
    version = below[-1]
    tls12 = [item.code for item in evidence.suites[version]]
    if all(c == GOOD for c in classes.values()):
        evidence.order_status = NOT_APPLICABLE
        return
    phase_out = sorted((c for c in tls12 if classes[c] == PHASE_OUT), key=lambda c: "CHACHA" in _tlswire.suite(c).name)
    better = [c for c in tls12 if classes[c] in (GOOD, SUFFICIENT)]
    evidence.order_status = GOOD
    if not phase_out:
        return
    for preferred in better:
        probe = prober.hello(version, (*phase_out, preferred), groups=CLIENT_GROUPS)
        if not probe.accepted or probe.flight is None:
            evidence.order_status = NOT_APPLICABLE
            evidence.suite_notes.append(f"cipher order test could not connect: {probe.why}")
            return
        if probe.flight.suite != preferred:
            evidence.order_status = INSUFFICIENT
            evidence.order_violation = [_tlswire.suite(probe.flight.suite or 0).name, _tlswire.suite(preferred).name]
            return


def _chain_over_ssl(prober: _Prober) -> list[bytes] | None:
    """The served chain through an ordinary TLS 1.3 handshake (TLS 1.3 encrypts the Certificate)."""
    if prober.budget.spent():
        raise _OutOfTime()
    with prober.slots:
        return _served_chain(prober)


def _served_chain(prober: _Prober) -> list[bytes] | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        sock = prober.target.open()
    except Exception:  # pylint: disable=broad-except
        return None
    with prober.lock:
        prober.connections += 1
    try:
        sock.settimeout(prober.budget.timeout())
        tls = context.wrap_socket(sock, server_hostname=_sni(prober.target.server_name))
        try:
            getter = getattr(tls, "get_unverified_chain", None) or getattr(
                getattr(tls, "_sslobj", None), "get_unverified_chain", None)
            items = getter() if getter else None
            if items:
                return [i if isinstance(i, bytes) else i.public_bytes(ssl._ssl.ENCODING_DER) for i in items]  # type: ignore[attr-defined]
            leaf = tls.getpeercert(binary_form=True)
            return [leaf] if leaf else None
        finally:
            tls.close()
    except (ssl.SSLError, OSError):
        return None
    finally:
        sock.close()


# ================================================================================================
# Verdicts
# ================================================================================================
def _subtest(verdict: str, detail: str, **evidence: t.Any) -> dict[str, t.Any]:
    return {"verdict": verdict, "detail": detail, **evidence}


def _suite_entry(item: _Accepted) -> dict[str, t.Any]:
    entry = {"code": item.suite.hex, "name": item.suite.name, "openssl": item.suite.openssl,
             "class": cipher_class(item.suite.name)}
    if item.group is not None or item.dh_bits is not None:
        entry["key_exchange"] = item.group or f"custom DH group ({item.dh_bits} bits)"
    return entry


def _certificate_facts(der: bytes) -> dict[str, t.Any]:
    cert = x509.load_der_x509_certificate(der)
    key = cert.public_key()
    facts: dict[str, t.Any] = {"subject": _crypto.name_to_string(cert.subject),
                               "self_signed": cert.issuer == cert.subject and _crypto.is_signed_by(cert, cert)}
    if isinstance(key, rsa.RSAPublicKey):
        bits = key.key_size
        facts["key"] = f"RSA {bits}"
        facts["key_class"] = GOOD if bits >= CERT_RSA_GOOD_BITS else PHASE_OUT if bits >= CERT_RSA_PHASE_OUT_BITS else INSUFFICIENT
    elif isinstance(key, ec.EllipticCurvePublicKey):
        facts["key"] = f"ECDSA {key.curve.name}"
        facts["key_class"] = CERT_CURVE_CLASSES.get(key.curve.name, INSUFFICIENT)
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        facts["key"] = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
        facts["key_class"] = GOOD
    elif isinstance(key, dsa.DSAPublicKey):
        facts["key"] = f"DSA {key.key_size}"
        facts["key_class"] = INSUFFICIENT
    else:
        facts["key"] = type(key).__name__
        facts["key_class"] = INSUFFICIENT
    hash_name = _crypto.signature_hash_name(cert)
    facts["signature_hash"] = hash_name or "eddsa"
    facts["signature_class"] = SIGNATURE_HASH_CLASSES.get(hash_name or "eddsa", INSUFFICIENT)
    return facts


def _dane(records: list[TLSARecord], port: int, chains: dict[str, list[bytes]]) -> dict[str, t.Any]:
    usable = [r for r in records if (r.port is None or r.port == port) and r.usage in (2, 3)]
    if not records or not [r for r in records if r.port is None or r.port == port]:
        return _subtest(NOT_APPLICABLE, "no TLSA records given for this port (internet.nl also requires them to "
                        "be published with DNSSEC for an MX on port 25; not checked here)", records=[], matched=[])
    if not chains:
        return _subtest(NOT_TESTED, "no certificate chain could be read", records=[r.text for r in usable], matched=[])
    matched: list[str] = []
    for record in usable:
        for chain in chains.values():
            candidates = chain[:1] if record.usage == 3 else chain[1:]
            if any(_tlsa_matches(record, der) for der in candidates):
                matched.append(record.text)
                break
    texts = [r.text for r in usable]
    if not usable:
        return _subtest(NOT_APPLICABLE, "only PKIX-TA/PKIX-EE (usage 0/1) records, which mail ignores (RFC 7672)",
                        records=texts, matched=[])
    if matched:
        return _subtest(GOOD, f"{len(matched)} of {len(usable)} TLSA records match the served certificates",
                        records=texts, matched=matched)
    return _subtest(INSUFFICIENT, "no TLSA record matches the served certificates: DANE clients refuse this port",
                    records=texts, matched=[])


def _tlsa_matches(record: TLSARecord, der: bytes) -> bool:
    cert = x509.load_der_x509_certificate(der)
    content = der if record.selector == 0 else cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if record.matching_type == 0:
        digest = content.hex()
    elif record.matching_type == 1:
        digest = hashlib.sha256(content).hexdigest()
    else:
        digest = hashlib.sha512(content).hexdigest()
    return digest == record.data


def judge(target: Target, evidence: _Evidence, records: list[TLSARecord]) -> dict[str, t.Any]:
    """Turn one endpoint's evidence into internet.nl's subtests and the overall line."""
    subtests: dict[str, dict[str, t.Any]] = {}
    accepted = [v for v in _tlswire.VERSION_ORDER if evidence.versions.get(v) == "accepted"]
    below13 = [v for v in accepted if v != "TLSv1.3"]
    if evidence.reachable and not accepted and "untested" in evidence.versions.values():
        subtests["starttls_exists"] = _subtest(NOT_TESTED, "no version probe got an answer: " + "; ".join(
            f"{v} {evidence.version_details[v]}" for v, state in evidence.versions.items() if state == "untested"))
        return _grade_line(target, evidence, subtests)
    if not evidence.reachable or not accepted:
        why = evidence.error or "no TLS version was accepted"
        subtests["starttls_exists"] = _subtest(INSUFFICIENT, why)
        return _grade_line(target, evidence, subtests)
    subtests["starttls_exists"] = _subtest(GOOD, "TLS is offered")
    # --- versions
    classes = {v: PROTOCOL_CLASSES.get(v, INSUFFICIENT) for v in accepted}
    subtests["tls_version"] = _subtest(
        worst(classes.values()) or GOOD, ", ".join(f"{v} {c}" for v, c in classes.items()),
        accepted=accepted, refused=[v for v, state in evidence.versions.items() if state == "refused"],
        untested=[v for v, state in evidence.versions.items() if state == "untested"], classes=classes,
        details=dict(evidence.version_details))
    subtests["tls_version"]["detail"] = (f"insufficient: {', '.join(v for v, c in classes.items() if c == INSUFFICIENT)}"
                                         if subtests["tls_version"]["verdict"] == INSUFFICIENT
                                         else subtests["tls_version"]["detail"])
    # --- cipher suites
    suites = {version: [_suite_entry(item) for item in items] for version, items in evidence.suites.items()}
    all_entries = [entry for entries in suites.values() for entry in entries]
    cipher_verdict = worst(entry["class"] for entry in all_entries)
    bad = [e["name"] for e in all_entries if e["class"] == INSUFFICIENT]
    phase = [e["name"] for e in all_entries if e["class"] == PHASE_OUT]
    detail = (f"insufficient: {_some(bad)}" if bad else f"phase out: {_some(phase)}" if phase
              else f"{len(all_entries)} suites, all {cipher_verdict}")
    subtests["tls_ciphers"] = _subtest(cipher_verdict or NOT_TESTED, detail, accepted=suites,
                                       notes=evidence.suite_notes)
    # --- cipher order
    status = evidence.order_status or NOT_TESTED
    order_detail = {
        NOT_APPLICABLE: "only good suites, or TLS 1.3 only: no order to enforce",
        GOOD: "every good and sufficient suite is preferred over every phase-out suite",
        INSUFFICIENT: (f"the server chose {evidence.order_violation[0]} over {evidence.order_violation[1]}"
                       if evidence.order_violation else ""),
    }.get(status, "not tested")
    subtests["tls_cipher_order"] = _subtest(status, order_detail, server_enforces_order=evidence.server_order,
                                            violation=evidence.order_violation)
    # --- key exchange parameters
    negotiated = []
    for items in evidence.suites.values():
        for item in items:
            if item.group_class is None:
                continue
            name = item.group or f"custom DH group ({item.dh_bits} bits)"
            if name not in [n["group"] for n in negotiated]:
                negotiated.append({"group": name, "class": item.group_class, "bits": item.dh_bits})
    supported = {}  # every accepted group: only when they were asked about (all_groups)
    if evidence.groups_tls13 is not None:
        supported["tls13"] = [{"group": g, "class": group_class(g)} for g in evidence.groups_tls13]
    if evidence.curves_tls12 is not None:
        supported["tls12_curves"] = [{"group": g, "class": group_class(g)} for g in evidence.curves_tls12]
    if negotiated:
        fs_verdict = worst(n["class"] for n in negotiated) or GOOD
        weak = [n["group"] for n in negotiated if n["class"] in (PHASE_OUT, INSUFFICIENT)]
        fs_detail = f"{fs_verdict}: {_some(weak)}" if weak else "all negotiated groups good"
    else:
        fs_verdict, fs_detail = NOT_APPLICABLE, "no ephemeral key exchange (no DHE/ECDHE parameters to judge)"
    subtests["fs_params"] = _subtest(fs_verdict, fs_detail, negotiated=negotiated, supported=supported)
    # --- key exchange signature hash (TLS 1.2)
    if "sha1" in evidence.kex_hash:
        if evidence.kex_hash["sha1"].startswith("accepted"):
            kex = _subtest(INSUFFICIENT, f"signs the key exchange with SHA-1 when asked: {evidence.kex_hash['sha1']}")
        elif evidence.kex_hash.get("sha224", "").startswith("accepted"):
            kex = _subtest(PHASE_OUT, f"signs the key exchange with SHA-224 when asked: {evidence.kex_hash['sha224']}")
        else:
            kex = _subtest(GOOD, "refuses to sign the key exchange with SHA-1 or SHA-224")
        kex["probes"] = evidence.kex_hash
    else:
        kex = _subtest(NOT_APPLICABLE, "TLS 1.2 is not accepted (TLS 1.3 signs with SHA-2 only)", probes={})
    subtests["kex_hash_func"] = kex
    # --- compression, renegotiation, extended master secret: from the version probes
    flags = evidence.hello_flags
    if below13:
        compressed = [v for v in below13 if flags[v]["compression"]]
        subtests["tls_compression"] = (
            _subtest(INSUFFICIENT, f"accepts DEFLATE compression on {', '.join(compressed)} (CRIME)", versions=compressed)
            if compressed else _subtest(GOOD, "no TLS compression", versions=[]))
        top = below13[-1]
        secure = flags[top]["renegotiation_info"]
        subtests["renegotiation_secure"] = _subtest(
            GOOD if secure else INSUFFICIENT,
            f"{'answers' if secure else 'does not answer'} renegotiation_info (RFC 5746) on {top}")
    else:
        subtests["tls_compression"] = _subtest(NOT_APPLICABLE, "TLS 1.3 only: it has no compression", versions=[])
        subtests["renegotiation_secure"] = _subtest(NOT_APPLICABLE, "TLS 1.3 only: it has no renegotiation")
    subtests["renegotiation_client"] = _subtest(
        NOT_TESTED, "client-initiated renegotiation needs a finished handshake that this client cannot drive; "
        "informational on internet.nl's mail test")
    if "TLSv1.2" in accepted:
        ems = flags["TLSv1.2"]["extended_master_secret"]
        subtests["extended_master_secret"] = _subtest(
            GOOD if ems else INSUFFICIENT, f"extended master secret (RFC 7627) {'supported' if ems else 'not supported'} on TLS 1.2")
    else:
        subtests["extended_master_secret"] = _subtest(NOT_APPLICABLE, "TLS 1.2 is not accepted")
    subtests["zero_rtt"] = _subtest(
        NOT_APPLICABLE, "internet.nl does not test 0-RTT on mail (its probe speaks HTTP); Postfix and Dovecot never "
        "accept early data")
    # --- certificates
    certs: list[dict[str, t.Any]] = []
    seen: set[bytes] = set()
    for chain in evidence.chains.values():
        for der in chain:
            if der in seen:
                continue
            seen.add(der)
            certs.append(_certificate_facts(der))
    judged = [c for c in certs if not c["self_signed"]] or certs[:1]
    facts = target.facts
    chain_valid = facts.get("chain_valid")
    subtests["cert_trust"] = (
        _subtest(NOT_TESTED, "the verifier could not check the chain") if chain_valid is None else
        _subtest(GOOD, "the chain verifies against the trust anchors") if chain_valid else
        _subtest(INSUFFICIENT, f"the chain does not verify: {facts.get('chain_error') or 'untrusted'}"))
    if judged:
        key_verdict = worst(c["key_class"] for c in judged) or GOOD
        weak_keys = [f"{c['subject']}: {c['key']}" for c in judged if c["key_class"] != GOOD]
        subtests["cert_pubkey"] = _subtest(key_verdict, "; ".join(weak_keys) or "every key good",
                                           certificates=[{k: c[k] for k in ("subject", "key", "key_class")} for c in certs])
        sig_verdict = worst(c["signature_class"] for c in judged) or GOOD
        weak_sigs = [f"{c['subject']}: {c['signature_hash']}" for c in judged if c["signature_class"] != GOOD]
        subtests["cert_signature"] = _subtest(
            sig_verdict, "; ".join(weak_sigs) or "every signature hash good",
            certificates=[{k: c[k] for k in ("subject", "signature_hash", "signature_class", "self_signed")} for c in certs])
    else:
        subtests["cert_pubkey"] = _subtest(NOT_TESTED, "no certificate could be read")
        subtests["cert_signature"] = _subtest(NOT_TESTED, "no certificate could be read")
    matches = facts.get("hostname_matches")
    subtests["cert_hostmatch"] = (
        _subtest(NOT_TESTED, "the verifier could not read the certificate") if matches is None else
        _subtest(GOOD, f"covers {target.server_name}") if matches else
        _subtest(INSUFFICIENT, f"does not cover {target.server_name} (it is for {', '.join(facts.get('names') or []) or '?'})"))
    subtests["dane_valid"] = _dane(records, target.port, evidence.chains)
    return _grade_line(target, evidence, subtests)


def _grade_line(target: Target, evidence: _Evidence, subtests: dict[str, dict[str, t.Any]]) -> dict[str, t.Any]:
    for name in SUBTESTS:
        subtests.setdefault(name, _subtest(NOT_TESTED, "the port does not speak TLS"))
        subtests[name]["counts"] = name not in INFORMATIONAL
    ordered = {name: subtests[name] for name in SUBTESTS}
    insufficient = [n for n, s in ordered.items() if s["verdict"] == INSUFFICIENT]
    phase_out = [n for n, s in ordered.items() if s["verdict"] == PHASE_OUT]
    failing = [n for n in insufficient if n not in INFORMATIONAL]
    verdict = "would fail" if failing else "would pass"
    if not failing and ordered["starttls_exists"]["verdict"] == NOT_TESTED:
        verdict = "not graded"  # nothing answered in time: no verdict either way
    reasons = [f"{n}: {ordered[n]['detail']}" for n in failing]
    warnings = [f"{n}: {ordered[n]['detail']}" for n in phase_out]
    info = [f"{n}: {ordered[n]['detail']}" for n in insufficient if n in INFORMATIONAL]
    line = f"{verdict.upper()} {target.label}"
    if failing:
        line += " -- " + "; ".join(reasons)
    elif verdict == "not graded":
        line += f" -- {ordered['starttls_exists']['detail']}"
    elif phase_out:
        line += " -- phase out: " + "; ".join(warnings)
    return {
        "endpoint": target.label,
        "port": target.port,
        "verdict": verdict,
        "summary": line,
        "reasons": reasons,
        "warnings": warnings,
        "informational": info,
        "insufficient": insufficient,
        "phase_out": phase_out,
        "subtests": ordered,
        "not_tested": sorted(set([n for n, s in ordered.items() if s["verdict"] == NOT_TESTED] + evidence.not_tested)),
        "connections": evidence.connections,
    }


def version_findings(graded: dict[str, t.Any]) -> dict[str, tuple[str, str]]:
    """A graded endpoint's version findings as a version handshake reports them: per version V(accepted)
    (detail: version and suite), V(refused) (the refusal) or V(error) (no answer); empty for a port that
    was not graded."""
    subtest = graded["subtests"]["tls_version"]
    details = subtest.get("details") or {}
    out: dict[str, tuple[str, str]] = {}
    for version in subtest.get("accepted", []):
        out[version] = ("accepted", f"{version} {details.get(version, '')}".strip())
    for version in subtest.get("refused", []):
        out[version] = ("refused", details.get(version, "refused"))
    for version in subtest.get("untested", []):
        out[version] = ("error", details.get(version, "no answer"))
    return out


# ================================================================================================
# Everything, concurrently
# ================================================================================================
def grade(targets: list[Target], *, tlsa_records: list[TLSARecord], timeout: float, budget: float,
          workers: int, facts: t.Callable[[], dict[str, dict[str, t.Any]]] | None = None,
          all_groups: bool = False) -> list[dict[str, t.Any]]:
    """Grade every target at once: one orchestrating thread per target, connections from a shared pool.

    ``facts`` (called once every probe is done, so the caller's own checks can run meanwhile) returns the
    verifier's findings per target label; they override ``Target.facts``. ``all_groups``: also list every key
    exchange group each target accepts (about five more connections per port; no verdict depends on it)."""
    clock = _Budget(budget, timeout)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(targets))) as outer:
        slots = {key: threading.BoundedSemaphore(PER_SERVICE_CONNECTIONS) for key in {(t.host, t.service) for t in targets}}
        jobs = [outer.submit(_probe_target, target, clock, pool, slots[(target.host, target.service)], all_groups)
                for target in targets]
        evidence = [job.result() for job in jobs]
    known = facts() if facts is not None else {}
    out = []
    for target, found in zip(targets, evidence):
        if target.label in known:
            target = Target(target.label, target.port, target.server_name, target.open, known[target.label], target.host,
                            target.service)
        out.append(judge(target, found, tlsa_records))
    return out
