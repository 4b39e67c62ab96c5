# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: audit_rows
short_description: One audit row per installed certificate of a host, with its status
version_added: 0.2.0
author: postmaster.tls contributors (@postmaster-tls)
description:
  - Turns a host's certificate facts (RV(postmaster.tls.certificate_info#module:certificates)) and the outcome of
    M(postmaster.tls.mail_tls_verify) into the rows that C(playbooks/audit.yml) reports and writes to its JSON file.
  - The status of a row is V(EXPIRED) (no days left), V(EXPIRING) (fewer than O(warn_days)), V(PORTS-FAIL) (the
    certificate is valid, but a port failed verification) or V(ok).
options:
  _input:
    description: The host's certificate facts.
    type: list
    elements: dict
    required: true
  host:
    description: The host's name, for the rows.
    type: str
    required: true
  verify:
    description: The result of M(postmaster.tls.mail_tls_verify) on that host; its RV(postmaster.tls.mail_tls_verify#module:failed_endpoints) count.
    type: dict
    default: {}
  warn_days:
    description: Fewer days remaining than this make a row V(EXPIRING).
    type: int
    default: 21
"""

EXAMPLES = r"""
---
- name: Summarise this host
  ansible.builtin.set_fact:
    rows: "{{ certs.certificates | postmaster.tls.audit_rows(host=inventory_hostname, verify=ports, warn_days=30) }}"
"""

RETURN = r"""
_value:
  description:
    - One dictionary per certificate - C(host), C(path), C(names) (DNS names without the C(DNS:) prefix), C(issuer), C(key)
      (type and curve or size), C(not_after), C(days_remaining), C(spki_sha256), C(ports_failed), C(port_failures), C(status).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError


def _status(days, *, warn_days: int, ports_failed: bool) -> str:
    if not isinstance(days, int) or days < 0:
        return "EXPIRED"
    if days < warn_days:
        return "EXPIRING"
    return "PORTS-FAIL" if ports_failed else "ok"


def audit_rows(certificates, host, verify=None, warn_days=21):
    if not isinstance(certificates, (list, tuple)) or not all(isinstance(c, dict) for c in certificates):
        raise AnsibleFilterError("postmaster.tls.audit_rows expects the list of certificate facts of postmaster.tls.certificate_info")
    try:
        warn_days = int(warn_days)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"postmaster.tls.audit_rows: warn_days {warn_days!r} is not a whole number of days") from None
    failed = (verify or {}).get("failed_endpoints") or []
    ports_failed = [item.get("endpoint", "?") for item in failed]
    port_failures: list[str] = []
    for item in failed:
        port_failures += [f for f in item.get("failures") or [] if f not in port_failures]
    rows = []
    for cert in certificates:
        names = [name[4:] if str(name).startswith("DNS:") else str(name) for name in cert.get("subject_alt_names") or []]
        rows.append({
            "host": host,
            "path": cert.get("path"),
            "names": names,
            "issuer": cert.get("issuer"),
            "key": f"{cert.get('key_type')} {cert.get('key_curve') or cert.get('key_size')}",
            "not_after": cert.get("not_after"),
            "days_remaining": cert.get("days_remaining"),
            "spki_sha256": cert.get("spki_sha256"),
            "ports_failed": ports_failed,
            "port_failures": port_failures,
            "status": _status(cert.get("days_remaining"), warn_days=warn_days, ports_failed=bool(failed)),
        })
    return rows


class FilterModule:
    def filters(self):
        return {"audit_rows": audit_rows}
