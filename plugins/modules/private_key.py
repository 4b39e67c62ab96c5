#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: private_key
short_description: Create and keep the private key of a mail server's certificate
version_added: 0.1.0
description:
  - Makes sure O(path) holds a private key of the asked O(type) and strength (O(size) or O(curve)), creating it when
    it is missing.
  - An existing key is compared by meaning, not by bytes. A key of the asked type and strength is kept (C(changed=false))
    whatever PEM flavour it is stored in, so a key written by C(openssl genrsa -traditional), C(openssl ecparam -genkey)
    or C(openssl genpkey) is kept as it is.
  - What happens to a key that does not fit the request, or cannot be read, is decided by O(regenerate). The default,
    V(fail), never replaces an existing key on its own. A new key has a new public key, and a DANE TLSA record of the
    usual C(3 1 1) kind publishes the SHA-256 of that public key (RV(spki_sha256)). A key that was replaced
    silently makes every DANE-validating sender defer mail to this host until the DNS is updated. Therefore replacing a
    key must be asked for.
  - New keys are written as PKCS#8 PEM, encrypted when O(passphrase) is set, to a temporary file that is private from
    the start and renamed over O(path) after its mode and owner are set.
  - The key itself and the passphrase are never returned, logged or shown in a diff. Results and diffs carry public
    facts only. These are the key's type, size and curve, its public key fingerprints, whether it is encrypted, and the
    file's mode, owner and group.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
  - postmaster.tls.keys
requirements:
  - cryptography >= 3.4 on the managed host (Debian 12's python3-cryptography 38 works)
attributes:
  check_mode:
    details:
      - Check mode makes the same decision as a real run and fails in the same cases. It does not generate a key,
        so RV(spki_sha256) and RV(fingerprints) are not returned when a key would be created or replaced.
      - When the key's directory does not exist yet, check mode predicts a new key - with O(directory_mode) also the
        new directories (RV(directories)); without it, it warns, because an earlier task that creates the directory
        does not create it in check mode.
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the key's type, size or curve, RV(spki_sha256), SHA-256 fingerprint, whether it is
        encrypted, and the file's mode, owner and group. It never shows the key.
  idempotent:
    support: partial
    details:
      - Idempotent with every O(regenerate) policy except V(always), which makes a new key on every run.
options:
  path:
    description:
      - Path of the private key file. The directory must exist, unless O(directory_mode) is set.
      - The collection's roles use C(/etc/postmaster-tls/<cert_name>/<rsa|ecdsa>/privkey.pem).
      - Required unless O(batch) is given.
    type: path
  type:
    description:
      - The key algorithm.
      - V(rsa) works with every mail client. V(ecdsa) is smaller and faster. Postfix and Dovecot can serve an RSA
        and an ECDSA certificate side by side, so make one key of each for two certificates.
      - V(ed25519) keys can sign CSRs and certificates, but few mail clients accept Ed25519 server certificates yet.
    type: str
    choices: [rsa, ecdsa, ed25519]
    default: rsa
  size:
    description:
      - Size of an RSA key in bits. Defaults to V(2048) when O(type=rsa).
      - Keys below 2048 bits and above 16384 bits are refused.
      - Only for O(type=rsa). For ECDSA, choose O(curve). Setting O(size) with another type fails.
    type: int
  curve:
    description:
      - The elliptic curve of an ECDSA key. Defaults to V(secp256r1) (P-256) when O(type=ecdsa).
      - Only for O(type=ecdsa). Setting O(curve) with another type fails.
    type: str
    choices: [secp256r1, secp384r1]
  passphrase:
    description:
      - Encrypt the key with this passphrase.
      - Postfix cannot read an encrypted key, so do not set this for keys that Postfix serves. Dovecot can read one
        with its key password setting. Use a passphrase for keys that stay offline or are only used to sign, such as
        a local CA's key.
      - An existing key that is not encrypted but matches the request is written again, encrypted with this
        passphrase. It stays the same key, and RV(spki_sha256) does not change.
      - An existing encrypted key is read with this passphrase. A wrong passphrase is handled like an unreadable key,
        see O(regenerate).
    type: str
  cipher:
    description:
      - How the key is encrypted when O(passphrase) is set.
      - V(auto) is the only choice, and the behaviour when this option is omitted. The key is written as PKCS#8 with
        PBES2 (PBKDF2 and AES-256-CBC), which OpenSSL and Dovecot read. This option exists so that
        playbooks written for community.crypto (C(cipher=auto)) work unchanged.
      - Requires O(passphrase).
      - An existing encrypted key is kept whatever cipher it uses.
    type: str
    choices: [auto]
  regenerate:
    description:
      - What to do when O(path) already holds a file. A new key is always made when O(path) does not exist.
      - V(never) keeps any key that can be read, even of another type or size, and warns about the mismatch.
        The module fails when the key cannot be read.
      - V(fail) (the default) keeps a key of the asked type and strength. The module fails, without touching the file,
        when the key is of another type or strength, or cannot be read (corrupt, encrypted without O(passphrase), wrong
        O(passphrase)). The message names the option that would replace the key.
      - V(partial_idempotence) replaces a key of another type or strength with a new one. It fails on a key that
        cannot be read, because that may be a typo in O(passphrase) rather than a broken key.
      - V(full_idempotence) also replaces a key that cannot be read. This is community.crypto's default. Use it with
        O(backup=true).
      - V(always) makes a new key on every run. Use it for a deliberate key rollover, after the new DANE TLSA record is
        published.
      - The default here is V(fail), not community.crypto's V(full_idempotence). A key that cannot be read is
        usually a wrong passphrase, and a key of another type is usually a typo or a changed variable. With either
        policy that replaces keys, a mistake like that would silently change the server's public key and break DANE
        TLSA records that pin it (C(3 1 1)). That means mail deferred by every DANE-validating sender. Failing
        loudly costs one re-run with the option set.
    type: str
    choices: [never, fail, partial_idempotence, full_idempotence, always]
    default: fail
  mode:
    description:
      - Permissions of the key file, as an octal string such as V('0600').
      - Use V('0640') with O(group=ssl-cert) to let services in that group read the key.
      - Modes that give other users any access (the last digit not 0) are refused.
    type: raw
    default: '0600'
  batch:
    description:
      - Several keys in one module run, instead of O(path) - for example a host's RSA and ECDSA keys, which a loop
        would make in one module run (and one round trip) each.
      - Each item names its O(path) and its own O(type), O(size) and O(curve) (the top-level O(type), O(size) and
        O(curve) do not apply); every other option applies to all items.
      - Each key is decided exactly as a single one would be. A problem with one key does not stop the others - it is
        reported under that path in RV(private_keys) (C(failed), C(msg)), and the module fails at the end naming every
        failed path.
    type: list
    elements: dict
    suboptions:
      path:
        description: Path of this key file.
        type: path
        required: true
      type:
        description: The key algorithm of this key, as O(type).
        type: str
        choices: [rsa, ecdsa, ed25519]
        default: rsa
      size:
        description: Size of this RSA key, as O(size).
        type: int
      curve:
        description: Curve of this ECDSA key, as O(curve).
        type: str
        choices: [secp256r1, secp384r1]
  directory_mode:
    description:
      - Keep the key's directory too - create it (and every missing parent, like C(ansible.builtin.file state=directory))
        with this mode, O(owner) and O(group), and correct an existing key directory that differs. Parents that exist
        are left as they are.
      - Saves the separate directory task before the key (one round trip per key on every run); the directory is
        created just before the key is written, so a refused request leaves no empty directory behind.
      - Modes that let the group or other users write (and so replace the key) are refused. Use V('0700'), or
        V('0750') with O(group) so that the group can reach a key of mode V('0640').
      - Not set (the default) - the directory must exist and is not touched.
    type: raw
seealso:
  - module: postmaster.tls.csr
    description: Make a certificate signing request for the key.
  - module: community.crypto.openssl_privatekey
    description: The general-purpose module this one follows in its option names and O(regenerate) policies.
  - name: RFC 7671, DANE operational guidance (key rollover)
    description: Why a new key needs its TLSA record published before the key goes live.
    link: https://www.rfc-editor.org/rfc/rfc7671#section-8.1
notes:
  - To roll over a key without breaking DANE, publish a TLSA record for the new key next to the old one first. For
    that, create the new key at a new path (its RV(spki_sha256) is known right away), wait for the DNS TTL, and then
    switch the services to it.
"""

EXAMPLES = r"""
---
- name: Create the RSA key of the mail certificate (kept as it is on later runs)
  postmaster.tls.private_key:
    path: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem
    type: rsa
    size: 3072
  register: mail_rsa_key

- name: Show the DANE TLSA 3 1 1 record data for the key
  ansible.builtin.debug:
    msg: "_25._tcp.mail.example.org. IN TLSA 3 1 1 {{ mail_rsa_key.spki_sha256 }}"

- name: Create an ECDSA P-256 key readable by the ssl-cert group
  postmaster.tls.private_key:
    path: /etc/postmaster-tls/mail.example.org/ecdsa/privkey.pem
    type: ecdsa
    curve: secp256r1
    mode: "0640"
    owner: root
    group: ssl-cert
    # The directory too (missing levels created 0750 root:ssl-cert): no separate file task.
    directory_mode: "0750"

- name: A host's RSA and ECDSA keys in one module run, with their directories
  postmaster.tls.private_key:
    batch:
      - {path: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem, type: rsa, size: 3072}
      - {path: /etc/postmaster-tls/mail.example.org/ecdsa/privkey.pem, type: ecdsa}
    directory_mode: "0750"
  register: mail_keys

- name: Show the DANE TLSA 3 1 1 data of both keys
  ansible.builtin.debug:
    msg: "{{ mail_keys.private_keys.values() | map(attribute='spki_sha256') | list }}"

- name: Keep the key encrypted with a passphrase from the vault
  postmaster.tls.private_key:
    path: /etc/postmaster-tls/ca/ca.key
    type: ecdsa
    curve: secp384r1
    passphrase: "{{ vault_ca_key_passphrase }}"

- name: Replace a key of the wrong type, keeping a backup of the old one
  postmaster.tls.private_key:
    path: /etc/postmaster-tls/mail.example.org/ecdsa/privkey.pem
    type: ecdsa
    regenerate: partial_idempotence
    backup: true
"""

RETURN = r"""
private_keys:
  description:
    - With O(batch), the outcome per key path, in the order of O(batch) - the same keys as a single key returns
      (RV(path), RV(type), RV(key_size), RV(spki_sha256), RV(generated), RV(reason), ...), or C(failed) and C(msg)
      for a key that could not be made.
  returned: with O(batch)
  type: dict
  sample:
    /etc/postmaster-tls/mail.example.org/rsa/privkey.pem:
      path: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem
      changed: false
      type: rsa
      key_size: 3072
      generated: false
      spki_sha256: 8a1f0c9e3b2d4a5f6e7d8c9b0a1f2e3d4c5b6a7980f1e2d3c4b5a69788f9e0d1
path:
  description: Path of the key file.
  returned: success without O(batch)
  type: str
  sample: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem
type:
  description: Type of the key (of the asked key in check mode when one would be created).
  returned: success without O(batch)
  type: str
  sample: rsa
key_size:
  description:
    - Size of the key in bits (for ECDSA the curve's size, for Ed25519 V(256)).
    - Named C(key_size) because Ansible sets C(size) to the file's size in bytes in the result of every module that
      returns a C(path), together with C(mode), C(owner), C(group), C(uid), C(gid) and C(state).
  returned: success without O(batch)
  type: int
  sample: 3072
curve:
  description: Curve of an ECDSA key.
  returned: success and the key is an ECDSA key
  type: str
  sample: secp256r1
spki_sha256:
  description:
    - Hex SHA-256 of the DER SubjectPublicKeyInfo of the key. This is the data of a DANE TLSA C(3 1 1) record.
  returned: success without O(batch), except in check mode when a key would be created or replaced
  type: str
  sample: 8a1f0c9e3b2d4a5f6e7d8c9b0a1f2e3d4c5b6a7980f1e2d3c4b5a69788f9e0d1
fingerprints:
  description: Fingerprints of the public key (DER SubjectPublicKeyInfo), by hash, as colon-separated hex.
  returned: success without O(batch), except in check mode when a key would be created or replaced
  type: dict
  sample:
    sha256: "8a:1f:0c:9e:3b:2d:4a:5f:6e:7d:8c:9b:0a:1f:2e:3d:4c:5b:6a:79:80:f1:e2:d3:c4:b5:a6:97:88:f9:e0:d1"
    sha512: "2b:7e:...:9c"
generated:
  description:
    - Whether a new key was generated (in check mode, would be). When V(true) after a replacement, DANE TLSA records
      that pin the old key no longer match.
  returned: success without O(batch)
  type: bool
  sample: false
reason:
  description: Why the module did what it did, in words.
  returned: success without O(batch)
  type: str
  sample: the key in /etc/postmaster-tls/mail.example.org/rsa/privkey.pem is RSA 3072-bit as asked
directories:
  description: The directories created or corrected for O(directory_mode) (in check mode, that would be), outermost first.
  returned: success without O(batch), when O(directory_mode) is set
  type: list
  elements: str
  sample: [/etc/postmaster-tls/mail.example.org, /etc/postmaster-tls/mail.example.org/ecdsa]
backup_file:
  description: Path of the backup of the previous file.
  returned: when O(backup=true) and an existing file was replaced
  type: str
  sample: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem.2345.2026-11-02@10:11:12~
"""

from ansible_collections.postmaster.tls.plugins.module_utils import _batch, _crypto, _fileio, _keys, _validate


def argument_spec() -> dict:
    spec = _fileio.file_argument_spec(mode="0600")
    spec["path"] = {"type": "path"}
    spec.update(
        type=dict(type="str", default="rsa", choices=list(_keys.KEY_TYPES)),
        size=dict(type="int"),
        curve=dict(type="str", choices=list(_keys.CURVES)),
        passphrase=dict(type="str", no_log=True),
        cipher=dict(type="str", choices=list(_keys.CIPHERS)),
        regenerate=dict(type="str", default=_keys.DEFAULT_POLICY, choices=list(_keys.POLICIES)),
        directory_mode=dict(type="raw"),
        batch=dict(type="list", elements="dict", options={
            "path": {"type": "path", "required": True},
            "type": {"type": "str", "default": "rsa", "choices": list(_keys.KEY_TYPES)},
            "size": {"type": "int"},
            "curve": {"type": "str", "choices": list(_keys.CURVES)},
        }),
    )
    return spec


# The universal rule (no control characters in any value; the passphrase is never shown) beyond the types.
RULES = _validate.Rules()


def main() -> None:
    module = _validate.checked_module(
        RULES,
        argument_spec=argument_spec(),
        required_by={"cipher": ("passphrase",)},
        required_one_of=[("path", "batch")],
        mutually_exclusive=[("path", "batch")],
        supports_check_mode=True,
    )
    _crypto.require_cryptography(module)
    if module.params["batch"] is not None:
        # An item's type, size and curve are its own: the top-level ones do not mix in.
        _batch.exit_module(module, key="path", per_item=("path", "type", "size", "curve"), result_key="private_keys",
                           params=dict(module.params, size=None, curve=None),
                           one=lambda params: _keys.ensure_private_key(module, _keys.KeyRequest.from_params(params)),
                           expected=(_keys.PrivateKeyError,), doing="handling")
    with _batch.failing_without_secrets(module, expected=_keys.PrivateKeyError, doing="handling"):
        result = _keys.ensure_private_key(module, _keys.KeyRequest.from_params(module.params))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
