#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate_install
short_description: Check a certificate with its chain and key, then install it for Postfix and Dovecot
version_added: 0.1.0
description:
  - Takes a leaf certificate, its chain (intermediates in any order, possibly with duplicates,
    unrelated extras or the root) and its private key, checks everything, and only then writes four
    files into O(dest), each atomically.
  - C(cert.pem) - the leaf. C(chain.pem) - the intermediates in leaf-to-root order (plus the root
    with O(include_root=true)). C(fullchain.pem) - leaf and chain. C(combined.pem) - the private key,
    then the leaf, then the chain - the order Postfix's C(smtpd_tls_chain_files) wants; it is
    written with O(mode) (default V('0600')) and optionally O(group).
  - The checks, all before anything is written - B(key match) (the leaf belongs to the key);
    B(chain linking) (each certificate is signed by the next, verified by signature, not by name);
    B(trust anchor) (the chain ends at a certificate in O(trust_anchors_path)); B(validity) (no
    certificate on the path is expired or not yet valid); B(days remaining) (the leaf has at least
    O(min_days_remaining) days); B(names) (every O(required_names) entry is covered, wildcards per
    RFC 6125 - one left-most label only); B(key strength) (RSA 2048 bits or more, EC P-256 or
    stronger); B(signature algorithm) (no MD5 or SHA-1 signatures); B(extended key usage)
    (C(serverAuth) allowed); B(key usage) (a leaf's keyUsage, when present, allows digitalSignature or
    keyEncipherment); B(CA constraints) (intermediates are CA certificates); and last B(path validation) - RFC
    5280 path validation of the ordered chain by a maintained validator (see O(path_validation)), which refuses
    what the named checks do not cover, such as a path length or name constraint that is broken or a critical
    extension no client knows.
  - A failed check fails the task with a message that names the check and the certificate
    concerned, and every file in O(dest) stays exactly as it was. If a write fails half-way, the
    files already replaced are put back.
  - C(changed) is decided by meaning - the same certificates in the same order and the same key
    mean no change, whatever the whitespace - plus the files' mode, owner and group.
  - Install an RSA and an ECDSA certificate for the same names side by side by giving each its own
    O(dest) (for example C(.../rsa/live) and C(.../ecdsa/live)).
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
  - postmaster.tls.cryptography
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs every check and decides C(changed) exactly as a real run; only the writes are
        skipped. When an input does not exist yet because an earlier task would create it, check mode
        predicts an install and warns.
  diff_mode:
    support: full
    details:
      - The diff lists, per file, its mode and the certificates it holds (subject and fingerprint)
        and, for C(combined.pem), the key's type and public key hash. Key material never appears.
  idempotent:
    support: full
options:
  dest:
    description:
      - The directory the four files go into. It is created (mode V('0755')) when missing.
      - Required unless O(batch) is given.
    type: path
  certificate_path:
    description:
      - The leaf certificate (PEM). When the file holds more certificates (a full chain), the others
        are used as chain material too.
      - Exactly one of O(certificate_path) and O(certificate_content) is required.
    type: path
  certificate_content:
    description:
      - The leaf certificate as PEM text, instead of O(certificate_path).
    type: str
  chain_paths:
    description:
      - Files with intermediate certificates, in any order. Duplicates are dropped silently; certificates
        that are not on the leaf's path (and the root, unless O(include_root=true)) are left out with a warning.
    type: list
    elements: path
    default: []
  chain_content:
    description:
      - Intermediate certificates as PEM text, in addition to O(chain_paths).
    type: str
  privatekey_path:
    description:
      - The private key of the leaf certificate. C(combined.pem) carries it as it is stored.
      - Required unless O(batch) is given.
    type: path
  privatekey_passphrase:
    description:
      - Passphrase of O(privatekey_path), when it is encrypted (Postfix cannot read encrypted keys;
        the module warns).
    type: str
  trust_anchors_path:
    description:
      - A CA certificate file (or a directory of them) holding the trust anchors the chain must reach.
      - Default is the system's trust store, found through Python's C(ssl.get_default_verify_paths())
        and the usual distribution paths (C(/etc/ssl/certs/ca-certificates.crt) on Debian).
      - For a local CA, its certificate (M(postmaster.tls.local_ca)); for a self-signed certificate,
        the certificate itself.
      - With O(trust_anchors_content), the file that content is installed as.
    type: path
  trust_anchors_content:
    description:
      - The trust anchors as PEM text (for example a local CA certificate kept on the controller), used for the
        checks instead of a file on the host.
      - With O(trust_anchors_path) the anchors are also installed there (mode O(public_mode), owner O(owner)),
        checked and written together with the four files - atomically, rolled back with them, and shown in the
        diff - so that clients on the host (the verify role, C(openssl s_client -CAfile)) can trust the chain
        without another task.
    type: str
  include_root:
    description:
      - Also put the trust anchor (the root) at the end of C(chain.pem), C(fullchain.pem) and C(combined.pem).
      - Clients must have the root already, so sending it only costs bytes; leave it V(false) unless a
        peer needs it.
    type: bool
    default: false
  required_names:
    description:
      - Host names (or IP addresses) the leaf must be valid for, such as the MX host name and the
        submission and IMAP names.
    type: list
    elements: str
    default: []
  min_days_remaining:
    description:
      - Refuse a leaf with fewer days of validity left.
    type: int
    default: 14
  mode:
    description:
      - Mode of C(combined.pem), which holds the private key, as a quoted octal string.
      - Use V('0640') with O(group) (such as V(ssl-cert)) when a service reads it as that group.
    type: raw
    default: '0600'
  public_mode:
    description:
      - Mode of C(cert.pem), C(chain.pem) and C(fullchain.pem), which hold only public data.
    type: raw
    default: '0644'
  owner:
    description:
      - Owner of the four files. Default is the user running the module.
    type: str
  group:
    description:
      - Group of the four files, such as V(ssl-cert). Default is the user's primary group.
    type: str
  backup:
    description:
      - Keep a timestamped copy of every file that is replaced.
    type: bool
    default: false
  batch:
    description:
      - Several certificates in one module run, instead of O(dest) - for example a host's RSA and ECDSA certificates,
        which a loop would install in one module run (and one round trip) each.
      - Each item names its O(dest) and O(privatekey_path) and may set its own certificate, chain and trust anchor
        options; an option an item does not set is the top-level one. O(required_names), O(min_days_remaining),
        O(include_root), the file options and O(reload_flags) apply to all items.
      - Each item is checked and installed exactly as a single run would do it, its four files as one atomic set. A
        problem with one item does not stop the others - it is reported under its O(dest) in RV(installs) (C(failed),
        C(msg)) with its files unchanged, and the module fails at the end naming every failed item.
      - Items that install the same trust anchors at the same O(trust_anchors_path) write, and show, that file once.
    type: list
    elements: dict
    suboptions:
      dest:
        description: The directory of this item's four files.
        type: path
        required: true
      privatekey_path:
        description: The private key of this item's certificate.
        type: path
        required: true
      certificate_path:
        description: This item's certificate file, as O(certificate_path).
        type: path
      certificate_content:
        description: This item's certificate as text, as O(certificate_content).
        type: str
      chain_paths:
        description: This item's chain files, as O(chain_paths).
        type: list
        elements: path
      chain_content:
        description: This item's chain as text, as O(chain_content).
        type: str
      trust_anchors_path:
        description: As O(trust_anchors_path).
        type: path
      trust_anchors_content:
        description: As O(trust_anchors_content).
        type: str
  reload_flags:
    description:
      - Empty flag files created (with their directory, mode 0700) before the first of the four files changes - one per
        service that reads these files and must reload for them, for example V(/run/postmaster-tls/postfix.reload).
        A change of the installed trust anchors alone raises none.
      - M(postmaster.tls.postfix_tls) and M(postmaster.tls.dovecot_tls) report a raised flag (their O(postmaster.tls.postfix_tls#module:reload_flag))
        as RV(postmaster.tls.postfix_tls#module:reload_pending); the postfix and dovecot roles reload on it and remove
        the flag only after a successful reload, so a run that stops between installing and reloading is still
        reloaded by the next run.
      - Under C(/run) the flags go with a reboot, when the services start with the files anyway.
    type: list
    elements: path
    default: []
  reload_services:
    description:
      - Services (such as V(postfix), V(dovecot) or V(nginx)) whose pending-reload flag is raised like O(reload_flags), at the collection's one place for them
        (C(/run/postmaster-tls/<service>.reload), the place M(postmaster.tls.postfix_tls) and
        M(postmaster.tls.dovecot_tls) use unless their O(postmaster.tls.postfix_tls#module:reload_flag) is set).
      - RV(reload_flags) returns the flag files this run raises (or would raise) for a change.
    type: list
    elements: str
    default: []
  path_validation:
    description:
      - Which validator does the RFC 5280 path validation of the B(path validation) check.
      - V(cryptography) - C(cryptography.x509.verification) (cryptography 42 and newer, for example Debian 13). It
        follows RFC 5280 and the CA/Browser Forum profile, and so also refuses certificates without the extensions
        RFC 5280 says CAs MUST include (authorityKeyIdentifier on issued certificates, keyUsage on CA certificates,
        subjectAltName on a server certificate).
      - V(openssl) - C(openssl verify -purpose sslserver) on the host, the check of OpenSSL-based mail clients.
      - V(auto) - V(cryptography) where the host's cryptography has it, otherwise V(openssl) (Debian 12).
    type: str
    choices: [auto, cryptography, openssl]
    default: auto
seealso:
  - module: postmaster.tls.certificate
    description: Issue the certificate (self-signed or from a local CA).
  - module: postmaster.tls.certificate_info
    description: Inspect installed certificates.
"""

EXAMPLES = r"""
---
- name: Install the RSA certificate issued by the local CA
  postmaster.tls.certificate_install:
    dest: /etc/postmaster-tls/mail/rsa/live
    certificate_path: /etc/postmaster-tls/mail/rsa/issued.pem
    privatekey_path: /etc/postmaster-tls/mail/rsa/privkey.pem
    trust_anchors_path: /etc/postmaster-tls/ca/ca.pem
    required_names:
      - mail.example.org
      - smtp.example.org

- name: Install a certificate from a CA on the controller, and that CA's certificate as the host's trust anchor
  postmaster.tls.certificate_install:
    dest: /etc/postmaster-tls/mail/rsa/live
    certificate_content: "{{ signed.certificate }}"
    privatekey_path: /etc/postmaster-tls/mail/rsa/privkey.pem
    trust_anchors_content: "{{ lookup('ansible.builtin.file', '/srv/ca/ca.pem') }}"
    trust_anchors_path: /etc/postmaster-tls/ca.pem
    required_names: [mail.example.org]

- name: Install a host's RSA and ECDSA certificates from the controller's CA in one module run
  postmaster.tls.certificate_install:
    batch:
      - dest: /etc/postmaster-tls/mail/rsa/live
        privatekey_path: /etc/postmaster-tls/mail/rsa/privkey.pem
        certificate_content: "{{ signed_rsa }}"
      - dest: /etc/postmaster-tls/mail/ecdsa/live
        privatekey_path: /etc/postmaster-tls/mail/ecdsa/privkey.pem
        certificate_content: "{{ signed_ecdsa }}"
    trust_anchors_content: "{{ lookup('ansible.builtin.file', '/srv/ca/ca.pem') }}"
    trust_anchors_path: /etc/postmaster-tls/ca.pem
    required_names: [mail.example.org]
    reload_services: [postfix, dovecot]
  register: installed_pair

- name: Install a commercial certificate with its intermediates, readable by the ssl-cert group
  postmaster.tls.certificate_install:
    dest: /etc/postmaster-tls/mail/ecdsa/live
    certificate_path: /root/incoming/mail.example.org.crt
    chain_paths:
      - /root/incoming/intermediates.pem
    privatekey_path: /etc/postmaster-tls/mail/ecdsa/privkey.pem
    required_names: [mail.example.org]
    min_days_remaining: 21
    mode: "0640"
    group: ssl-cert
    backup: true
  register: installed

- name: Show what is installed
  ansible.builtin.debug:
    msg: "{{ installed.chain | map(attribute='subject') | list }} until {{ installed.not_after }}"
"""

RETURN = r"""
installs:
  description:
    - With O(batch), the outcome per O(dest), in the order of O(batch) - the same keys as a single install returns
      (RV(dest), RV(files), RV(changed_files), RV(fingerprint_sha256), RV(spki_sha256), ...), or C(failed) and C(msg)
      for an item that could not be installed.
  returned: with O(batch)
  type: dict
  sample:
    /etc/postmaster-tls/mail/rsa/live:
      dest: /etc/postmaster-tls/mail/rsa/live
      changed: false
      changed_files: []
      spki_sha256: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
      trust_anchors_installed: true
dest:
  description: The destination directory.
  returned: always without O(batch)
  type: str
  sample: /etc/postmaster-tls/mail/rsa/live
files:
  description: The paths of the four files.
  returned: always without O(batch)
  type: dict
  contains:
    cert:
      description: The leaf certificate.
      type: str
      sample: /etc/postmaster-tls/mail/rsa/live/cert.pem
    chain:
      description: The intermediates, leaf-to-root order.
      type: str
      sample: /etc/postmaster-tls/mail/rsa/live/chain.pem
    fullchain:
      description: Leaf and intermediates.
      type: str
      sample: /etc/postmaster-tls/mail/rsa/live/fullchain.pem
    combined:
      description: Private key, leaf, intermediates (for Postfix's C(smtpd_tls_chain_files)).
      type: str
      sample: /etc/postmaster-tls/mail/rsa/live/combined.pem
  sample:
    cert: /etc/postmaster-tls/mail/rsa/live/cert.pem
    chain: /etc/postmaster-tls/mail/rsa/live/chain.pem
    fullchain: /etc/postmaster-tls/mail/rsa/live/fullchain.pem
    combined: /etc/postmaster-tls/mail/rsa/live/combined.pem
changed_files:
  description:
    - Names of the files whose content or mode/owner/group changed (or would, in check mode).
    - V(trust_anchors) stands for the file at O(trust_anchors_path) when O(trust_anchors_content) is installed there.
  returned: always without O(batch)
  type: list
  elements: str
  sample: [cert.pem, fullchain.pem, combined.pem]
fingerprint_sha256:
  description: SHA-256 of the leaf certificate (DER), lower-case hex bytes separated by colons.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: 3a:7d:...:c1
spki_sha256:
  description:
    - SHA-256 (hex) of the leaf's DER SubjectPublicKeyInfo, the data of a DANE C(3 1 1) TLSA record.
    - The leaf's own facts are in the first entry of RV(chain); this, RV(fingerprint_sha256), RV(not_after) and
      RV(days_remaining) repeat four of them.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
not_after:
  description: The end of the leaf's validity, ISO 8601 in UTC.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: '2027-03-01T10:00:00Z'
days_remaining:
  description:
    - Whole days until RV(not_after) (negative once expired).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: int
  sample: 89
chain:
  description:
    - The installed certificates in order, leaf first, each with the certificate facts every module of the collection
      returns (the keys of RV(postmaster.tls.certificate_info#module:certificates), without C(path), C(exists),
      C(count) and C(matches_key)).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: list
  elements: dict
  sample:
    - subject: CN=mail.example.org
      subject_alt_names: [DNS:mail.example.org]
      dns_names: [mail.example.org]
      issuer: CN=Example Intermediate CA
      serial: 4f:2a:91:0c:7e:13:5b:aa:02:9d:61:c4:3e:88:f0:17:22:5a:0b:e9
      not_before: '2026-12-01T09:55:00Z'
      not_after: '2027-03-01T10:00:00Z'
      days_remaining: 89
      expired: false
      key_type: ecdsa
      key_size: 256
      key_curve: secp256r1
      signature_algorithm: ecdsa-with-SHA256
      fingerprint_sha256: "3a:7d:...:c1"
      spki_sha256: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
      is_ca: false
      self_signed: false
      extended_key_usage: [serverAuth]
    - {subject: CN=Example Intermediate CA, issuer: CN=Example Root CA, fingerprint_sha256: "9f:00:...:42", is_ca: true}
trust_anchor:
  description:
    - The trust anchor the chain reached, with the same certificate facts as RV(chain) and C(source), the file or
      directory it came from.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: dict
  sample: {subject: CN=Example Root CA, fingerprint_sha256: "11:22:...:ff", is_ca: true, self_signed: true,
           source: /etc/ssl/certs/ca-certificates.crt}
path_validation:
  description: The validator that did the RFC 5280 path validation (see O(path_validation)), with its version.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: cryptography 43.0.0
reload_flags:
  description: The pending-reload flag files raised (in check mode, that would be raised) when a served file changes.
  returned: success without O(batch)
  type: list
  elements: str
  sample: [/run/postmaster-tls/postfix.reload, /run/postmaster-tls/dovecot.reload]
trust_anchors_installed:
  description:
    - V(true) when O(trust_anchors_path) holds O(trust_anchors_content) after this run (in check mode - already holds it),
      so that a later task may use that file as its trust anchor.
  returned: success without O(batch)
  type: bool
  sample: true
dropped:
  description:
    - Certificates given as chain material that were left out, each with the same certificate facts as RV(chain)
      and C(reason) - V(duplicate), V(not part of the leaf's chain) or V(the root stays out (include_root=false)).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: list
  elements: dict
  sample:
    - {subject: CN=Unrelated CA, fingerprint_sha256: "aa:bb:...:cc", is_ca: true, reason: "not part of the leaf's chain"}
backup_files:
  description: Backups of replaced files, by file key (V(cert), V(chain), V(fullchain), V(combined)).
  returned: when O(backup=true) and a file was replaced
  type: dict
  sample: {combined: /etc/postmaster-tls/mail/rsa/live/combined.pem.2345.2026-12-01@10:00:00~}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _batch, _chain, _crypto, _fileio, _layout, _pathcheck, _validate, _x509

# What an item of batch may set for itself; every other option is the module's.
BATCH_OPTIONS = ("dest", "privatekey_path", "certificate_path", "certificate_content", "chain_paths", "chain_content",
                 "trust_anchors_path", "trust_anchors_content")


def argument_spec() -> dict:
    return {
        "dest": {"type": "path"},
        "certificate_path": {"type": "path"},
        "certificate_content": {"type": "str"},
        "chain_paths": {"type": "list", "elements": "path", "default": []},
        "chain_content": {"type": "str"},
        "privatekey_path": {"type": "path"},
        "privatekey_passphrase": {"type": "str", "no_log": True},
        "trust_anchors_path": {"type": "path"},
        "trust_anchors_content": {"type": "str"},
        "include_root": {"type": "bool", "default": False},
        "required_names": {"type": "list", "elements": "str", "default": []},
        "min_days_remaining": {"type": "int", "default": 14},
        "mode": {"type": "raw", "default": "0600"},
        "public_mode": {"type": "raw", "default": "0644"},
        "owner": {"type": "str"},
        "group": {"type": "str"},
        "backup": {"type": "bool", "default": False},
        "reload_flags": {"type": "list", "elements": "path", "default": []},
        "reload_services": {"type": "list", "elements": "str", "default": []},
        "path_validation": {"type": "str", "default": "auto", "choices": list(_pathcheck.CHOICES)},
        "batch": {"type": "list", "elements": "dict", "options": {
            "dest": {"type": "path", "required": True},
            "privatekey_path": {"type": "path", "required": True},
            "certificate_path": {"type": "path"},
            "certificate_content": {"type": "str"},
            "chain_paths": {"type": "list", "elements": "path"},
            "chain_content": {"type": "str"},
            "trust_anchors_path": {"type": "path"},
            "trust_anchors_content": {"type": "str"},
        }},
    }


# Errors whose message is written for the user and holds no secret.
EXPECTED = (_chain.ChainError, _x509.CheckError, _pathcheck.PathCheckError, _crypto.PEMError, _fileio.FileIOError)


def path_validator(module: AnsibleModule) -> _pathcheck.PathValidator:
    """The RFC 5280 validator of this run; openssl is looked up only when it is the one."""
    def run(argv: list) -> tuple:
        return module.run_command(argv, environ_update={"LC_ALL": "C", "LANG": "C"})

    return _pathcheck.PathValidator(module.params["path_validation"], run=run, tmpdir=module.tmpdir,
                                    openssl=lambda: module.get_bin_path("openssl", required=True))


def install_batch(module: AnsibleModule, validator: _pathcheck.PathValidator) -> None:
    """Every item checked and installed as a single run would do it; the trust anchors file once per path."""
    anchors_done: dict = {}

    def one(params: dict) -> dict:
        if bool(params["certificate_path"]) == bool(params["certificate_content"]):
            raise _chain.ChainError("give exactly one of certificate_path and certificate_content")
        return _chain.InstallBackend(module, validator=validator, params=params, anchors_done=anchors_done).run()

    _batch.exit_module(module, key="dest", per_item=BATCH_OPTIONS, result_key="installs", one=one, expected=EXPECTED,
                       doing="installing into")


# Every option's meaning beyond its type: the universal rule refuses control characters in every value, except
# line breaks in PEM content; names are DNS names or addresses; a negative minimum would accept expired certificates.
RULES = _validate.Rules(
    multiline=("certificate_content", "chain_content", "trust_anchors_content", "batch[].certificate_content",
               "batch[].chain_content", "batch[].trust_anchors_content"),
    checks={"required_names[]": _validate.name_or_address, "min_days_remaining": _validate.at_least(0)},
)


def main() -> None:
    module = _validate.checked_module(
        RULES,
        argument_spec=argument_spec(),
        mutually_exclusive=[("certificate_path", "certificate_content"), ("dest", "batch")],
        required_one_of=[("dest", "batch")],
        required_by={"dest": ("privatekey_path",)},
        supports_check_mode=True,
    )
    _crypto.require_cryptography(module)
    try:
        for service in module.params["reload_services"]:
            _layout.check_service(service, option="reload_services")
    except _layout.LayoutError as exc:
        module.fail_json(msg=str(exc))
    try:
        validator = path_validator(module)
    except _pathcheck.PathCheckError as exc:
        module.fail_json(msg=str(exc))
    if module.params["batch"] is not None:
        install_batch(module, validator)
    if not (module.params["certificate_path"] or module.params["certificate_content"]):
        module.fail_json(msg="one of the following is required: certificate_path, certificate_content")
    try:
        result = _chain.InstallBackend(module, validator=validator).run()
    except _x509.CheckError as exc:
        module.fail_json(msg=str(exc), check=exc.check, concerned=exc.concerned)
    except EXPECTED as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
