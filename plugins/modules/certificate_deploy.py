#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: certificate_deploy
short_description: Keep a mail server's keys, CSRs and installed certificates in place, in one task
version_added: 0.2.0
description:
  - The main path of the C(postmaster.tls.certificate) role as one task. For each key type it keeps the private key
    (M(postmaster.tls.private_key)) and the CSR (M(postmaster.tls.csr)), gets a certificate, and installs it with its
    chain after every check of M(postmaster.tls.certificate_install). Each of those modules runs on the mail host as it
    would on its own, one module run per concern for all key types together; this action only orders them and shapes
    their results.
  - With O(provider=ownca) the local CA lives on the controller in O(ca_dir) and signs in the action's own process - the CA
    key never leaves the controller and no module is started for it. The CA is created when missing (O(ca_create)), its
    certificate renewed a year before it expires, and a host's certificate re-issued by the collection's lifetime rule -
    once less than O(renew_fraction) of its lifetime or fewer than O(renew_before_days) days remain, whichever comes
    first (the days counted as at most half of O(valid_days), so a new certificate is never due at once) - when its CSR,
    key, CA or CRL distribution point (O(crl_url)) changed, or with O(force=true). Several hosts sign at the same time
    safely (a lock in O(ca_dir)).
  - With O(crl=true) the local CA also keeps its CRL in O(ca_dir) (C(crl.pem), and C(crl.der) to publish at O(crl_url)),
    signed on the first run and re-signed by the same lifetime rule before its C(nextUpdate) (O(crl_valid_days) apart);
    M(postmaster.tls.local_ca_crl) adds revocations to that same file (the C(revoke) playbook). A copy goes to
    O(crl_dest) on each mail host, where M(postmaster.tls.mail_tls_verify) finds it; the mail services do not serve it,
    so a new CRL needs no reload.
  - With O(provider=selfsigned) M(postmaster.tls.certificate) issues on the host; with O(provider=external) the certificate
    and chain come from O(external), and until a key type has one its CSR is shown as a warning to send to the CA. With
    O(provider=acme) the C(postmaster.tls.acme) role has done the work and the action only publishes its outcome
    (O(acme_result)).
  - The paths are the collection's one layout (C(<base_dir>/<name>/<key type>/privkey.pem), C(request.csr), C(live/)); the
    pending-reload flags raised before a served file changes are C(/run/postmaster-tls/<service>.reload) for each of
    O(reload_services).
  - Sets the facts C(certificate_live), C(certificate_keys), C(certificate_spki), C(certificate_chain_files),
    C(certificate_files), C(certificate_changed), C(certificate_ca_path), C(certificate_crl_path) and, with
    O(rollover=prepare), C(certificate_next_spki) - the same values as RV(live), RV(key_paths), RV(spki), RV(chain_files),
    RV(files), RV(served_changed), RV(ca_path), RV(crl_path) and RV(next_spki).
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
  - postmaster.tls.cryptography
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    support: full
    details:
      - Every module runs in check mode and the local CA decides (and signs certificates and its CRL in memory) as in a
        real run; nothing is written on the host or the controller. Before the first real run the CSRs do not exist yet, so the install predicts a change.
  diff_mode:
    support: full
    details:
      - The diffs of the modules it runs (key facts, CSR subjects, installed certificates), of the certificates the local
        CA issues (subject, names, issuer, expiry, fingerprint) and of its CRL (number, window, revoked serials), on the
        controller and on the host. Key material never appears.
  idempotent:
    support: full
    details:
      - Except with O(force=true) and O(rollover=switch).
options:
  names:
    description: DNS names the certificates must cover; the first is the common name. Checked again at install.
    type: list
    elements: str
    required: true
  name:
    description: Directory name under O(base_dir); the first of O(names) by default.
    type: str
  key_types:
    description: One key, CSR and certificate per type; with both, Postfix and Dovecot serve RSA and ECDSA side by side.
    type: list
    elements: str
    choices: [rsa, ecdsa]
    default: [rsa]
  rsa_size:
    description: RSA modulus size (2048 or more).
    type: int
    default: 2048
  ecdsa_curve:
    description: ECDSA curve.
    type: str
    choices: [secp256r1, secp384r1]
    default: secp256r1
  base_dir:
    description: Root of the layout on the mail host.
    type: path
    default: /etc/postmaster-tls
  key_group:
    description: A group that may read keys and combined files (mode C(0640)); empty keeps them C(0600) root.
    type: str
    default: ""
  key_regenerate:
    description: What M(postmaster.tls.private_key) does with an existing key that does not match (its O(postmaster.tls.private_key#module:regenerate)).
    type: str
    choices: [never, fail, partial_idempotence, full_idempotence, always]
    default: fail
  provider:
    description: Where the certificates come from.
    type: str
    choices: [ownca, selfsigned, external, acme]
    default: ownca
  valid_days:
    description: Validity of certificates issued by the local CA or self-signed.
    type: int
    default: 90
  renew_before_days:
    description:
      - Re-issue when fewer days than this remain, or less than O(renew_fraction) of the lifetime, whichever comes first.
      - Counted as at most half of O(valid_days); must be smaller than O(valid_days).
    type: int
    default: 30
  renew_fraction:
    description:
      - Re-issue once less than this fraction of the certificate's lifetime (notBefore to notAfter) remains (above 0, at
        most 0.5). With the defaults a 90-day certificate renews 30 days before it expires, a 6- or 47-day one at half
        its life, a 398-day one about 133 days before it expires.
    type: float
    default: 0.3333333333333333
  force:
    description: Issue new certificates now, whatever remains.
    type: bool
    default: false
  min_days_remaining:
    description: The install refuses a certificate with fewer days left than this.
    type: int
    default: 7
  reload_services:
    description:
      - The services whose pending-reload flag is raised before a served file changes; the postfix and dovecot roles
        reload while their flag exists and remove it after a successful reload.
    type: list
    elements: str
    default: [postfix, dovecot]
  ca_dir:
    description: The local CA's directory on the controller (C(ca.key), C(ca.pem), C(issued/)), with O(provider=ownca).
    type: path
    default: ~/.postmaster-tls/ca
  ca_common_name:
    description: Common name of the local CA when it is created.
    type: str
    default: postmaster.tls local CA
  ca_create:
    description: Create (and renew) the local CA; without it O(ca_dir) must hold one.
    type: bool
    default: true
  ca_cert_dest:
    description: Where the local CA certificate is installed on the mail host; C(<base_dir>/ca.pem) by default.
    type: path
  crl:
    description:
      - With O(provider=ownca), keep the local CA's CRL in O(ca_dir) (C(crl.pem), C(crl.der)), re-signed before its
        C(nextUpdate), and install a copy at O(crl_dest) on the mail host.
      - With any other O(provider) the task fails (that CA publishes its own revocations); so does O(crl_url).
    type: bool
    default: false
  crl_dest:
    description: Where the CRL copy goes on the mail host; C(<base_dir>/crl.pem) by default (where the checks look).
    type: path
  crl_valid_days:
    description: Days from a new CRL's C(thisUpdate) to its C(nextUpdate); run the role (the renew playbook) more often than that.
    type: int
    default: 7
  crl_url:
    description:
      - An C(http://) URL where you publish C(crl.der); with O(provider=ownca) the local CA writes it into every certificate
        it issues as its CRL distribution point, and a change issues them again. Empty - none.
    type: str
    default: ""
  external:
    description: For O(provider=external), per key type a dict with C(certificate) (PEM text of the leaf) and C(chain) (PEM text of the intermediates).
    type: dict
    default: {}
  trust_anchors_path:
    description: CA bundle on the mail host that external certificates must chain to; the system store when not set.
    type: path
  rollover:
    description:
      - V(prepare) creates the next key beside the current one (C(privkey.next.pem)) and returns its DANE digest (RV(next_spki)).
      - V(switch) makes the prepared key current and issues and installs its certificate in the same run; the next key is
        removed only after that, so a switch that stops half-way is finished by the same switch again.
    type: str
    choices: [none, prepare, switch]
    default: none
  acme_result:
    description: With O(provider=acme), the C(acme_result) fact of the C(postmaster.tls.acme) role.
    type: dict
    default: {}
seealso:
  - module: postmaster.tls.local_ca_crl
    description: Revokes certificates of the local CA in the CRL this action keeps.
  - module: postmaster.tls.private_key
  - module: postmaster.tls.csr
  - module: postmaster.tls.certificate_install
  - module: postmaster.tls.certificate
"""

EXAMPLES = r"""
---
- name: RSA and ECDSA certificates from the local CA kept on the controller
  postmaster.tls.certificate_deploy:
    names: [mail.example.org, smtp.example.org]
    key_types: [rsa, ecdsa]
    ca_dir: /srv/mail-ca
  become: true

- name: Postfix serves what was installed
  postmaster.tls.postfix_tls:
    chain_files: "{{ certificate_chain_files }}"
  become: true

- name: Local CA certificates that name the CRL's URL, with the CRL kept and installed on the host
  postmaster.tls.certificate_deploy:
    names: [mail.example.org]
    crl: true
    crl_url: http://pki.example.org/mail-ca.crl
  become: true

- name: Prepare a key rollover and show the TLSA records to publish first
  postmaster.tls.certificate_deploy:
    names: [mail.example.org]
    rollover: prepare
  become: true
  register: prepared

- name: Show them
  ansible.builtin.debug:
    msg: "_25._tcp.mail.example.org. IN TLSA 3 1 1 {{ prepared.next_spki.rsa }}"
"""

RETURN = r"""
msg:
  description: What happened, in one line.
  returned: success
  type: str
  sample: "mail.example.org: certificates in place and valid (rsa, ecdsa)"
files:
  description: Per installed key type, in O(key_types) order, its files and the DANE C(3 1 1) digest of its key.
  returned: success
  type: list
  elements: dict
  contains:
    key_type:
      description: The key type.
      type: str
    key:
      description: The private key.
      type: str
    cert:
      description: The leaf (C(live/cert.pem)).
      type: str
    chain:
      description: The intermediates (C(live/chain.pem)).
      type: str
    fullchain:
      description: Leaf and intermediates (C(live/fullchain.pem)).
      type: str
    combined:
      description: Key, leaf and intermediates (C(live/combined.pem), for Postfix).
      type: str
    spki_sha256:
      description: Hex SHA-256 of the key's SubjectPublicKeyInfo; empty in check mode before the key exists.
      type: str
  sample:
    - key_type: rsa
      key: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem
      cert: /etc/postmaster-tls/mail.example.org/rsa/live/cert.pem
      chain: /etc/postmaster-tls/mail.example.org/rsa/live/chain.pem
      fullchain: /etc/postmaster-tls/mail.example.org/rsa/live/fullchain.pem
      combined: /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
      spki_sha256: 8a1f0c9e3b2d4a5f6e7d8c9b0a1f2e3d4c5b6a7980f1e2d3c4b5a69788f9e0d1
live:
  description: Per key type the four installed files.
  returned: success
  type: dict
  sample:
    rsa:
      cert: /etc/postmaster-tls/mail.example.org/rsa/live/cert.pem
      chain: /etc/postmaster-tls/mail.example.org/rsa/live/chain.pem
      fullchain: /etc/postmaster-tls/mail.example.org/rsa/live/fullchain.pem
      combined: /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
key_paths:
  description: Per key type the private key's path.
  returned: success
  type: dict
  sample: {rsa: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem}
spki:
  description: Per key type the DANE C(3 1 1) digest of the served key.
  returned: success
  type: dict
  sample: {rsa: 8a1f0c9e3b2d4a5f6e7d8c9b0a1f2e3d4c5b6a7980f1e2d3c4b5a69788f9e0d1}
chain_files:
  description: The combined files, in O(key_types) order - Postfix's C(smtpd_tls_chain_files).
  returned: success
  type: list
  elements: str
  sample: [/etc/postmaster-tls/mail.example.org/rsa/live/combined.pem]
served_changed:
  description: Whether a served file changed (in check mode, would change), so the mail services must reload. The local CA certificate alone is not served.
  returned: success
  type: bool
  sample: false
ca_path:
  description: The local CA certificate installed on the mail host (a trust anchor for clients and the verify role); empty otherwise.
  returned: success
  type: str
  sample: /etc/postmaster-tls/ca.pem
crl_path:
  description: With O(crl=true), the local CA's CRL on the mail host; empty otherwise and in check mode before the first CRL exists.
  returned: success
  type: str
  sample: /etc/postmaster-tls/crl.pem
crl:
  description:
    - With O(crl=true), the CRL the local CA keeps - C(path) and C(der_path) on the controller, C(resigned) (signed now, or
      in check mode would be) with its C(reasons), C(issuer), C(crl_number), C(this_update), C(next_update), C(revoked)
      (C(serial), C(reason), C(revocation_date)), C(dest) on the mail host and whether that copy C(installed) now.
  returned: with O(crl=true)
  type: dict
  sample: {path: /home/ops/.postmaster-tls/ca/crl.pem, der_path: /home/ops/.postmaster-tls/ca/crl.der, resigned: false, reasons: [],
           issuer: CN=postmaster.tls local CA, crl_number: 3, this_update: '2027-03-01T09:55:00Z', next_update: '2027-03-08T10:00:00Z',
           revoked: [], dest: /etc/postmaster-tls/crl.pem, installed: false}
next_spki:
  description: Per key type the DANE C(3 1 1) digest of the next key, to publish before switching.
  returned: with O(rollover=prepare)
  type: dict
  sample: {rsa: 3c4b5a69788f9e0d18a1f0c9e3b2d4a5f6e7d8c9b0a1f2e3d4c5b6a7980f1e2d}
signed:
  description: With O(provider=ownca), per key type the certificate the local CA keeps on the controller and whether it was (or would be) issued now, and why.
  returned: success
  type: dict
  sample: {rsa: {path: /home/ops/.postmaster-tls/ca/issued/mx1-mail.example.org-rsa.pem, renewed: false, reason: null}}
installed:
  description:
    - Per key type the outcome of M(postmaster.tls.certificate_install) for it (C(changed_files), C(fingerprint_sha256),
      C(not_after), C(days_remaining), C(chain), C(trust_anchor), ...; see that module's return values).
  returned: success, except with O(provider=acme)
  type: dict
  sample: {rsa: {changed_files: [], fingerprint_sha256: "3F:...:9A", not_after: "2027-03-01T10:00:00Z", days_remaining: 89}}
pending_csrs:
  description: With O(provider=external), the CSRs of key types that have no certificate in O(external) yet.
  returned: success
  type: dict
  sample: {ecdsa: "-----BEGIN CERTIFICATE REQUEST-----\n..."}
"""
