# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client-discovery records for a mail domain, on the controller: the RFC 6186/8314 SRV lines.

The rendering is ``_discovery``'s, the same the ``mail_discovery`` module uses, so the zone-file lines
of the ``dns_records`` role and the module's records cannot differ. Documentation next to this file
(``mail_srv_records.yml``).
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.postmaster.tls.plugins.module_utils import _discovery


def mail_srv_records(domain: t.Any, mail_host: t.Any = None, services: t.Any = None, ttl: t.Any = _discovery.DEFAULT_TTL) -> list[str]:
    """The six SRV lines of one mail domain (a name, or an entry of ``dns_records_domains``)."""
    entry = {"name": domain} if isinstance(domain, str) else domain
    if not isinstance(entry, dict):
        raise AnsibleFilterError(f"mail_srv_records needs a domain name or a domain entry (a dictionary), got {domain!r}")
    defaults = {"mail_host": mail_host, "services": services, "ttl": ttl}
    try:
        return _discovery.srv_records(_discovery.build_domain(entry, defaults=defaults))
    except _discovery.DiscoveryError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """Mail client discovery records."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"mail_srv_records": mail_srv_records}
