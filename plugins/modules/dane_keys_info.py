#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dane_keys_info
short_description: The DANE digests of the installed certificates and the prepared next keys on a mail host, and what its ports serve
version_added: 0.2.0
description:
  - Finds the installed certificates and the next keys of a rollover in the collection's layout
    (C(<base_dir>/<name>/<key type>/live/cert.pem) and C(privkey.next.pem)) and returns the SHA-256 of
    each one's SubjectPublicKeyInfo - the data of a DANE C(3 1 1) TLSA record - so the DNS records can be
    computed on a deployed host without running the certificate role first.
  - With O(probe_ports), makes one TLS handshake per port (STARTTLS where the port speaks it) and reports
    the key each serves, and whether every port serves one of the installed keys
    (RV(all_ports_serve_current)) - the condition for removing the TLSA record of a retired key.
  - Never changes anything. Reading a next key needs the right to read it (become).
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.INFO_MODULE
  - postmaster.tls.cryptography
attributes:
  platform:
    platforms: posix
options:
  base_dir:
    description: Root of the layout.
    type: path
    default: /etc/postmaster-tls
  name:
    description: Only this certificate name (directory under O(base_dir)); default every installed one.
    type: str
  probe_ports:
    description:
      - Standard mail ports (25, 587, 465, 143, 993, 110, 995) to make one handshake with. One handshake sees
        one certificate; with RSA and ECDSA side by side, the one this host's OpenSSL prefers.
    type: list
    elements: int
    default: []
  probe_host:
    description: The address to connect to for O(probe_ports).
    type: str
    default: 127.0.0.1
  server_name:
    description: SNI name sent in the handshakes; default none.
    type: str
  timeout:
    description: Seconds for each handshake, connect and dialogue included.
    type: float
    default: 10.0
seealso:
  - ref: ansible_collections.postmaster.tls.dns_records_role
    description: The C(postmaster.tls.dns_records) role publishes the TLSA records of these keys.
"""

EXAMPLES = r"""
---
- name: Read the DANE digests of the installed and the next keys, and what port 25 serves
  postmaster.tls.dane_keys_info:
    name: mail.example.org
    probe_ports: [25]
  register: dane_keys

- name: Show the 3 1 1 records to publish
  ansible.builtin.debug:
    msg: "_25._tcp.mail.example.org. IN TLSA 3 1 1 {{ item }}"
  loop: "{{ dane_keys.current_spki + dane_keys.next_spki }}"
"""

RETURN = r"""
certificates:
  description: One entry per installed certificate, by name and then key type.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The certificate name (directory).
      type: str
      sample: mail.example.org
    key_type:
      description: V(rsa) or V(ecdsa).
      type: str
      sample: rsa
    cert:
      description: The installed leaf.
      type: str
      sample: /etc/postmaster-tls/mail.example.org/rsa/live/cert.pem
    spki_sha256:
      description: SHA-256 (hex) of the leaf's SubjectPublicKeyInfo.
      type: str
      sample: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
    next_key:
      description: The prepared next key, V(null) when there is none.
      type: str
      sample: /etc/postmaster-tls/mail.example.org/rsa/privkey.next.pem
    next_spki_sha256:
      description: SHA-256 (hex) of the next key's SubjectPublicKeyInfo; V(null) without a next key.
      type: str
      sample: 2bb1f8d9b0c1b9a3f5d1a3d8e0e42f87c9a1e4a3b8d2ad5bd35f10c6c4f4d4a1
current_spki:
  description: The installed keys' digests, without repeats.
  returned: always
  type: list
  elements: str
  sample: [8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d]
next_spki:
  description: The next keys' digests, without repeats.
  returned: always
  type: list
  elements: str
  sample: []
served:
  description: Per probed port, the digest of the key it serves, or the error.
  returned: always
  type: list
  elements: dict
  sample: [{port: 25, spki_sha256: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d, error: null}]
all_ports_serve_current:
  description:
    - Whether every probed port completed a handshake and served one of RV(current_spki).
    - V(null) without O(probe_ports).
  returned: always
  type: bool
  sample: true
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _layout, _probe


def argument_spec() -> dict:
    return {
        "base_dir": {"type": "path", "default": _layout.BASE_DIR},
        "name": {"type": "str"},
        "probe_ports": {"type": "list", "elements": "int", "default": []},
        "probe_host": {"type": "str", "default": "127.0.0.1"},
        "server_name": {"type": "str"},
        "timeout": {"type": "float", "default": 10.0},
    }


def _read(path: str, what: str) -> bytes:
    data = _fileio.read_bytes(path)
    if data is None:
        raise _crypto.PEMError(f"{what} {path} vanished while it was read; run again")
    return data


def keys(base_dir: str, name: str | None) -> list[dict]:
    """The installed certificates and next keys of the layout, with their DANE digests."""
    out = []
    for paths in _layout.discover(base_dir, name=name):
        cert = _crypto.load_certificate(_read(paths.live("cert"), "certificate"), source=paths.live("cert"))
        entry = {"name": paths.name, "key_type": paths.key_type, "cert": paths.live("cert"),
                 "spki_sha256": _crypto.spki_sha256(cert.public_key()), "next_key": None, "next_spki_sha256": None}
        if os.path.exists(paths.next_key):
            key = _crypto.load_private_key(_read(paths.next_key, "next key"), source=paths.next_key)
            entry.update(next_key=paths.next_key, next_spki_sha256=_crypto.spki_sha256(key.public_key()))
        out.append(entry)
    return out


def served(ports: list[int], *, host: str, server_name: str | None, timeout: float) -> list[dict]:
    endpoints = _probe.build_endpoints(endpoints=[{"port": port} for port in ports], all_ports=False, host=host,
                                       server_name=server_name)
    settings = _probe.Settings(timeout=timeout, probe_protocols=False)
    expectations = _probe.Expectations(validate_chain=False, check_hostname=False, forbid_plaintext_auth=False)
    reports = _probe.verify(endpoints, settings, expectations)
    return [{"port": r.port, "spki_sha256": r.spki_sha256, "error": None if r.spki_sha256 else (r.error or "no certificate")}
            for r in reports]


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    _crypto.require_cryptography(module)
    params = module.params
    for option in ("name", "probe_host", "server_name", "base_dir"):
        value = params[option]
        if value is not None and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            module.fail_json(msg=f"{option}: {value!r} contains a control character (CR, LF, NUL, ...); remove it")
    if not 0 < params["timeout"] <= 300:
        module.fail_json(msg=f"timeout: {params['timeout']!r} is out of range; give seconds between 0 and 300")
    try:
        certificates = keys(params["base_dir"], params["name"])
        probes = served(params["probe_ports"], host=params["probe_host"], server_name=params["server_name"],
                        timeout=params["timeout"]) if params["probe_ports"] else []
    except (_layout.LayoutError, _crypto.PEMError, _probe.ProbeError, _fileio.FileIOError) as exc:
        module.fail_json(msg=str(exc))
    current = list(dict.fromkeys(c["spki_sha256"] for c in certificates))
    upcoming = list(dict.fromkeys(c["next_spki_sha256"] for c in certificates if c["next_spki_sha256"]))
    every = all(p["spki_sha256"] in current for p in probes) if probes else None
    module.exit_json(changed=False, certificates=certificates, current_spki=current, next_spki=upcoming, served=probes,
                     all_ports_serve_current=every)


if __name__ == "__main__":
    main()
