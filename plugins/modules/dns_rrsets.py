#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_rrsets
short_description: Make a DNS zone hold the wanted record sets through one signed RFC 2136 update, and prove every server serves them
version_added: 0.2.0
description:
  - Reads what the zone's primary serves for each wanted record set (RRset), compares by meaning (record data
    and TTL, so V(3 1 1 ABCD) equals V(3 1 1 abcd)), and sends the difference as ONE RFC 2136 UPDATE for the
    zone, signed with a TSIG key. Nothing is sent when nothing differs.
  - Every changed RRset carries a prerequisite in the same update - exactly the records that were read, or
    "does not exist" - so when someone changes one of them between the read and the write the server
    refuses the whole update (nothing changes) and the task fails saying so; run it again.
  - Any record type (TLSA, TXT, SRV, CAA, MX, A, ...) except those the server keeps itself (SOA and the DNSSEC records).
  - After the update (and in check mode, without one) every authoritative server of the zone - its NS set,
    or O(servers) - is asked directly whether it serves each wanted RRset, with its SOA serial;
    O(wait_timeout) waits until all do. O(resolver) also asks a validating resolver for the TLSA RRsets and
    reports its AD (authenticated data) flag.
  - O(served_since_path) keeps, on the machine that runs the module, when each record was first served by
    every server; M(postmaster.tls.dane_rollover_gate) reads it to let a key rollover switch only after the new
    key's TLSA record has been served for twice its TTL.
  - Built on dnspython; no DNS wire format is written by hand.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.dns
attributes:
  check_mode:
    support: full
    details:
      - Reads the zone and asks every server as in a real run, computes the same changes and diff, and sends
        no update (the zone's SOA serial stays as it is). It does not wait and writes no O(served_since_path).
  diff_mode:
    support: full
    details:
      - The managed record sets before and after, as zone-file lines.
  idempotent:
    support: full
options:
  server:
    description:
      - The zone's primary server, which takes the update, as an IP address or a host name this machine resolves,
        optionally with C(:PORT) (C([v6-address]:PORT) for IPv6). The zone's NS set is read from it.
    type: str
    required: true
  rrsets:
    description:
      - The wanted record sets. Each entry gives one RRset as O(rrsets[].name), O(rrsets[].type) and
        O(rrsets[].values), or any number of RRsets as zone-file O(rrsets[].records) lines.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Owner name, relative to O(zone) or absolute with a final dot; V(@) is the zone's apex.
        type: str
      type:
        description:
          - Record type (V(TLSA), V(TXT), V(SRV), V(CAA), ...).
        type: str
      values:
        description:
          - Record data in zone-file syntax, one record each (V(3 1 1 8d02...), V(10 5 25 mx.example.org.)).
          - For V(TXT), a value that does not start with a double quote is one text (quoted and split into
            255-byte strings by the module); one that does is taken as zone-file syntax.
        type: list
        elements: str
      records:
        description:
          - Zone-file lines (C(owner [ttl] [IN] type data)), instead of O(rrsets[].name), O(rrsets[].type) and
            O(rrsets[].values). Lines with the same owner and type form one RRset; names are relative to O(zone).
        type: list
        elements: str
      ttl:
        description:
          - TTL of the RRset (for O(rrsets[].records), of lines that give none). Default O(ttl).
        type: int
      state:
        description:
          - V(exact) - the RRset holds exactly these records with this TTL.
          - V(present) - these records are in the RRset; others stay (a record set shared with other tools).
          - V(absent) - these records are removed, or the whole RRset when no values are given.
        type: str
        choices: [exact, present, absent]
        default: exact
  ttl:
    description:
      - Default TTL, in seconds.
    type: int
    default: 3600
  resolver:
    description:
      - A validating resolver (address or name, optional C(:PORT)) to ask for the TLSA RRsets after the update;
        its answers and AD flags are in RV(resolver). With O(wait_timeout), the wait also lasts until it
        answers with the AD flag and the wanted records.
    type: str
  served_since_path:
    description:
      - A JSON file on the machine running the module that records, per record, when every server was first
        seen serving it (a record some server lacks starts again). Written atomically under a lock.
    type: path
seealso:
  - module: postmaster.tls.dns_rrsets_info
    description: Only check what every server serves.
  - module: postmaster.tls.dane_rollover_gate
    description: Let a key rollover switch only when DNS serves the new key's TLSA record.
  - ref: ansible_collections.postmaster.tls.dns_records_role
    description: The C(postmaster.tls.dns_records) role publishes DANE, MTA-STS and TLS-RPT records with this module
      (C(dns_records_publish=rfc2136)).
"""

EXAMPLES = r"""
---
- name: Publish the TLSA records of the current and the next key, and wait until every server serves them
  postmaster.tls.dns_rrsets:
    zone: example.org
    server: ns1.example.org
    tsig_key_name: mail-update
    tsig_algorithm: hmac-sha256
    tsig_secret: "{{ vault_tsig_secret }}"
    ttl: 3600
    rrsets:
      - name: _25._tcp.mail
        type: TLSA
        values:
          - 3 1 1 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
          - 3 1 1 2bb1f8d9b0c1b9a3f5d1a3d8e0e42f87c9a1e4a3b8d2ad5bd35f10c6c4f4d4a1
    wait_timeout: 120
  delegate_to: localhost
  become: false

- name: MTA-STS and TLS-RPT records from zone-file lines, and a CAA record set shared with other tools
  postmaster.tls.dns_rrsets:
    zone: example.org
    server: 192.0.2.53
    tsig_key_name: mail-update
    tsig_secret: "{{ vault_tsig_secret }}"
    rrsets:
      - records:
          - '_mta-sts 3600 IN TXT "v=STSv1; id=4f2a910c7e135baa029d61c43e88f017"'
          - '_smtp._tls 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@example.org"'
      - name: "@"
        type: CAA
        values: ['0 issue "letsencrypt.org"']
        state: present
  delegate_to: localhost
  become: false
"""

RETURN = r"""
zone:
  description: The zone, absolute.
  returned: always
  type: str
  sample: example.org.
added:
  description: Records added (or, in check mode, that would be), as zone-file lines.
  returned: always
  type: list
  elements: str
  sample: ["_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 2bb1f8d9b0c1b9a3f5d1a3d8e0e42f87c9a1e4a3b8d2ad5bd35f10c6c4f4d4a1"]
removed:
  description: Records removed (or that would be), as zone-file lines.
  returned: always
  type: list
  elements: str
  sample: []
serial_before:
  description: The zone's SOA serial on the primary before the update.
  returned: always
  type: int
  sample: 2026120301
serial_after:
  description: The serial on the primary after the update (the same as RV(serial_before) when nothing was sent).
  returned: always
  type: int
  sample: 2026120302
servers:
  description: Per authoritative server, what it serves.
  returned: always
  type: list
  elements: dict
  contains:
    server:
      description: The server's name (from the NS set) or as given.
      type: str
      sample: ns2.example.org
    address:
      description: The address asked.
      type: str
      sample: 192.0.2.54
    port:
      description: The port asked.
      type: int
      sample: 53
    serial:
      description: Its SOA serial for the zone; V(null) when it did not answer authoritatively.
      type: int
      sample: 2026120302
    error:
      description: Why it could not be asked (unreachable, not authoritative); V(null) otherwise.
      type: str
      sample: null
    rrsets:
      description: Per wanted RRset, C(name), C(type), C(state), C(served) (as wanted), C(ttl) and C(values) as it serves them.
      type: list
      elements: dict
      sample: [{name: _25._tcp.mail.example.org., type: TLSA, state: exact, served: true, ttl: 3600, values: ["3 1 1 8d02..."]}]
    missing:
      description: The RRsets it does not serve as wanted.
      type: list
      elements: str
      sample: []
    ok:
      description: Whether it serves every wanted RRset.
      type: bool
      sample: true
all_served:
  description: Whether every server (and O(resolver), when given) serves every wanted RRset.
  returned: always
  type: bool
  sample: true
resolver:
  description:
    - Per TLSA RRset, the resolver's answer - C(name), C(type), C(rcode), C(ad) (the AD flag), C(served) (as wanted),
      C(values), C(error).
    - V(null) without O(resolver) or TLSA RRsets.
  returned: always
  type: list
  elements: dict
  sample: [{name: _25._tcp.mail.example.org., type: TLSA, rcode: NOERROR, ad: true, served: true, values: ["3 1 1 8d02..."], error: null}]
waited:
  description: Seconds spent waiting for the servers.
  returned: always
  type: float
  sample: 2.1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _dns


def argument_spec() -> dict:
    spec = _dns.connection_argument_spec(server_required=True)
    spec.update(_dns.rrsets_argument_spec())
    spec["served_since_path"] = {"type": "path"}
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    result = _dns.run(module, _dns.apply, check_mode=module.check_mode)
    if module._diff:
        result["diff"] = result.pop("diff_text")
    else:
        result.pop("diff_text")
    if not result["all_served"] and module.params["wait_timeout"] and not module.check_mode:
        module.fail_json(msg=f"after {result['waited']:g} s not every server serves the records: "
                             f"{result.pop('missing_summary')}", **result)
    result.pop("missing_summary")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
