# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Talk to mail ports like a client would and report what their TLS really looks like.

Everything goes through Python's ``ssl`` module and ``cryptography``; nothing shells out to openssl.

One *endpoint* (host, port, protocol) gets:

* a main connection: the plaintext dialogue up to STARTTLS (SMTP EHLO/STARTTLS, IMAP
  CAPABILITY/STARTTLS, POP3 CAPA/STLS) or an implicit-TLS handshake (465, 993, 995), with a
  verifying client context, so the chain verdict is OpenSSL's own. When verification fails the
  connection is repeated without verification to collect the certificate facts anyway;
* one pinned handshake per protocol version (TLS 1.0, 1.1, 1.2, 1.3). The legacy ones are offered
  with ``@SECLEVEL=0`` ciphers so that a refusal is the server's doing, not this client's; a version
  the local OpenSSL cannot speak at all is reported as ``untested``, never as refused.

Everything runs in one thread pool: all main connections at once, and each endpoint's version probes
as soon as its main connection is done (none for an endpoint that did not reach TLS, and none for the
version the main connection already negotiated). Every connection has its own deadline (``timeout``
seconds for connect, dialogue and handshake together), so one silent port costs about one timeout of
wall time, not one per step or per endpoint, and never delays the other endpoints.

The served chain: Python 3.13 has ``SSLSocket.get_unverified_chain()``; 3.10 to 3.12 have the same
call on the private ``_sslobj`` (Debian 12's 3.11 does). When neither is there the report says
``chain_source: leaf_only`` and only the leaf is described; OpenSSL's chain verdict is still exact.
"""

from __future__ import annotations

import concurrent.futures
import errno
import ipaddress
import os
import socket
import ssl
import time
import typing as t
import warnings
from dataclasses import dataclass, field, fields

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _x509

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509

Protocol = t.Literal["smtp", "smtps", "imap", "imaps", "pop3", "pop3s"]
ProbeVerdict = t.Literal["accepted", "refused", "untested", "error"]

PROTOCOLS: tuple[str, ...] = ("smtp", "smtps", "imap", "imaps", "pop3", "pop3s")
STARTTLS_PROTOCOLS = frozenset(("smtp", "imap", "pop3"))
DEFAULT_PORTS: dict[str, int] = {"smtp": 25, "smtps": 465, "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}
# The seven standard mail ports: MX and submission (STARTTLS), submissions, IMAP(S), POP3(S).
STANDARD_PORTS: tuple[tuple[int, str], ...] = (
    (25, "smtp"), (587, "smtp"), (465, "smtps"), (143, "imap"), (993, "imaps"), (110, "pop3"), (995, "pop3s"),
)
PORT_PROTOCOLS: dict[int, str] = dict(STANDARD_PORTS)
# Mail submission (RFC 6409 on 587, RFC 8314 on 465): clients log in there, so AUTH after TLS is part of the service.
SUBMISSION_PORTS = frozenset((587, 465))
SMTP_PROTOCOLS = frozenset(("smtp", "smtps"))
TLS_VERSIONS = _x509.TLS_VERSIONS
SNAKEOIL_PATH = "/etc/ssl/certs/ssl-cert-snakeoil.pem"

_MAX_LINE = 16384
_MAX_LINES = 256
# OpenSSL reasons that mean "this client cannot offer that version", not "the server refused it".
_CLIENT_SIDE_REASONS = frozenset(("NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH"))


class ProbeError(Exception):
    """Bad input to the verifier (not a finding about a server); the message says how to fix it."""


class DialogueError(Exception):
    """The server's plaintext dialogue did not go as a mail client expects."""


class _Timeout(Exception):
    """The connection's deadline passed."""


class _Unreachable(Exception):
    """No TCP connection could be made."""


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    protocol: str
    server_name: str | None = None
    submission: bool = False

    @property
    def starttls(self) -> bool:
        return self.protocol in STARTTLS_PROTOCOLS

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}/{self.protocol}"

    @property
    def check_name(self) -> str:
        """The name the certificate must cover: server_name, else the host connected to."""
        return self.server_name or self.host


@dataclass(frozen=True)
class Settings:
    """How to connect. ``timeout`` bounds each connection as a whole (connect + dialogue + handshake)."""

    timeout: float = 10.0
    source_address: str | None = None
    ehlo_name: str | None = None
    ca_path: str | None = None
    probe_protocols: bool = True
    workers: int = 32


@dataclass(frozen=True)
class Expectations:
    """What the caller requires; an unmet one becomes a line in the endpoint's ``failures``."""

    fingerprints: frozenset[str] = frozenset()
    fingerprint_sources: tuple[str, ...] = ()
    min_days_remaining: int | None = None
    min_protocol: str | None = None
    required_names: tuple[str, ...] = ()
    validate_chain: bool = True
    check_hostname: bool = True
    forbid_plaintext_auth: bool = True
    snakeoil_fingerprint: str | None = None
    require_submission_auth: bool = True


def normalize_fingerprint(value: str) -> str:
    """``AB:cd:..``, ``sha256 Fingerprint=AB:CD..``, ``SHA256:abcd..`` -> lower-case hex without colons."""
    text = value.strip()
    if "=" in text:
        text = text.split("=", 1)[1]
    if text.lower().startswith("sha256:"):
        text = text[7:]
    text = text.replace(":", "").replace(" ", "").lower()
    if len(text) != 64 or any(ch not in "0123456789abcdef" for ch in text):
        raise ProbeError(
            f"expected_fingerprint {value!r} is not a SHA-256 fingerprint; give 64 hex digits, with or without colons "
            "(for example the output of 'openssl x509 -noout -fingerprint -sha256')"
        )
    return text


def build_endpoints(
    *,
    endpoints: list[dict[str, t.Any]] | None,
    all_ports: bool,
    host: str,
    server_name: str | None,
) -> list[Endpoint]:
    """Turn the module options into a de-duplicated list of endpoints, standard ports first."""
    out: list[Endpoint] = []
    if all_ports:
        out.extend(Endpoint(host=host, port=port, protocol=proto, server_name=server_name, submission=port in SUBMISSION_PORTS)
                   for port, proto in STANDARD_PORTS)
    for index, item in enumerate(endpoints or [], start=1):
        port = item.get("port")
        protocol = item.get("protocol")
        if protocol is None:
            if port is None or port not in PORT_PROTOCOLS:
                raise ProbeError(
                    f"endpoints[{index}]: port {port} is not a standard mail port; set protocol "
                    f"(one of {', '.join(PROTOCOLS)})"
                )
            protocol = PORT_PROTOCOLS[port]
        if protocol not in PROTOCOLS:
            raise ProbeError(f"endpoints[{index}]: protocol {protocol!r} is unknown; use one of {', '.join(PROTOCOLS)}")
        if port is None:
            port = DEFAULT_PORTS[protocol]
        if not 0 < int(port) < 65536:
            raise ProbeError(f"endpoints[{index}]: port {port} is out of range 1-65535")
        submission = item.get("submission")
        if submission is None:
            submission = protocol in SMTP_PROTOCOLS and int(port) in SUBMISSION_PORTS
        elif submission and protocol not in SMTP_PROTOCOLS:
            raise ProbeError(f"endpoints[{index}]: submission=true needs protocol smtp or smtps (mail submission is SMTP), "
                             f"not {protocol}")
        out.append(Endpoint(
            host=item.get("host") or host,
            port=int(port),
            protocol=protocol,
            server_name=item.get("server_name") or server_name,
            submission=bool(submission),
        ))
    unique: list[Endpoint] = []
    seen: set[tuple[str, int]] = set()
    for endpoint in out:
        key = (endpoint.host, endpoint.port)
        if key not in seen:
            seen.add(key)
            unique.append(endpoint)
    if not unique:
        raise ProbeError("no endpoints to check; set all_ports=true or list endpoints")
    return unique


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------
@dataclass
class EndpointReport:
    endpoint: str
    host: str
    port: int
    protocol: str
    server_name: str | None
    submission: bool = False
    reachable: bool = False
    error: str | None = None
    source_address: str | None = None
    peer_address: str | None = None
    banner: str | None = None
    starttls_offered: bool | None = None
    auth_before_tls: list[str] | None = None
    auth_after_tls: list[str] | None = None
    after_tls_error: str | None = None
    tls_version: str | None = None
    cipher: str | None = None
    cipher_bits: int | None = None
    # The served leaf: its facts (_x509.certificate_facts, returned at the top level of the endpoint) and the object.
    facts: dict[str, t.Any] = field(default_factory=dict)
    leaf: t.Any = None
    snakeoil: bool | None = None
    chain: list[dict[str, t.Any]] = field(default_factory=list)
    chain_source: str | None = None
    chain_order_ok: bool | None = None
    chain_valid: bool | None = None
    chain_error: str | None = None
    trust_path: list[str] = field(default_factory=list)
    hostname_matches: bool | None = None
    matches_expected: bool | None = None
    protocols: dict[str, str] = field(default_factory=dict)
    protocol_details: dict[str, str] = field(default_factory=dict)
    accepted_protocols: list[str] = field(default_factory=list)
    legacy_protocols_accepted: list[str] = field(default_factory=list)
    # Filled by the caller's ``inspect`` hook (mail_tls_verify: revocation, CT, renewal; see _lifecycle).
    revocation: dict[str, t.Any] = field(default_factory=dict)
    certificate_transparency: dict[str, t.Any] = field(default_factory=dict)
    renewal: dict[str, t.Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ok: bool = False
    # The failures the ``inspect`` hook added, kept apart so that judging again (judge_with_protocols) keeps them.
    inspect_failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, t.Any]:
        """The endpoint's facts with the leaf's at the top level (every fact key; null without a TLS session)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("facts", "leaf", "inspect_failures")}
        out.update({key: self.facts.get(key) for key in _x509.FACT_KEYS})
        return out

    @property
    def names(self) -> list[str]:
        """What the leaf is for: its DNS names (or CN without SAN) and IP addresses."""
        return list(self.facts.get("dns_names") or []) + [
            name[3:] for name in self.facts.get("subject_alt_names") or [] if name.startswith("IP:")]


@dataclass
class _Session:
    """What one connection learned. Only the main connection fills in the certificate part."""

    source_address: str | None = None
    peer_address: str | None = None
    banner: str | None = None
    starttls_offered: bool | None = None
    auth_before_tls: list[str] | None = None
    auth_after_tls: list[str] | None = None
    after_tls_error: str | None = None
    tls_version: str | None = None
    cipher: str | None = None
    cipher_bits: int | None = None
    leaf_der: bytes | None = None
    chain_der: list[bytes] | None = None
    verified_der: list[bytes] | None = None


# ------------------------------------------------------------------------------------------------
# Sockets with one deadline per connection
# ------------------------------------------------------------------------------------------------
class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise _Timeout(f"no complete answer within {self.seconds:g} s")
        return left


def _auto_source(peer: str) -> str | None:
    """Source address for loopback probes: never the destination address itself.

    Servers treat a client at their own address as local and trusted: Dovecot, for one, then offers
    plaintext login before STARTTLS, which remote clients never see. Binding another loopback address
    (the whole of 127.0.0.0/8 is local on Linux) shows what a remote client gets.
    """
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return None
    if address.version == 4 and address.is_loopback:
        return "127.0.0.2" if peer != "127.0.0.2" else "127.0.0.1"
    return None


def _connect(endpoint: Endpoint, settings: Settings, deadline: _Deadline) -> tuple[socket.socket, _Session]:
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _Unreachable(f"cannot resolve {endpoint.host}: {exc.strerror}") from None
    last: Exception | None = None
    for family, socktype, proto, _canon, sockaddr in infos:
        peer = str(sockaddr[0])
        source = settings.source_address or _auto_source(peer)
        sock = socket.socket(family, socktype, proto)
        try:
            if source:
                try:
                    sock.bind((source, 0))
                except OSError as exc:
                    if settings.source_address or exc.errno != errno.EADDRNOTAVAIL:
                        raise _Unreachable(f"cannot use source address {source}: {exc.strerror}") from None
                    # Not every system routes all of 127/8 locally; fall back to the default source.
                    sock.close()
                    sock = socket.socket(family, socktype, proto)
            sock.settimeout(deadline.remaining())
            sock.connect(sockaddr)
        except (OSError, _Timeout, _Unreachable) as exc:
            sock.close()
            last = exc
            continue
        local = str(sock.getsockname()[0])
        return sock, _Session(source_address=local, peer_address=peer)
    if isinstance(last, _Unreachable):
        raise last
    if isinstance(last, (_Timeout, TimeoutError)):
        raise _Unreachable(f"no TCP answer within {settings.timeout:g} s")
    if isinstance(last, ConnectionRefusedError):
        raise _Unreachable("connection refused (nothing listens on this port)")
    raise _Unreachable(f"cannot connect: {getattr(last, 'strerror', None) or last}")


class _Channel:
    """Line-oriented reads over a plain or TLS socket, without reading past what was asked for."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""

    def readline(self) -> str:
        while b"\n" not in self.buffer:
            if len(self.buffer) > _MAX_LINE:
                raise DialogueError("the server sent an over-long line")
            self.sock.settimeout(self.deadline.remaining())
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                raise _Timeout(f"no complete answer within {self.deadline.seconds:g} s") from None
            if not chunk:
                raise DialogueError("the server closed the connection")
            self.buffer += chunk
        line, _sep, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def send(self, line: str) -> None:
        self.sock.settimeout(self.deadline.remaining())
        try:
            self.sock.sendall(line.encode("ascii") + b"\r\n")
        except socket.timeout:
            raise _Timeout(f"no complete answer within {self.deadline.seconds:g} s") from None


# ------------------------------------------------------------------------------------------------
# The three plaintext dialogues
# ------------------------------------------------------------------------------------------------
def _smtp_reply(channel: _Channel) -> tuple[int, list[str]]:
    lines: list[str] = []
    while len(lines) < _MAX_LINES:
        line = channel.readline()
        if len(line) < 3 or not line[:3].isdigit():
            raise DialogueError(f"not an SMTP reply: {line[:80]!r}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), lines
    raise DialogueError("the SMTP reply has too many lines")


def _smtp_auth(capabilities: list[str]) -> list[str]:
    mechanisms: list[str] = []
    for line in capabilities:
        words = line.replace("=", " ", 1).split() if line.upper().startswith("AUTH=") else line.split()
        if words and words[0].upper() == "AUTH":
            mechanisms.extend(word.upper() for word in words[1:] if word.upper() not in mechanisms)
    return mechanisms


def _smtp_ehlo(channel: _Channel, ehlo_name: str) -> list[str]:
    channel.send(f"EHLO {ehlo_name}")
    code, lines = _smtp_reply(channel)
    if code != 250:
        raise DialogueError(f"EHLO was answered with {code} {' '.join(lines)[:120]}")
    return lines[1:]


def _imap_command(channel: _Channel, tag: str, command: str) -> tuple[str, list[str]]:
    channel.send(f"{tag} {command}")
    untagged: list[str] = []
    while len(untagged) < _MAX_LINES:
        line = channel.readline()
        if line.startswith(tag + " "):
            return line[len(tag) + 1:], untagged
        untagged.append(line)
    raise DialogueError(f"no tagged answer to {command}")


def _imap_capabilities(channel: _Channel, tag: str) -> list[str]:
    status, untagged = _imap_command(channel, tag, "CAPABILITY")
    if not status.upper().startswith("OK"):
        raise DialogueError(f"CAPABILITY was answered with {status[:120]}")
    for line in untagged:
        if line.upper().startswith("* CAPABILITY "):
            return line.split()[2:]
    return []


def _imap_auth(capabilities: list[str]) -> list[str]:
    """Plaintext logins an IMAP server offers: LOGIN unless LOGINDISABLED, plus AUTH=... mechanisms."""
    upper = [cap.upper() for cap in capabilities]
    offered = [] if "LOGINDISABLED" in upper else ["LOGIN"]
    offered.extend(cap for cap in upper if cap.startswith("AUTH="))
    return offered


def _pop3_capa(channel: _Channel) -> list[str] | None:
    channel.send("CAPA")
    first = channel.readline()
    if not first.startswith("+OK"):
        return None
    lines: list[str] = []
    while len(lines) < _MAX_LINES:
        line = channel.readline()
        if line == ".":
            return lines
        lines.append(line[1:] if line.startswith("..") else line)
    raise DialogueError("the CAPA answer has too many lines")


def _pop3_auth(capabilities: list[str]) -> list[str]:
    offered: list[str] = []
    for line in capabilities:
        words = line.upper().split()
        if words[:1] == ["USER"]:
            offered.append("USER")
        elif words[:1] == ["SASL"]:
            offered.extend(f"SASL {mech}" for mech in words[1:])
    return offered


def _ehlo_name(settings: Settings, session: _Session) -> str:
    if settings.ehlo_name:
        return settings.ehlo_name
    # An address literal is always a valid EHLO argument (RFC 5321 4.1.3) and says who we are.
    local = session.source_address or "127.0.0.1"
    return f"[IPv6:{local}]" if ":" in local else f"[{local}]"


def _before_tls(endpoint: Endpoint, channel: _Channel, session: _Session, settings: Settings) -> None:
    """Plaintext part of a STARTTLS protocol: greeting, capabilities, STARTTLS. Fills ``session``."""
    if endpoint.protocol == "smtp":
        code, lines = _smtp_reply(channel)
        session.banner = f"{code} {lines[0]}".strip() if lines else str(code)
        if code != 220:
            raise DialogueError(f"the greeting is {session.banner[:120]!r}, not 220")
        capabilities = _smtp_ehlo(channel, _ehlo_name(settings, session))
        session.auth_before_tls = _smtp_auth(capabilities)
        session.starttls_offered = any(line.split()[:1] == ["STARTTLS"] for line in (c.upper() for c in capabilities))
        if not session.starttls_offered:
            return
        channel.send("STARTTLS")
        code, lines = _smtp_reply(channel)
        if code != 220:
            raise DialogueError(f"STARTTLS was answered with {code} {' '.join(lines)[:120]}")
    elif endpoint.protocol == "imap":
        greeting = channel.readline()
        session.banner = greeting[:200]
        if not greeting.upper().startswith("* OK"):
            raise DialogueError(f"the greeting is {greeting[:120]!r}, not '* OK'")
        capabilities = _imap_capabilities(channel, "pm1")
        session.auth_before_tls = _imap_auth(capabilities)
        session.starttls_offered = "STARTTLS" in (cap.upper() for cap in capabilities)
        if not session.starttls_offered:
            return
        status, _untagged = _imap_command(channel, "pm2", "STARTTLS")
        if not status.upper().startswith("OK"):
            raise DialogueError(f"STARTTLS was answered with {status[:120]!r}")
    else:
        greeting = channel.readline()
        session.banner = greeting[:200]
        if not greeting.startswith("+OK"):
            raise DialogueError(f"the greeting is {greeting[:120]!r}, not '+OK'")
        capabilities = _pop3_capa(channel)
        session.auth_before_tls = _pop3_auth(capabilities or [])
        session.starttls_offered = capabilities is not None and "STLS" in (c.upper().strip() for c in capabilities)
        if not session.starttls_offered:
            return
        channel.send("STLS")
        answer = channel.readline()
        if not answer.startswith("+OK"):
            raise DialogueError(f"STLS was answered with {answer[:120]!r}")
    if channel.buffer:
        # Anything after the STARTTLS answer would be read as if it came over TLS (CVE-2011-0411 style).
        raise DialogueError("the server sent data after agreeing to start TLS")


def _after_tls(endpoint: Endpoint, channel: _Channel, session: _Session, settings: Settings) -> None:
    """Inside TLS: greeting (implicit TLS) and the capabilities a client now sees, then a polite goodbye."""
    if endpoint.protocol in ("smtp", "smtps"):
        if endpoint.protocol == "smtps":
            code, lines = _smtp_reply(channel)
            session.banner = f"{code} {lines[0]}".strip() if lines else str(code)
            if code != 220:
                raise DialogueError(f"the greeting over TLS is {session.banner[:120]!r}, not 220")
        session.auth_after_tls = _smtp_auth(_smtp_ehlo(channel, _ehlo_name(settings, session)))
        channel.send("QUIT")
    elif endpoint.protocol in ("imap", "imaps"):
        if endpoint.protocol == "imaps":
            session.banner = channel.readline()[:200]
        session.auth_after_tls = _imap_auth(_imap_capabilities(channel, "pm3"))
        channel.send("pm4 LOGOUT")
    else:
        if endpoint.protocol == "pop3s":
            session.banner = channel.readline()[:200]
        session.auth_after_tls = _pop3_auth(_pop3_capa(channel) or [])
        channel.send("QUIT")


# ------------------------------------------------------------------------------------------------
# TLS contexts
# ------------------------------------------------------------------------------------------------
_VERSION_ENUM: dict[str, str] = {"TLSv1": "TLSv1", "TLSv1.1": "TLSv1_1", "TLSv1.2": "TLSv1_2", "TLSv1.3": "TLSv1_3"}
_HAS_VERSION: dict[str, bool] = {
    "TLSv1": getattr(ssl, "HAS_TLSv1", False),
    "TLSv1.1": getattr(ssl, "HAS_TLSv1_1", False),
    "TLSv1.2": getattr(ssl, "HAS_TLSv1_2", False),
    "TLSv1.3": getattr(ssl, "HAS_TLSv1_3", False),
}


class Contexts:
    """The client contexts, built once and shared by every thread (SSLContext is thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.verifying = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.verifying.check_hostname = False  # names are checked below, against server_name
        self.verifying.verify_mode = ssl.CERT_REQUIRED
        self.trust_anchors = load_trust_anchors(self.verifying, settings.ca_path)
        # What a current default client negotiates, without verification (to describe bad chains).
        self.plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.plain.check_hostname = False
        self.plain.verify_mode = ssl.CERT_NONE
        self.legacy = self._pinned(None)
        self.pinned: dict[str, ssl.SSLContext | str] = {}
        for version in TLS_VERSIONS:
            try:
                self.pinned[version] = self._pinned(version)
            except (ValueError, ssl.SSLError, AttributeError) as exc:
                self.pinned[version] = f"this client's OpenSSL cannot offer {version} ({exc})"

    @staticmethod
    def _pinned(version: str | None) -> ssl.SSLContext:
        if version is not None and not _HAS_VERSION[version]:
            raise ValueError(f"{ssl.OPENSSL_VERSION} was built without it")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():
            # Python deprecates TLS 1.0/1.1 for clients; offering them here is the point of the probe.
            warnings.simplefilter("ignore", DeprecationWarning)
            low = getattr(ssl.TLSVersion, _VERSION_ENUM[version or "TLSv1"])
            high = getattr(ssl.TLSVersion, _VERSION_ENUM[version or "TLSv1.3"])
            context.minimum_version = low
            context.maximum_version = high
        if version != "TLSv1.3":
            # Level 0: SHA-1 handshakes and small keys allowed, so a TLS 1.0 refusal is the server's.
            context.set_ciphers("ALL:@SECLEVEL=0")
        return context


def load_trust_anchors(context: ssl.SSLContext, ca_path: str | None) -> str:
    """Load the trust anchors into ``context``; return where they came from (for the report)."""
    try:
        if ca_path:
            if os.path.isdir(ca_path):
                context.load_verify_locations(capath=ca_path)
            else:
                context.load_verify_locations(cafile=ca_path)
            return ca_path
        # The distribution's bundle file, never the hashed directory beside it (Debian links the snake-oil
        # certificate there: OpenSSL's default paths would "verify" the very certificate a deployment replaces).
        bundle = _x509.system_ca_bundle()
        if bundle:
            context.load_verify_locations(cafile=bundle)
            return bundle
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(f"cannot load trust anchors from {ca_path or 'the system CA bundle'}: {exc}; "
                         "give ca_path a PEM bundle file or a hashed certificate directory") from None
    context.load_default_certs()
    return "OpenSSL default paths"


def _served_chain(tls: ssl.SSLSocket) -> list[bytes] | None:
    getter = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)  # CPython 3.10-3.12
    return _der_list(getter)


def _verified_chain(tls: ssl.SSLSocket) -> list[bytes] | None:
    getter = getattr(tls, "get_verified_chain", None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_verified_chain", None)
    return _der_list(getter)


def _der_list(getter: t.Callable[[], t.Any] | None) -> list[bytes] | None:
    if getter is None:
        return None
    try:
        items = getter() or []
        return [item if isinstance(item, bytes) else item.public_bytes(ssl._ssl.ENCODING_DER) for item in items]  # type: ignore[attr-defined]
    except Exception:  # pylint: disable=broad-except  # a private API: any surprise means "not available"
        return None


# ------------------------------------------------------------------------------------------------
# One connection
# ------------------------------------------------------------------------------------------------
def _open_tls(
    endpoint: Endpoint, settings: Settings, context: ssl.SSLContext, *, full: bool
) -> _Session:
    """Connect, do the plaintext part, hand over to TLS and (``full``) collect everything.

    Raises DialogueError/_Timeout before the handshake, ssl.SSLError/OSError during it.
    """
    deadline = _Deadline(settings.timeout)
    sock, session = _connect(endpoint, settings, deadline)
    tls: ssl.SSLSocket | None = None
    try:
        if endpoint.starttls:
            _before_tls(endpoint, _Channel(sock, deadline), session, settings)
            if not session.starttls_offered:
                return session
        sni = endpoint.check_name
        try:
            ipaddress.ip_address(sni)
            sni_arg: str | None = None  # no SNI for an address (RFC 6066)
        except ValueError:
            sni_arg = sni
        tls = context.wrap_socket(sock, server_hostname=sni_arg, do_handshake_on_connect=False)
        tls.settimeout(deadline.remaining())
        try:
            tls.do_handshake()
        except socket.timeout:
            raise _Timeout(f"no TLS handshake within {settings.timeout:g} s") from None
        session.tls_version = tls.version()
        cipher = tls.cipher()
        if cipher:
            session.cipher, session.cipher_bits = cipher[0], cipher[2]
        session.leaf_der = tls.getpeercert(binary_form=True)
        if full:
            session.chain_der = _served_chain(tls)
            if context.verify_mode == ssl.CERT_REQUIRED:
                session.verified_der = _verified_chain(tls)
            try:
                _after_tls(endpoint, _Channel(tls, deadline), session, settings)
            except (DialogueError, _Timeout, OSError) as exc:
                session.auth_after_tls = None
                session.after_tls_error = str(exc) or type(exc).__name__
                session.banner = session.banner or f"(no answer over TLS: {exc})"
        return session
    finally:
        (tls or sock).close()


def open_for_tls(endpoint: Endpoint, settings: Settings) -> socket.socket:
    """A connection brought to the start of the TLS handshake (STARTTLS done, or implicit TLS), for
    callers that write their own ClientHello (the grader). Raises DialogueError, _Timeout or _Unreachable."""
    deadline = _Deadline(settings.timeout)
    sock, session = _connect(endpoint, settings, deadline)
    try:
        if endpoint.starttls:
            _before_tls(endpoint, _Channel(sock, deadline), session, settings)
            if not session.starttls_offered:
                raise DialogueError("STARTTLS is not offered")
        sock.settimeout(deadline.remaining())
    except BaseException:
        sock.close()
        raise
    return sock


def _classify_handshake_error(exc: Exception) -> tuple[str, str]:
    reason = getattr(exc, "reason", None) or ""
    text = str(exc)
    if reason in _CLIENT_SIDE_REASONS:
        return "untested", f"this client could not offer it ({reason})"
    if isinstance(exc, ssl.SSLError):
        return "refused", reason or text
    return "refused", f"connection dropped during the handshake ({text})"


def probe_version(endpoint: Endpoint, settings: Settings, contexts: Contexts, version: str) -> tuple[str, str]:
    """One handshake pinned to ``version``: (verdict, detail)."""
    context = contexts.pinned[version]
    if isinstance(context, str):
        return "untested", context
    try:
        session = _open_tls(endpoint, settings, context, full=False)
    except (DialogueError, _Timeout, _Unreachable) as exc:
        return "error", str(exc)
    except (ssl.SSLError, OSError) as exc:
        return _classify_handshake_error(exc)
    if endpoint.starttls and not session.starttls_offered:
        return "error", "STARTTLS is not offered"
    return "accepted", f"{session.tls_version} {session.cipher}"


# A server holding an RSA and an ECDSA certificate shows each to a TLS 1.2 client that offers only the
# cipher suites authenticated by that key type. (TLS 1.3 picks the certificate by signature algorithm,
# which Python's ssl cannot narrow; the server's certificate slots are the same for both versions.)
KEY_TYPE_CIPHERS: dict[str, str] = {"rsa": "aRSA", "ecdsa": "aECDSA"}


def key_type_context(key_type: str | None) -> ssl.SSLContext:
    """A non-verifying client context: a default client (None), or a TLS 1.2 client that can only accept
    a certificate of ``key_type``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if key_type is not None:
        if key_type not in KEY_TYPE_CIPHERS:
            raise ProbeError(f"key type {key_type!r} cannot be asked for; use one of {', '.join(KEY_TYPE_CIPHERS)}")
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(KEY_TYPE_CIPHERS[key_type])
    return context


def served_leaf(endpoint: Endpoint, settings: Settings, context: ssl.SSLContext) -> tuple[str, bytes | None, str]:
    """One handshake with ``context`` (see key_type_context): (verdict, the served leaf's DER, detail).

    ``served``: a certificate came back; ``refused``: the handshake failed (for a key-type context, the
    server holds no certificate of that type or speaks no TLS 1.2); ``error``: no TLS was reached.
    """
    try:
        session = _open_tls(endpoint, settings, context, full=False)
    except (DialogueError, _Timeout, _Unreachable) as exc:
        return "error", None, str(exc)
    except (ssl.SSLError, OSError) as exc:
        return "refused", None, _classify_handshake_error(exc)[1]
    if endpoint.starttls and not session.starttls_offered:
        return "error", None, "STARTTLS is not offered"
    if not session.leaf_der:
        return "refused", None, "no certificate was served"
    return "served", session.leaf_der, f"{session.tls_version} {session.cipher}"


@dataclass
class _MainOutcome:
    session: _Session | None = None
    reachable: bool = True
    chain_valid: bool | None = None
    chain_error: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


def probe_main(endpoint: Endpoint, settings: Settings, contexts: Contexts) -> _MainOutcome:
    """The main connection, verifying; again without verification when the chain does not verify."""
    outcome = _MainOutcome()
    try:
        outcome.session = _open_tls(endpoint, settings, contexts.verifying, full=True)
        if outcome.session.tls_version:
            outcome.chain_valid = True
        return outcome
    except _Unreachable as exc:
        outcome.reachable = False
        outcome.error = str(exc)
        return outcome
    except ssl.SSLCertVerificationError as exc:
        outcome.chain_valid = False
        outcome.chain_error = exc.verify_message or str(exc)
    except ssl.SSLError as exc:
        outcome.notes.append("a default TLS client (TLS 1.2+, OpenSSL security level 2) cannot connect: "
                             f"{exc.reason or exc}")
        try:
            outcome.session = _open_tls(endpoint, settings, contexts.legacy, full=True)
        except (DialogueError, _Timeout, _Unreachable, ssl.SSLError, OSError) as again:
            outcome.error = f"TLS handshake failed: {getattr(again, 'reason', None) or again}"
            return outcome
        outcome.notes.append("certificate facts come from a legacy client (TLS 1.0+, security level 0); "
                             "the chain was not verified")
        return outcome
    except (DialogueError, _Timeout) as exc:
        outcome.error = str(exc)
        return outcome
    except OSError as exc:
        outcome.error = f"connection dropped during the TLS handshake: {exc}"
        return outcome
    # The chain did not verify: connect again without verification, to describe what is served.
    try:
        outcome.session = _open_tls(endpoint, settings, contexts.plain, full=True)
    except (DialogueError, _Timeout, _Unreachable, ssl.SSLError, OSError) as exc:
        outcome.error = f"second connection (to read the unverifiable chain) failed: {exc}"
    return outcome


# ------------------------------------------------------------------------------------------------
# Certificates and verdicts
# ------------------------------------------------------------------------------------------------
def _fill_certificate(report: EndpointReport, session: _Session, expectations: Expectations) -> None:
    if not session.leaf_der:
        return
    leaf = x509.load_der_x509_certificate(session.leaf_der)
    report.leaf = leaf
    report.facts = _x509.certificate_facts(leaf)
    bare = report.facts["fingerprint_sha256"].replace(":", "")
    if expectations.snakeoil_fingerprint is not None:
        report.snakeoil = bare == expectations.snakeoil_fingerprint
    if expectations.fingerprints:
        report.matches_expected = bare in expectations.fingerprints
    report.hostname_matches = _crypto.covers(leaf, report.server_name or report.host)
    if session.chain_der:
        certs = [x509.load_der_x509_certificate(der) for der in session.chain_der]
        report.chain_source = "served"
    else:
        certs = [leaf]
        report.chain_source = "leaf_only"
        report.notes.append(
            "this Python cannot read the served chain (needs 3.10+); only the leaf is described, "
            "the chain verdict is still OpenSSL's"
        )
    report.chain = [_x509.certificate_facts(cert) for cert in certs]
    if report.chain_source == "served":
        report.chain_order_ok = all(_crypto.is_signed_by(certs[i], certs[i + 1]) for i in range(len(certs) - 1))
        if len(certs) > 1 and certs[-1].issuer == certs[-1].subject:
            report.notes.append("the server sends the root certificate too (harmless, but clients ignore it)")
    if session.verified_der:
        report.trust_path = [
            _crypto.name_to_string(x509.load_der_x509_certificate(der).subject) for der in session.verified_der
        ]


def _judge(report: EndpointReport, expectations: Expectations) -> None:
    """Turn the facts into the list of unmet expectations."""
    fail = report.failures.append
    if not report.reachable:
        fail(f"unreachable: {report.error}")
        return
    if report.starttls_offered is False:
        fail("STARTTLS is not offered")
    if expectations.forbid_plaintext_auth and report.auth_before_tls:
        hint = ""
        if report.source_address and report.source_address == report.peer_address:
            hint = (" (this client connects from the server's own address, which servers such as Dovecot trust; "
                    "set source_address to another local address to see what remote clients get)")
        fail(f"offers authentication before TLS: {', '.join(report.auth_before_tls)}{hint}")
    if report.tls_version is None:
        if report.error:
            fail(report.error)
        return
    if expectations.require_submission_auth and report.submission:
        if report.after_tls_error:
            fail(f"submission port: the server dropped the dialogue after EHLO inside TLS ({report.after_tls_error}); Postfix "
                 "does this when SASL is on without a working SASL backend ('no SASL authentication mechanisms')")
        elif not report.auth_after_tls:
            fail("submission port offers no AUTH mechanism after TLS, so mail clients cannot log in "
                 "(enable SASL with a working backend, such as Dovecot's auth socket)")
    if report.snakeoil:
        fail("serves the stock snake-oil certificate")
    if expectations.validate_chain and report.chain_valid is False:
        fail(f"chain does not verify against the trust anchors: {report.chain_error}")
    if report.chain_order_ok is False:
        fail("the served chain is out of order or has unrelated certificates")
    if expectations.check_hostname and report.hostname_matches is False:
        fail(f"certificate does not cover {report.server_name or report.host} "
             f"(it is for {', '.join(report.names) or report.facts.get('subject')})")
    missing = [name for name in expectations.required_names if not _covers_name(report.names, name)]
    if missing:
        fail(f"certificate lacks required names: {', '.join(missing)}")
    weak = _x509.key_strength_problem(report.leaf.public_key()) if report.leaf is not None else None
    if weak:
        fail(f"serves a certificate with {weak}, which clients refuse")
    if report.matches_expected is False:
        fail(f"served certificate {report.facts.get('fingerprint_sha256')} is not the expected one "
             f"({', '.join(expectations.fingerprint_sources)})")
    days = report.facts.get("days_remaining")
    if expectations.min_days_remaining is not None and days is not None and days < expectations.min_days_remaining:
        fail(f"certificate expires in {days} days (minimum {expectations.min_days_remaining})")
    if expectations.min_protocol:
        floor = TLS_VERSIONS.index(expectations.min_protocol)
        below = [v for v in report.accepted_protocols if TLS_VERSIONS.index(v) < floor]
        if below:
            fail(f"accepts {', '.join(below)} (below min_protocol {expectations.min_protocol})")
        if report.tls_version in TLS_VERSIONS and TLS_VERSIONS.index(report.tls_version) < floor:
            fail(f"negotiates {report.tls_version} with a default client (below min_protocol {expectations.min_protocol})")
        untested = [v for v in TLS_VERSIONS[:floor] if report.protocols.get(v) in ("untested", "error")]
        if untested:
            report.notes.append(f"could not test whether {', '.join(untested)} is refused: "
                                + "; ".join(report.protocol_details.get(v, "") for v in untested))


def _covers_name(names: list[str], wanted: str) -> bool:
    return any(_crypto.name_matches(pattern, wanted) for pattern in names) or wanted in names


def summary_line(report: EndpointReport) -> str:
    """One human-readable line per endpoint for the play's output."""
    head = f"{'OK  ' if report.ok else 'FAIL'} {report.endpoint}"
    if report.tls_version is None:
        return f"{head}: {'; '.join(report.failures) or report.error or 'no TLS'}"
    parts = [f"{report.tls_version} {report.cipher}"]
    not_after = report.facts.get("not_after")
    parts.append(report.facts.get("subject") or "?")
    parts.append(f"expires {not_after[:10] if not_after else '?'} ({report.facts.get('days_remaining')} d)")
    parts.append("chain ok" if report.chain_valid else "chain NOT verified")
    if report.hostname_matches is not None:
        parts.append("name ok" if report.hostname_matches else "name MISMATCH")
    if report.protocols:
        parts.append("accepts " + (",".join(report.accepted_protocols) or "none"))
    text = f"{head}: " + " | ".join(parts)
    if report.failures:
        text += " -- " + "; ".join(report.failures)
    return text


# ------------------------------------------------------------------------------------------------
# Everything, concurrently
# ------------------------------------------------------------------------------------------------
Inspect = t.Callable[[EndpointReport, bytes, t.List[bytes], t.List[bytes]], None]


def verify(
    endpoints: list[Endpoint], settings: Settings, expectations: Expectations, *, contexts: Contexts | None = None,
    inspect: Inspect | None = None,
) -> list[EndpointReport]:
    """Check every endpoint concurrently: the main connections first, each submitting its own
    version probes when it is done, so a dead or silent port never holds up the others' probes.

    ``inspect(report, leaf_der, served_chain_der, verified_chain_der)`` runs once per endpoint that
    served a certificate, after the standard verdicts, in this thread (one endpoint after another):
    it may fill in report fields and add failures and notes."""
    contexts = contexts or Contexts(settings)
    versions = TLS_VERSIONS if settings.probe_protocols else ()
    workers = max(1, min(settings.workers, len(endpoints) * (1 + len(versions))))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = {ep: pool.submit(_endpoint_job, pool, ep, settings, contexts, versions) for ep in endpoints}
        # Workers never wait on other futures (a job only submits its probes), so this cannot deadlock.
        staged = {ep: job.result() for ep, job in jobs.items()}
        return [
            _report(ep, outcome, {v: (p.result() if isinstance(p, concurrent.futures.Future) else p)
                                  for v, p in probes.items()}, expectations, inspect)
            for ep, (outcome, probes) in staged.items()
        ]


def _endpoint_job(
    pool: concurrent.futures.ThreadPoolExecutor, endpoint: Endpoint, settings: Settings, contexts: Contexts,
    versions: tuple[str, ...],
) -> tuple[_MainOutcome, dict[str, t.Any]]:
    outcome = probe_main(endpoint, settings, contexts)
    session = outcome.session
    probes: dict[str, t.Any] = {}
    if session is None or session.tls_version is None:
        return outcome, probes  # nothing to probe: unreachable, no STARTTLS, or no TLS at all
    for version in versions:
        if version == session.tls_version:
            # Already seen: the main connection negotiated it.
            probes[version] = ("accepted", f"{version} {session.cipher} (main connection)")
        else:
            probes[version] = pool.submit(probe_version, endpoint, settings, contexts, version)
    return outcome, probes


def _report(
    endpoint: Endpoint, outcome: _MainOutcome, verdicts: dict[str, tuple[str, str]], expectations: Expectations,
    inspect: Inspect | None = None,
) -> EndpointReport:
    report = EndpointReport(endpoint=endpoint.label, host=endpoint.host, port=endpoint.port,
                            protocol=endpoint.protocol, server_name=endpoint.server_name, submission=endpoint.submission)
    report.reachable = outcome.reachable
    report.chain_valid = outcome.chain_valid
    report.chain_error = outcome.chain_error
    report.error = outcome.error
    report.notes.extend(outcome.notes)
    session = outcome.session
    if session is not None:
        for name in ("source_address", "peer_address", "banner", "starttls_offered", "auth_before_tls",
                     "auth_after_tls", "after_tls_error", "tls_version", "cipher", "cipher_bits"):
            setattr(report, name, getattr(session, name))
        _fill_certificate(report, session, expectations)
    _set_protocols(report, verdicts)
    _judge(report, expectations)
    if inspect is not None and session is not None and session.leaf_der:
        judged = len(report.failures)
        inspect(report, session.leaf_der, list(session.chain_der or []), list(session.verified_der or []))
        report.inspect_failures = report.failures[judged:]
    report.ok = not report.failures
    return report


def _set_protocols(report: EndpointReport, verdicts: dict[str, tuple[str, str]]) -> None:
    if verdicts:
        for version, (verdict, detail) in verdicts.items():
            report.protocols[version] = verdict
            report.protocol_details[version] = detail
        report.accepted_protocols = [v for v in TLS_VERSIONS if report.protocols.get(v) == "accepted"]
        report.legacy_protocols_accepted = [v for v in report.accepted_protocols if v in _x509.LEGACY_TLS_VERSIONS]


def judge_with_protocols(report: EndpointReport, verdicts: dict[str, tuple[str, str]], expectations: Expectations) -> None:
    """Version findings made by another prober on the same endpoint (the grader's hand-built hellos, which
    also reach versions this client's OpenSSL cannot offer), in place of this module's version handshakes:
    the report is judged again with them. Only for a report made without version probes."""
    if not report.reachable or report.tls_version is None:
        return  # no TLS session: nothing the versions would change
    if not verdicts:
        report.notes.append("the TLS versions are unknown: the version probes got no answer")
        return
    _set_protocols(report, {v: verdicts[v] for v in TLS_VERSIONS if v in verdicts})
    report.failures.clear()
    _judge(report, expectations)
    if expectations.min_protocol and verdicts.get("SSLv3", ("",))[0] == "accepted":
        # Only hand-built hellos still reach SSLv3; every floor the option allows is above it.
        report.failures.append(f"accepts SSLv3 (below min_protocol {expectations.min_protocol})")
    report.failures.extend(report.inspect_failures)
    report.ok = not report.failures


def client_facts() -> dict[str, t.Any]:
    """What this client can do, for the report (the chain and legacy-version limits depend on it)."""
    import sys

    private = getattr(getattr(ssl, "_ssl", None), "_SSLSocket", None)
    has_chain = hasattr(ssl.SSLSocket, "get_unverified_chain") or hasattr(private, "get_unverified_chain")
    return {
        "python": sys.version.split()[0],
        "openssl": ssl.OPENSSL_VERSION,
        "served_chain": "available" if has_chain else "leaf only",
        "versions": [v for v in TLS_VERSIONS if _HAS_VERSION[v]],
    }


def load_expected_fingerprints(paths: list[str], *, check_mode: bool) -> tuple[dict[str, str], list[str]]:
    """The SHA-256 fingerprint (colon hex) of the first certificate of each file, by path; and warnings."""
    found: dict[str, str] = {}
    notes: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            if check_mode:
                notes.append(f"expected_certificate_path {path} does not exist yet (check mode: an earlier task "
                             "would create it); not compared")
                continue
            raise ProbeError(f"expected_certificate_path {path} does not exist; install the certificate first or fix the path") from None
        except OSError as exc:
            raise ProbeError(f"cannot read expected_certificate_path {path}: {exc.strerror}") from None
        try:
            cert = _crypto.load_certificate(data, source=path)
        except _crypto.PEMError as exc:
            raise ProbeError(str(exc)) from None
        found[path] = _crypto.cert_fingerprint_sha256(cert)
    return found, notes


def expected_from_files(found: dict[str, str]) -> tuple[set[str], list[str]]:
    """Fingerprints to compare with (bare hex) and how the failure message names them: path and fingerprint."""
    return {fp.replace(":", "") for fp in found.values()}, [f"{path} {fp}" for path, fp in found.items()]


def snakeoil_fingerprint(path: str = SNAKEOIL_PATH) -> str | None:
    """SHA-256 of the distribution's snake-oil certificate on this host, if it has one."""
    try:
        with open(path, "rb") as handle:
            return _crypto.cert_fingerprint_sha256(_crypto.load_certificate(handle.read(), source=path)).replace(":", "")
    except (OSError, _crypto.PEMError):
        return None
