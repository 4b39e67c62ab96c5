#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_rrsets_info
short_description: Check that every authoritative server of a zone serves the wanted record sets
version_added: 0.2.0
description:
  - Asks every authoritative server of O(zone) - its NS set as O(server) serves it, or O(servers) - directly
    and without recursion whether it serves each wanted record set, and reports per server what it serves
    and its SOA serial. O(wait_timeout) waits (bounded) until all do.
  - O(resolver) also asks a validating resolver for the TLSA record sets and reports its AD flag.
  - Never changes anything; see M(postmaster.tls.dns_rrsets) to make the zone hold the records.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.INFO_MODULE
  - postmaster.tls.dns
options:
  rrsets:
    description:
      - The record sets to look for, as for M(postmaster.tls.dns_rrsets) (name, type and values, or zone-file
        records; V(state) says what counts as served - V(exact) the same records, V(present) at least these,
        V(absent) none of them).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Owner name, relative to O(zone) or absolute; V(@) is the apex.
        type: str
      type:
        description: Record type.
        type: str
      values:
        description: Record data in zone-file syntax.
        type: list
        elements: str
      records:
        description: Zone-file lines instead of O(rrsets[].name), O(rrsets[].type) and O(rrsets[].values).
        type: list
        elements: str
      ttl:
        description: TTL of lines that give none (not compared).
        type: int
      state:
        description: What counts as served.
        type: str
        choices: [exact, present, absent]
        default: exact
  ttl:
    description: Default TTL of O(rrsets[].records) lines without one (not compared).
    type: int
    default: 3600
  resolver:
    description:
      - A validating resolver (address or name, optional C(:PORT)) to ask for the TLSA record sets.
    type: str
seealso:
  - module: postmaster.tls.dns_rrsets
    description: Make the zone hold the records.
"""

EXAMPLES = r"""
---
- name: Wait until every authoritative server serves the TLSA record, and check the resolver's AD flag
  postmaster.tls.dns_rrsets_info:
    zone: example.org
    server: ns1.example.org
    resolver: 192.0.2.53
    rrsets:
      - records: ["_25._tcp.mail.example.org. IN TLSA 3 1 1 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d"]
        state: present
    wait_timeout: 60
  register: dns_check
  delegate_to: localhost
  become: false

- name: Fail when a server lags behind
  ansible.builtin.assert:
    that: dns_check.all_served
    fail_msg: "{{ dns_check.missing }}"
"""

RETURN = r"""
zone:
  description: The zone, absolute.
  returned: always
  type: str
  sample: example.org.
servers:
  description: Per server what it serves, as M(postmaster.tls.dns_rrsets) returns it.
  returned: always
  type: list
  elements: dict
  sample: [{server: ns2.example.org, address: 192.0.2.54, port: 53, serial: 2026120302, error: null, ok: true, missing: [],
            rrsets: [{name: _25._tcp.mail.example.org., type: TLSA, state: present, served: true, ttl: 3600, values: ["3 1 1 8d02..."]}]}]
all_served:
  description: Whether every server (and O(resolver), when given) serves every record set as wanted.
  returned: always
  type: bool
  sample: true
missing:
  description: What is missing where, in one line; empty when RV(all_served).
  returned: always
  type: str
  sample: "ns2.example.org (192.0.2.54, serial 2026120301) lacks _25._tcp.mail.example.org. TLSA"
resolver:
  description: Per TLSA record set, the resolver's rcode, AD flag and records; V(null) without O(resolver).
  returned: always
  type: list
  elements: dict
  sample: [{name: _25._tcp.mail.example.org., type: TLSA, rcode: NOERROR, ad: true, served: true, values: ["3 1 1 8d02..."], error: null}]
waited:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 0.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _dns


def argument_spec() -> dict:
    spec = _dns.connection_argument_spec(server_required=False)
    spec.update(_dns.rrsets_argument_spec())
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.exit_json(**_dns.run(module, _dns.info))


if __name__ == "__main__":
    main()
