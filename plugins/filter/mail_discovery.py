# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client-discovery records for a mail domain, on the controller: the RFC 6186/8314 SRV lines.

The rendering is ``_discovery``'s, the same the ``mail_discovery`` module uses, so the zone-file lines
of the ``dns_records`` role and the module's records cannot differ. ``mail_srv_pool`` joins the SRV
lines of every host that serves one mail domain into the one set DNS can hold. Documentation next to
this file (``mail_srv_records.yml``, ``mail_srv_pool.yml``).
"""

from __future__ import annotations

import re
import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.postmaster.tls.plugins.module_utils import _discovery

# The SRV lines _discovery.srv_records renders: owner, optional TTL, IN SRV priority weight port target.
_SRV_LINE = re.compile(r"^(?P<owner>\S+)(?:\s+(?P<ttl>\d+))?\s+IN\s+SRV\s+\d+\s+\d+\s+\d+\s+(?P<target>\S+)$")


def _first_named_mx(entry: t.Mapping[str, t.Any]) -> t.Any:
    """The entry's first MX name that is not a ``*.`` pattern (MTA-STS allows those; a target cannot be one)."""
    mx = entry.get("mx")
    names = [mx] if isinstance(mx, str) else mx if isinstance(mx, (list, tuple)) else []
    return next((name for name in names if isinstance(name, str) and not name.strip().startswith("*.")), None)


def mail_srv_records(domain: t.Any, mail_host: t.Any = None, services: t.Any = None, ttl: t.Any = _discovery.DEFAULT_TTL) -> list[str]:
    """The six SRV lines of one mail domain (a name, or an entry of ``dns_records_domains``).

    The target is the entry's ``mail_host``, else ``mail_host``, else the entry's first MX name that is
    not a pattern: a property of the domain, so every host publishing the domain's records names the same one.
    """
    entry = {"name": domain} if isinstance(domain, str) else domain
    if not isinstance(entry, dict):
        raise AnsibleFilterError(f"mail_srv_records needs a domain name or a domain entry (a dictionary), got {domain!r}")
    if mail_host is None and entry.get("mail_host") is None:
        mail_host = _first_named_mx(entry)
    defaults = {"mail_host": mail_host, "services": services, "ttl": ttl}
    try:
        return _discovery.srv_records(_discovery.build_domain(entry, defaults=defaults))
    except _discovery.DiscoveryError as exc:
        raise AnsibleFilterError(str(exc)) from None


def _srv_sets(value: t.Any, *, what: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, t.Mapping) or not all(isinstance(lines, list) for lines in value.values()):
        raise AnsibleFilterError(f"mail_srv_pool: {what} must map mail domains to lists of SRV lines "
                                 f"(as mail_srv_records returns them), got {value!r}")
    return dict(value)


def _same_domain(sets: dict[str, list[str]], domain: str) -> list[str]:
    """The lines ``sets`` holds for ``domain``, compared as DNS names (case, trailing dot)."""
    key = domain.rstrip(".").lower()
    return [line for name, lines in sets.items() if str(name).rstrip(".").lower() == key for line in lines]


def _merge_srv(domain: str, line_sets: list[list[t.Any]]) -> list[str]:
    """One record set per owner: every host's records; the "not offered" target only when no host offers it."""
    owners: dict[str, list[tuple[str, t.Any, str]]] = {}
    for lines in line_sets:
        for text in lines:
            match = _SRV_LINE.match(text.strip()) if isinstance(text, str) else None
            if match is None:
                raise AnsibleFilterError(f"mail_srv_pool: {text!r} (for {domain}) is not an SRV line as mail_srv_records writes it")
            entry = (" ".join(text.split()), match["ttl"], match["target"])
            records = owners.setdefault(match["owner"].lower(), [])
            if entry not in records:
                records.append(entry)
    merged = []
    for owner, records in owners.items():
        ttls = {ttl for _text, ttl, _target in records}
        if len(ttls) > 1:
            raise AnsibleFilterError(
                f"mail_srv_pool: the hosts serving {domain} give {owner} different TTLs "
                f"({', '.join(sorted(str(ttl or 'none') for ttl in ttls))}); one record set has one TTL: "
                "give them the same dns_records_ttl")
        offered = [text for text, _ttl, target in records if target != "."]
        merged += offered or [records[0][0]]
    return merged


def mail_srv_pool(own: t.Any, pool: t.Any = None) -> dict[str, list[str]]:
    """This host's SRV lines per mail domain, joined with those of every other host serving the same domain.

    Several hosts can serve one mail domain (each naming itself as the mail host): DNS holds one SRV
    record set per service, so it lists every host that offers the service (clients share the load by
    weight), and the "not offered" target ``.`` only when none does (RFC 2782: ``.`` must stand alone).
    Hosts are taken in ``pool`` order, so every host computes the same lines.
    """
    mine = _srv_sets(own, what="the input")
    if pool is not None and (isinstance(pool, (str, t.Mapping)) or not isinstance(pool, t.Iterable)):
        raise AnsibleFilterError(f"mail_srv_pool: the pool must be a list of every host's SRV lines per domain, got {pool!r}")
    others = [_srv_sets(item, what=f"pool[{index}]") for index, item in enumerate(pool or [], start=1)]
    return {domain: _merge_srv(domain, [_same_domain(other, domain) for other in others] + [lines])
            for domain, lines in mine.items()}


class FilterModule:
    """Mail client discovery records."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"mail_srv_records": mail_srv_records, "mail_srv_pool": mail_srv_pool}
