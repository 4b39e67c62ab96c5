# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS that follows the keys: RFC 2136 updates, what every authoritative server serves, the rollover gate.

Everything speaks DNS through dnspython (messages, TSIG, zone-file syntax); nothing here builds wire
format by hand. It runs where the DNS servers are reachable, usually the controller.

The phases mirror the service backends (``_postfix``):

* wanted state: :func:`parse_wanted` turns the options (RRset dicts and zone-file lines) into
  :class:`Wanted` RRsets of one zone, each with a ``state`` (``exact``, ``present``, ``absent``);
* read: :func:`read_primary` asks the primary, over TCP and signed with the TSIG key when one is given,
  for the zone's SOA (is it authoritative? which serial?) and for every wanted RRset;
* compare by meaning: :func:`plan` compares rdata objects (``3 1 1 ABCD`` equals ``3 1 1 abcd``) and
  TTLs and returns the :class:`Change` list, the diff lines and nothing to send when nothing differs;
* apply: :func:`build_update` makes ONE UPDATE for the zone with a prerequisite per changed RRset (the
  RRset exactly as it was read, or "does not exist"), so a concurrent change makes the server refuse
  the whole update instead of being clobbered; :func:`send_update` sends it and names what went wrong;
* check: :func:`authoritative_servers` and :func:`check_servers` ask every server of the zone's NS set
  (or a given list) directly, without recursion, whether it serves each wanted RRset, and its SOA
  serial; :func:`wait_for` repeats that until all do or the time is up; :func:`ask_resolver` asks a
  validating resolver and reports its AD flag;
* the rollover gate: :class:`Ledger` keeps, on the controller, when each record was first seen on
  every authoritative server, and :func:`judge_gate` decides whether a key may be switched to.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import os
import re
import socket
import tempfile
import time
import traceback
import typing as t
from dataclasses import dataclass, field

DNSPYTHON_IMP_ERR: str | None
try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdataset
    import dns.rdatatype
    import dns.rrset
    import dns.tsig
    import dns.update
    import dns.zonefile

    HAS_DNSPYTHON = True
    DNSPYTHON_IMP_ERR = None
except ImportError:  # pragma: no cover - exercised by the sanity import test
    HAS_DNSPYTHON = False
    DNSPYTHON_IMP_ERR = traceback.format_exc()

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

MIN_DNSPYTHON_VERSION = "2.1"
TSIG_ALGORITHMS: tuple[str, ...] = ("hmac-sha256", "hmac-sha384", "hmac-sha512")
STATES: tuple[str, ...] = ("exact", "present", "absent")
# Types the server keeps itself (the serial, DNSSEC signing) or that are not data at all.
REFUSED_TYPES = frozenset((
    "SOA", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY", "CDS", "CDNSKEY", "TSIG", "TKEY", "OPT", "ANY",
    "AXFR", "IXFR", "MAILA", "MAILB",
))
MAX_TTL = 2147483647
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is whitespace in zone-file syntax

State = t.Literal["exact", "present", "absent"]


def require_dnspython(module: AnsibleModule) -> None:
    """Fail the module, with the import traceback, when dnspython cannot be imported."""
    if not HAS_DNSPYTHON:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib(f"dnspython >= {MIN_DNSPYTHON_VERSION}"), exception=DNSPYTHON_IMP_ERR)


def run(module: AnsibleModule, action: t.Callable[..., dict[str, t.Any]], **kwargs: t.Any) -> dict[str, t.Any]:
    """The DNS modules' common start: dnspython present, ``action(module.params, **kwargs)``, a DNSError as fail_json."""
    require_dnspython(module)
    try:
        return action(module.params, **kwargs)
    except DNSError as exc:
        module.fail_json(msg=str(exc), zone=module.params["zone"])
        raise  # not reached: fail_json exits


class DNSError(Exception):
    """Bad input, or a DNS server that refused or did not answer; the message names what and the fix."""


class Unreachable(DNSError):
    """No answer from a server within the timeout."""


class TSIGRefused(DNSError):
    """The server refused the TSIG key (unknown key, wrong secret, clock skew)."""


class NotAuthoritative(DNSError):
    """The server does not answer authoritatively for the zone."""


class PrerequisiteFailed(DNSError):
    """An RRset changed between the read and the update: the server refused the whole update."""


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------
def check_text(value: t.Any, *, option: str) -> str:
    """A string without control characters (CR, LF, NUL, ...)."""
    if not isinstance(value, str):
        raise DNSError(f"{option}: expected a string, got {type(value).__name__}")
    if _CONTROL.search(value):
        raise DNSError(f"{option}: {value!r} contains a control character (CR, LF, NUL, ...); remove it")
    return value


def parse_zone(text: t.Any, *, option: str = "zone") -> dns.name.Name:
    value = check_text(text, option=option).strip()
    if not value or value == ".":
        raise DNSError(f"{option}: give the zone's name, such as example.org (the root zone is not managed here)")
    try:
        return dns.name.from_text(value)
    except dns.exception.DNSException as exc:
        raise DNSError(f"{option}: {value!r} is not a DNS name ({exc})") from None


@dataclass(frozen=True)
class Server:
    """One DNS server to talk to: an address (IP literal) and port, with the name it was given as."""

    address: str
    port: int = 53
    name: str = ""

    @property
    def label(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        shown = f"{host}:{self.port}" if self.port != 53 else host
        return f"{self.name} ({shown})" if self.name and self.name != self.address else shown


def _port(value: t.Any, *, option: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or not 0 < number < 65536:
        raise DNSError(f"{option}: {value!r} is not a port number (1-65535)")
    return number


def _resolve_host(host: str, *, option: str) -> list[str]:
    """IP literals as they are; a name through the controller's resolver."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DNSError(f"{option}: cannot resolve {host!r} on this machine ({exc}); give its IP address") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def parse_server(text: t.Any, *, port: int = 53, option: str = "server") -> Server:
    """``192.0.2.1``, ``[2001:db8::1]:5353``, ``ns1.example.org`` or ``ns1.example.org:5353``."""
    value = check_text(text, option=option).strip()
    if not value or value.startswith("-"):
        raise DNSError(f"{option}: {value!r} is not a server; give an IP address or host name, optionally with :PORT")
    host, chosen = value, port
    bracket = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", value)
    if bracket:
        host, chosen = bracket.group(1), int(bracket.group(2)) if bracket.group(2) else port
    elif value.count(":") == 1:
        host, _sep, number = value.partition(":")
        chosen = _port(number, option=option)
    chosen = _port(chosen, option=option)
    addresses = _resolve_host(host, option=option)
    return Server(address=addresses[0], port=chosen, name=host)


@dataclass(frozen=True)
class Tsig:
    """A TSIG key; the secret is never part of any message or result."""

    name: str
    algorithm: str
    secret: str = field(repr=False)

    def keyring(self) -> dict:
        key = dns.tsig.Key(self.name, self.secret, self.algorithm)
        return {key.name: key}

    @property
    def label(self) -> str:
        return f"TSIG key {self.name!r} ({self.algorithm})"


def parse_tsig(name: t.Any, algorithm: t.Any, secret: t.Any) -> Tsig | None:
    """The TSIG key of the options, or None when no key name is given."""
    if name in (None, ""):
        if secret not in (None, ""):
            raise DNSError("tsig_secret is set but tsig_key_name is not; give the key's name as the server knows it")
        return None
    key_name = check_text(name, option="tsig_key_name").strip()
    if algorithm not in TSIG_ALGORITHMS:
        raise DNSError(f"tsig_algorithm: {algorithm!r} is not supported; use one of {', '.join(TSIG_ALGORITHMS)}")
    if secret in (None, ""):
        raise DNSError(f"tsig_secret: empty for TSIG key {key_name!r}; give the base64 secret (as in the server's key statement)")
    if not isinstance(secret, str) or _CONTROL.search(secret) or not re.fullmatch(r"[A-Za-z0-9+/=\s]+", secret):
        raise DNSError(f"tsig_secret of TSIG key {key_name!r} is not base64 text; copy the secret from the server's key statement")
    try:
        dns.name.from_text(key_name)
        tsig = Tsig(name=key_name, algorithm=algorithm, secret="".join(secret.split()))
        tsig.keyring()
    except (dns.exception.DNSException, ValueError, TypeError) as exc:
        raise DNSError(f"TSIG key {key_name!r}: the name or the base64 secret does not parse ({type(exc).__name__})") from None
    return tsig


@dataclass
class Wanted:
    """One RRset of the zone as the caller wants it."""

    name: dns.name.Name
    rdtype: int
    ttl: int
    values: frozenset
    state: State = "exact"
    source: str = ""

    @property
    def key(self) -> tuple[dns.name.Name, int]:
        return (self.name, self.rdtype)

    @property
    def label(self) -> str:
        return f"{self.name} {dns.rdatatype.to_text(self.rdtype)}"


def _ttl(value: t.Any, *, option: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or not 0 <= number <= MAX_TTL:
        raise DNSError(f"{option}: {value!r} is not a TTL (a whole number of seconds, 0-{MAX_TTL})")
    return number


def _owner(text: t.Any, zone: dns.name.Name, *, option: str) -> dns.name.Name:
    value = check_text(text, option=option).strip()
    if not value:
        raise DNSError(f"{option}: empty owner name; use @ for the zone's apex")
    try:
        name = zone if value == "@" else dns.name.from_text(value, origin=zone)
    except dns.exception.DNSException as exc:
        raise DNSError(f"{option}: {value!r} is not a DNS name ({exc})") from None
    if not name.is_subdomain(zone):
        raise DNSError(f"{option}: {name} is not inside the zone {zone}; give a name under {zone} (or the right zone)")
    return name


def _rdtype(text: t.Any, *, option: str) -> int:
    value = check_text(text, option=option).strip().upper()
    try:
        rdtype = dns.rdatatype.from_text(value)
    except dns.exception.DNSException:
        raise DNSError(f"{option}: {value!r} is not a DNS record type (TLSA, TXT, SRV, CAA, A, ...)") from None
    if value in REFUSED_TYPES or dns.rdatatype.is_metatype(rdtype):
        raise DNSError(f"{option}: {value} records are kept by the DNS server itself (serial, DNSSEC) and are not managed here")
    return rdtype


def _txt_value(text: str) -> str:
    """A TXT value: zone-file syntax when it starts with a quote, else one text split into 255-byte strings."""
    if text.lstrip().startswith('"'):
        return text
    data = text.encode("utf-8")
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join('"' + chunk.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


def _rdata(rdtype: int, text: t.Any, zone: dns.name.Name, *, option: str) -> dns.rdata.Rdata:
    value = check_text(text, option=option)
    if rdtype == dns.rdatatype.TXT:
        value = _txt_value(value)
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=zone)
    except (dns.exception.DNSException, ValueError) as exc:
        raise DNSError(f"{option}: {value!r} is not {dns.rdatatype.to_text(rdtype)} data ({exc})") from None


def parse_wanted(zone: dns.name.Name, rrsets: list[dict[str, t.Any]], *, default_ttl: int = 3600) -> list[Wanted]:
    """The wanted RRsets of one zone, in input order.

    Each entry gives one RRset as ``name``, ``type`` and ``values``, or any number of RRsets as zone-file
    ``records`` lines (lines with the same owner and type form one RRset); ``ttl`` and ``state`` apply to
    what the entry gives. The same RRset twice is refused unless both ask for the same thing (several
    hosts may hand in the same records).
    """
    default_ttl = _ttl(default_ttl, option="ttl")
    out: dict[tuple[dns.name.Name, int], Wanted] = {}

    def keep(item: Wanted) -> None:
        if item.state != "absent" and not item.values:
            raise DNSError(f"{item.source}: no values for {item.label}; give values, or state=absent to remove the RRset")
        seen = out.get(item.key)
        if seen is None:
            out[item.key] = item
        elif (seen.values, seen.state, seen.ttl) != (item.values, item.state, item.ttl):
            raise DNSError(f"{item.source}: {item.label} is also given by {seen.source} with other values, TTL or state; "
                           "give each RRset once")

    if not isinstance(rrsets, list):
        raise DNSError("rrsets: expected a list of dictionaries")
    for index, spec in enumerate(rrsets, start=1):
        where = f"rrsets[{index}]"
        if not isinstance(spec, dict):
            raise DNSError(f"{where}: expected a dictionary with name, type and values, or records")
        state = spec.get("state") or "exact"
        if state not in STATES:
            raise DNSError(f"{where}.state: {state!r} is not one of {', '.join(STATES)}")
        ttl = default_ttl if spec.get("ttl") is None else _ttl(spec["ttl"], option=f"{where}.ttl")
        if spec.get("records") is not None:
            if any(spec.get(k) not in (None, [], "") for k in ("name", "type", "values")):
                raise DNSError(f"{where}: give either records (zone-file lines) or name, type and values, not both")
            for item in _from_lines(zone, spec["records"], ttl=ttl, state=state, where=where):
                keep(item)
            continue
        name = _owner(spec.get("name"), zone, option=f"{where}.name")
        rdtype = _rdtype(spec.get("type"), option=f"{where}.type")
        values = spec.get("values") or []
        if isinstance(values, str):
            values = [values]
        rdatas = frozenset(_rdata(rdtype, v, zone, option=f"{where}.values[{i}]") for i, v in enumerate(values, start=1))
        keep(Wanted(name=name, rdtype=rdtype, ttl=ttl, values=rdatas, state=state, source=where))
    if not out:
        raise DNSError("rrsets: nothing to manage; give at least one RRset")
    return list(out.values())


def _from_lines(zone: dns.name.Name, lines: t.Any, *, ttl: int, state: str, where: str) -> list[Wanted]:
    """Zone-file lines (owner [ttl] [IN] type data) -> one Wanted per owner and type; ``ttl`` where a line has none."""
    if isinstance(lines, str):
        lines = [lines]
    if not isinstance(lines, list):
        raise DNSError(f"{where}.records: expected a list of zone-file lines")
    grouped: dict[tuple[dns.name.Name, int], list[tuple[int, dns.rdata.Rdata]]] = {}
    for number, text in enumerate(lines, start=1):
        option = f"{where}.records[{number}]"
        text = check_text(text, option=option)
        if not text.strip() or text.lstrip().startswith(";"):
            continue
        try:
            parsed = dns.zonefile.read_rrsets(text, origin=zone, rdclass=None, default_ttl=ttl, relativize=False)
        except (dns.exception.DNSException, ValueError) as exc:
            raise DNSError(f"{option}: {text!r} is not a zone-file record line ({exc})") from None
        for rrset in parsed:
            _rdtype(dns.rdatatype.to_text(rrset.rdtype), option=f"{option} type")
            name = _owner(rrset.name.to_text(), zone, option=f"{option} owner")
            grouped.setdefault((name, rrset.rdtype), []).extend((rrset.ttl, rdata) for rdata in rrset)
    out = []
    for (name, rdtype), entries in grouped.items():
        ttls = {each for each, _rdata_ in entries}
        if len(ttls) > 1:
            raise DNSError(f"{where}.records: the lines of {name} {dns.rdatatype.to_text(rdtype)} give different TTLs "
                           f"({', '.join(map(str, sorted(ttls)))}); one RRset has one TTL")
        out.append(Wanted(name=name, rdtype=rdtype, ttl=ttls.pop(), values=frozenset(r for _ttl_, r in entries),
                          state=t.cast(State, state), source=f"{where}.records"))
    return out


# ------------------------------------------------------------------------------------------------
# Talking to servers
# ------------------------------------------------------------------------------------------------
@dataclass
class Client:
    """Sends queries and updates with one timeout per exchange; turns dnspython's errors into ours."""

    timeout: float = 10.0
    tsig: Tsig | None = None

    def exchange(self, message: dns.message.Message, server: Server, *, tcp: bool, what: str) -> dns.message.Message:
        try:
            if tcp:
                return dns.query.tcp(message, server.address, timeout=self.timeout, port=server.port)
            response = dns.query.udp(message, server.address, timeout=self.timeout, port=server.port)
            if response.flags & dns.flags.TC:
                return dns.query.tcp(message, server.address, timeout=self.timeout, port=server.port)
            return response
        except dns.tsig.PeerBadKey:
            raise TSIGRefused(f"{server.label} does not know {self._key_label()} ({what}): check tsig_key_name and "
                              "tsig_algorithm against the server's key statement") from None
        except dns.tsig.PeerBadSignature:
            raise TSIGRefused(f"{server.label} refused the signature of {self._key_label()} ({what}): the tsig_secret "
                              "does not match the server's secret for that key") from None
        except dns.tsig.PeerBadTime:
            raise TSIGRefused(f"{server.label} refused {self._key_label()} ({what}): the clocks of this machine and the "
                              "server differ by more than the TSIG fudge; synchronise them") from None
        except (dns.tsig.PeerError, dns.tsig.BadSignature, dns.tsig.BadKey, dns.tsig.BadAlgorithm) as exc:
            raise TSIGRefused(f"{server.label}: TSIG failure with {self._key_label()} ({what}): {type(exc).__name__}") from None
        except dns.exception.Timeout:
            raise Unreachable(f"{server.label} did not answer within {self.timeout:g} s ({what}); check the address, "
                              "the port and that nothing filters DNS between this machine and the server") from None
        except OSError as exc:
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            raise Unreachable(f"{server.label} cannot be reached ({what}): {reason}") from None
        except dns.exception.DNSException as exc:
            raise DNSError(f"{server.label} sent an answer that does not parse ({what}): {exc}") from None

    def _key_label(self) -> str:
        return self.tsig.label if self.tsig else "the TSIG key"

    def query(self, server: Server, name: dns.name.Name, rdtype: int, *, sign: bool = False, tcp: bool = False,
              recursion: bool = False, dnssec: bool = False) -> dns.message.Message:
        message = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        if not recursion:
            message.flags &= ~dns.flags.RD
        if dnssec:
            message.flags |= dns.flags.AD  # RFC 6840 5.7: ask for the AD bit
        if sign and self.tsig:
            message.use_tsig(self.tsig.keyring(), keyname=self.tsig.name, algorithm=self.tsig.algorithm)
        return self.exchange(message, server, tcp=tcp, what=f"query {name} {dns.rdatatype.to_text(rdtype)}")


def _rcode(response: dns.message.Message) -> str:
    return dns.rcode.to_text(response.rcode())


def _answer(response: dns.message.Message, name: dns.name.Name, rdtype: int) -> dns.rrset.RRset | None:
    try:
        return response.find_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
    except KeyError:
        return None


def _cname(response: dns.message.Message, name: dns.name.Name) -> dns.rrset.RRset | None:
    return _answer(response, name, dns.rdatatype.CNAME)


def soa_serial(client: Client, server: Server, zone: dns.name.Name, *, sign: bool = False, tcp: bool = False) -> int:
    """The zone's SOA serial as ``server`` serves it authoritatively; NotAuthoritative otherwise."""
    response = client.query(server, zone, dns.rdatatype.SOA, sign=sign, tcp=tcp)
    rcode = response.rcode()
    soa = _answer(response, zone, dns.rdatatype.SOA)
    if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH) or rcode != dns.rcode.NOERROR or soa is None \
            or not response.flags & dns.flags.AA:
        found = _rcode(response) if rcode != dns.rcode.NOERROR else ("no SOA record" if soa is None else "an answer without the AA flag")
        raise NotAuthoritative(f"{server.label} is not authoritative for the zone {zone} (it answered {found}); check "
                               "the zone name and that the server is a primary or secondary of that zone")
    return int(soa[0].serial)


@dataclass
class Current:
    """What the primary serves for the wanted RRsets: key -> (ttl, rdata set); absent RRsets map to (None, {})."""

    serial: int
    rrsets: dict[tuple[dns.name.Name, int], tuple[int | None, frozenset]]


def read_primary(client: Client, server: Server, zone: dns.name.Name, wanted: list[Wanted]) -> Current:
    """Read the SOA and every wanted RRset from the primary, over TCP, signed when a key is given."""
    serial = soa_serial(client, server, zone, sign=True, tcp=True)
    rrsets: dict[tuple[dns.name.Name, int], tuple[int | None, frozenset]] = {}
    for item in wanted:
        response = client.query(server, item.name, item.rdtype, sign=True, tcp=True)
        rcode = response.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DNSError(f"{server.label} answered {_rcode(response)} for {item.label}; it should serve the zone {zone}")
        if not response.flags & dns.flags.AA:
            raise NotAuthoritative(f"{server.label} answered {item.label} without the AA flag: it is not authoritative "
                                   f"for {item.name}; is the name delegated to another zone below {zone}?")
        found = _answer(response, item.name, item.rdtype)
        if found is None and item.rdtype != dns.rdatatype.CNAME and _cname(response, item.name) is not None:
            raise DNSError(f"{item.name} is a CNAME on {server.label}; a {dns.rdatatype.to_text(item.rdtype)} record "
                           "cannot sit beside it (remove the CNAME first)")
        rrsets[item.key] = (found.ttl, frozenset(found)) if found is not None else (None, frozenset())
    return Current(serial=serial, rrsets=rrsets)


# ------------------------------------------------------------------------------------------------
# Compare and plan
# ------------------------------------------------------------------------------------------------
@dataclass
class Change:
    wanted: Wanted
    before_ttl: int | None
    before: frozenset
    after_ttl: int | None
    after: frozenset

    @property
    def added(self) -> list[dns.rdata.Rdata]:
        if self.before_ttl != self.after_ttl and self.after:
            return sorted(self.after, key=_sort_key)
        return sorted(self.after - self.before, key=_sort_key)

    @property
    def removed(self) -> list[dns.rdata.Rdata]:
        if self.before_ttl != self.after_ttl and self.after:
            return sorted(self.before, key=_sort_key)
        return sorted(self.before - self.after, key=_sort_key)


def _sort_key(rdata: dns.rdata.Rdata) -> str:
    return rdata.to_text()


def line(name: dns.name.Name, ttl: int | None, rdtype: int, rdata: dns.rdata.Rdata) -> str:
    """A zone-file line, as the diff and the results show records."""
    return f"{name.to_text()} {ttl if ttl is not None else ''} IN {dns.rdatatype.to_text(rdtype)} {rdata.to_text()}".replace("  ", " ")


def plan(wanted: list[Wanted], current: Current) -> list[Change]:
    """The RRsets that must change, compared by meaning (rdata objects and TTL)."""
    changes: list[Change] = []
    for item in wanted:
        ttl, have = current.rrsets.get(item.key, (None, frozenset()))
        if item.state == "exact":
            if have == item.values and ttl == item.ttl:
                continue
            after, after_ttl = item.values, item.ttl
        elif item.state == "present":
            if item.values <= have:
                continue  # every wanted value is there; the TTL of records others keep is theirs
            after, after_ttl = have | item.values, item.ttl
        else:
            after = have - item.values if item.values else frozenset()
            if after == have:
                continue
            after_ttl = ttl if after else None
        changes.append(Change(wanted=item, before_ttl=ttl, before=have, after_ttl=after_ttl, after=after))
    return changes


def diff_lines(changes: list[Change]) -> tuple[list[str], list[str]]:
    """(added lines, removed lines) of a plan, in input order."""
    added: list[str] = []
    removed: list[str] = []
    for change in changes:
        item = change.wanted
        removed.extend(line(item.name, change.before_ttl, item.rdtype, r) for r in change.removed)
        added.extend(line(item.name, change.after_ttl, item.rdtype, r) for r in change.added)
    return added, removed


def build_update(zone: dns.name.Name, changes: list[Change], tsig: Tsig | None) -> dns.update.UpdateMessage:
    """ONE update for the zone: a prerequisite per changed RRset (exactly as read, or absent), then the changes."""
    if tsig:
        update = dns.update.UpdateMessage(zone, keyring=tsig.keyring(), keyname=dns.name.from_text(tsig.name),
                                          keyalgorithm=tsig.algorithm)
    else:
        update = dns.update.UpdateMessage(zone)
    for change in changes:
        item = change.wanted
        if change.before:
            # Value-dependent prerequisite (RFC 2136 2.4.2, TTL 0): the RRset must still be exactly what was read.
            update.present(item.name, *sorted(change.before, key=_sort_key))
        else:
            update.absent(item.name, item.rdtype)
    for change in changes:
        item = change.wanted
        if not change.after:
            update.delete(item.name, item.rdtype)
        elif change.before and change.before_ttl != change.after_ttl:
            update.replace(item.name, dns.rdataset.from_rdata_list(change.after_ttl, sorted(change.after, key=_sort_key)))
        else:
            for rdata in change.removed:
                update.delete(item.name, rdata)
            if change.added:
                update.add(item.name, dns.rdataset.from_rdata_list(change.after_ttl, change.added))
    return update


def send_update(client: Client, server: Server, zone: dns.name.Name, update: dns.update.UpdateMessage) -> None:
    response = client.exchange(update, server, tcp=True, what=f"update of {zone}")
    rcode = response.rcode()
    if rcode == dns.rcode.NOERROR:
        return
    name = _rcode(response)
    if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):
        raise PrerequisiteFailed(
            f"{server.label} refused the update of {zone} ({name}): a record set changed between the read and the "
            "update (someone else is editing the zone); nothing was changed, run again to start from what is there now")
    if rcode == dns.rcode.NOTAUTH:
        raise NotAuthoritative(f"{server.label} refused the update of {zone} (NOTAUTH): it is not the primary for that "
                               "zone, or the TSIG key is not accepted for it")
    if rcode == dns.rcode.REFUSED:
        who = client.tsig.label if client.tsig else "an unsigned update"
        raise DNSError(f"{server.label} refused the update of {zone} (REFUSED): its update-policy does not allow {who} to "
                       "change these names and types; allow them in the zone's update-policy or use another key")
    raise DNSError(f"{server.label} refused the update of {zone} ({name})")


# ------------------------------------------------------------------------------------------------
# What every authoritative server serves
# ------------------------------------------------------------------------------------------------
def authoritative_servers(client: Client, primary: Server | None, zone: dns.name.Name, *, port: int = 53) -> list[Server]:
    """The zone's NS set, each name turned into addresses: asked of the primary (in-zone data and glue),
    then of this machine's resolver for names outside the zone."""
    if primary is None:
        raise DNSError("give server (the primary, to read the zone's NS set from) or servers (the list to check)")
    response = client.query(primary, zone, dns.rdatatype.NS, sign=True, tcp=True)
    ns = _answer(response, zone, dns.rdatatype.NS)
    if response.rcode() != dns.rcode.NOERROR or ns is None:
        raise NotAuthoritative(f"{primary.label} has no NS records for {zone} (answered {_rcode(response)}); "
                               "give servers explicitly")
    servers: list[Server] = []
    for target in sorted((rdata.target for rdata in ns), key=lambda n: n.to_text()):
        addresses: list[str] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            answer = client.query(primary, target, rdtype, sign=True, tcp=True)
            found = _answer(answer, target, rdtype)
            if found is None:
                for rrset in answer.additional:
                    if rrset.name == target and rrset.rdtype == rdtype:
                        found = rrset
            if found is not None:
                addresses.extend(rdata.address for rdata in found)
        if not addresses:
            addresses = _resolve_host(target.to_text(omit_final_dot=True), option=f"NS {target}")
        servers.extend(Server(address=address, port=port, name=target.to_text(omit_final_dot=True))
                       for address in dict.fromkeys(addresses))
    return servers


def serves(item: Wanted, have: frozenset) -> bool:
    """Whether an RRset as served satisfies the wanted one."""
    if item.state == "exact":
        return have == item.values
    if item.state == "present":
        return item.values <= have
    return not (have & item.values) if item.values else not have


def check_servers(client: Client, servers: list[Server], zone: dns.name.Name, wanted: list[Wanted]) -> list[dict[str, t.Any]]:
    """Per server: its SOA serial and, per wanted RRset, whether it serves it (asked directly, no recursion)."""
    reports = []
    for server in servers:
        report: dict[str, t.Any] = {"server": server.name or server.address, "address": server.address,
                                    "port": server.port, "serial": None, "error": None, "rrsets": [], "missing": [],
                                    "ok": False}
        try:
            report["serial"] = soa_serial(client, server, zone)
            for item in wanted:
                response = client.query(server, item.name, item.rdtype)
                found = _answer(response, item.name, item.rdtype)
                have = frozenset(found) if found is not None else frozenset()
                ok = bool(response.flags & dns.flags.AA) and response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) \
                    and serves(item, have)
                report["rrsets"].append({
                    "name": item.name.to_text(), "type": dns.rdatatype.to_text(item.rdtype), "state": item.state,
                    "served": ok, "ttl": found.ttl if found is not None else None,
                    "values": sorted(r.to_text() for r in have),
                })
                if not ok:
                    report["missing"].append(item.label)
        except DNSError as exc:
            report["error"] = str(exc)
            report["missing"] = [item.label for item in wanted]
        report["ok"] = report["error"] is None and not report["missing"]
        reports.append(report)
    return reports


def ask_resolver(client: Client, resolver: Server, wanted: list[Wanted]) -> list[dict[str, t.Any]]:
    """Ask a validating resolver (recursion, DO bit) for each RRset: its rcode, AD flag and whether the answer fits."""
    out = []
    for item in wanted:
        entry: dict[str, t.Any] = {"name": item.name.to_text(), "type": dns.rdatatype.to_text(item.rdtype),
                                   "resolver": resolver.label, "rcode": None, "ad": False, "served": False,
                                   "values": [], "error": None}
        try:
            response = client.query(resolver, item.name, item.rdtype, recursion=True, dnssec=True)
            found = _answer(response, item.name, item.rdtype)
            have = frozenset(found) if found is not None else frozenset()
            entry.update(rcode=_rcode(response), ad=bool(response.flags & dns.flags.AD), served=serves(item, have),
                         values=sorted(r.to_text() for r in have))
        except DNSError as exc:
            entry["error"] = str(exc)
        out.append(entry)
    return out


def all_served(reports: list[dict[str, t.Any]], resolver: list[dict[str, t.Any]] | None = None) -> bool:
    ok = bool(reports) and all(report["ok"] for report in reports)
    if resolver is not None:
        ok = ok and all(entry["served"] and entry["ad"] for entry in resolver)
    return ok


Clock = t.Callable[[], float]
Sleep = t.Callable[[float], None]


def wait_for(probe: t.Callable[[], tuple[bool, t.Any]], *, timeout: float, interval: float = 1.0,
             clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> tuple[bool, t.Any, float]:
    """Call ``probe`` until it says done or ``timeout`` seconds have passed: (done, last result, seconds waited)."""
    start = clock()
    while True:
        done, result = probe()
        waited = clock() - start
        if done or waited >= timeout:
            return done, result, waited
        sleep(min(interval, max(0.0, timeout - waited)))


# ------------------------------------------------------------------------------------------------
# The rollover gate: when was each record first served by every authoritative server?
# ------------------------------------------------------------------------------------------------
class Ledger:
    """A small JSON file on the controller: record line -> first time every authoritative server served it.

    Reads and writes hold an exclusive lock on a sibling ``.lock`` file, so hosts that share a zone can
    record at the same time; writes are atomic (temporary file, fsync, rename).
    """

    def __init__(self, path: str) -> None:
        self.path = path

    @contextlib.contextmanager
    def locked(self) -> t.Iterator[dict[str, float]]:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            lock = open(self.path + ".lock", "a", encoding="utf-8")
        except OSError as exc:
            raise DNSError(f"served_since_path: cannot use {self.path}: {exc.strerror}") from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            entries = self._read()
            before = dict(entries)
            yield entries
            if entries != before:
                self._write(entries)

    def read(self) -> dict[str, float]:
        return self._read()

    def _read(self) -> dict[str, float]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise DNSError(f"served_since_path: {self.path} cannot be read as the JSON ledger this module writes ({exc}); "
                           "remove it (the next check starts counting again)") from None
        records = data.get("first_served_everywhere", {}) if isinstance(data, dict) else {}
        return {str(k): float(v) for k, v in records.items() if isinstance(v, (int, float))}

    def _write(self, entries: dict[str, float]) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        payload = json.dumps({"first_served_everywhere": dict(sorted(entries.items()))}, indent=1).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".served-since.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise DNSError(f"served_since_path: cannot write {self.path}: {exc.strerror}") from None


def record_lines(item: Wanted) -> list[str]:
    """The ledger keys of an RRset: one line per value, without TTL (a TTL change is not a new record)."""
    return [f"{item.name.to_text()} IN {dns.rdatatype.to_text(item.rdtype)} {rdata.to_text()}"
            for rdata in sorted(item.values, key=_sort_key)]


def observe(entries: dict[str, float], wanted: list[Wanted], reports: list[dict[str, t.Any]], now: float) -> None:
    """Update ledger entries in place: a record served by every server keeps (or gets) its first time; a record
    some server lacks starts again from zero."""
    for item in wanted:
        if item.state == "absent":
            continue
        for rdata, key in zip(sorted(item.values, key=_sort_key), record_lines(item)):
            everywhere = bool(reports) and all(_server_has(report, item, rdata) for report in reports)
            if everywhere:
                entries.setdefault(key, now)
            else:
                entries.pop(key, None)


def _server_has(report: dict[str, t.Any], item: Wanted, rdata: dns.rdata.Rdata) -> bool:
    if report.get("error"):
        return False
    for entry in report["rrsets"]:
        if entry["name"] == item.name.to_text() and entry["type"] == dns.rdatatype.to_text(item.rdtype):
            return rdata.to_text() in entry["values"]
    return False


def judge_gate(
    wanted: list[Wanted], reports: list[dict[str, t.Any]], entries: dict[str, float], *, now: float, min_ttl: int,
) -> dict[str, t.Any]:
    """Is every wanted record served by every server, and for at least twice its TTL? With the reasons if not."""
    records = []
    for item in wanted:
        served_ttls = [entry["ttl"] for report in reports for entry in report.get("rrsets", [])
                       if entry["name"] == item.name.to_text() and entry["ttl"] is not None]
        ttl = max([min_ttl, item.ttl, *served_ttls])
        for rdata, key in zip(sorted(item.values, key=_sort_key), record_lines(item)):
            lacking = [f"{r['server']} ({r['address']})" + (f": {r['error']}" if r.get("error") else "")
                       for r in reports if not _server_has(r, item, rdata)]
            first = entries.get(key)
            served_for = max(0.0, now - first) if first is not None and not lacking else 0.0
            hold = 2 * ttl
            records.append({
                "record": key, "servers_lacking": lacking, "first_served_everywhere": first if not lacking else None,
                "served_for": int(served_for), "required": hold, "left": 0 if not lacking and served_for >= hold
                else int(hold - served_for + 0.999), "ready": not lacking and served_for >= hold,
            })
    ready = bool(records) and all(r["ready"] for r in records)
    reasons = []
    for r in records:
        if r["servers_lacking"]:
            reasons.append(f"{r['record']} is not served by {', '.join(r['servers_lacking'])} (then 2xTTL = {r['required']} s "
                           "must pass)")
        elif not r["ready"]:
            reasons.append(f"{r['record']} has been served by every authoritative server for {r['served_for']} s; "
                           f"2xTTL = {r['required']} s, {r['left']} s left")
    return {"ready": ready, "records": records, "reasons": reasons,
            "left": max([r["left"] for r in records if not r["servers_lacking"]] or [0])}


# ------------------------------------------------------------------------------------------------
# Shared by the modules: the connection options, and the check of every authoritative server
# ------------------------------------------------------------------------------------------------
def connection_argument_spec(*, server_required: bool) -> dict[str, dict[str, t.Any]]:
    """The options every DNS module shares (documented in the postmaster.tls.dns doc fragment)."""
    return {
        "zone": {"type": "str", "required": True},
        "server": {"type": "str", "required": server_required},
        "port": {"type": "int", "default": 53},
        "tsig_key_name": {"type": "str"},
        "tsig_algorithm": {"type": "str", "default": "hmac-sha256", "choices": list(TSIG_ALGORITHMS)},
        "tsig_secret": {"type": "str", "no_log": True},
        "servers": {"type": "list", "elements": "str"},
        "timeout": {"type": "float", "default": 5.0},
        "wait_timeout": {"type": "int", "default": 0},
        "wait_interval": {"type": "float", "default": 1.0},
    }


def rrsets_argument_spec() -> dict[str, dict[str, t.Any]]:
    """The wanted record sets, as dns_rrsets and dns_rrsets_info take them."""
    return {
        "rrsets": {"type": "list", "elements": "dict", "required": True, "options": {
            "name": {"type": "str"},
            "type": {"type": "str"},
            "values": {"type": "list", "elements": "str"},
            "records": {"type": "list", "elements": "str"},
            "ttl": {"type": "int"},
            "state": {"type": "str", "default": "exact", "choices": list(STATES)},
        }},
        "ttl": {"type": "int", "default": 3600},
        "resolver": {"type": "str"},
    }


@dataclass
class Connection:
    zone: dns.name.Name
    primary: Server | None
    client: Client
    explicit_servers: list[Server] | None
    port: int
    wait_timeout: int
    wait_interval: float

    def servers(self) -> list[Server]:
        """The servers to check: the given list, else the zone's NS set as the primary serves it."""
        if self.explicit_servers:
            return self.explicit_servers
        return authoritative_servers(self.client, self.primary, self.zone, port=53)


def connection(params: dict[str, t.Any]) -> Connection:
    """Check the shared options and build the connection; DNSError names the option at fault."""
    zone = parse_zone(params["zone"])
    port = _port(params.get("port", 53), option="port")
    timeout = 5.0 if params.get("timeout") is None else params["timeout"]
    if not 0 < float(timeout) <= 300:
        raise DNSError(f"timeout: {timeout!r} is out of range; give seconds between 0 and 300 (per exchange)")
    wait = 0 if params.get("wait_timeout") is None else params["wait_timeout"]
    if not 0 <= int(wait) <= 86400:
        raise DNSError(f"wait_timeout: {wait!r} is out of range; give seconds between 0 and 86400")
    interval = 1.0 if params.get("wait_interval") is None else params["wait_interval"]
    if not 0.1 <= float(interval) <= 600:
        raise DNSError(f"wait_interval: {interval!r} is out of range; give seconds between 0.1 and 600")
    tsig = parse_tsig(params.get("tsig_key_name"), params.get("tsig_algorithm") or "hmac-sha256", params.get("tsig_secret"))
    primary = parse_server(params["server"], port=port, option="server") if params.get("server") else None
    explicit = [parse_server(entry, option=f"servers[{index}]")
                for index, entry in enumerate(params.get("servers") or [], start=1)]
    if primary is None and not explicit:
        raise DNSError("give server (the primary, whose NS set is checked) or servers (the servers to check)")
    return Connection(zone=zone, primary=primary, client=Client(timeout=float(timeout), tsig=tsig),
                      explicit_servers=explicit or None, port=port, wait_timeout=int(wait), wait_interval=float(interval))


def check_all(conn: Connection, wanted: list[Wanted], *, resolver: Server | None = None, wait: bool,
              clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> dict[str, t.Any]:
    """Ask every authoritative server (and the resolver, for TLSA RRsets) until all serve or the wait is over."""
    servers = conn.servers()
    tlsa = [item for item in wanted if item.rdtype == dns.rdatatype.TLSA]

    def probe() -> tuple[bool, tuple[list[dict[str, t.Any]], list[dict[str, t.Any]] | None]]:
        reports = check_servers(conn.client, servers, conn.zone, wanted)
        answers = ask_resolver(conn.client, resolver, tlsa) if resolver is not None and tlsa else None
        return all_served(reports, answers), (reports, answers)

    done, (reports, answers), waited = wait_for(probe, timeout=conn.wait_timeout if wait else 0,
                                                interval=conn.wait_interval, clock=clock, sleep=sleep)
    return {"all_served": done, "servers": reports, "resolver": answers, "waited": round(waited, 1)}


def missing_summary(check: dict[str, t.Any]) -> str:
    """'ns2.example.org (192.0.2.2) lacks _25._tcp.mx.example.org. TLSA; resolver ...' for messages."""
    parts = []
    for report in check["servers"]:
        if report["error"]:
            parts.append(f"{report['server']} ({report['address']}): {report['error']}")
        elif report["missing"]:
            parts.append(f"{report['server']} ({report['address']}, serial {report['serial']}) lacks "
                         + ", ".join(report["missing"]))
    for entry in check.get("resolver") or []:
        if entry["error"]:
            parts.append(f"resolver {entry['resolver']}: {entry['error']}")
        elif not entry["served"] or not entry["ad"]:
            parts.append(f"resolver {entry['resolver']} answers {entry['name']} {entry['type']} "
                         f"{'without' if not entry['ad'] else 'with'} AD and {'other' if not entry['served'] else 'the wanted'} data")
    return "; ".join(parts)


def _rrset_lines(wanted: list[Wanted], rrsets: dict[tuple[dns.name.Name, int], tuple[int | None, frozenset]]) -> str:
    out = []
    for item in wanted:
        ttl, values = rrsets.get(item.key, (None, frozenset()))
        out.extend(line(item.name, ttl, item.rdtype, rdata) for rdata in sorted(values, key=_sort_key))
    return "".join(f"{each}\n" for each in out)


def apply(params: dict[str, t.Any], *, check_mode: bool, clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
          now: t.Callable[[], float] = time.time) -> dict[str, t.Any]:
    """dns_rrsets: read, compare, send one update (not in check mode), then ask every server."""
    conn = connection(params)
    wanted = parse_wanted(conn.zone, params["rrsets"], default_ttl=params.get("ttl", 3600))
    resolver = parse_server(params["resolver"], option="resolver") if params.get("resolver") else None
    if conn.primary is None:
        raise DNSError("server: give the zone's primary, which takes the update")
    current = read_primary(conn.client, conn.primary, conn.zone, wanted)
    changes = plan(wanted, current)
    added, removed = diff_lines(changes)
    after_rrsets = dict(current.rrsets)
    for change in changes:
        after_rrsets[change.wanted.key] = (change.after_ttl, change.after)
    serial_after = current.serial
    if changes and not check_mode:
        send_update(conn.client, conn.primary, conn.zone, build_update(conn.zone, changes, conn.client.tsig))
        serial_after = soa_serial(conn.client, conn.primary, conn.zone, sign=True, tcp=True)
    check = check_all(conn, wanted, resolver=resolver, wait=not check_mode, clock=clock, sleep=sleep)
    if params.get("served_since_path") and not check_mode:
        with Ledger(params["served_since_path"]).locked() as entries:
            observe(entries, wanted, check["servers"], now())
    zone_text = conn.zone.to_text()
    return {
        "changed": bool(changes), "zone": zone_text, "added": added, "removed": removed,
        "serial_before": current.serial, "serial_after": serial_after, **check,
        "missing_summary": missing_summary(check),
        "diff_text": {"before": _rrset_lines(wanted, current.rrsets), "after": _rrset_lines(wanted, after_rrsets),
                      "before_header": f"{zone_text} (primary {conn.primary.label})",
                      "after_header": f"{zone_text} (primary {conn.primary.label})"},
    }


def info(params: dict[str, t.Any], *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> dict[str, t.Any]:
    """dns_rrsets_info: ask every server (and the resolver), waiting when asked; never changes anything."""
    conn = connection(params)
    wanted = parse_wanted(conn.zone, params["rrsets"], default_ttl=params.get("ttl", 3600))
    resolver = parse_server(params["resolver"], option="resolver") if params.get("resolver") else None
    check = check_all(conn, wanted, resolver=resolver, wait=True, clock=clock, sleep=sleep)
    return {"changed": False, "zone": conn.zone.to_text(), **check, "missing": missing_summary(check)}


def tlsa_wanted(zone: dns.name.Name, *, name: t.Any, ports: list[int], digests: list[t.Any], ttl: int) -> list[Wanted]:
    """The DANE-EE SPKI SHA-256 (3 1 1) records of ``digests`` at ``_PORT._tcp.<name>``, as 'present' RRsets."""
    owner = _owner(name if str(name).endswith(".") else f"{name}.", zone, option="name")
    clean = []
    for index, digest in enumerate(digests, start=1):
        text = check_text(digest, option=f"digests[{index}]").strip().replace(":", "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", text):
            raise DNSError(f"digests[{index}]: {digest!r} is not a SHA-256 digest (64 hex digits, as spki_sha256 is returned)")
        clean.append(text)
    if not clean:
        raise DNSError("digests: no key to look for; give the next keys' spki_sha256 digests")
    if not ports:
        raise DNSError("ports: give at least one port, such as [25]")
    rdatas = frozenset(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, f"3 1 1 {d}") for d in clean)
    return [Wanted(name=dns.name.from_text(f"_{_port(port, option='ports')}._tcp", origin=owner), rdtype=dns.rdatatype.TLSA,
                   ttl=ttl, values=rdatas, state="present", source="digests") for port in dict.fromkeys(ports)]


def _replacing(entries: t.Any) -> list[dict[str, str]]:
    """The keys a run would replace in place (dane_keys_info's ``replaced``), checked."""
    if not isinstance(entries, list):
        raise DNSError("replacing: expected a list of dictionaries with path, key_type and reason")
    out = []
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not entry.get("path"):
            raise DNSError(f"replacing[{index}]: expected a dictionary with path, key_type and reason")
        out.append({key: check_text(str(entry.get(key) or ""), option=f"replacing[{index}].{key}")
                    for key in ("name", "key_type", "path", "reason")})
    return out


def replacement_reasons(replacing: list[dict[str, str]], *, name: str) -> list[str]:
    out = []
    for entry in replacing:
        key = " ".join(part for part in ("the served", entry["key_type"], "key", entry["path"]) if part)
        out.append(f"this run would replace {key} in place ({entry['reason'] or 'its key policy replaces it'}): its "
                   f"TLSA 3 1 1 record cannot be served for 2xTTL before the new key is, and DANE senders would defer "
                   f"mail to {name}")
    return out


def gate(params: dict[str, t.Any], *, check_mode: bool, clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
         now: t.Callable[[], float] = time.time) -> dict[str, t.Any]:
    """dane_rollover_gate: every server serves the next keys' 3 1 1 records, for at least 2xTTL? And no served key
    is replaced in place (its record could not be published first)?"""
    conn = connection(params)
    min_ttl = _ttl(params.get("ttl", 0) or 0, option="ttl")
    replacing = _replacing(params.get("replacing") or [])
    digests = params.get("digests") or []
    name = check_text(params["name"], option="name").strip()
    verdict: dict[str, t.Any] = {"ready": True, "records": [], "servers": [], "reasons": [], "left": 0}
    done, waited = True, 0.0
    if digests or not replacing:
        wanted = tlsa_wanted(conn.zone, name=name, ports=params.get("ports") or [25], digests=digests, ttl=min_ttl)
        ledger = Ledger(params["served_since_path"])
        servers = conn.servers()

        def probe() -> tuple[bool, dict[str, t.Any]]:
            reports = check_servers(conn.client, servers, conn.zone, wanted)
            moment = now()
            if check_mode:
                entries = ledger.read()
                observe(entries, wanted, reports, moment)
            else:
                with ledger.locked() as entries:
                    observe(entries, wanted, reports, moment)
            result = judge_gate(wanted, reports, entries, now=moment, min_ttl=min_ttl)
            result["servers"] = reports
            return result["ready"], result

        # Waiting only makes sense while the ledger records (not in check mode): time must be able to pass.
        # A refused key replacement is not a matter of time: no waiting then.
        done, verdict, waited = wait_for(probe, timeout=0 if check_mode or replacing else conn.wait_timeout,
                                         interval=conn.wait_interval, clock=clock, sleep=sleep)
    ready = done and not replacing
    forced = bool(params.get("force")) and not ready
    parts = []
    if not done:
        parts.append("certificate_rollover=switch refused: " + "; ".join(verdict["reasons"])
                     + ". Run the switch again later (certificate_rollover_force=true overrides, for a compromised key).")
    if replacing:
        parts.append("Key replacement refused: " + "; ".join(replacement_reasons(replacing, name=name))
                     + ". With the TLSA records published through RFC 2136 (dns_records_publish=rfc2136), move to a new key "
                     "with certificate_rollover=prepare, then certificate_rollover=switch (the switch waits until every "
                     "authoritative server has served the new key's record for 2xTTL); certificate_rollover_force=true "
                     "goes on now (for a lost or compromised key; DANE senders may defer mail until DNS catches up).")
    if ready:
        message = ("every authoritative server has served the next keys' TLSA records for at least 2xTTL: the switch may go on"
                   if digests else "no served key is replaced in place")
    else:
        message = " ".join(parts)
    return {"changed": False, "ready": ready, "forced": forced, "message": message, "records": verdict["records"],
            "servers": verdict["servers"], "left": verdict["left"], "waited": round(waited, 1), "replacing": replacing}
