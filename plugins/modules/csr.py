#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: csr
short_description: Create and keep the certificate signing request of a mail server
version_added: 0.1.0
description:
  - Makes sure O(path) holds a certificate signing request (CSR) for the key at O(privatekey_path), with the asked
    subject, subject alternative names and extensions, ready for M(postmaster.tls.certificate) or an outside CA.
  - An existing CSR is compared by meaning. The module compares its public key, its subject attributes (in any order),
    its subject alternative names (as a set), its key usage, extended key usage and OCSP must-staple extensions, and
    its signature digest. A new CSR is written only when one of these differs, when the signature does not verify,
    or when the file is not a readable CSR. RV(reasons) says which. A CSR written by another tool that means the same
    is kept.
  - The common name is added to the subject alternative names (unless O(add_cn_to_san=false)), because TLS clients
    check only the subject alternative names (RFC 6125).
  - A file at O(path) that holds a private key or a certificate and no CSR is never overwritten. This usually means
    O(path) and O(privatekey_path) were swapped.
author:
  - postmaster.tls contributors (@postmaster-tls)
requirements:
  - cryptography >= 3.4 on the managed host (Debian 12's python3-cryptography 38 works)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
  - postmaster.tls.keys
attributes:
  check_mode:
    support: full
    details:
      - Check mode reads the key, builds and signs the CSR in memory and compares it exactly like a real run. Only the
        write is skipped.
      - When the private key does not exist yet, check mode warns and predicts a new CSR, because an earlier task that
        creates the key (M(postmaster.tls.private_key)) does not create it in check mode. A real run fails instead.
  diff_mode:
    support: full
    details:
      - The diff shows the subject, subject alternative names, key usages, must-staple, digest, the public key's
        SHA-256, and the file's mode, owner and group.
  idempotent:
    support: full
options:
  path:
    description:
      - Path of the CSR file (PEM). The directory must exist.
      - The collection's roles use C(/etc/postmaster-tls/<cert_name>/<rsa|ecdsa>/request.csr).
      - Required unless O(batch) is given.
    type: path
  privatekey_path:
    description:
      - Path of the private key to make the CSR for, in any PEM or DER flavour (PKCS#1, SEC1, PKCS#8).
      - RSA keys below 2048 bits, EC keys weaker than P-256 and keys other than RSA, ECDSA, Ed25519 and Ed448 are refused.
      - Required unless O(batch) is given.
    type: path
  batch:
    type: list
    elements: dict
    description:
      - Several CSRs for the same names in one module run, instead of O(path) and O(privatekey_path) - for example
        one for a host's RSA key and one for its ECDSA key, which a loop would make in one module run (and one round
        trip) each.
      - Each item names its O(path) and O(privatekey_path); every other option (the subject, the names, the
        extensions, O(privatekey_passphrase), the file options) applies to all items.
      - Each CSR is decided exactly as a single one would be. A problem with one CSR does not stop the others - it is
        reported under that path in RV(requests) (C(failed), C(msg)), and the module fails at the end naming every
        failed path.
    suboptions:
      path:
        description: Path of this CSR file.
        required: true
        type: path
      privatekey_path:
        description: The private key of this CSR.
        required: true
        type: path
  privatekey_passphrase:
    description:
      - Passphrase of an encrypted private key. A wrong or missing passphrase fails before anything is written.
    type: str
  common_name:
    description:
      - The subject's common name (CN), usually the mail server's host name, for example V(mail.example.org).
      - Added to O(subject_alt_names) unless O(add_cn_to_san=false). When it is added, it must be a host name or an IP
        address. With O(add_cn_to_san=false) it can be any text.
      - At most 64 characters (an X.509 limit). Put longer names in O(subject_alt_names) only.
    type: str
  add_cn_to_san:
    description:
      - Add O(common_name) to the subject alternative names, as a DNS name, or as an IP address when it is one.
    type: bool
    default: true
  subject_alt_names:
    description:
      - Subject alternative names. A bare name is a DNS name (V(mail.example.org) or V(*.example.org)). Use V(DNS:name),
        V(IP:192.0.2.25) or V(IP:2001:db8::25), and V(email:postmaster@example.org) to say the type.
      - A bare IP address is refused. Write V(IP:address), because a DNS name that holds an address matches nothing.
      - Names are normalised (lower case, no trailing dot) and duplicates dropped. Non-ASCII names must be given as
        A-labels (V(xn--...)).
      - For a mail server, list every name clients use. That is the MX host names, and the host names users put in
        their mail programs for IMAP, POP3 and submission.
    type: list
    elements: str
  country_name:
    description: The subject's country (C), a two-letter ISO 3166 code.
    type: str
  state_or_province_name:
    description: The subject's state or province (ST).
    type: str
  locality_name:
    description: The subject's locality (L).
    type: str
  organization_name:
    description: The subject's organization (O).
    type: str
  organizational_unit_name:
    description: The subject's organizational unit (OU). Public CAs no longer include it in certificates.
    type: str
  key_usage:
    description:
      - Key usages, requested in a critical extension. Accepts V(digitalSignature), V(keyEncipherment),
        V(keyAgreement), V(contentCommitment) (alias V(nonRepudiation)), V(dataEncipherment), V(keyCertSign),
        V(cRLSign), V(encipherOnly) and V(decipherOnly).
      - When omitted, the key usages are chosen by key type, as a TLS server needs them. An RSA key gets
        V(digitalSignature) and V(keyEncipherment). An ECDSA or EdDSA key gets V(digitalSignature) only.
      - An empty list leaves the extension out.
      - V(keyEncipherment) with a key that is not RSA is refused.
    type: list
    elements: str
  extended_key_usage:
    description:
      - Extended key usages, by name (V(serverAuth), V(clientAuth), V(emailProtection), V(codeSigning),
        V(timeStamping), V(OCSPSigning)) or as dotted OIDs.
      - V(serverAuth) is what Postfix and Dovecot need to serve the certificate. Add V(clientAuth) only when Postfix
        presents the same certificate as an SMTP client (C(smtp_tls_cert_file)). Many public CAs no longer issue
        server certificates with V(clientAuth).
      - An empty list leaves the extension out.
    type: list
    elements: str
    default: [serverAuth]
  ocsp_must_staple:
    description:
      - V(true) is refused - the TLS Feature extension with C(status_request) (OCSP must-staple, RFC 7633) makes
        clients demand a stapled OCSP response, and neither Postfix nor Dovecot staples OCSP responses, so every client
        that honours the extension would refuse the mail server. The option stays so that a playbook that sets it gets
        that message instead of an unknown-option error.
      - An existing CSR with the extension is made again without it.
    type: bool
    default: false
  digest:
    description:
      - The hash used to sign the CSR with an RSA or ECDSA key. One of V(sha256), V(sha384) or V(sha512).
      - V(md5) and V(sha1) are refused, because signatures made with them can be forged.
      - Ignored for Ed25519 and Ed448 keys, which sign without a separate digest.
    type: str
    default: sha256
  mode:
    description:
      - Permissions of the CSR file, as an octal string such as V('0644'). A CSR is public.
    type: raw
    default: '0644'
seealso:
  - module: postmaster.tls.private_key
    description: Create the key the CSR is for.
  - module: postmaster.tls.certificate
    description: Issue a self-signed or local-CA certificate from the CSR.
  - module: community.crypto.openssl_csr
    description: The general-purpose module this one follows in its option names.
"""

EXAMPLES = r"""
---
- name: Create the CSR for the mail server's RSA key
  postmaster.tls.csr:
    path: /etc/postmaster-tls/mail.example.org/rsa/request.csr
    privatekey_path: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem
    common_name: mail.example.org
    subject_alt_names:
      - mx1.example.org
      - imap.example.org
      - smtp.example.org
  register: mail_csr

- name: Show the names the CSR asks for
  ansible.builtin.debug:
    var: mail_csr.subject_alt_names

- name: CSR for an encrypted ECDSA key, with an organization and an IP address
  postmaster.tls.csr:
    path: /etc/postmaster-tls/mail.example.org/ecdsa/request.csr
    privatekey_path: /etc/postmaster-tls/mail.example.org/ecdsa/privkey.pem
    privatekey_passphrase: "{{ vault_mail_key_passphrase }}"
    common_name: mail.example.org
    organization_name: Example Ltd
    country_name: DE
    subject_alt_names:
      - IP:192.0.2.25
      - email:postmaster@example.org
    digest: sha384

- name: CSRs for a host's RSA and ECDSA keys in one module run
  postmaster.tls.csr:
    batch:
      - path: /etc/postmaster-tls/mail.example.org/rsa/request.csr
        privatekey_path: /etc/postmaster-tls/mail.example.org/rsa/privkey.pem
      - path: /etc/postmaster-tls/mail.example.org/ecdsa/request.csr
        privatekey_path: /etc/postmaster-tls/mail.example.org/ecdsa/privkey.pem
    common_name: mail.example.org
    subject_alt_names: [mail.example.org, smtp.example.org]
  register: mail_csrs

- name: CSR that also allows the certificate as an SMTP client certificate
  postmaster.tls.csr:
    path: /etc/postmaster-tls/relay.example.org/rsa/request.csr
    privatekey_path: /etc/postmaster-tls/relay.example.org/rsa/privkey.pem
    common_name: relay.example.org
    extended_key_usage: [serverAuth, clientAuth]
"""

RETURN = r"""
requests:
  description:
    - With O(batch), the outcome per CSR path, in the order of O(batch) - the same keys as a single CSR returns
      (RV(path), RV(csr), RV(subject), RV(privatekey_matches), ...), or C(failed) and C(msg) for a CSR that could
      not be made.
  returned: with O(batch)
  type: dict
  sample:
    /etc/postmaster-tls/mail.example.org/rsa/request.csr:
      path: /etc/postmaster-tls/mail.example.org/rsa/request.csr
      changed: false
      subject: CN=mail.example.org
      csr: "-----BEGIN CERTIFICATE REQUEST-----\nMIIC...\n-----END CERTIFICATE REQUEST-----\n"
path:
  description: Path of the CSR file.
  returned: success without O(batch)
  type: str
  sample: /etc/postmaster-tls/mail.example.org/rsa/request.csr
subject:
  description: The CSR's subject as an RFC 4514 string.
  returned: success without O(batch)
  type: str
  sample: CN=mail.example.org,O=Example Ltd,C=DE
subject_alt_names:
  description: The CSR's subject alternative names, as C(DNS:name), C(IP:address) or C(email:address).
  returned: success without O(batch)
  type: list
  elements: str
  sample: ["DNS:mail.example.org", "DNS:mx1.example.org", "IP:192.0.2.25"]
csr:
  description: The CSR in PEM form (public data), as written (in check mode, as it would be written).
  returned: success without O(batch), except in check mode when the private key does not exist yet
  type: str
  sample: "-----BEGIN CERTIFICATE REQUEST-----\nMIIC...\n-----END CERTIFICATE REQUEST-----\n"
privatekey_matches:
  description:
    - Whether the CSR at O(path) after the run (in check mode, the CSR that would be there) is for the key at
      O(privatekey_path), and its signature verifies with that key. It is checked again on the result, as a
      self-check.
  returned: success without O(batch), except in check mode when the private key does not exist yet
  type: bool
  sample: true
spki_sha256:
  description: Hex SHA-256 of the key's DER SubjectPublicKeyInfo, which is the data of a DANE TLSA C(3 1 1) record.
  returned: success without O(batch), except in check mode when the private key does not exist yet
  type: str
  sample: 8a1f0c9e3b2d4a5f6e7d8c9b0a1f2e3d4c5b6a7980f1e2d3c4b5a69788f9e0d1
digest:
  description: The hash the CSR is signed with (V(null) for Ed25519 and Ed448 keys).
  returned: success without O(batch), except in check mode when the private key does not exist yet
  type: str
  sample: sha256
key_usage:
  description: The key usages the CSR asks for.
  returned: success without O(batch), except in check mode when the private key does not exist yet
  type: list
  elements: str
  sample: [digitalSignature, keyEncipherment]
extended_key_usage:
  description: The extended key usages the CSR asks for (names, or dotted OIDs for unnamed ones).
  returned: success without O(batch), except in check mode when the private key does not exist yet
  type: list
  elements: str
  sample: [serverAuth]
ocsp_must_staple:
  description: Whether the CSR asks for OCSP must-staple.
  returned: success without O(batch), except in check mode when the private key does not exist yet
  type: bool
  sample: false
reasons:
  description: Why a new CSR was written (in check mode, would be). Empty when the existing CSR was kept.
  returned: success without O(batch)
  type: list
  elements: str
  sample: ["subject alternative names differ (missing DNS:imap.example.org)"]
backup_file:
  description: Path of the backup of the previous CSR.
  returned: when O(backup=true) and an existing file was replaced
  type: str
  sample: /etc/postmaster-tls/mail.example.org/rsa/request.csr.2345.2026-11-02@10:11:12~
"""

from ansible_collections.postmaster.tls.plugins.module_utils import _batch, _crypto, _csr, _fileio, _validate


def argument_spec() -> dict:
    spec = _fileio.file_argument_spec(mode="0644")
    spec["path"] = {"type": "path"}
    spec.update(
        privatekey_path=dict(type="path"),
        batch=dict(type="list", elements="dict", options={
            "path": {"type": "path", "required": True},
            "privatekey_path": {"type": "path", "required": True},
        }),
        privatekey_passphrase=dict(type="str", no_log=True),
        common_name=dict(type="str"),
        add_cn_to_san=dict(type="bool", default=True),
        subject_alt_names=dict(type="list", elements="str"),
        country_name=dict(type="str"),
        state_or_province_name=dict(type="str"),
        locality_name=dict(type="str"),
        organization_name=dict(type="str"),
        organizational_unit_name=dict(type="str"),
        key_usage=dict(type="list", elements="str"),
        extended_key_usage=dict(type="list", elements="str", default=list(_csr.DEFAULT_EXTENDED_KEY_USAGE)),
        ocsp_must_staple=dict(type="bool", default=False),
        digest=dict(type="str", default=_csr.DEFAULT_DIGEST),
    )
    return spec


# The universal rule (no control characters in any value: subject fields and names end up in the CSR) beyond the
# types; the names themselves are checked by _csr.
RULES = _validate.Rules()


def main() -> None:
    module = _validate.checked_module(
        RULES,
        argument_spec=argument_spec(),
        required_one_of=[("common_name", "subject_alt_names"), ("path", "batch")],
        mutually_exclusive=[("path", "batch"), ("privatekey_path", "batch")],
        required_by={"path": ("privatekey_path",)},
        supports_check_mode=True,
    )
    _crypto.require_cryptography(module)
    if module.params["batch"] is not None:
        _batch.exit_module(module, key="path", per_item=("path", "privatekey_path"), result_key="requests",
                           one=lambda params: _csr.ensure_csr(module, _csr.CsrRequest.from_params(params)),
                           expected=(_csr.CsrError,), doing="making")
    with _batch.failing_without_secrets(module, expected=_csr.CsrError, doing="making"):
        result = _csr.ensure_csr(module, _csr.CsrRequest.from_params(module.params))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
