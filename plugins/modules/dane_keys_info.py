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
  - With O(probe_ports), asks every port for each key type that has an installed certificate, and reports
    whether no client can get anything but an installed key (RV(all_ports_serve_current)) - the condition
    for removing the TLSA record of a retired key. Per port it makes one handshake as a default client and
    one per key type as a TLS 1.2 client that offers only the cipher suites of that key type (C(aRSA),
    C(aECDSA)), so a server holding an RSA and an ECDSA certificate shows both, not only the one it prefers.
  - With O(regenerate), tells which served keys the key task of this run would replace in place
    (RV(replaced)), judged with the same rules as M(postmaster.tls.private_key); the DNS rollover gate
    refuses such a change while DANE records are published through RFC 2136.
  - Never changes anything. Reading a key needs the right to read it (become).
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.INFO_MODULE
  - postmaster.tls.cryptography
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
      - Standard mail ports (25, 587, 465, 143, 993, 110, 995) to ask, as a default client and once per installed
        key type.
      - A key-type handshake uses TLS 1.2 (TLS 1.3 chooses the certificate by signature algorithm, which this client
        cannot narrow; a server keeps the same certificates for both versions). A port that refuses it - it has no
        certificate of that type, or speaks no TLS 1.2 - serves no key of that type to anyone who could be asked, and
        is reported, not counted against it.
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
  regenerate:
    description:
      - The O(postmaster.tls.private_key#module:regenerate) policy of the task that makes the served keys in this
        run (C(certificate_key_regenerate), or C(acme_key_regenerate) with the ACME provider). With it, RV(replaced)
        lists the served keys that task would replace. Without it, RV(replaced) is empty.
    type: str
    choices: [never, fail, partial_idempotence, full_idempotence, always]
  planned_keys:
    description:
      - The keys that task asks for (as its O(postmaster.tls.private_key#module:batch) items). A key whose O(base_dir)
        directory holds no installed certificate is not served yet, and not judged.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path of the key; only the installed certificate of this key is judged. Default every one of O(planned_keys[].type).
        type: path
      type:
        description: Key type.
        type: str
        choices: [rsa, ecdsa]
        required: true
      size:
        description: RSA size in bits.
        type: int
      curve:
        description: ECDSA curve.
        type: str
  switching:
    description:
      - This run is a rollover switch, which puts each prepared next key in place before the key task runs; the
        key task then judges that key, and so does this module.
    type: bool
    default: false
seealso:
  - ref: ansible_collections.postmaster.tls.dns_records_role
    description: The C(postmaster.tls.dns_records) role publishes the TLSA records of these keys.
  - module: postmaster.tls.dane_rollover_gate
    description: Refuses a key change that DNS does not serve yet.
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

- name: Would a key task with regenerate=always replace a served key?
  postmaster.tls.dane_keys_info:
    name: mail.example.org
    regenerate: always
    planned_keys:
      - {type: rsa, size: 2048}
  register: dane_planned
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
    key:
      description: The served key's path (it may be missing).
      type: str
      sample: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem
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
  description:
    - Per probed port, the digest a default client gets (C(spki_sha256), or C(error)), C(key_types) - per installed
      key type the handshake's C(verdict) (V(served), V(refused), V(error)), C(spki_sha256) and C(detail) - and
      C(current), whether every key the port served is installed.
  returned: always
  type: list
  elements: dict
  sample:
    - port: 25
      spki_sha256: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
      error: null
      current: true
      key_types:
        rsa: {verdict: served, spki_sha256: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d,
              detail: TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384}
all_ports_serve_current:
  description:
    - Whether every probed port completed the default handshake and served only installed keys, to the default
      client and to each key-type client.
    - V(null) without O(probe_ports).
  returned: always
  type: bool
  sample: true
not_current:
  description: Why RV(all_ports_serve_current) is false, one line per port and client.
  returned: always
  type: list
  elements: str
  sample: ["port 25, rsa client: serves 2bb1f8d9b0c1b9a3f5d1a3d8e0e42f87c9a1e4a3b8d2ad5bd35f10c6c4f4d4a1, not an installed key"]
replaced:
  description:
    - The served keys (an installed certificate exists for them) that the key task would replace in this run,
      with the task's own reason; empty without O(regenerate).
    - A key the task would refuse to touch (O(regenerate=fail) and a key of another kind) is not listed; that
      task fails on its own, naming the fix.
  returned: always
  type: list
  elements: dict
  sample: [{name: mail.example.org, key_type: rsa, path: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem,
            reason: regenerate=always}]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _keys, _layout, _probe


def argument_spec() -> dict:
    return {
        "base_dir": {"type": "path", "default": _layout.BASE_DIR},
        "name": {"type": "str"},
        "probe_ports": {"type": "list", "elements": "int", "default": []},
        "probe_host": {"type": "str", "default": "127.0.0.1"},
        "server_name": {"type": "str"},
        "timeout": {"type": "float", "default": 10.0},
        "regenerate": {"type": "str", "choices": list(_keys.POLICIES)},
        "planned_keys": {"type": "list", "elements": "dict", "default": [], "no_log": False, "options": {
            "path": {"type": "path"},
            "type": {"type": "str", "required": True, "choices": list(_layout.KEY_TYPES)},
            "size": {"type": "int"},
            "curve": {"type": "str"},
        }},
        "switching": {"type": "bool", "default": False},
    }


def _read(path: str, what: str) -> bytes:
    data = _fileio.read_bytes(path)
    if data is None:
        raise _crypto.PEMError(f"{what} {path} vanished while it was read; run again")
    return data


def keys(installed: list[_layout.KeyPaths]) -> list[dict]:
    """The installed certificates and next keys of the layout, with their DANE digests."""
    out = []
    for paths in installed:
        cert = _crypto.load_certificate(_read(paths.live("cert"), "certificate"), source=paths.live("cert"))
        entry = {"name": paths.name, "key_type": paths.key_type, "cert": paths.live("cert"), "key": paths.key,
                 "spki_sha256": _crypto.spki_sha256(cert.public_key()), "next_key": None, "next_spki_sha256": None}
        if os.path.exists(paths.next_key):
            key = _crypto.load_private_key(_read(paths.next_key, "next key"), source=paths.next_key)
            entry.update(next_key=paths.next_key, next_spki_sha256=_crypto.spki_sha256(key.public_key()))
        out.append(entry)
    return out


def replaced(installed: list[_layout.KeyPaths], planned: list[dict], *, policy: str, switching: bool) -> list[dict]:
    """The served keys that a private_key task with ``planned`` and ``policy`` would replace: its own decision
    (``_keys.decide``) on the key it will find - after a switch, the prepared next key."""
    out = []
    for index, item in enumerate(planned, start=1):
        try:
            spec = _keys.KeySpec.from_options(type=item["type"], size=item.get("size"), curve=item.get("curve"))
        except _keys.KeyOptionError as exc:
            raise _keys.KeyOptionError(f"planned_keys[{index}]: {exc}") from None
        wanted = os.path.normpath(item["path"]) if item.get("path") else None
        for paths in installed:
            if paths.key_type != spec.type or (wanted is not None and os.path.normpath(paths.key) != wanted):
                continue
            judged = paths.next_key if switching and os.path.exists(paths.next_key) else paths.key
            existing = _crypto.read_key(_fileio.read_bytes(judged), passphrase=None, source=judged)
            try:
                plan = _keys.decide(existing, spec, passphrase=None, policy=policy, path=judged)
            except _keys.KeyPolicyError:
                continue  # the key task refuses to touch it and fails on its own, naming the fix
            if plan.action in ("create", "regenerate"):
                out.append({"name": paths.name, "key_type": paths.key_type, "path": paths.key, "reason": plan.reason})
    return out


def served(ports: list[int], *, host: str, server_name: str | None, timeout: float, key_types: list[str],
           current: list[str]) -> tuple[list[dict], list[str]]:
    """Per port: what a default client gets and what a client of each key type gets; and why not all are current."""
    endpoints = _probe.build_endpoints(endpoints=[{"port": port} for port in ports], all_ports=False, host=host,
                                       server_name=server_name)
    return served_by(endpoints, _probe.Settings(timeout=timeout), key_types=key_types, current=current)


def _digest(leaf: bytes | None) -> str | None:
    return _crypto.spki_sha256(_crypto.load_certificate(leaf, source="the served certificate").public_key()) if leaf else None


def served_by(endpoints: list[_probe.Endpoint], settings: _probe.Settings, *, key_types: list[str],
              current: list[str]) -> tuple[list[dict], list[str]]:
    contexts = {None: _probe.key_type_context(None), **{kind: _probe.key_type_context(kind) for kind in key_types}}
    reports, stale = [], []
    for endpoint in endpoints:
        _verdict, leaf, detail = _probe.served_leaf(endpoint, settings, contexts[None])
        entry: dict = {"port": endpoint.port, "spki_sha256": _digest(leaf), "error": None if leaf else detail, "key_types": {}}
        mine = []
        if leaf is None:
            mine.append(f"port {endpoint.port}: {detail}")
        elif entry["spki_sha256"] not in current:
            mine.append(f"port {endpoint.port}, default client: serves {entry['spki_sha256']}, not an installed key")
        for kind in key_types if leaf is not None else []:
            verdict, leaf_of_kind, detail = _probe.served_leaf(endpoint, settings, contexts[kind])
            digest = _digest(leaf_of_kind)
            entry["key_types"][kind] = {"verdict": verdict, "spki_sha256": digest, "detail": detail}
            if verdict == "error":  # not refused, unknown: it may still serve an old key of this type
                mine.append(f"port {endpoint.port}, {kind} client: {detail}")
            elif digest is not None and digest not in current:
                mine.append(f"port {endpoint.port}, {kind} client: serves {digest}, not an installed key")
        entry["current"] = not mine
        stale.extend(mine)
        reports.append(entry)
    return reports, stale


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    _crypto.require_cryptography(module)
    params = module.params
    texts = [("name", params["name"]), ("probe_host", params["probe_host"]), ("server_name", params["server_name"]),
             ("base_dir", params["base_dir"])]
    texts += [(f"planned_keys[{i}].{k}", item.get(k)) for i, item in enumerate(params["planned_keys"], start=1)
              for k in ("path", "curve")]
    for option, value in texts:
        if isinstance(value, str) and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            module.fail_json(msg=f"{option}: {value!r} contains a control character (CR, LF, NUL, ...); remove it")
    if not 0 < params["timeout"] <= 300:
        module.fail_json(msg=f"timeout: {params['timeout']!r} is out of range; give seconds between 0 and 300")
    try:
        installed = _layout.discover(params["base_dir"], name=params["name"])
        certificates = keys(installed)
        current = list(dict.fromkeys(c["spki_sha256"] for c in certificates))
        key_types = list(dict.fromkeys(c["key_type"] for c in certificates))
        probes, stale = served(params["probe_ports"], host=params["probe_host"], server_name=params["server_name"],
                               timeout=params["timeout"], key_types=key_types, current=current) \
            if params["probe_ports"] else ([], [])
        changing = replaced(installed, params["planned_keys"], policy=params["regenerate"],
                            switching=params["switching"]) if params["regenerate"] else []
    except (_layout.LayoutError, _crypto.PEMError, _probe.ProbeError, _fileio.FileIOError, _keys.PrivateKeyError) as exc:
        module.fail_json(msg=str(exc))
    upcoming = list(dict.fromkeys(c["next_spki_sha256"] for c in certificates if c["next_spki_sha256"]))
    module.exit_json(changed=False, certificates=certificates, current_spki=current, next_spki=upcoming, served=probes,
                     all_ports_serve_current=not stale if probes else None, not_current=stale, replaced=changing)


if __name__ == "__main__":
    main()
