# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a mail domain tells clients and senders about its TLS: the one place that renders it.

A floor module (standard library only, no I/O): the modules ``mail_discovery`` and
``mail_discovery_verify`` and the filters (``tls_records``, ``mail_discovery``) all render through
it, so the policy text, its id, the records and the files cannot drift apart.

* Host and domain names: lower case, no trailing dot, letters/digits/hyphens (A-labels), refused
  with a message naming the option otherwise.
* RFC 6186 / RFC 8314 SRV records for ``_submissions``, ``_submission``, ``_imaps``, ``_imap``,
  ``_pop3s`` and ``_pop3``: implicit TLS preferred through the priority (RFC 8314 5.1, RFC 6186 3.4),
  target ``.`` for a service that is not offered (RFC 2782, RFC 6186 3.4).
* Thunderbird autoconfig ``config-v1.1.xml``: implicit-TLS servers first, ``socketType`` SSL or
  STARTTLS, never plain.
* Autodiscover (POX) ``autodiscover.xml``: one ``<Protocol>`` per type, the preferred server, with
  ``<Encryption>`` (SSL for implicit TLS, TLS for STARTTLS).
* MTA-STS (RFC 8461): the policy text with CRLF line ends, an id derived from that text (it changes
  exactly when the text changes), and the ``_mta-sts`` TXT record.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import typing as t
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

MTA_STS_MODES: tuple[str, ...] = ("none", "testing", "enforce")
MTA_STS_MAX_AGE = 31557600  # RFC 8461 3.2: at most one year
DEFAULT_MAX_AGE = 604800
DEFAULT_TTL = 3600
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class DiscoveryError(ValueError):
    """Input that cannot be published; the message names the option, the value and the fix."""


# ------------------------------------------------------------------------------------------------
# The six client services (RFC 6186, RFC 8314)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Service:
    name: str          # the SRV service label without the underscore
    kind: str          # imap, pop3 or smtp (what autoconfig and Autodiscover call it)
    port: int
    implicit: bool     # TLS from the first byte (RFC 8314) rather than STARTTLS
    probe: str         # the protocol name of mail_tls_verify for this port

    @property
    def socket_type(self) -> str:
        return "SSL" if self.implicit else "STARTTLS"


# Implicit TLS before STARTTLS for each kind: the order of the records, files and checks.
SERVICES: tuple[Service, ...] = (
    Service("submissions", "smtp", 465, True, "smtps"),
    Service("submission", "smtp", 587, False, "smtp"),
    Service("imaps", "imap", 993, True, "imaps"),
    Service("imap", "imap", 143, False, "imap"),
    Service("pop3s", "pop3", 995, True, "pop3s"),
    Service("pop3", "pop3", 110, False, "pop3"),
)
SERVICE_NAMES: tuple[str, ...] = tuple(service.name for service in SERVICES)
_BY_NAME = {service.name: service for service in SERVICES}
# SRV priorities: lower is preferred, and RFC 6186 3.4 compares them across _imap/_imaps (and the
# others), so implicit TLS wins wherever a client supports both.
PRIORITY_IMPLICIT = 0
PRIORITY_STARTTLS = 10
SRV_WEIGHT = 1

# Autoconfig and Autodiscover paths (the files a web server serves for one mail domain).
AUTOCONFIG_PATHS: tuple[str, ...] = ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"
MTA_STS_PATH = "/.well-known/mta-sts.txt"
CONTENT_TYPES = {"mta_sts": "text/plain", "autoconfig": "text/xml", "autodiscover": "application/xml"}


def service(name: str) -> Service:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise DiscoveryError(f"services: {name!r} is not a mail client service; use {', '.join(SERVICE_NAMES)}") from None


# ------------------------------------------------------------------------------------------------
# Names and record syntax
# ------------------------------------------------------------------------------------------------
def hostname(value: t.Any, *, what: str, wildcard: bool = False, min_labels: int = 1) -> str:
    """A DNS name, lower-case, without the trailing dot; a leading ``*.`` only when ``wildcard``."""
    if not isinstance(value, str) or not value.strip():
        raise DiscoveryError(f"{what} must be a host name, got {value!r}")
    if _CONTROL.search(value):
        raise DiscoveryError(f"{what} {value!r} contains a control character (line break, tab, NUL, ...); give the name alone")
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if wildcard and labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            raise DiscoveryError(f"{what} {value!r}: a wildcard needs at least two labels after '*.'")
    if len(name) > 253 or len(labels) < 1 or not all(_LABEL.match(label) for label in labels):
        raise DiscoveryError(
            f"{what} {value!r} is not a valid host name (letters, digits and hyphens in dot-separated labels"
            + (", optionally starting with '*.'" if wildcard else "") + "; internationalised names in their xn-- form)"
        )
    if len(labels) < min_labels:
        raise DiscoveryError(f"{what} {value!r} has a single label; give the full name such as example.org")
    return name


def is_address_or_name(value: t.Any) -> bool:
    """True for an IPv4/IPv6 address or a host name (what ``connect_address`` options take)."""
    if not isinstance(value, str) or _CONTROL.search(value) or value != value.strip() or value.startswith("-"):
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    try:
        hostname(value, what="address")
    except DiscoveryError:
        return False
    return True


def ttl_text(value: t.Any) -> str:
    """`` 3600`` (with the leading space) for a zone-file line, or ``""`` to use the zone's default."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        raise DiscoveryError(f"ttl must be a whole number of seconds, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DiscoveryError(f"ttl must be a whole number of seconds, got {value!r}") from None
    if not 0 <= number <= 2147483647:
        raise DiscoveryError(f"ttl {number} is out of range 0-2147483647")
    return f" {number}"


def txt_rdata(text: str) -> str:
    """A TXT RDATA in zone-file syntax: quoted, escaped, split into strings of at most 255 bytes."""
    data = text.encode("utf-8")
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    out = []
    for chunk in chunks:
        escaped = chunk.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'"{escaped}"')
    return " ".join(out)


# ------------------------------------------------------------------------------------------------
# MTA-STS (RFC 8461)
# ------------------------------------------------------------------------------------------------
def mta_sts_policy(mx: t.Any, *, mode: str = "testing", max_age: t.Any = DEFAULT_MAX_AGE, newline: str = "crlf") -> str:
    """The policy file served at ``https://mta-sts.<domain>/.well-known/mta-sts.txt``.

    RFC 8461 3.2 separates the lines with CRLF; ``newline="lf"`` is kept for the filter's old callers.
    """
    if mode not in MTA_STS_MODES:
        raise DiscoveryError(f"mode must be one of {', '.join(MTA_STS_MODES)}, got {mode!r}")
    if isinstance(max_age, bool):
        raise DiscoveryError(f"max_age must be a whole number of seconds, got {max_age!r}")
    try:
        age = int(max_age)
    except (TypeError, ValueError):
        raise DiscoveryError(f"max_age must be a whole number of seconds, got {max_age!r}") from None
    if not 0 <= age <= MTA_STS_MAX_AGE:
        raise DiscoveryError(f"max_age {age} is out of range 0-{MTA_STS_MAX_AGE} (RFC 8461 allows at most one year)")
    if newline not in ("lf", "crlf"):
        raise DiscoveryError(f"newline must be lf or crlf, got {newline!r}")
    names = [mx] if isinstance(mx, str) else list(mx or [])
    patterns = list(dict.fromkeys(hostname(name, what="mx", wildcard=True) for name in names))
    if mode != "none" and not patterns:
        raise DiscoveryError(f"mode {mode} needs at least one mx host name (RFC 8461 3.2)")
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {pattern}" for pattern in patterns), f"max_age: {age}"]
    end = "\r\n" if newline == "crlf" else "\n"
    return end.join(lines) + end


def mta_sts_id(policy: t.Any) -> str:
    """A policy id (1 to 32 letters and digits) that changes exactly when the policy text changes."""
    if isinstance(policy, bytes):
        data = policy
    elif isinstance(policy, str):
        data = policy.encode("utf-8")
    else:
        data = b""
    if not data.strip():
        raise DiscoveryError("mta_sts_id needs the policy text (the output of postmaster.tls.mta_sts_policy)")
    # 128 bits of SHA-256 in hex: letters and digits only, as RFC 8461 3.1 requires.
    return hashlib.sha256(data).hexdigest()[:32]


def mta_sts_record(policy: t.Any, domain: str, *, ttl: t.Any = None) -> str:
    """``_mta-sts.<domain>. [ttl] IN TXT "v=STSv1; id=<id>"``."""
    host = hostname(domain, what="domain")
    return f"_mta-sts.{host}.{ttl_text(ttl)} IN TXT {txt_rdata(f'v=STSv1; id={mta_sts_id(policy)}')}"


def parse_mta_sts_txt(text: str) -> str | None:
    """The ``id`` of an ``_mta-sts`` TXT value (strings already joined), or None when it is not STSv1."""
    fields = [part.strip() for part in text.split(";") if part.strip()]
    if not fields or fields[0].replace(" ", "") != "v=STSv1":
        return None
    for part in fields[1:]:
        key, sep, value = part.partition("=")
        if sep and key.strip() == "id":
            return value.strip()
    return None


def parse_mta_sts_policy(text: str) -> dict[str, t.Any]:
    """The fields of a served policy (RFC 8461 3.2): ``version``, ``mode``, ``max_age``, ``mx`` (list)."""
    out: dict[str, t.Any] = {"mx": []}
    for line in re.split(r"\r?\n", text):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "mx":
            out["mx"].append(value)
        else:
            out[key] = value
    return out


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: an ``mx`` pattern matches the host exactly, or ``*.`` covers one leftmost label."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _sep, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


# ------------------------------------------------------------------------------------------------
# One mail domain
# ------------------------------------------------------------------------------------------------
@dataclass
class Domain:
    """A mail domain as published: every name normalised, every choice made."""

    name: str
    mail_host: str
    services: tuple[str, ...]
    mx: list[str]
    mta_sts: bool = True
    mta_sts_mode: str = "testing"
    mta_sts_max_age: int = DEFAULT_MAX_AGE
    autoconfig: bool = True
    autodiscover: bool = True
    display_name: str = ""
    username: str = "%EMAILADDRESS%"
    ttl: int | None = DEFAULT_TTL
    service_hosts: dict[str, str] = field(default_factory=dict)
    # Whether the dns_records role publishes this domain's SRV records (its ``srv`` key); the verifier checks them only then.
    srv: bool = True

    def host_of(self, name: str) -> str | None:
        """Where ``name`` is offered, or None when this domain does not offer it."""
        if name not in self.services:
            return None
        return self.service_hosts.get(name, self.mail_host)

    @property
    def offered(self) -> list[tuple[Service, str]]:
        return [(svc, host) for svc in SERVICES for host in [self.host_of(svc.name)] if host]

    def web_names(self) -> list[str]:
        names = []
        if self.mta_sts:
            names.append(f"mta-sts.{self.name}")
        if self.autoconfig:
            names.append(f"autoconfig.{self.name}")
        if self.autodiscover:
            names.append(f"autodiscover.{self.name}")
        return names


_USERNAME_TOKENS = ("%EMAILADDRESS%", "%EMAILLOCALPART%", "%EMAILDOMAIN%")


def _check_text(value: t.Any, *, what: str) -> str:
    if not isinstance(value, str):
        raise DiscoveryError(f"{what} must be text, got {value!r}")
    if _CONTROL.search(value):
        raise DiscoveryError(f"{what} {value!r} contains a control character (line break, tab, NUL, ...); give one line of text")
    return value.strip()


def build_domain(raw: t.Mapping[str, t.Any], *, defaults: t.Mapping[str, t.Any] | None = None, index: int = 1) -> Domain:
    """Check and normalise one entry of ``domains`` (module options or role variables)."""
    defaults = defaults or {}
    if not isinstance(raw, t.Mapping):
        raise DiscoveryError(f"domains[{index}] must be a dictionary with at least a name, got {raw!r}")

    def pick(key: str, fallback: t.Any = None) -> t.Any:
        value = raw.get(key)
        if value is None:
            value = defaults.get(key)
        return fallback if value is None else value

    name = hostname(raw.get("name"), what=f"domains[{index}].name", min_labels=2)
    where = f"domains[{index}] ({name})"
    mail_host_raw = pick("mail_host")
    if mail_host_raw is None:
        raise DiscoveryError(f"{where}: no mail_host; give the name clients connect to (the mail certificate's name), "
                             "per domain or as the module's mail_host")
    mail_host = hostname(mail_host_raw, what=f"{where}.mail_host")
    services_raw = pick("services", list(SERVICE_NAMES))
    if isinstance(services_raw, str) or not isinstance(services_raw, (list, tuple)):
        raise DiscoveryError(f"{where}.services must be a list of {', '.join(SERVICE_NAMES)}, got {services_raw!r}")
    services = tuple(service(str(item)).name for item in services_raw)
    if not services:
        raise DiscoveryError(f"{where}.services is empty; list at least one of {', '.join(SERVICE_NAMES)}")
    service_hosts_raw = pick("service_hosts", {})
    if not isinstance(service_hosts_raw, t.Mapping):
        raise DiscoveryError(f"{where}.service_hosts must map service names to host names, got {service_hosts_raw!r}")
    service_hosts = {service(str(key)).name: hostname(value, what=f"{where}.service_hosts.{key}")
                     for key, value in service_hosts_raw.items()}
    mx_raw = pick("mx", [mail_host])
    mx_list = [mx_raw] if isinstance(mx_raw, str) else list(mx_raw)
    mx = list(dict.fromkeys(hostname(item, what=f"{where}.mx", wildcard=True) for item in mx_list))
    mode = pick("mta_sts_mode", "testing")
    if mode not in MTA_STS_MODES:
        raise DiscoveryError(f"{where}.mta_sts_mode {mode!r} is not a mode; use one of {', '.join(MTA_STS_MODES)}")
    max_age = pick("mta_sts_max_age", DEFAULT_MAX_AGE)
    if isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= MTA_STS_MAX_AGE:
        raise DiscoveryError(f"{where}.mta_sts_max_age {max_age!r} must be whole seconds from 0 to {MTA_STS_MAX_AGE} (one year)")
    username = _check_text(pick("username", "%EMAILADDRESS%"), what=f"{where}.username")
    if not username or ("%" in username and not any(token in username for token in _USERNAME_TOKENS)):
        raise DiscoveryError(f"{where}.username {username!r}: use %EMAILADDRESS%, %EMAILLOCALPART% or a fixed login name")
    display_name = _check_text(pick("display_name", name), what=f"{where}.display_name") or name
    # An explicit None (the filter's ttl=none, an empty role variable) means "the zone's default TTL".
    ttl_raw = raw["ttl"] if raw.get("ttl") is not None else defaults.get("ttl", DEFAULT_TTL)
    ttl = int(ttl_text(ttl_raw)) if ttl_text(ttl_raw) else None
    domain = Domain(
        name=name, mail_host=mail_host, services=services, mx=mx, mta_sts=bool(pick("mta_sts", True)),
        mta_sts_mode=mode, mta_sts_max_age=max_age, autoconfig=bool(pick("autoconfig", True)),
        autodiscover=bool(pick("autodiscover", True)), display_name=display_name, username=username, ttl=ttl,
        service_hosts=service_hosts, srv=raw.get("srv") is not False,
    )
    if domain.mta_sts and mode != "none" and not mx:
        raise DiscoveryError(f"{where}: mta_sts_mode {mode} needs at least one mx host name (RFC 8461 3.2)")
    return domain


def build_domains(entries: t.Sequence[t.Mapping[str, t.Any]], *, defaults: t.Mapping[str, t.Any] | None = None) -> list[Domain]:
    domains = [build_domain(raw, defaults=defaults, index=index) for index, raw in enumerate(entries or [], start=1)]
    seen: set[str] = set()
    for domain in domains:
        if domain.name in seen:
            raise DiscoveryError(f"domains: {domain.name} is listed twice (names are compared in lower case without the trailing dot)")
        seen.add(domain.name)
    if not domains:
        raise DiscoveryError("domains is empty; list at least one mail domain (the part after @ in addresses)")
    return domains


# ------------------------------------------------------------------------------------------------
# Records and files
# ------------------------------------------------------------------------------------------------
def srv_records(domain: Domain) -> list[str]:
    """RFC 6186/8314 SRV lines for the six services; ``0 0 0 .`` for one that is not offered."""
    ttl = ttl_text(domain.ttl)
    lines = []
    for svc in SERVICES:
        owner = f"_{svc.name}._tcp.{domain.name}.{ttl} IN SRV"
        host = domain.host_of(svc.name)
        if host is None:
            lines.append(f"{owner} 0 0 0 .")
        else:
            priority = PRIORITY_IMPLICIT if svc.implicit else PRIORITY_STARTTLS
            lines.append(f"{owner} {priority} {SRV_WEIGHT} {svc.port} {host}.")
    return lines


def policy_text(domain: Domain) -> str | None:
    if not domain.mta_sts:
        return None
    return mta_sts_policy(domain.mx, mode=domain.mta_sts_mode, max_age=domain.mta_sts_max_age, newline="crlf")


def _server_xml(tag: str, svc: Service, host: str, username: str) -> list[str]:
    return [
        f'    <{tag} type="{svc.kind}">',
        f"      <hostname>{escape(host)}</hostname>",
        f"      <port>{svc.port}</port>",
        f"      <socketType>{svc.socket_type}</socketType>",
        "      <authentication>password-cleartext</authentication>",
        f"      <username>{escape(username)}</username>",
        f"    </{tag}>",
    ]


def autoconfig_xml(domain: Domain) -> str:
    """Thunderbird's ``config-v1.1.xml``: implicit TLS first (IMAP, then POP3; SMTP), never plain."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<clientConfig version="1.1">',
        f'  <emailProvider id="{escape(domain.name)}">',
        f"    <domain>{escape(domain.name)}</domain>",
        f"    <displayName>{escape(domain.display_name)}</displayName>",
        f"    <displayShortName>{escape(domain.display_name)}</displayShortName>",
    ]
    for kind in ("imap", "pop3"):
        for svc, host in domain.offered:
            if svc.kind == kind:
                lines += _server_xml("incomingServer", svc, host, domain.username)
    for svc, host in domain.offered:
        if svc.kind == "smtp":
            lines += _server_xml("outgoingServer", svc, host, domain.username)
    lines += ["  </emailProvider>", "</clientConfig>"]
    return "\n".join(lines) + "\n"


def autodiscover_xml(domain: Domain) -> str:
    """An Autodiscover (POX) response: per type the preferred server, ``<Encryption>`` SSL or TLS."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">',
        '  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">',
        "    <Account>",
        "      <AccountType>email</AccountType>",
        "      <Action>settings</Action>",
    ]
    for kind, label in (("imap", "IMAP"), ("pop3", "POP3"), ("smtp", "SMTP")):
        chosen = next(((svc, host) for svc, host in domain.offered if svc.kind == kind), None)
        if chosen is None:
            continue
        svc, host = chosen
        lines += [
            "      <Protocol>",
            f"        <Type>{label}</Type>",
            f"        <Server>{escape(host)}</Server>",
            f"        <Port>{svc.port}</Port>",
            "        <DomainRequired>off</DomainRequired>",
            "        <SPA>off</SPA>",
            "        <SSL>on</SSL>",
            f"        <Encryption>{'SSL' if svc.implicit else 'TLS'}</Encryption>",
            "        <AuthRequired>on</AuthRequired>",
            "      </Protocol>",
        ]
    lines += ["    </Account>", "  </Response>", "</Autodiscover>"]
    return "\n".join(lines) + "\n"


def autodiscover_request(address: str) -> bytes:
    """The POX request an Outlook-style client POSTs (RFC-less, Microsoft's 2006 request schema)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">\n'
        f"  <Request>\n    <EMailAddress>{escape(address)}</EMailAddress>\n"
        "    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        "</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n"
    ).encode("utf-8")


def advertised_endpoints(domain: Domain) -> list[dict[str, t.Any]]:
    """Every host and port a record or file of this domain names (RFC 8314 5: each must be valid TLS).

    The client services, then port 25 of every MX named in the MTA-STS policy (wildcards cannot be
    connected to and are left out).
    """
    out = [{"host": host, "port": svc.port, "protocol": svc.probe, "service": svc.name} for svc, host in domain.offered]
    if domain.mta_sts and domain.mta_sts_mode != "none":
        seen = {(item["host"], item["port"]) for item in out}
        for pattern in domain.mx:
            if not pattern.startswith("*.") and (pattern, 25) not in seen:
                out.append({"host": pattern, "port": 25, "protocol": "smtp", "service": "mx"})
    return out


def documents(domain: Domain) -> list[dict[str, t.Any]]:
    """The files a web server serves for this domain: one entry per host name, each with its paths."""
    sites = []
    policy = policy_text(domain)
    if policy is not None:
        sites.append({"server_name": f"mta-sts.{domain.name}", "documents": [
            {"path": MTA_STS_PATH, "content": policy, "content_type": CONTENT_TYPES["mta_sts"], "methods": ["GET"]}]})
    if domain.autoconfig:
        body = autoconfig_xml(domain)
        sites.append({"server_name": f"autoconfig.{domain.name}", "documents": [
            {"path": path, "content": body, "content_type": CONTENT_TYPES["autoconfig"], "methods": ["GET"]}
            for path in AUTOCONFIG_PATHS]})
    if domain.autodiscover:
        sites.append({"server_name": f"autodiscover.{domain.name}", "documents": [
            {"path": AUTODISCOVER_PATH, "content": autodiscover_xml(domain), "content_type": CONTENT_TYPES["autodiscover"],
             "methods": ["GET", "POST"], "case_insensitive": True}]})
    return sites


def render(domain: Domain) -> dict[str, t.Any]:
    """Everything published for one domain, as modules return it."""
    policy = policy_text(domain)
    return {
        "name": domain.name,
        "mail_host": domain.mail_host,
        "services": list(domain.services),
        "srv_records": srv_records(domain),
        "mta_sts_mode": domain.mta_sts_mode if domain.mta_sts else None,
        "mta_sts_policy": policy,
        "mta_sts_id": mta_sts_id(policy) if policy else None,
        "mta_sts_record": mta_sts_record(policy, domain.name, ttl=domain.ttl) if policy else None,
        "autoconfig_xml": autoconfig_xml(domain) if domain.autoconfig else None,
        "autodiscover_xml": autodiscover_xml(domain) if domain.autodiscover else None,
        "web_names": domain.web_names(),
        "endpoints": advertised_endpoints(domain),
    }


# ------------------------------------------------------------------------------------------------
# Judging what is served against what was published (no I/O: the caller fetched it)
# ------------------------------------------------------------------------------------------------
def document_failures(*, expected: bytes, content_type: str, status: int | None, media_type: str | None,
                      location: str | None, body: bytes, error: str | None) -> list[str]:
    """Why an HTTPS answer is not exactly the published file ([] when it is)."""
    if error:
        return [error]
    if status is not None and 300 <= status < 400:
        return [f"redirects ({status} to {location or 'no Location'}); the file must be served from this URL itself"]
    if status != 200:
        return [f"answers {status} instead of 200"]
    failures = []
    if media_type != content_type:
        failures.append(f"is served as {media_type or 'no Content-Type'}, not {content_type}")
    if body != expected:
        failures.append(f"serves other content than published (sha256 {hashlib.sha256(body).hexdigest()[:16]}..., "
                        f"published {hashlib.sha256(expected).hexdigest()[:16]}...)")
    return failures


def policy_id_failures(served: bytes, *, txt_id: str | None, txt_source: str) -> list[str]:
    """RFC 8461 3.1: a sender refetches the policy only when the TXT id changes, so the id must change
    with the text. With ids derived from the text, the served policy's id must be the TXT record's."""
    if txt_id is None:
        return [f"no v=STSv1 TXT record with an id ({txt_source})"]
    if not served.strip():
        return ["the policy is empty"]
    served_id = mta_sts_id(served)
    if served_id != txt_id:
        return [f"the served policy has id {served_id} but the TXT record ({txt_source}) says {txt_id}: the policy text changed "
                "without a new id, so senders keep their cached copy; publish the TXT record of the served policy"]
    return []


# ------------------------------------------------------------------------------------------------
# The options both modules share (one argument spec per concept)
# ------------------------------------------------------------------------------------------------
def domains_argument_spec() -> dict[str, dict[str, t.Any]]:
    """``domains`` and the defaults for its entries; shared by mail_discovery and mail_discovery_verify.

    The entries take the keys of the dns_records role's ``dns_records_domains`` too (``tls_rpt_rua``,
    ``srv`` and ``zone`` are accepted and left to that role), so one list can feed both.
    """
    return {
        "domains": {
            "type": "list", "elements": "dict", "required": True,
            "options": {
                "name": {"type": "str", "required": True},
                "mail_host": {"type": "str"},
                "services": {"type": "list", "elements": "str", "choices": list(SERVICE_NAMES)},
                "service_hosts": {"type": "dict"},
                "mx": {"type": "list", "elements": "str"},
                "mta_sts": {"type": "bool", "default": True},
                "mta_sts_mode": {"type": "str", "choices": list(MTA_STS_MODES)},
                "mta_sts_max_age": {"type": "int"},
                "autoconfig": {"type": "bool", "default": True},
                "autodiscover": {"type": "bool", "default": True},
                "display_name": {"type": "str"},
                "username": {"type": "str"},
                "tls_rpt_rua": {"type": "list", "elements": "str"},
                "srv": {"type": "bool"},
                "zone": {"type": "str"},
            },
        },
        "mail_host": {"type": "str"},
        "mx": {"type": "list", "elements": "str"},
        "services": {"type": "list", "elements": "str", "choices": list(SERVICE_NAMES)},
        "mta_sts_mode": {"type": "str", "default": "testing", "choices": list(MTA_STS_MODES)},
        "mta_sts_max_age": {"type": "int", "default": DEFAULT_MAX_AGE},
        "username": {"type": "str", "default": "%EMAILADDRESS%"},
        "ttl": {"type": "int", "default": DEFAULT_TTL},
    }


DEFAULT_KEYS = ("mail_host", "mx", "services", "mta_sts_mode", "mta_sts_max_age", "username", "ttl")


def domains_from_params(params: t.Mapping[str, t.Any]) -> list[Domain]:
    """The domains of a module's parameters (``domains`` plus the module-level defaults)."""
    defaults = {key: params.get(key) for key in DEFAULT_KEYS}
    return build_domains(params["domains"], defaults=defaults)


__all__ = [
    "MTA_STS_MODES", "MTA_STS_MAX_AGE", "SERVICES", "SERVICE_NAMES", "Service", "Domain", "DiscoveryError",
    "hostname", "is_address_or_name", "ttl_text", "txt_rdata", "mta_sts_policy", "mta_sts_id", "mta_sts_record", "parse_mta_sts_txt",
    "parse_mta_sts_policy", "mx_matches", "build_domain", "build_domains", "srv_records", "policy_text", "autoconfig_xml",
    "autodiscover_xml", "autodiscover_request", "advertised_endpoints", "documents", "render", "document_failures", "policy_id_failures",
    "domains_argument_spec", "domains_from_params",
]
