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
  - With grades in O(verify) (M(postmaster.tls.mail_tls_verify) with C(grade=true)), each row carries the host's
    internet.nl verdict too; a port graded insufficient is a failed port when the module was told so (C(grade_fail_on)).
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
    description:
      - The result of M(postmaster.tls.mail_tls_verify) on that host; its
        RV(postmaster.tls.mail_tls_verify#module:failed_endpoints) and RV(postmaster.tls.mail_tls_verify#module:grades) count.
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
    - And the host's internet.nl grade - C(grade) (V(would fail) when any port would, else V(not graded) when a port got no
      answer, else V(would pass); empty when the ports were not graded), C(grade_insufficient) and C(grade_phase_out)
      (per port with such subtests, one line - the endpoint, a colon, the subtests).
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


# The host's verdict is its worst port's.
_GRADE_ORDER = ("would fail", "not graded", "would pass")


def _grade_columns(grades) -> dict:
    if not isinstance(grades, list) or not grades:
        return {"grade": "", "grade_insufficient": [], "grade_phase_out": []}
    verdicts = [g.get("verdict") for g in grades if isinstance(g, dict)]
    grade = next((v for v in _GRADE_ORDER if v in verdicts), "")

    def per_port(key: str) -> list[str]:
        return [f"{g.get('endpoint', '?')}: {', '.join(g[key])}" for g in grades if isinstance(g, dict) and g.get(key)]

    return {"grade": grade, "grade_insufficient": per_port("insufficient"), "grade_phase_out": per_port("phase_out")}


def audit_rows(certificates, host, verify=None, warn_days=21):
    if not isinstance(certificates, (list, tuple)) or not all(isinstance(c, dict) for c in certificates):
        raise AnsibleFilterError("postmaster.tls.audit_rows expects the list of certificate facts of postmaster.tls.certificate_info")
    try:
        warn_days = int(warn_days)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"postmaster.tls.audit_rows: warn_days {warn_days!r} is not a whole number of days") from None
    failed = (verify or {}).get("failed_endpoints") or []
    graded = _grade_columns((verify or {}).get("grades"))
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
            **graded,
            "status": _status(cert.get("days_remaining"), warn_days=warn_days, ports_failed=bool(failed)),
        })
    return rows


class FilterModule:
    def filters(self):
        return {"audit_rows": audit_rows}
