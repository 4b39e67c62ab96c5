#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate
short_description: Issue a TLS server certificate for a CSR, self-signed or from a local CA, and renew it by date
version_added: 0.1.0
description:
  - Issues a certificate for the CSR at O(csr_path) (or given as O(csr_content)) and writes it to O(path), either self-signed
    (O(provider=selfsigned)) or signed by a local CA (O(provider=ownca), see M(postmaster.tls.local_ca)).
  - The certificate takes the CSR's subject, public key and subjectAltNames (or, when the CSR asks for
    none, its common name as the only DNS name). Everything else is fixed policy for a mail server
    certificate - C(basicConstraints CA:FALSE) (critical), keyUsage C(digitalSignature) (plus
    C(keyEncipherment) for RSA keys, critical), extended key usage C(serverAuth), subject and
    authority key identifiers, and a random 159-bit serial number.
  - Unlike community.crypto's own-CA and self-signed providers, this module renews by the certificate's
    lifetime - once less than O(renew_fraction) of its lifetime (one third) or fewer than O(renew_before_days)
    days remain, whichever comes first, the next run issues a new certificate. O(renew_before_days) counts at
    most half of O(valid_days), so a certificate issued now is never due at once, whether it lives 6, 47, 90
    or 398 days. It also issues again when the CSR's key, subject or names changed, when the certificate was
    not issued by the given CA (the CA changed), when O(crl_distribution_points) changed, or when O(force=true).
  - A CSR that asks for OCSP must-staple is refused - Postfix and Dovecot cannot staple OCSP responses, so
    clients that honour the extension would refuse the server.
  - A certificate from a local CA never outlives the CA certificate; when that would leave fewer
    than O(renew_before_days) days, the module fails and asks for the CA to be renewed first.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
  - postmaster.tls.certificate
  - postmaster.tls.cryptography
attributes:
  check_mode:
    support: full
    details:
      - Check mode decides exactly as a real run (it even signs the new certificate in memory) and
        only skips the write. When an input (CSR, key, CA) does not exist yet because an earlier
        task would create it, check mode predicts a new certificate and warns.
  diff_mode:
    support: full
    details:
      - The diff shows subject, names, issuer, serial, expiry and fingerprint, before and after.
  idempotent:
    support: full
    details:
      - Except with O(force=true).
options:
  path:
    description:
      - Where the certificate is written (PEM).
      - An existing certificate there is kept as long as it still fits the inputs and has more than
        O(renew_before_days) days left; otherwise a new one is issued in its place.
      - Required unless O(batch) is given.
    type: path
    required: false
  csr_path:
    description:
      - The certificate signing request (PEM or DER), for example made by M(postmaster.tls.csr).
      - With O(path), exactly one of O(csr_path) and O(csr_content) is required.
    type: path
  csr_content:
    description:
      - The certificate signing request itself (PEM), instead of a file - for example the RV(postmaster.tls.csr#module:csr)
        that M(postmaster.tls.csr) returned on a mail host, signed here on the host that keeps the CA. This saves
        copying the request to a file first (one module run per certificate less).
    type: str
  batch:
    description:
      - Many certificates from the local CA in one module run (O(provider=ownca) only), instead of O(path) with
        O(csr_path) or O(csr_content) - for example every mail host's CSRs of a play, signed once on the controller
        rather than one module run per host and key type. Each group maps certificate paths to CSRs and may set its
        own O(valid_days), O(renew_before_days) and O(force); O(mode), O(owner), O(group) and O(backup) apply to all.
      - Each certificate is decided exactly as a single one would be. A problem with one CSR does not stop the
        others - it is reported under that path in RV(certificates) (C(failed), C(msg)), and the module fails at
        the end naming every failed path; a problem with the CA fails every one.
    type: list
    elements: dict
    suboptions:
      certificates:
        description: Certificate path (where it is written) to the CSR it is issued for (PEM text).
        type: dict
        required: true
      valid_days:
        description: O(valid_days) for this group; the module's O(valid_days) when not set.
        type: int
      renew_before_days:
        description: O(renew_before_days) for this group; the module's O(renew_before_days) when not set.
        type: int
      renew_fraction:
        description: O(renew_fraction) for this group; the module's O(renew_fraction) when not set.
        type: float
      force:
        description: O(force) for this group; the module's O(force) when not set.
        type: bool
  provider:
    description:
      - V(selfsigned) signs the certificate with its own key (O(privatekey_path)); for labs and for
        peers that pin the certificate.
      - V(ownca) signs it with a local CA (O(ca_cert_path), O(ca_privatekey_path)).
    type: str
    required: true
    choices: [selfsigned, ownca]
  privatekey_path:
    description:
      - The private key the CSR was made with.
      - Required with O(provider=selfsigned) (it signs the certificate). With O(provider=ownca) it is
        optional and only checked against the CSR, so a key replaced without a new CSR is caught.
    type: path
  privatekey_passphrase:
    description:
      - Passphrase of O(privatekey_path), when it is encrypted.
    type: str
  ca_cert_path:
    description:
      - The CA certificate that signs (PEM), with O(provider=ownca). It must be a CA certificate
        (C(basicConstraints CA:TRUE)) that is valid now.
    type: path
  ca_privatekey_path:
    description:
      - The CA's private key, with O(provider=ownca).
    type: path
  ca_privatekey_passphrase:
    description:
      - Passphrase of O(ca_privatekey_path), when it is encrypted.
    type: str
  valid_days:
    description:
      - How many days a new certificate is valid (from now; the start is back-dated five minutes for
        clock skew).
      - Changing it does not by itself issue a new certificate; the next renewal uses it.
    type: int
    default: 365
  renew_before_days:
    description:
      - Issue a new certificate once fewer than this many days remain (or less than O(renew_fraction) of its
        lifetime, whichever comes first).
      - Counted as at most half of O(valid_days), so a new certificate is never due at once.
      - Must be smaller than O(valid_days).
    type: int
    default: 30
  renew_fraction:
    description:
      - Issue a new certificate once less than this fraction of the certificate's lifetime (notBefore to notAfter)
        remains, or fewer than O(renew_before_days) days, whichever comes first. Above 0, at most 0.5.
      - With the defaults a 90-day certificate is renewed 30 days before it expires, a 47-day one at half its
        life (O(renew_before_days) counts as 23.5 days), a 6-day one after 3 days and a 398-day one about 133 days
        before it expires.
    type: float
    default: 0.3333333333333333
  crl_distribution_points:
    description:
      - URLs (C(http://)) where the local CA's CRL is published, written into every certificate issued from now on
        as its CRL distribution points, so clients and M(postmaster.tls.mail_tls_verify) can find the CRL.
        M(postmaster.tls.local_ca_crl) keeps that CRL (its O(postmaster.tls.local_ca_crl#module:der_path) is the file to publish).
      - With O(provider=ownca) only. Changing the list issues new certificates.
    type: list
    elements: str
    default: []
seealso:
  - module: postmaster.tls.local_ca_crl
    description: Revoke certificates of the local CA and keep its CRL.
  - module: postmaster.tls.local_ca
    description: Create the local CA that O(provider=ownca) signs with.
  - module: postmaster.tls.certificate_install
    description: Check the certificate with its chain and key and install it for Postfix and Dovecot.
  - module: postmaster.tls.certificate_info
    description: Inspect certificates without changing anything.
"""

EXAMPLES = r"""
---
- name: Issue the RSA certificate from the local CA, renewed 30 days before it expires
  postmaster.tls.certificate:
    path: /etc/postmaster-tls/mail/rsa/issued.pem
    csr_path: /etc/postmaster-tls/mail/rsa/request.csr
    privatekey_path: /etc/postmaster-tls/mail/rsa/privkey.pem
    provider: ownca
    ca_cert_path: /etc/postmaster-tls/ca/ca.pem
    ca_privatekey_path: /etc/postmaster-tls/ca/ca.key
    valid_days: 90
    renew_before_days: 30
  register: issued

- name: Show when it expires
  ansible.builtin.debug:
    msg: "{{ issued.not_after }} ({{ issued.days_remaining }} days); renewed: {{ issued.renewed }} {{ issued.renew_reason }}"

- name: Issue a self-signed certificate for a lab
  postmaster.tls.certificate:
    path: /etc/postmaster-tls/lab/ecdsa/issued.pem
    csr_path: /etc/postmaster-tls/lab/ecdsa/request.csr
    privatekey_path: /etc/postmaster-tls/lab/ecdsa/privkey.pem
    provider: selfsigned
    valid_days: 30
    renew_before_days: 10

- name: Make the CSR on the mail host
  postmaster.tls.csr:
    path: /etc/postmaster-tls/mail/ecdsa/request.csr
    privatekey_path: /etc/postmaster-tls/mail/ecdsa/privkey.pem
    common_name: mail.example.org
  register: request

- name: Sign it on the controller, where the CA key stays, straight from the task result
  postmaster.tls.certificate:
    path: "{{ lookup('ansible.builtin.env', 'HOME') }}/ca/issued/{{ inventory_hostname }}-ecdsa.pem"
    csr_content: "{{ request.csr }}"
    provider: ownca
    ca_cert_path: "{{ lookup('ansible.builtin.env', 'HOME') }}/ca/ca.pem"
    ca_privatekey_path: "{{ lookup('ansible.builtin.env', 'HOME') }}/ca/ca.key"
  delegate_to: localhost

- name: Sign the CSRs of every mail host in one module run on the controller
  postmaster.tls.certificate:
    provider: ownca
    ca_cert_path: "{{ lookup('ansible.builtin.env', 'HOME') }}/ca/ca.pem"
    ca_privatekey_path: "{{ lookup('ansible.builtin.env', 'HOME') }}/ca/ca.key"
    batch:
      - certificates:
          /home/ops/ca/issued/mx1-rsa.pem: "{{ hostvars['mx1'].request.csr }}"
          /home/ops/ca/issued/mx2-rsa.pem: "{{ hostvars['mx2'].request.csr }}"
        valid_days: 90
        renew_before_days: 30
  run_once: true
  delegate_to: localhost
  register: signed
"""

RETURN = r"""
path:
  description: Where the certificate is.
  returned: always, except with O(batch)
  type: str
  sample: /etc/postmaster-tls/mail/rsa/issued.pem
renewal:
  description:
    - When the certificate falls due by the renewal rule - C(due), C(reason), C(renew_at) (ISO 8601),
      C(threshold_days), C(lifetime_days), C(remaining_days) and C(decided_by)
      (V(renew_before_days), V(renew_fraction), V(expired) or V(not_due)).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: dict
  sample: {due: false, reason: null, renew_at: '2027-01-30T10:00:00Z', threshold_days: 30.0, lifetime_days: 90.0,
           remaining_days: 89.99, decided_by: not_due}
renewed:
  description:
    - V(true) when an existing certificate was replaced (or, in check mode, would be).
    - V(false) when the certificate was kept, or issued where there was none.
  returned: always, except with O(batch)
  type: bool
  sample: true
renew_reason:
  description: Why a new certificate was issued (or would be, in check mode); V(null) when the existing one was kept.
  returned: always, except with O(batch)
  type: str
  sample: 3 days remain, fewer than renew_before_days=30
not_after:
  description: The end of the certificate's validity, ISO 8601 in UTC.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: '2027-03-01T10:00:00Z'
not_before:
  description: The start of the certificate's validity, ISO 8601 in UTC.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: '2026-12-01T09:55:00Z'
days_remaining:
  description: Whole days until RV(not_after).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: int
  sample: 89
expired:
  description: Whether RV(not_after) has passed.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: bool
  sample: false
serial:
  description: The serial number, lower-case hex bytes separated by colons (as C(openssl x509 -text) shows it).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: 4f:2a:91:0c:7e:13:5b:aa:02:9d:61:c4:3e:88:f0:17:22:5a:0b:e9
subject:
  description: The subject, as an RFC 4514 string.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: CN=mail.example.org
subject_alt_names:
  description: The subjectAltNames, as C(DNS:name) or C(IP:address) strings.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: list
  elements: str
  sample: [DNS:mail.example.org, DNS:smtp.example.org]
dns_names:
  description: The DNS names the certificate is for - its DNS subjectAltNames, or its common name when it has none.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: list
  elements: str
  sample: [mail.example.org, smtp.example.org]
issuer:
  description: The issuer, as an RFC 4514 string.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: CN=Example Mail CA
key_type:
  description: The certificate's key type.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: rsa
key_size:
  description: The key size in bits (the curve size for ECDSA).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: int
  sample: 2048
key_curve:
  description: The curve of an ECDSA key; V(null) for other key types.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: secp256r1
signature_algorithm:
  description: The signature algorithm, as openssl names it.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: sha256WithRSAEncryption
fingerprint_sha256:
  description:
    - SHA-256 of the certificate (DER), lower-case hex bytes separated by colons.
    - In check mode with a new certificate, the fingerprint of the one check mode signed in memory
      (a real run signs another, with a different serial).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: 3a:7d:...:c1
spki_sha256:
  description: SHA-256 (hex) of the DER SubjectPublicKeyInfo, the data of a DANE C(3 1 1) TLSA record.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: str
  sample: 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
is_ca:
  description: Whether the certificate is a CA certificate (always V(false) for what this module issues).
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: bool
  sample: false
self_signed:
  description: Whether the certificate is self-signed.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: bool
  sample: false
extended_key_usage:
  description: The extended key usages.
  returned: success without O(batch), except in check mode when an input does not exist yet
  type: list
  elements: str
  sample: [serverAuth]
backup_file:
  description: The backup of the replaced certificate.
  returned: when O(backup=true) and a certificate was replaced (without O(batch))
  type: str
  sample: /etc/postmaster-tls/mail/rsa/issued.pem.2345.2026-12-01@10:00:00~
certificates:
  description:
    - With O(batch), the outcome per certificate path - the same keys as a single certificate returns (RV(path),
      RV(renewed), RV(renew_reason), the certificate facts, RV(backup_file)), or C(failed) and C(msg) for a
      certificate that could not be issued.
  returned: with O(batch)
  type: dict
  sample:
    /home/ops/.postmaster-tls/ca/issued/mx1-mail.example.org-rsa.pem:
      path: /home/ops/.postmaster-tls/ca/issued/mx1-mail.example.org-rsa.pem
      changed: false
      renewed: false
      renew_reason: null
      not_after: '2027-03-01T10:00:00Z'
      days_remaining: 89
    /home/ops/.postmaster-tls/ca/issued/mx2-mail.example.org-rsa.pem:
      path: /home/ops/.postmaster-tls/ca/issued/mx2-mail.example.org-rsa.pem
      changed: false
      failed: true
      msg: "CSR (csr_content) is not a certificate signing request (...); create it with postmaster.tls.csr"
"""

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crypto, _fileio, _lifetime, _validate


def argument_spec() -> dict:
    spec = _certificate.issue_argument_spec(valid_days=365, renew_before_days=30)
    spec.update(
        path={"type": "path"},
        csr_path={"type": "path"},
        csr_content={"type": "str"},
        batch={"type": "list", "elements": "dict", "options": {
            "certificates": {"type": "dict", "required": True},
            "valid_days": {"type": "int"},
            "renew_before_days": {"type": "int"},
            "renew_fraction": {"type": "float"},
            "force": {"type": "bool"},
        }},
        provider={"type": "str", "required": True, "choices": ["selfsigned", "ownca"]},
        privatekey_path={"type": "path"},
        privatekey_passphrase={"type": "str", "no_log": True},
        ca_cert_path={"type": "path"},
        ca_privatekey_path={"type": "path"},
        ca_privatekey_passphrase={"type": "str", "no_log": True},
        renew_fraction={"type": "float", "default": _lifetime.DEFAULT_FRACTION},
        crl_distribution_points={"type": "list", "elements": "str", "default": []},
    )
    return spec


# Every option's meaning beyond its type: the universal rule refuses control characters in every value, except
# line breaks in the CSRs given as content.
RULES = _validate.Rules(multiline=("csr_content", "batch[].certificates.*"))


def main() -> None:
    module = _validate.checked_module(
        RULES,
        argument_spec=argument_spec(),
        required_one_of=[("path", "batch")],
        mutually_exclusive=[("csr_path", "csr_content"), ("batch", "path"), ("batch", "csr_path"), ("batch", "csr_content")],
        required_if=[
            ("provider", "selfsigned", ["privatekey_path"]),
            ("provider", "ownca", ["ca_cert_path", "ca_privatekey_path"]),
        ],
        supports_check_mode=True,
    )
    _crypto.require_cryptography(module)
    if module.params["batch"] is not None:
        if module.params["provider"] != "ownca":
            module.fail_json(msg="batch signs with a local CA: it needs provider=ownca (a self-signed certificate needs its own key)")
        result = _certificate.issue_batch(module)
        if result.get("failed"):
            module.fail_json(**result)
        module.exit_json(**result)
    if not (module.params["csr_path"] or module.params["csr_content"]):
        module.fail_json(msg="one of csr_path or csr_content is required with path")
    try:
        result = _certificate.LeafCertificateBackend(module).run()
    except (_certificate.CertificateError, _crypto.PEMError, _fileio.FileIOError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
