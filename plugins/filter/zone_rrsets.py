# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The dns_records role's records, grouped per DNS zone for one RFC 2136 update each.

``zone_rrsets`` turns the role's fact ``dns_records_records`` (TLSA of the MX host; MTA-STS, TLS-RPT and
SRV per mail domain) into the ``zone``/``rrsets`` pairs that ``postmaster.tls.dns_rrsets`` takes, so the
role's task stays one line of wiring. Documentation next to this file (``zone_rrsets.yml``).
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.postmaster.tls.plugins.module_utils import _discovery


def _mapping(value: t.Any, *, what: str) -> t.Mapping[str, t.Any]:
    if not isinstance(value, t.Mapping):
        raise AnsibleFilterError(f"zone_rrsets: {what} must be the dns_records role's dns_records_records (a dictionary), got {value!r}")
    return value


def _name(value: t.Any, *, what: str) -> str:
    try:
        return _discovery.hostname(value, what=what)
    except _discovery.DiscoveryError as exc:
        raise AnsibleFilterError(f"zone_rrsets: {exc}") from None


def _lines(value: t.Any, *, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, t.Iterable) or not all(isinstance(line, str) for line in value):
        raise AnsibleFilterError(f"zone_rrsets: {what} must be a list of zone-file lines, got {value!r}")
    return list(value)


def _retire(value: t.Any) -> bool:
    try:
        return boolean(value, strict=False)
    except TypeError:
        return False


def _tlsa_rrset(records: t.Mapping[str, t.Any], pool: list[t.Mapping[str, t.Any]]) -> dict[str, t.Any] | None:
    """One TLSA set per MX name: every key any host answering for that name serves.

    Exact (records of retired keys go) only when every such host lets them go; otherwise present.
    """
    if not _lines(records.get("tlsa"), what="tlsa"):
        return None
    members = [member for member in pool if member.get("mx_name") == records.get("mx_name")]
    if records not in members:
        members.append(records)
    lines = list(dict.fromkeys(line for member in members for line in _lines(member.get("tlsa"), what="tlsa of a pool member")))
    exact = all(_retire(member.get("tlsa_retire", False)) for member in members)
    return {"records": lines, "state": "exact" if exact else "present"}


def _srv_of(records: t.Mapping[str, t.Any], domain: str) -> list[str]:
    srv = records.get("srv") or {}
    if not isinstance(srv, t.Mapping):
        raise AnsibleFilterError(f"zone_rrsets: srv must map mail domains to SRV lines, got {srv!r}")
    return [line for name, lines in srv.items() if str(name).rstrip(".").lower() == domain
            for line in _lines(lines, what=f"srv of {name}")]


def zone_rrsets(records: t.Any, pool: t.Any = None) -> list[dict[str, t.Any]]:
    """Per zone (the TLSA zone first, then the mail domains' zones in order): ``{zone, rrsets}``.

    A mail domain's records (``_mta-sts``, ``_smtp._tls``, ``_imaps._tcp`` ...) go into the domain's zone
    (its entry's ``zone``, default the domain), which must hold the domain. Zones are compared as DNS
    names; each keeps the spelling it was first given in. Zones with nothing to publish are left out.
    """
    mine = _mapping(records, what="the input")
    if pool is not None and (isinstance(pool, (str, t.Mapping)) or not isinstance(pool, t.Iterable)):
        raise AnsibleFilterError(f"zone_rrsets: the pool must be a list of every host's dns_records_records, got {pool!r}")
    members = [_mapping(member, what=f"pool[{index}]") for index, member in enumerate(pool or [], start=1)]
    zones: dict[str, dict[str, t.Any]] = {}

    def bucket(zone: t.Any, *, what: str) -> list[dict[str, t.Any]]:
        entry = zones.setdefault(_name(zone, what=what), {"zone": zone, "rrsets": []})
        return entry["rrsets"]

    tlsa = _tlsa_rrset(mine, members)
    if tlsa is not None:
        bucket(mine.get("zone"), what="zone (dns_records_zone)").append(tlsa)

    per_zone: dict[str, tuple[t.Any, list[str]]] = {}
    domains = mine.get("domains") or {}
    if not isinstance(domains, t.Mapping):
        raise AnsibleFilterError(f"zone_rrsets: domains must map mail domains to their records, got {domains!r}")
    for name, entry in domains.items():
        entry = _mapping(entry, what=f"domains[{name!r}]")
        domain = _name(name, what="dns_records_domains[].name")
        zone_text = entry.get("zone") or name
        zone = _name(zone_text, what=f"the zone of {domain}")
        if domain != zone and not domain.endswith("." + zone):
            raise AnsibleFilterError(
                f"zone_rrsets: the mail domain {domain} is not inside its zone {zone}: its _mta-sts, _smtp._tls and SRV "
                f"names belong to the zone that holds the domain; set the entry's zone to it (default: the domain itself)")
        lines = [line for line in (entry.get("mta_sts_record"), entry.get("tls_rpt_record")) if line]
        lines += _srv_of(mine, domain)
        if lines:
            per_zone.setdefault(zone, (zone_text, []))[1].extend(lines)
    for zone_text, lines in per_zone.values():
        bucket(zone_text, what="zone").append({"records": list(dict.fromkeys(lines))})
    return [entry for entry in zones.values() if entry["rrsets"]]


class FilterModule:
    """The dns_records role's RFC 2136 work per zone."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"zone_rrsets": zone_rrsets}
