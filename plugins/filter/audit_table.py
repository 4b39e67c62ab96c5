# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: audit_table
short_description: Render rows of a certificate audit as an aligned text table
version_added: 0.1.0
author: postmaster.tls contributors (@postmaster-tls)
description:
  - Turns a list of dictionaries (one per certificate, as C(playbooks/audit.yml) builds them) into lines of text
    with aligned columns, for people reading a run's output. Pipelines should read the JSON file instead.
  - Rows are sorted by days remaining, the most urgent first.
options:
  _input:
    description: The rows; each a dictionary.
    type: list
    elements: dict
    required: true
  columns:
    description: The keys to show, in order. Lists are joined with commas; missing keys show as C(-).
    type: list
    elements: str
    default: [host, names, issuer, key, days_remaining, status]
"""

EXAMPLES = r"""
---
- name: Print the audit
  ansible.builtin.debug:
    msg: "{{ rows | postmaster.tls.audit_table }}"
"""

RETURN = r"""
_value:
  description: The table, one string per line, the header first.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

DEFAULT_COLUMNS = ["host", "names", "issuer", "key", "days_remaining", "status"]


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _urgency(row) -> tuple:
    days = row.get("days_remaining")
    return (days if isinstance(days, int) else 10**9, str(row.get("host", "")))


def audit_table(rows, columns=None):
    if not isinstance(rows, (list, tuple)):
        raise AnsibleFilterError(f"postmaster.tls.audit_table expects a list of dictionaries, got {type(rows).__name__}")
    columns = list(columns or DEFAULT_COLUMNS)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise AnsibleFilterError(f"postmaster.tls.audit_table: row {index} is a {type(row).__name__}, not a dictionary")
    cells = [[_cell(row.get(col)) for col in columns] for row in sorted(rows, key=_urgency)]
    header = [col.upper() for col in columns]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(columns))]
    line = "  ".join("{:<%d}" % w for w in widths)
    return [line.format(*header).rstrip()] + [line.format(*r).rstrip() for r in cells]


class FilterModule:
    def filters(self):
        return {"audit_table": audit_table}
