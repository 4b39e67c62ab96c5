#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: local_ca_crl
short_description: Keep the certificate revocation list of a local CA - revoke certificates, re-sign before nextUpdate
version_added: 0.1.0
description:
  - Keeps the CRL of the local CA made by M(postmaster.tls.local_ca) at O(path) (PEM), signed by the CA's key, with a
    CRL number, C(thisUpdate) and C(nextUpdate) (O(valid_days) apart), an authority key identifier and one entry per
    revoked certificate with its revocation date and reason.
  - O(revoke) adds certificates, by their file or by serial number. A certificate already listed keeps its
    revocation date; listing it again changes nothing (only a different reason changes the entry). Entries are never
    removed, so the CRL file itself is the record of every revocation.
  - Re-signs the CRL with the next CRL number when a certificate is added, and before C(nextUpdate) - by the same
    lifetime rule as certificates - once less than O(renew_fraction) of its validity or O(renew_before_days) days remain
    (see M(postmaster.tls.certificate)). Run it from the same schedule as the renew playbook, often enough to
    re-sign in time.
  - O(der_path) writes the same CRL in DER as well, the form a CRL distribution point serves over HTTP (RFC 5280
    section 4.2.1.13). Publish that file at the URL given to
    O(postmaster.tls.certificate#module:crl_distribution_points).
  - An existing file at O(path) that is not a CRL, or a CRL that this CA did not sign, is never overwritten; the task
    fails and changes nothing.
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
      - Check mode decides exactly as a real run (it signs the new CRL in memory) and only skips the writes. When the
        CA does not exist yet because an earlier task would create it, check mode predicts a new CRL and warns.
  diff_mode:
    support: full
    details:
      - The diff shows the CRL number, its window and the revoked serials, before and after.
  idempotent:
    support: full
    details:
      - Except with O(force=true), and except that a run after the re-signing point re-signs.
options:
  path:
    description:
      - Where the CRL is kept (PEM). Its entries are the revocations so far.
    type: path
    required: true
  der_path:
    description:
      - Also write the CRL here in DER, for the web server behind the CRL distribution point. Must differ from O(path).
    type: path
  ca_cert_path:
    description:
      - The local CA's certificate. It must be a CA certificate, valid now, whose keyUsage (when present) allows
        C(cRLSign) - M(postmaster.tls.local_ca) makes such certificates.
    type: path
    required: true
  ca_privatekey_path:
    description:
      - The local CA's private key; it signs the CRL.
    type: path
    required: true
  ca_privatekey_passphrase:
    description:
      - Passphrase of O(ca_privatekey_path), when it is encrypted.
    type: str
  revoke:
    description:
      - Certificates to revoke. Each needs exactly one of O(revoke[].path) and O(revoke[].serial).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - A certificate file (PEM or DER; the first certificate counts). It must have been issued by this CA.
        type: path
      serial:
        description:
          - A serial number of a certificate this CA issued, as C(openssl x509 -serial) or this collection print it
            (colon-separated hex such as V(4f:2a:91:0c)), as V(0x)-prefixed hex, or in decimal.
        type: str
      reason:
        description:
          - The RFC 5280 reason code. V(keyCompromise) when the private key may be known to others. The reason code is
            left out of the entry for V(unspecified), as RFC 5280 asks.
        type: str
        default: unspecified
        choices: [unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation,
                  certificateHold, privilegeWithdrawn, aACompromise]
  valid_days:
    description:
      - Days from C(thisUpdate) to C(nextUpdate) of a newly signed CRL. Clients refuse a CRL after its C(nextUpdate).
    type: int
    default: 7
  renew_before_days:
    description:
      - Re-sign once fewer than this many days remain before C(nextUpdate) (counted as at most half of O(valid_days)).
    type: int
    default: 2
  renew_fraction:
    description:
      - Re-sign once less than this fraction of the CRL's validity remains (above 0, at most 0.5). The larger of this
        and O(renew_before_days) decides.
    type: float
    default: 0.3333333333333333
  force:
    description:
      - Re-sign now (a new CRL number) even when nothing is due.
    type: bool
    default: false
  mode:
    description:
      - Permissions of O(path) and O(der_path), as a quoted octal string. A CRL is public.
    type: raw
    default: '0644'
  owner:
    description:
      - Owner of the CRL files (name or uid).
    type: str
  group:
    description:
      - Group of the CRL files (name or gid).
    type: str
  backup:
    description:
      - Keep a timestamped copy of the CRL being replaced next to it.
    type: bool
    default: false
seealso:
  - module: postmaster.tls.local_ca
    description: The local CA whose CRL this keeps.
  - module: postmaster.tls.certificate
    description: Issues certificates that name the CRL's URL (O(postmaster.tls.certificate#module:crl_distribution_points)).
  - module: postmaster.tls.mail_tls_verify
    description: Checks what the mail ports serve against this CRL (O(postmaster.tls.mail_tls_verify#module:crl_path)).
"""

EXAMPLES = r"""
---
- name: Keep the local CA's CRL, with a DER copy for the web server
  postmaster.tls.local_ca_crl:
    path: /home/ops/.postmaster-tls/ca/crl.pem
    der_path: /home/ops/.postmaster-tls/ca/crl.der
    ca_cert_path: /home/ops/.postmaster-tls/ca/ca.pem
    ca_privatekey_path: /home/ops/.postmaster-tls/ca/ca.key
  delegate_to: localhost

- name: Revoke a certificate whose key leaked, by its file
  postmaster.tls.local_ca_crl:
    path: /home/ops/.postmaster-tls/ca/crl.pem
    ca_cert_path: /home/ops/.postmaster-tls/ca/ca.pem
    ca_privatekey_path: /home/ops/.postmaster-tls/ca/ca.key
    revoke:
      - path: /home/ops/.postmaster-tls/ca/issued/mx1-mail.example.org-rsa.pem
        reason: keyCompromise
  delegate_to: localhost

- name: Revoke by serial number, as the audit or openssl printed it
  postmaster.tls.local_ca_crl:
    path: /home/ops/.postmaster-tls/ca/crl.pem
    ca_cert_path: /home/ops/.postmaster-tls/ca/ca.pem
    ca_privatekey_path: /home/ops/.postmaster-tls/ca/ca.key
    revoke:
      - serial: "4f:2a:91:0c:7e:13:5b:aa:02:9d:61:c4:3e:88:f0:17:22:5a:0b:e9"
        reason: superseded
  delegate_to: localhost
  register: crl

- name: Show what the CRL lists
  ansible.builtin.debug:
    msg: "CRL {{ crl.crl_number }} until {{ crl.next_update }}: {{ crl.revoked | map(attribute='serial') | join(', ') }}"
"""

RETURN = r"""
path:
  description: Where the CRL is (PEM).
  returned: always
  type: str
  sample: /home/ops/.postmaster-tls/ca/crl.pem
der_path:
  description: Where the DER copy is; V(null) when O(der_path) is not set.
  returned: always
  type: str
  sample: /home/ops/.postmaster-tls/ca/crl.der
resigned:
  description: Whether a new CRL was signed (or, in check mode, would be).
  returned: always
  type: bool
  sample: true
reasons:
  description: Why a new CRL was signed; empty when the existing one was kept.
  returned: always
  type: list
  elements: str
  sample: ["revokes 1 more certificate(s): 4f:2a:91:0c:7e:13:5b:aa:02:9d:61:c4:3e:88:f0:17:22:5a:0b:e9"]
added:
  description: Serial numbers newly revoked by this run.
  returned: always
  type: list
  elements: str
  sample: ["4f:2a:91:0c:7e:13:5b:aa:02:9d:61:c4:3e:88:f0:17:22:5a:0b:e9"]
written:
  description: The files written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/home/ops/.postmaster-tls/ca/crl.pem, /home/ops/.postmaster-tls/ca/crl.der]
renewal:
  description:
    - When the CRL will be re-signed, by the renewal rule (C(due), C(reason), C(renew_at), C(threshold_days),
      C(lifetime_days), C(remaining_days), C(decided_by)).
  returned: success, except in check mode when the CA does not exist yet
  type: dict
  sample: {due: false, reason: null, renew_at: '2027-03-05T10:00:00Z', threshold_days: 2.33, lifetime_days: 7.0,
           remaining_days: 7.0, decided_by: not_due}
issuer:
  description: The CA, as an RFC 4514 string.
  returned: success, except in check mode when the CA does not exist yet
  type: str
  sample: CN=postmaster.tls local CA
crl_number:
  description: The CRL number; it grows by one with every newly signed CRL.
  returned: success, except in check mode when the CA does not exist yet
  type: int
  sample: 4
this_update:
  description: The CRL's C(thisUpdate), ISO 8601 in UTC.
  returned: success, except in check mode when the CA does not exist yet
  type: str
  sample: '2027-03-01T09:55:00Z'
next_update:
  description: The CRL's C(nextUpdate), ISO 8601 in UTC; clients refuse the CRL after it.
  returned: success, except in check mode when the CA does not exist yet
  type: str
  sample: '2027-03-08T10:00:00Z'
revoked:
  description: Every revoked certificate, oldest revocation first, with C(serial), C(reason) and C(revocation_date).
  returned: success, except in check mode when the CA does not exist yet
  type: list
  elements: dict
  sample: [{serial: "4f:2a:91:0c:7e:13:5b:aa:02:9d:61:c4:3e:88:f0:17:22:5a:0b:e9", reason: keyCompromise,
            revocation_date: '2027-03-01T10:00:00Z'}]
backup_file:
  description: The backup of the replaced CRL.
  returned: when O(backup=true) and a CRL was replaced
  type: str
  sample: /home/ops/.postmaster-tls/ca/crl.pem.2345.2027-03-01@10:00:00~
"""

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _revocation, _validate

# Each option's meaning beyond its type (the universal rule refuses control characters in every value); the
# numbers and the renewal rule are checked by the backend, which says what each one is for.
RULES = _validate.Rules(checks={
    "path": _validate.absolute_path,
    "der_path": _validate.absolute_path,
    "ca_cert_path": _validate.absolute_path,
    "ca_privatekey_path": _validate.absolute_path,
    "revoke[].path": _validate.absolute_path,
})


def main() -> None:
    module = _validate.checked_module(RULES, argument_spec=_revocation.argument_spec(), supports_check_mode=True)
    _crypto.require_cryptography(module)
    try:
        result = _revocation.LocalCRLBackend(module).run()
    except (_revocation.RevocationError, _crypto.PEMError, _fileio.FileIOError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
