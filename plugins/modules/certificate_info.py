#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate_info
short_description: Inspect certificate files (names, issuer, expiry, key, fingerprints, key match, renewal, revocation, CT)
version_added: 0.1.0
description:
  - Reads one or more certificate files and returns, for the first certificate of each (the leaf of a
    full chain), its subject, subjectAltNames, issuer, serial, validity, days remaining, key type and
    size, signature algorithm, SHA-256 fingerprint and C(spki_sha256) (the data of a DANE C(3 1 1)
    record), and whether it matches O(privatekey_path).
  - Also where each certificate stands in its lifecycle - when it falls due for renewal by the collection's
    lifetime rule (RV(certificates[].renewal)), whether it is revoked (RV(certificates[].revocation), from
    O(crl_path) or its CRL distribution point), and its embedded SCTs (RV(certificates[].certificate_transparency))
    judged against the browsers' CT policy when it is publicly trusted. A certificate of a local CA or a
    self-signed one carries no SCTs, and that is reported as expected.
  - Never changes anything.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.INFO_MODULE
  - postmaster.tls.cryptography
  - postmaster.tls.lifecycle
  - postmaster.tls.lifecycle.RENEWAL
options:
  paths:
    description:
      - Certificate files (PEM or DER). A file with several certificates is reported by its first one,
        with RV(certificates[].count) saying how many it holds.
      - A missing file fails the task, except in check mode, where it is reported with
        RV(certificates[].exists=false) and a warning (an earlier task may create it).
    type: list
    elements: path
    required: true
    aliases: [path]
  privatekey_path:
    description:
      - A private key to compare every certificate with; see RV(certificates[].matches_key).
    type: path
  privatekey_passphrase:
    description:
      - Passphrase of O(privatekey_path), when it is encrypted.
    type: str
  chain_paths:
    description:
      - Certificate files to find each certificate's issuer in, besides the other certificates of its own file and
        the system trust store - for example V(live/chain.pem) beside V(live/cert.pem), or the local CA certificate.
      - The issuer is needed to verify a CRL's and an SCT's signature and to tell a publicly trusted certificate from
        a local CA's.
    type: list
    elements: path
    default: []
seealso:
  - module: postmaster.tls.local_ca_crl
    description: Keep the CRL of a local CA (for O(crl_path)).
  - module: postmaster.tls.certificate_install
    description: Install a checked certificate.
"""

EXAMPLES = r"""
---
- name: Inspect the installed RSA and ECDSA certificates
  postmaster.tls.certificate_info:
    paths:
      - /etc/postmaster-tls/mail/rsa/live/cert.pem
      - /etc/postmaster-tls/mail/ecdsa/live/cert.pem
  register: info

- name: Warn when a certificate expires within 21 days
  ansible.builtin.debug:
    msg: "{{ item.path }} expires in {{ item.days_remaining }} days"
  loop: "{{ info.certificates }}"
  when: item.days_remaining < 21

- name: Renewal, revocation and CT of the installed certificate (the same rule the renew playbook uses)
  postmaster.tls.certificate_info:
    paths: /etc/postmaster-tls/mail/rsa/live/cert.pem
    chain_paths: /etc/postmaster-tls/mail/rsa/live/chain.pem
    crl_path: /etc/postmaster-tls/crl.pem
    ct_log_list_path: /etc/postmaster-tls/ct/log_list.json
    renew_before_days: 30
  register: life

- name: Say when it is due and whether it is revoked
  ansible.builtin.debug:
    msg: >-
      renew at {{ life.certificates[0].renewal.renew_at }}; revocation {{ life.certificates[0].revocation.status }};
      {{ life.certificates[0].certificate_transparency.count }} SCTs ({{ life.certificates[0].certificate_transparency.policy }})

- name: Check that the certificate belongs to the key
  postmaster.tls.certificate_info:
    paths: /etc/postmaster-tls/mail/rsa/live/cert.pem
    privatekey_path: /etc/postmaster-tls/mail/rsa/privkey.pem
  register: match
  failed_when: not match.certificates[0].matches_key
"""

RETURN = r"""
certificates:
  description: One entry per O(paths) entry, in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
      sample: /etc/postmaster-tls/mail/rsa/live/cert.pem
    exists:
      description: Whether the file exists (always V(true) outside check mode, where a missing file fails).
      type: bool
      sample: true
    count:
      description: How many certificates the file holds.
      type: int
      sample: 2
    subject:
      description: Subject, RFC 4514.
      type: str
      sample: CN=mail.example.org
    subject_alt_names:
      description: subjectAltNames as C(DNS:name) or C(IP:address) strings.
      type: list
      elements: str
      sample: [DNS:mail.example.org]
    dns_names:
      description: The DNS names the certificate is for - its DNS subjectAltNames, or its common name when it has none.
      type: list
      elements: str
      sample: [mail.example.org]
    issuer:
      description: Issuer, RFC 4514.
      type: str
      sample: CN=Example Mail CA
    serial:
      description: Serial number, lower-case hex bytes separated by colons.
      type: str
      sample: 4f:2a:91:0c:7e:13:5b:aa:02:9d:61:c4:3e:88:f0:17:22:5a:0b:e9
    not_before:
      description: Start of validity, ISO 8601 in UTC.
      type: str
      sample: '2026-12-01T09:55:00Z'
    not_after:
      description: End of validity, ISO 8601 in UTC.
      type: str
      sample: '2027-03-01T10:00:00Z'
    days_remaining:
      description: Whole days until RV(certificates[].not_after) (negative once expired).
      type: int
      sample: 89
    expired:
      description: Whether RV(certificates[].not_after) has passed.
      type: bool
      sample: false
    key_type:
      description: V(rsa), V(ecdsa), V(ed25519) or V(ed448).
      type: str
      sample: rsa
    key_size:
      description: Key size in bits (the curve size for ECDSA).
      type: int
      sample: 2048
    key_curve:
      description: Curve of an ECDSA key; V(null) otherwise.
      type: str
      sample: null
    signature_algorithm:
      description: Signature algorithm, as openssl names it.
      type: str
      sample: sha256WithRSAEncryption
    fingerprint_sha256:
      description: SHA-256 of the certificate (DER), colon-separated hex.
      type: str
      sample: 3a:7d:...:c1
    spki_sha256:
      description: SHA-256 (hex) of the DER SubjectPublicKeyInfo.
      type: str
      sample: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
    is_ca:
      description: Whether it is a CA certificate (C(basicConstraints CA:TRUE)).
      type: bool
      sample: false
    self_signed:
      description: Whether it is self-signed.
      type: bool
      sample: false
    extended_key_usage:
      description: Extended key usages; V(null) when the certificate has no EKU extension (any purpose).
      type: list
      elements: str
      sample: [serverAuth]
    matches_key:
      description:
        - Whether the certificate's public key is the one of O(privatekey_path).
        - V(null) when no key was given (or, in check mode, it does not exist yet).
      type: bool
      sample: true
    renewal:
      description:
        - The renewal rule's verdict (O(renew_before_days), O(renew_fraction), at O(renewal_now)) - C(due), C(reason),
          C(renew_at), C(threshold_days), C(lifetime_days), C(remaining_days), C(decided_by).
      type: dict
      returned: when the file exists
      sample: {due: false, reason: null, renew_at: '2027-01-30T10:00:00Z', threshold_days: 30.0, lifetime_days: 90.0,
               remaining_days: 84.5, decided_by: not_due}
    revocation:
      description:
        - C(status) - V(good), V(revoked), V(unknown) (a CRL was looked for but could not be used; C(errors) say why),
          V(not_checked) (no CRL for its issuer and O(crl_fetch) off or no distribution point) or V(not_applicable)
          (self-signed). With C(source) (the CRL file or URL used), C(serial), C(reason) and C(revocation_date) when
          revoked, C(crl_number), C(crl_next_update), C(distribution_points), C(errors) and C(fetch_seconds).
      type: dict
      returned: when the file exists
      sample: {status: revoked, source: /etc/postmaster-tls/crl.pem, serial: "4f:2a:91", reason: keyCompromise,
               revocation_date: '2027-03-01T10:00:00Z', crl_number: 4, crl_next_update: '2027-03-08T10:00:00Z',
               distribution_points: ['http://crl.example.org/mail-ca.crl'], errors: [], fetch_seconds: null}
    certificate_transparency:
      description:
        - C(count) and C(scts) (each with C(log_id), C(log), C(operator), C(timestamp) and C(signature) - V(valid),
          V(invalid), V(unknown_log), V(no_issuer) or V(not_checked) without a log list); C(scope) (V(public),
          V(private), V(self-signed), V(unknown)); C(required), the SCTs Chrome and Apple ask for at this lifetime;
          C(policy) (V(compliant), V(insufficient), or V(not_applicable) for a private or self-signed certificate, with
          a C(note)); C(findings); C(log_list_checked).
      type: dict
      returned: when the file exists
      sample: {count: 0, scts: [], scope: private, required: null, policy: not_applicable, findings: [],
               log_list_checked: false, note: "no SCTs expected: the certificate is from a private CA, which logs nothing"}
crls:
  description:
    - What each O(crl_path) file says - C(path), C(issuer), C(crl_number), C(this_update), C(next_update) and C(revoked)
      (every revoked certificate's C(serial), C(reason) and C(revocation_date)); empty without O(crl_path).
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/postmaster-tls/crl.pem, issuer: CN=postmaster.tls local CA, crl_number: 4,
            this_update: '2027-03-01T09:55:00Z', next_update: '2027-03-08T10:00:00Z',
            revoked: [{serial: "4f:2a:91", reason: keyCompromise, revocation_date: '2027-03-01T10:00:00Z'}]}]
"""

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crypto, _fileio, _lifecycle, _validate


def argument_spec() -> dict:
    spec = {
        "paths": {"type": "list", "elements": "path", "required": True, "aliases": ["path"]},
        "privatekey_path": {"type": "path"},
        "privatekey_passphrase": {"type": "str", "no_log": True},
        "chain_paths": {"type": "list", "elements": "path", "default": []},
    }
    spec.update(_lifecycle.argument_spec(renewal=True))
    return spec


# The universal rule (no control characters in any value) is all these options need beyond their types.
RULES = _validate.Rules()


def main() -> None:
    module = _validate.checked_module(RULES, argument_spec=argument_spec(), supports_check_mode=True)
    _crypto.require_cryptography(module)
    try:
        certificates, warnings = _certificate.inspect(
            module.params["paths"],
            privatekey_path=module.params["privatekey_path"],
            privatekey_passphrase=module.params["privatekey_passphrase"],
            tolerate_missing=module.check_mode,
        )
        crls, notes = _lifecycle.annotate(certificates, module.params, tolerate_missing=module.check_mode)
    except (_certificate.CertificateError, _crypto.PEMError, _fileio.FileIOError, _lifecycle.LifecycleError) as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings + notes:
        module.warn(warning)
    module.exit_json(changed=False, certificates=certificates, crls=crls)


if __name__ == "__main__":
    main()
