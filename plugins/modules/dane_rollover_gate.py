#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dane_rollover_gate
short_description: Let a key go live only when every authoritative server has served its TLSA record for 2xTTL
version_added: 0.2.0
description:
  - Asks every authoritative server of O(zone) (its NS set, or O(servers)) directly for the TLSA records at
    C(_PORT._tcp.NAME) and checks that each serves the C(3 1 1) record of every key in O(digests) (the next keys
    of a rollover).
  - Keeps, in O(served_since_path) on the machine that runs it, when each record was first served by every server
    (shared with M(postmaster.tls.dns_rrsets), which records it when it publishes). A record some server lacks
    starts again from zero.
  - Passes (RV(ready)) only when every server serves every record AND has done so for at least twice the
    record's TTL (the largest of O(ttl), the TTL the servers serve), so no resolver can still hold a TLSA set
    without the new key when the new key goes live. Otherwise the task fails, naming each record, the servers
    that lack it and the time left. O(wait_timeout) waits (bounded) for the gate to open.
  - With O(replacing) (the served keys that this run's key task would replace in place, as
    M(postmaster.tls.dane_keys_info) returns them in RV(postmaster.tls.dane_keys_info#module:replaced)), the task fails
    naming each key. A key made in place goes live in the same run, so its TLSA record cannot have been served
    before. The message says to move keys with C(certificate_rollover=prepare) and C(switch) instead.
  - O(force) lets the switch or the replacement go on anyway (a compromised key must go at once), with a warning.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.dns
attributes:
  check_mode:
    support: full
    details:
      - Asks the servers and judges as in a real run; does not write O(served_since_path) and does not wait.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Never reports a change; the ledger it keeps is bookkeeping.
options:
  name:
    description: The mail host's name (the MX target), such as V(mail.example.org).
    type: str
    required: true
  ports:
    description: The ports whose TLSA records must hold the keys.
    type: list
    elements: int
    default: [25]
  digests:
    description:
      - SHA-256 of the SubjectPublicKeyInfo of each next key (C(spki_sha256) as the postmaster.tls modules return it).
      - Required unless O(replacing) is given.
    type: list
    elements: str
    default: []
  replacing:
    description:
      - Served keys this run would replace in place, each with its C(path) and, for the message, C(name), C(key_type)
        and C(reason). Not empty fails the task unless O(force).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The key file.
        type: str
        required: true
      name:
        description: The certificate name.
        type: str
      key_type:
        description: The key type.
        type: str
      reason:
        description: Why the key would be replaced (the key task's own words).
        type: str
  ttl:
    description: The smallest TTL to assume, in seconds (the TTL the servers serve counts when it is larger).
    type: int
    default: 0
  served_since_path:
    description: The JSON ledger of first-seen times on the machine running the module.
    type: path
    required: true
  force:
    description: Pass even when the records are not served long enough, or a served key is replaced in place (for a compromised key); warns.
    type: bool
    default: false
seealso:
  - module: postmaster.tls.dns_rrsets
    description: Publishes the records and records when they were first served everywhere.
  - ref: ansible_collections.postmaster.tls.certificate_role
    description: The C(postmaster.tls.certificate) role's C(certificate_rollover=switch) runs this gate when
      C(dns_records_publish=rfc2136).
"""

EXAMPLES = r"""
---
- name: Refuse the switch until the next key's TLSA record has been served everywhere for 2xTTL
  postmaster.tls.dane_rollover_gate:
    zone: example.org
    server: ns1.example.org
    name: mail.example.org
    digests: ["{{ next_spki }}"]
    ttl: 3600
    served_since_path: "{{ playbook_dir }}/dns-records/example.org/served-since.json"
    force: "{{ certificate_rollover_force | default(false) }}"
  delegate_to: localhost
  become: false

- name: Find the served keys a regenerate policy would replace in this run
  postmaster.tls.dane_keys_info:
    name: mail.example.org
    regenerate: "{{ certificate_key_regenerate }}"
    planned_keys: [{type: rsa, size: 2048}, {type: ecdsa, curve: secp256r1}]
  register: planned

- name: Refuse to replace a served key in place while DANE records are published by RFC 2136
  postmaster.tls.dane_rollover_gate:
    zone: example.org
    server: ns1.example.org
    name: mail.example.org
    replacing: "{{ planned.replaced }}"
    served_since_path: "{{ playbook_dir }}/dns-records/example.org/served-since.json"
  delegate_to: localhost
  become: false
  when: planned.replaced | length > 0
"""

RETURN = r"""
ready:
  description: Whether every server has served every record for at least 2xTTL.
  returned: always
  type: bool
  sample: false
forced:
  description: Whether O(force) let a not-ready gate pass.
  returned: always
  type: bool
  sample: false
message:
  description: The verdict in one sentence, naming records, servers and time left.
  returned: always
  type: str
  sample: >-
    certificate_rollover=switch refused: _25._tcp.mail.example.org. IN TLSA 3 1 1 2bb1... has been served by every
    authoritative server for 3 s; 2xTTL = 10 s, 7 s left.
left:
  description: Seconds until the last record that every server serves has been served for 2xTTL (0 when ready).
  returned: always
  type: int
  sample: 7
records:
  description: Per record - C(record) (zone-file line), C(servers_lacking), C(first_served_everywhere) (epoch seconds),
    C(served_for), C(required) (2xTTL), C(left), C(ready).
  returned: always
  type: list
  elements: dict
  sample: [{record: "_25._tcp.mail.example.org. IN TLSA 3 1 1 2bb1...", servers_lacking: [], first_served_everywhere: 1796300000.0,
            served_for: 3, required: 10, left: 7, ready: false}]
servers:
  description: Per server what it serves, as M(postmaster.tls.dns_rrsets) returns it.
  returned: always
  type: list
  elements: dict
  sample: [{server: ns2.example.org, address: 192.0.2.54, port: 53, serial: 2026120302, error: null, ok: true, missing: [], rrsets: []}]
replacing:
  description: The served keys this run would replace in place, as given in O(replacing).
  returned: always
  type: list
  elements: dict
  sample: [{name: mail.example.org, key_type: rsa, path: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem, reason: regenerate=always}]
waited:
  description: Seconds spent waiting for the gate to open.
  returned: always
  type: float
  sample: 0.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _dns


def argument_spec() -> dict:
    spec = _dns.connection_argument_spec(server_required=False)
    spec.update({
        "name": {"type": "str", "required": True},
        "ports": {"type": "list", "elements": "int", "default": [25]},
        "digests": {"type": "list", "elements": "str", "default": [], "no_log": False},
        "replacing": {"type": "list", "elements": "dict", "default": [], "options": {
            "path": {"type": "str", "required": True},
            "name": {"type": "str"},
            "key_type": {"type": "str"},
            "reason": {"type": "str"},
        }},
        "ttl": {"type": "int", "default": 0},
        "served_since_path": {"type": "path", "required": True},
        "force": {"type": "bool", "default": False},
    })
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    result = _dns.run(module, _dns.gate, check_mode=module.check_mode)
    if result["forced"]:
        module.warn(f"certificate_rollover_force: going on although DNS is not ready - {result['message']}")
    elif not result["ready"]:
        module.fail_json(msg=result["message"], **{k: v for k, v in result.items() if k != "message"})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
