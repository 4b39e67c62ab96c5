#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: local_ca
short_description: Create and renew the root certificate of a local CA for mail server certificates
version_added: 0.1.0
description:
  - Makes a self-signed CA certificate for the private key at O(privatekey_path) (create the key
    first, for example with M(postmaster.tls.private_key)) and writes it to O(path).
    M(postmaster.tls.certificate) with O(postmaster.tls.certificate#module:provider=ownca) then
    issues server certificates from it.
  - The certificate has C(basicConstraints CA:TRUE) with O(path_length) (critical), keyUsage
    C(keyCertSign) and C(cRLSign) (critical), a subject key identifier and a matching authority key
    identifier, and a random 159-bit serial number.
  - Renews by date - once fewer than O(renew_before_days) days remain, the next run makes a new CA
    certificate with the same key and subject, so certificates it issued stay valid. It is also made
    again when the key, the subject or O(path_length) changed.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
  - postmaster.tls.certificate
  - postmaster.tls.cryptography
attributes:
  check_mode:
    details:
      - Check mode decides exactly as a real run and only skips the write. When the key does not
        exist yet because an earlier task would create it, check mode predicts a new certificate and warns.
    support: full
  diff_mode:
    details:
      - The diff shows subject, issuer, serial, expiry and fingerprint, before and after.
    support: full
  idempotent:
    details:
      - Except with O(force=true).
    support: full
options:
  privatekey_path:
    description:
      - The CA's private key. RSA keys need at least 2048 bits.
    type: path
    required: true
  privatekey_passphrase:
    description:
      - Passphrase of O(privatekey_path), when it is encrypted.
    type: str
  common_name:
    description:
      - The CA's common name.
    type: str
    default: postmaster.tls local CA
  organization:
    description:
      - The CA's organization name (optional).
    type: str
  path_length:
    description:
      - The C(pathLenConstraint) of the CA. V(0) (the default) lets the CA issue only end-entity
        certificates, which is all a mail server's local CA needs.
      - V(null) sets no limit.
    type: int
    default: 0
  valid_days:
    description:
      - How many days a new CA certificate is valid.
    type: int
    default: 3650
  renew_before_days:
    description:
      - Make a new CA certificate (same key, same subject) once fewer than this many days remain.
      - Must be smaller than O(valid_days). Certificates issued by the CA never outlive it, so keep
        this larger than their O(postmaster.tls.certificate#module:valid_days).
    type: int
    default: 365
seealso:
  - module: postmaster.tls.certificate
    description: Issue server certificates from this CA.
  - module: postmaster.tls.certificate_install
    description: Install them, with this CA certificate as O(postmaster.tls.certificate_install#module:trust_anchors_path).
notes:
  - Clients that should trust the CA need its certificate (O(path)), never its key.
"""

EXAMPLES = r"""
---
- name: Create the local CA certificate for an existing CA key
  postmaster.tls.local_ca:
    path: /etc/postmaster-tls/ca/ca.pem
    privatekey_path: /etc/postmaster-tls/ca/ca.key
    common_name: Example Mail CA
    organization: Example
  register: ca

- name: Show the CA's expiry
  ansible.builtin.debug:
    msg: "{{ ca.subject }} valid until {{ ca.not_after }}"
"""

RETURN = r"""
path:
  description: Where the CA certificate is.
  returned: always
  type: str
  sample: /etc/postmaster-tls/ca/ca.pem
renewed:
  description: V(true) when an existing CA certificate was replaced (or, in check mode, would be).
  returned: always
  type: bool
  sample: false
renew_reason:
  description: Why a new CA certificate was made (or would be); V(null) when the existing one was kept.
  returned: always
  type: str
  sample: no certificate at /etc/postmaster-tls/ca/ca.pem yet
not_after:
  description: The end of the CA certificate's validity, ISO 8601 in UTC.
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: '2036-11-28T10:00:00Z'
not_before:
  description: The start of the CA certificate's validity, ISO 8601 in UTC.
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: '2026-11-30T09:55:00Z'
days_remaining:
  description: Whole days until RV(not_after).
  returned: success, except in check mode when the key does not exist yet
  type: int
  sample: 3649
expired:
  description: Whether RV(not_after) has passed.
  returned: success, except in check mode when the key does not exist yet
  type: bool
  sample: false
serial:
  description: The serial number, lower-case hex bytes separated by colons.
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: 4f:2a:91:0c:7e:13:5b:aa:02:9d:61:c4:3e:88:f0:17:22:5a:0b:e9
subject:
  description: The CA's subject, as an RFC 4514 string.
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: CN=Example Mail CA,O=Example
subject_alt_names:
  description: The subjectAltNames (a CA certificate made here has none).
  returned: success, except in check mode when the key does not exist yet
  type: list
  elements: str
  sample: []
dns_names:
  description: The DNS names the certificate is for - its DNS subjectAltNames, or its common name when it has none.
  returned: success, except in check mode when the key does not exist yet
  type: list
  elements: str
  sample: [Example Mail CA]
issuer:
  description: The issuer (the same as RV(subject)).
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: CN=Example Mail CA,O=Example
key_type:
  description: The CA key's type.
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: ecdsa
key_size:
  description: The key size in bits (the curve size for ECDSA).
  returned: success, except in check mode when the key does not exist yet
  type: int
  sample: 384
key_curve:
  description: The curve of an ECDSA key; V(null) for other key types.
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: secp384r1
signature_algorithm:
  description: The signature algorithm, as openssl names it.
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: ecdsa-with-SHA384
fingerprint_sha256:
  description: SHA-256 of the CA certificate (DER), lower-case hex bytes separated by colons.
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: 3a:7d:...:c1
spki_sha256:
  description: SHA-256 (hex) of the CA's DER SubjectPublicKeyInfo (a DANE C(2 1 1) record's data).
  returned: success, except in check mode when the key does not exist yet
  type: str
  sample: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
is_ca:
  description: Whether the certificate is a CA certificate (always V(true) here).
  returned: success, except in check mode when the key does not exist yet
  type: bool
  sample: true
self_signed:
  description: Whether the certificate is self-signed (always V(true) here).
  returned: success, except in check mode when the key does not exist yet
  type: bool
  sample: true
extended_key_usage:
  description: The extended key usages; V(null) because a CA certificate made here has no EKU.
  returned: success, except in check mode when the key does not exist yet
  type: list
  elements: str
  sample: null
backup_file:
  description: The backup of the replaced CA certificate.
  returned: when O(backup=true) and a certificate was replaced
  type: str
  sample: /etc/postmaster-tls/ca/ca.pem.2345.2026-12-01@10:00:00~
"""

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crypto, _fileio, _validate


def argument_spec() -> dict:
    spec = _certificate.issue_argument_spec(valid_days=3650, renew_before_days=365)
    spec.update(
        privatekey_path={"type": "path", "required": True},
        privatekey_passphrase={"type": "str", "no_log": True},
        common_name={"type": "str", "default": "postmaster.tls local CA"},
        organization={"type": "str"},
        path_length={"type": "int", "default": 0},
    )
    return spec


# The universal rule (no control characters in any value, the subject fields included) beyond the types.
RULES = _validate.Rules()


def main() -> None:
    module = _validate.checked_module(RULES, argument_spec=argument_spec(), supports_check_mode=True)
    _crypto.require_cryptography(module)
    try:
        result = _certificate.LocalCABackend(module).run()
    except (_certificate.CertificateError, _crypto.PEMError, _fileio.FileIOError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
