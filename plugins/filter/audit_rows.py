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
  - A row carries the certificate's revocation status, its certificate transparency (SCT count and policy) and when it
    falls due by the renewal rule. M(postmaster.tls.mail_tls_verify) with O(postmaster.tls.mail_tls_verify#module:expect_installed)
    reports these for every installed certificate (against the CRL it found or was given, by the rule it was given);
    without them the certificate facts' own (from M(postmaster.tls.certificate_info)) are used.
  - The status of a row is V(REVOKED) (the certificate is revoked, or a port serves a revoked one), V(EXPIRED) (no days
    left), V(EXPIRING) (due by the renewal rule, or without a renewal verdict fewer than O(warn_days) days left),
    V(PORTS-FAIL) (the certificate is valid, but a port failed verification) or V(ok), the first that applies.
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
      - The result of M(postmaster.tls.mail_tls_verify) on that host - its
        RV(postmaster.tls.mail_tls_verify#module:failed_endpoints), the revocation status of what each endpoint served, and
        the lifecycle facts of RV(postmaster.tls.mail_tls_verify#module:installed_certificates).
    type: dict
    default: {}
  warn_days:
    description: Fewer days remaining than this make a row V(EXPIRING) when there is no renewal verdict for it.
    type: int
    default: 21
"""

EXAMPLES = r"""
---
- name: Summarise this host
  ansible.builtin.set_fact:
    rows: "{{ certs.certificates | postmaster.tls.audit_rows(host=inventory_hostname, verify=ports, warn_days=30) }}"

- name: Show the table
  ansible.builtin.debug:
    msg: "{{ rows | postmaster.tls.audit_table(columns=['host', 'serial', 'renew_at', 'revocation', 'ct', 'status']) }}"
"""

RETURN = r"""
_value:
  description:
    - One dictionary per certificate - C(host), C(path), C(names) (DNS names without the C(DNS:) prefix), C(issuer),
      C(serial), C(key) (type and curve or size), C(not_after), C(days_remaining), C(renew_at) and C(renewal) (the renewal
      rule's verdict), C(spki_sha256), C(revocation) (V(good), V(revoked), V(unknown), V(not_checked), V(not_applicable))
      and C(revocation_detail), C(served_revoked) (serials of revoked certificates a port of the host serves), C(ct) (for
      people, such as C(0 SCT(s), none needed (private))) and C(certificate_transparency), C(ports_failed),
      C(port_failures) and C(status).
    - And the host's internet.nl grade - C(grade) (V(would fail) when any port would, else V(not graded) when a port got no
      answer, else V(would pass); empty when the ports were not graded), C(grade_insufficient) and C(grade_phase_out)
      (per port with such subtests, one line - the endpoint, a colon, the subtests).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError


def _status(days, *, renewal: dict, revoked: bool, warn_days: int, ports_failed: bool) -> str:
    if revoked:
        return "REVOKED"
    if not isinstance(days, int) or days < 0:
        return "EXPIRED"
    if (renewal.get("due") if renewal else days < warn_days):
        return "EXPIRING"
    return "PORTS-FAIL" if ports_failed else "ok"


def _ct_text(ct: dict) -> str:
    """The CT column for people: how many SCTs, and whether that meets the browser policy."""
    if not ct:
        return ""
    policy = ct.get("policy")
    judged = policy if policy and policy != "not_applicable" else f"none needed ({ct.get('scope') or 'unknown'})"
    return f"{ct.get('count', 0)} SCT(s), {judged}"


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
    verify = verify or {}
    failed = verify.get("failed_endpoints") or []
    graded = _grade_columns(verify.get("grades"))
    ports_failed = [item.get("endpoint", "?") for item in failed]
    port_failures: list[str] = []
    for item in failed:
        port_failures += [f for f in item.get("failures") or [] if f not in port_failures]
    served_revoked: list[str] = []
    for endpoint in verify.get("endpoints") or []:
        revocation = endpoint.get("revocation") or {}
        if revocation.get("status") == "revoked" and revocation.get("serial") not in served_revoked:
            served_revoked.append(revocation.get("serial"))
    # The lifecycle of each installed certificate as mail_tls_verify judged it (its CRL, its renewal rule).
    judged = {item.get("path"): item for item in verify.get("installed_certificates") or [] if isinstance(item, dict)}
    rows = []
    for cert in certificates:
        life = judged.get(cert.get("path")) or cert
        renewal = life.get("renewal") or {}
        revocation = life.get("revocation") or {}
        ct = life.get("certificate_transparency") or {}
        names = [name[4:] if str(name).startswith("DNS:") else str(name) for name in cert.get("subject_alt_names") or []]
        rows.append({
            "host": host,
            "path": cert.get("path"),
            "names": names,
            "issuer": cert.get("issuer"),
            "serial": cert.get("serial"),
            "key": f"{cert.get('key_type')} {cert.get('key_curve') or cert.get('key_size')}",
            "not_after": cert.get("not_after"),
            "days_remaining": cert.get("days_remaining"),
            "renew_at": renewal.get("renew_at"),
            "renewal": renewal,
            "spki_sha256": cert.get("spki_sha256"),
            "revocation": revocation.get("status"),
            "revocation_detail": revocation,
            "served_revoked": served_revoked,
            "ct": _ct_text(ct),
            "certificate_transparency": ct,
            "ports_failed": ports_failed,
            "port_failures": port_failures,
            **graded,
            "status": _status(cert.get("days_remaining"), renewal=renewal, warn_days=warn_days, ports_failed=bool(failed),
                              revoked=revocation.get("status") == "revoked" or bool(served_revoked)),
        })
    return rows


class FilterModule:
    def filters(self):
        return {"audit_rows": audit_rows}
