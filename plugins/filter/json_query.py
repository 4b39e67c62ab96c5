# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: json_query
short_description: Select data from a structure with a JMESPath query
version_added: 0.1.0
author: postmaster.tls contributors (@postmaster-tls)
description:
  - Runs a JMESPath query (U(https://jmespath.org)) on any data, for example the results of
    M(postmaster.tls.certificate_info) or M(postmaster.tls.mail_tls_verify) gathered from a fleet.
  - Shipped here so that the audit playbook needs nothing beyond this collection and the C(jmespath) library
    (no community.general).
options:
  _input:
    description: The data to query.
    type: raw
    required: true
  expr:
    description: The JMESPath expression.
    type: str
    required: true
requirements:
  - jmespath (on the controller)
"""

EXAMPLES = r"""
---
- name: Hosts whose certificate expires within 21 days
  ansible.builtin.debug:
    msg: "{{ audit_rows | postmaster.tls.json_query('[?days_remaining < `21`].host') }}"
"""

RETURN = r"""
_value:
  description: The query's result (any type; V(null) when nothing matched a single-value query).
  type: raw
"""

import traceback

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

JMESPATH_IMP_ERR: str | None
try:
    import jmespath

    JMESPATH_IMP_ERR = None
except ImportError:
    jmespath = None
    JMESPATH_IMP_ERR = traceback.format_exc()


def _plain(data):
    """Ansible hands filters its own str/list/dict subclasses; jmespath wants plain types."""
    if isinstance(data, dict):
        return {str(key): _plain(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(value) for value in data]
    if isinstance(data, str):
        return str(data)
    if isinstance(data, bool) or data is None:
        return data
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    return data


def json_query(data, expr: str):
    if jmespath is None:
        raise AnsibleFilterError(
            "postmaster.tls.json_query needs the Python library jmespath on the controller; "
            f"install it with 'pip install jmespath'. Import error: {JMESPATH_IMP_ERR}"
        )
    try:
        return jmespath.search(str(expr), _plain(data))
    except jmespath.exceptions.ParseError as exc:
        raise AnsibleFilterError(f"postmaster.tls.json_query: the expression {expr!r} does not parse: {to_native(exc)}") from exc
    except jmespath.exceptions.JMESPathError as exc:
        raise AnsibleFilterError(f"postmaster.tls.json_query: the expression {expr!r} failed: {to_native(exc)}") from exc


class FilterModule:
    def filters(self):
        return {"json_query": json_query}
