# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options shared by the DNS modules (dns_rrsets, dns_rrsets_info, dane_rollover_gate)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  zone:
    description:
      - The DNS zone, such as V(example.org). Every record name must lie inside it.
    type: str
    required: true
  server:
    description:
      - The zone's primary server, as an IP address or a host name this machine resolves, optionally with
        C(:PORT) (C([v6-address]:PORT) for IPv6). The zone's NS set is read from it.
    type: str
  port:
    description:
      - Port of O(server) when it carries no C(:PORT).
    type: int
    default: 53
  tsig_key_name:
    description:
      - Name of the TSIG key that signs queries to and updates of O(server), as in the server's C(key) statement.
      - Without it nothing is signed (a server whose C(update-policy) needs a key then refuses the update).
    type: str
  tsig_algorithm:
    description:
      - Algorithm of the TSIG key.
    type: str
    default: hmac-sha256
    choices: [hmac-sha256, hmac-sha384, hmac-sha512]
  tsig_secret:
    description:
      - The base64 secret of the TSIG key. Never shown in results, diffs or logs.
    type: str
  servers:
    description:
      - The servers to check, each an IP address or host name with an optional C(:PORT), instead of the zone's
        NS set (for hidden primaries, or servers that are reached at other addresses from here).
    type: list
    elements: str
  timeout:
    description:
      - Seconds to wait for each answer (at most 300). An unreachable server fails after this time.
    type: float
    default: 5.0
  wait_timeout:
    description:
      - Seconds to wait, at most, until every server serves every record set as wanted (V(0) asks once).
    type: int
    default: 0
  wait_interval:
    description:
      - Seconds between two rounds of questions while waiting.
    type: float
    default: 1.0
requirements:
  - dnspython >= 2.1 on the machine that runs the module (usually the controller, with C(delegate_to) V(localhost))
notes:
  - The module speaks to the DNS servers from where it runs; run it where they are reachable, usually on the
    controller with C(delegate_to) V(localhost) and C(become) V(false).
  - Servers are asked directly and without recursion; an answer counts only with the AA (authoritative) flag.
"""
