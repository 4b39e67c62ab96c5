#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mail_tls_verify
short_description: Check the TLS that mail ports really serve (STARTTLS and implicit TLS)
version_added: 0.1.0
description:
  - Connects to SMTP, submission, IMAP and POP3 ports the way a mail client does (SMTP C(EHLO)/C(STARTTLS),
    IMAP C(CAPABILITY)/C(STARTTLS), POP3 C(CAPA)/C(STLS), or implicit TLS on 465, 993 and 995) and reports
    what a client gets there.
  - For each endpoint it reports whether the port answers, whether STARTTLS is advertised, whether a login or
    C(AUTH) is offered before TLS, the negotiated protocol and cipher, the served chain (subjects, issuers,
    order), the leaf's SHA-256 fingerprint and C(spki_sha256) (the data of a DANE C(3 1 1) TLSA record),
    its expiry, whether the chain verifies against the trust anchors, whether the certificate covers the
    server name, and which of TLS 1.0, 1.1, 1.2 and 1.3 the server accepts.
  - The served leaf's revocation status, from O(crl_path) or (with O(crl_fetch)) its CRL distribution point, and its
    embedded SCTs, with their signatures checked against O(ct_log_list_path). A revoked certificate is a failure; a
    revocation status that could not be determined (an unreachable distribution point) is a note. A publicly trusted
    leaf with fewer SCTs than Chrome and Apple ask for is a note, or a failure with O(ct_enforce=true); a local CA's
    certificate has none and that is expected.
  - Caller expectations (O(expected_fingerprint), O(expected_certificate_path), O(min_days_remaining),
    O(min_protocol), O(required_names)) turn into a per-endpoint list of failures, and so does a served leaf below
    the collection's key floors (RSA 2048 bits, EC P-256), the same floors every other module of the collection
    applies. The task fails with that list unless O(report_only=true); the full structured result is returned
    either way.
  - Endpoints and protocol probes run concurrently; each connection has its own O(timeout), so one silent
    port does not delay the others.
  - With O(grade=true) every endpoint is also graded the way internet.nl's mail test grades port 25 of an MX
    (NCSC-NL TLS guidelines) - each internet.nl mail TLS subtest by its name with a verdict and the evidence, and one
    line per port, V(would pass) or V(would fail) and why (RV(grades)). The probes that need what Python's C(ssl)
    cannot offer (a chosen cipher, group or signature list, SSLv3, TLS 1.0 on a client that refuses it) send
    hand-built ClientHello messages and read the server's answer in the clear; no handshake is finished by hand.
  - Grading opens at most four connections at a time to one service of a host (the SMTP ports together, IMAP's
    together, POP3's together), since a mail server starts a login process per connection and a burst would test its
    process limits rather than its TLS. With O(grade=true) the version findings come from the grader's hellos
    (which reach SSLv3 too), so the checks make no version handshakes of their own.
  - Uses Python's C(ssl) module and C(cryptography) only; it does not run C(openssl).
  - It never changes anything, so it always returns C(changed=false) and runs unchanged in check mode.
author: postmaster.tls contributors (@postmaster-tls)
requirements:
  - cryptography >= 3.4 on the host that runs the module
  - Python 3.10 or newer to report intermediate certificates (older Pythons report the leaf only)
notes:
  - The module usually runs on the mail server itself against V(127.0.0.1) (or delegated to another host).
    When it connects to an IPv4 loopback address it binds the source address V(127.0.0.2) (or V(127.0.0.1) for
    other targets), because servers such as Dovecot treat a client at their own address as local and offer it plaintext
    login before STARTTLS, which remote clients never see. Set O(source_address) to choose another one.
  - Legacy probes offer TLS 1.0 and 1.1 with OpenSSL security level 0, so that a refusal is the server's decision.
    When the local OpenSSL cannot offer a version at all, the version is reported as V(untested), not as refused.
  - The chain verdict is OpenSSL's (signatures, validity dates, CA constraints, a path to a trust anchor).
    The served chain is read with C(SSLSocket.get_unverified_chain) (Python 3.13, or the same private call of
    CPython 3.10 to 3.12). On other Pythons RV(endpoints[].chain_source) is V(leaf_only).
  - A server with both an RSA and an ECDSA certificate serves one of them to this client (usually ECDSA); list
    both in O(expected_fingerprint) or O(expected_certificate_path) to accept either.
seealso:
  - module: postmaster.tls.certificate_install
  - plugin: postmaster.tls.tlsa_records
    plugin_type: filter
    description: Build DANE TLSA records from the same certificate; compare with RV(endpoints[].spki_sha256).
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.INFO_MODULE
  - postmaster.tls.lifecycle
attributes:
  platform:
    support: full
    platforms: posix
options:
  endpoints:
    description:
      - The endpoints to check. Each needs O(endpoints[].port) or O(endpoints[].protocol) (the other is
        derived from the standard port table, 25 and 587 V(smtp), 465 V(smtps), 143 V(imap), 993 V(imaps),
        110 V(pop3), 995 V(pop3s)).
      - Combined with O(all_ports=true), these are checked as well; duplicates (same host and port) are dropped.
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: Address or name to connect to. Defaults to O(host).
        type: str
      port:
        description: TCP port.
        type: int
      protocol:
        description:
          - V(smtp), V(imap) and V(pop3) use STARTTLS (STLS for POP3); V(smtps), V(imaps) and V(pop3s) are
            implicit TLS.
        type: str
        choices: [smtp, smtps, imap, imaps, pop3, pop3s]
      server_name:
        description: Name for SNI and the hostname check on this endpoint. Defaults to O(server_name).
        type: str
      submission:
        description:
          - This SMTP endpoint is for mail submission (clients log in), so it must offer C(AUTH) after TLS (see
            O(check_submission_auth)). Defaults to V(true) for ports 587 and 465, V(false) elsewhere; only for
            V(smtp) and V(smtps).
        type: bool
  all_ports:
    description:
      - Check the seven standard mail ports of O(host) (25, 587, 465, 143, 993, 110, 995).
    type: bool
    default: false
  host:
    description:
      - Address or name to connect to, for O(all_ports) and for endpoints without a host.
    type: str
    default: 127.0.0.1
  server_name:
    description:
      - The name clients use for this server (the MX or client-configured host name). Sent as SNI and checked
        against the certificate's names, independently of the address connected to.
      - When not set, the connected host (name or address) is checked and no SNI is sent for an address.
    type: str
  expected_fingerprint:
    description:
      - SHA-256 fingerprints the served leaf must have (any of them), as 64 hex digits with or without colons,
        for example RV(postmaster.tls.certificate_install#module:fingerprint_sha256).
    type: list
    elements: str
    default: []
  expected_certificate_path:
    description:
      - Certificate files (PEM; the first certificate counts) on the host running the module. The served leaf
        must be one of them; this is how a play proves the service serves what was installed.
      - In check mode a missing file is reported and skipped (an earlier task would have created it); in a real
        run it is an error.
    type: list
    elements: path
    default: []
  expect_installed:
    description:
      - The served leaf must be one of the certificates installed on the host running the module in the collection's
        layout under O(base_dir) (every C(<base_dir>/<name>/<key type>/live/cert.pem) there) - served equals installed,
        found by the module itself, so a scheduled run sees a service that kept the old certificate after a renewal.
        Combined with O(expected_fingerprint) and O(expected_certificate_path) (any of them counts).
      - Without O(ca_path), the local CA certificate installed with them (C(<base_dir>/ca.pem)), when there is one, is
        the trust anchor for the chain check. Without O(crl_path), the local CA's CRL installed with them
        (C(<base_dir>/crl.pem), the certificate role's C(certificate_crl)), when there is one, is the CRL the served and
        the installed certificates are checked against.
      - RV(installed_certificates) then also says, per installed certificate, its revocation status, its SCTs and (with
        O(renew_before_days)) the renewal rule's verdict - what the audit playbook reports.
      - When nothing is installed there, served and installed are not compared (RV(endpoints[].matches_expected) is
        V(null)) and a warning says so.
    type: bool
    default: false
  base_dir:
    description: The root of the layout O(expect_installed) reads.
    type: path
    default: /etc/postmaster-tls
  ca_path:
    description:
      - Trust anchors for the chain check, as a PEM bundle file or a hashed certificate directory.
      - Default is the system CA bundle file (on Debian C(/etc/ssl/certs/ca-certificates.crt)). The hashed
        directory C(/etc/ssl/certs) is deliberately not used by default, because Debian links its snake-oil
        certificate into it.
    type: path
  validate_chain:
    description:
      - Count a chain that does not verify against the trust anchors as a failure.
    type: bool
    default: true
  check_hostname:
    description:
      - Count a certificate that does not cover the server name as a failure.
    type: bool
    default: true
  check_auth_before_tls:
    description:
      - Count a login or authentication offered before STARTTLS as a failure (SMTP C(AUTH); IMAP C(LOGIN) without
        C(LOGINDISABLED), or C(AUTH=); POP3 C(USER) or C(SASL)).
    type: bool
    default: true
  check_submission_auth:
    description:
      - Count a submission endpoint (587, 465, or one with O(endpoints[].submission=true)) that offers no C(AUTH)
        mechanism after TLS, or that drops the connection after C(EHLO) inside TLS, as a failure. Postfix with SASL
        on but no working SASL backend does the latter, and clients cannot send mail through either.
    type: bool
    default: true
  min_days_remaining:
    description:
      - The leaf must stay valid at least this many more days.
    type: int
    default: 14
  min_protocol:
    description:
      - Lowest protocol version the servers may accept. Any accepted older version is a failure.
    type: str
    choices: [TLSv1, TLSv1.1, TLSv1.2, TLSv1.3]
    default: TLSv1.2
  required_names:
    description:
      - Names the certificate must cover (wildcards in the certificate count, as clients apply them).
    type: list
    elements: str
    default: []
  probe_protocols:
    description:
      - Try one handshake per TLS version (1.0, 1.1, 1.2, 1.3) on every endpoint to learn which versions are
        accepted. Without it only the version a default client negotiates is known.
    type: bool
    default: true
  report_only:
    description:
      - Return the findings without failing the task.
    type: bool
    default: false
  timeout:
    description:
      - Seconds allowed for each connection as a whole (TCP connect, plaintext dialogue and TLS handshake).
    type: float
    default: 10
  workers:
    description:
      - Connections made at the same time. Each endpoint needs one connection plus one per probed TLS version.
    type: int
    default: 32
  source_address:
    description:
      - Local address to connect from. See the notes for the loopback default.
    type: str
  ehlo_name:
    description:
      - Name for SMTP C(EHLO) - a domain name or an address literal such as C([192.0.2.1]) or C([IPv6:2001:db8::1]).
        Default is the local address as an address literal, such as C([127.0.0.2]).
    type: str
  renew_before_days:
    description:
      - Also judge the served leaf by the collection's renewal rule (the one M(postmaster.tls.certificate) renews by) -
        a leaf with fewer than this many days left (counted as at most half its lifetime) or less than
        O(renew_fraction) of its lifetime is a failure, reported in RV(endpoints[].renewal). Unlike
        O(min_days_remaining) this suits any lifetime (a 6-day certificate is judged by its own length).
      - Not set - no renewal verdict.
    type: int
  renew_fraction:
    description:
      - The lifetime fraction of the renewal rule (above 0, at most 0.5), with O(renew_before_days).
    type: float
    default: 0.3333333333333333
  renewal_now:
    description:
      - Judge renewal as if it were this time (V(+14d), V(20270101000000Z), ISO 8601), with O(renew_before_days).
    type: str
  ct_enforce:
    description:
      - Count certificate transparency findings (fewer SCTs than the browser policy asks for a publicly trusted leaf,
        an SCT that does not verify, an SCT of an unknown log) as failures. Mail clients do not enforce CT, so by
        default they are notes.
    type: bool
    default: false
  grade:
    description:
      - Grade every endpoint with internet.nl's mail TLS subtests (see RV(grades)). The endpoint's other checks run
        as without it, at the same time. Grades become failures only through O(grade_fail_on).
    type: bool
    default: false
  grade_fail_on:
    description:
      - Verdicts that make a graded endpoint fail. A line is added to its RV(endpoints[].failures), so it is listed in
        RV(failed_endpoints) and fails the task unless O(report_only=true). V(insufficient) is any subtest internet.nl
        counts graded insufficient (the port would fail), V(phase out) any graded phase out.
      - The informational subtests (C(cert_trust), C(cert_hostmatch)) are the chain and name checks this module makes
        anyway; they fail an endpoint through O(validate_chain) and O(check_hostname), not through this option.
      - Empty (the default) reports the grades without failing on them.
    type: list
    elements: str
    choices: [insufficient, phase out]
    default: []
  tlsa_records:
    description:
      - TLSA records for the C(dane_valid) subtest, as C(usage selector matching-type hex) (every graded port, for
        example the digests of M(postmaster.tls.private_key)'s C(spki_sha256) as V(3 1 1 <hex>)) or zone-file lines
        C(_25._tcp.mx.example.org. IN TLSA 3 1 1 <hex>) (that port only), as the P(postmaster.tls.tlsa_records#filter)
        filter writes them.
      - When empty and O(expect_installed=true), the C(3 1 1) records of the installed certificates' keys (what the
        C(dns_records) role publishes). With none at all, C(dane_valid) is V(not applicable).
    type: list
    elements: str
    default: []
  grade_all_groups:
    description:
      - Also find every key exchange group each port accepts (all TLS 1.2 curves and TLS 1.3 groups, as testssl.sh
        lists them), returned in C(fs_params.supported) of RV(grades[].subtests). No verdict depends on it - internet.nl grades
        the groups a current client gets, which are always found - and it costs about five more handshakes per port.
    type: bool
    default: false
  grade_timeout:
    description:
      - Seconds the grading of all endpoints may take together; probes not started by then are reported as
        V(not tested). Each connection still has its own O(timeout).
    type: float
    default: 120
  snakeoil_path:
    description:
      - The distribution's stock self-signed certificate on the host running the module. An endpoint serving it is
        reported (RV(endpoints[].snakeoil)) and counted as a failure. No comparison when the file does not exist.
    type: path
    default: /etc/ssl/certs/ssl-cert-snakeoil.pem
"""

EXAMPLES = r"""
---
- name: Verify every mail port of this host as remote clients see it
  postmaster.tls.mail_tls_verify:
    all_ports: true
    host: 127.0.0.1
    server_name: mail.example.org
    expected_certificate_path:
      - /etc/postmaster-tls/mail/rsa/live/cert.pem
    min_days_remaining: 21
    required_names:
      - mail.example.org
      - smtp.example.org

- name: Check only submission and IMAPS, from the controller, against a private CA
  postmaster.tls.mail_tls_verify:
    endpoints:
      - host: mail.example.org
        port: 587
      - host: mail.example.org
        port: 993
    server_name: mail.example.org
    ca_path: /etc/postmaster-tls/ca/ca.pem
  delegate_to: localhost

- name: Take stock of a server before deploying anything (never fails)
  postmaster.tls.mail_tls_verify:
    all_ports: true
    server_name: "{{ inventory_hostname }}"
    report_only: true
  register: before

- name: Show the one-line summary per endpoint
  ansible.builtin.debug:
    msg: "{{ before.summary }}"

- name: Fail when a port serves a revoked certificate (the local CA's CRL, or fetched from the certificate's CDP)
  postmaster.tls.mail_tls_verify:
    all_ports: true
    server_name: mail.example.org
    ca_path: /etc/postmaster-tls/ca.pem
    crl_path:
      - /etc/postmaster-tls/crl.pem
    crl_fetch: true
    crl_timeout: 3

- name: Grade every port as internet.nl's mail test would, and fail on anything insufficient
  postmaster.tls.mail_tls_verify:
    all_ports: true
    server_name: mail.example.org
    grade: true
    grade_fail_on: [insufficient]
    tlsa_records:
      - "3 1 1 8f1c0c8c5c0e4d5a4e8b9a3b6c1f2d7e0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"
  register: graded

- name: Show the verdict per port
  ansible.builtin.debug:
    msg: "{{ graded.grades | map(attribute='summary') }}"

- name: Compare the served key with the DANE record about to be published
  ansible.builtin.assert:
    that:
      - item.spki_sha256 in tlsa_lines | join(' ')
  loop: "{{ before.endpoints }}"
  loop_control:
    label: "{{ item.endpoint }}"
  vars:
    tlsa_lines: "{{ lookup('ansible.builtin.file', 'dns/example.org/tlsa.zone') | split('\n') }}"
"""

RETURN = r"""
endpoints:
  description: One entry per endpoint, in the order given (the standard ports first with O(all_ports)).
  returned: always
  type: list
  elements: dict
  contains:
    endpoint:
      description: C(host:port/protocol).
      type: str
      returned: always
      sample: 127.0.0.1:25/smtp
    host:
      description: The address or name connected to.
      type: str
      returned: always
      sample: 127.0.0.1
    port:
      description: The TCP port.
      type: int
      returned: always
      sample: 25
    protocol:
      description: The mail protocol spoken.
      type: str
      returned: always
      sample: smtp
    server_name:
      description: The name used for SNI and the hostname check (null when none was given).
      type: str
      returned: always
      sample: mail.example.org
    submission:
      description: Whether the endpoint is checked as mail submission (AUTH after TLS expected).
      type: bool
      returned: always
      sample: false
    ok:
      description: True when the endpoint meets every expectation.
      type: bool
      returned: always
      sample: true
    failures:
      description: The expectations this endpoint does not meet, one sentence each.
      type: list
      elements: str
      returned: always
      sample: ["serves the stock snake-oil certificate", "accepts TLSv1, TLSv1.1 (below min_protocol TLSv1.2)"]
    notes:
      description: Facts worth knowing that are not failures (limits of this client, a root sent along).
      type: list
      elements: str
      returned: always
      sample: []
    reachable:
      description: Whether a TCP connection could be made.
      type: bool
      returned: always
      sample: true
    error:
      description: Why the main connection did not reach a TLS session (null when it did).
      type: str
      returned: always
      sample: "connection refused (nothing listens on this port)"
    source_address:
      description: The local address the probe connected from.
      type: str
      returned: when reachable
      sample: 127.0.0.2
    peer_address:
      description: The address connected to.
      type: str
      returned: when reachable
      sample: 127.0.0.1
    banner:
      description: The server's greeting line.
      type: str
      returned: when reachable
      sample: "220 mail.example.org ESMTP Postfix (Debian/GNU)"
    starttls_offered:
      description: Whether STARTTLS (STLS) is advertised; null for implicit TLS.
      type: bool
      returned: when reachable
      sample: true
    auth_before_tls:
      description:
        - Logins offered before TLS (SMTP C(AUTH) mechanisms, IMAP C(LOGIN) and C(AUTH=...), POP3 C(USER) and
          C(SASL ...)); empty when none; null for implicit TLS.
      type: list
      elements: str
      returned: when reachable
      sample: []
    auth_after_tls:
      description: Logins offered inside TLS (what clients can use); null when the server did not answer over TLS.
      type: list
      elements: str
      returned: when a TLS session was established
      sample: ["PLAIN", "LOGIN"]
    after_tls_error:
      description:
        - What went wrong in the dialogue inside TLS after the handshake (the server closed the connection after
          C(EHLO), an unexpected answer); null when the server answered.
      type: str
      returned: when a TLS session was established
      sample: the server closed the connection
    tls_version:
      description: The version a default client (TLS 1.2 or newer, OpenSSL security level 2) negotiated.
      type: str
      returned: when a TLS session was established
      sample: TLSv1.3
    cipher:
      description: The negotiated cipher suite.
      type: str
      returned: when a TLS session was established
      sample: TLS_AES_256_GCM_SHA384
    cipher_bits:
      description: Secret bits of the cipher.
      type: int
      returned: when a TLS session was established
      sample: 256
    subject:
      description:
        - The served leaf's facts follow, with the keys every module of the collection uses for a certificate (those of
          RV(postmaster.tls.certificate_info#module:certificates) without C(path), C(exists), C(count) and
          C(matches_key)); V(null) without a TLS session. First the subject (RFC 4514).
      type: str
      returned: always
      sample: CN=mail.example.org
    subject_alt_names:
      description: The leaf's subjectAltNames, as C(DNS:name) or C(IP:address).
      type: list
      elements: str
      returned: always
      sample: ["DNS:mail.example.org", "DNS:smtp.example.org"]
    dns_names:
      description: The DNS names the leaf is for (its DNS subjectAltNames, or the CN without SAN); was C(names), which also held IP addresses.
      type: list
      elements: str
      returned: always
      sample: ["mail.example.org", "smtp.example.org"]
    issuer:
      description: The leaf's issuer (RFC 4514).
      type: str
      returned: always
      sample: CN=Example Issuing CA,O=Example
    serial:
      description: The leaf's serial number, colon-separated hex.
      type: str
      returned: always
      sample: "04:1d:...:9a"
    not_before:
      description: Start of validity (UTC, ISO 8601).
      type: str
      returned: always
      sample: "2026-11-01T00:00:00Z"
    not_after:
      description: End of validity (UTC, ISO 8601).
      type: str
      returned: always
      sample: "2027-01-30T00:00:00Z"
    days_remaining:
      description: Whole days until RV(endpoints[].not_after) (negative when expired).
      type: int
      returned: always
      sample: 62
    expired:
      description: Whether RV(endpoints[].not_after) has passed.
      type: bool
      returned: always
      sample: false
    key_type:
      description: The leaf key's type (was C(key.type)).
      type: str
      returned: always
      sample: ecdsa
    key_size:
      description: The key size in bits, the curve's for ECDSA (was C(key.size)).
      type: int
      returned: always
      sample: 256
    key_curve:
      description: The curve of an ECDSA key, V(null) for other key types (was C(key.curve)).
      type: str
      returned: always
      sample: secp256r1
    signature_algorithm:
      description: The leaf's signature algorithm as openssl names it (was C(signature_hash), the hash alone).
      type: str
      returned: always
      sample: ecdsa-with-SHA256
    fingerprint_sha256:
      description: SHA-256 of the leaf's DER, lower-case and colon-separated (as C(openssl x509 -fingerprint) shows).
      type: str
      returned: always
      sample: "3f:0a:...:9c"
    spki_sha256:
      description: Hex SHA-256 of the leaf's SubjectPublicKeyInfo, the data of a DANE C(3 1 1) TLSA record.
      type: str
      returned: always
      sample: "8f1c0c8c5c0e4d5a4e8b9a3b6c1f2d7e0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"
    is_ca:
      description: Whether the leaf is a CA certificate.
      type: bool
      returned: always
      sample: false
    self_signed:
      description: Whether the leaf is self-signed.
      type: bool
      returned: always
      sample: false
    extended_key_usage:
      description: The leaf's extended key usages, V(null) without the extension.
      type: list
      elements: str
      returned: always
      sample: [serverAuth]
    snakeoil:
      description: Whether the leaf is the host's stock snake-oil certificate (null when O(snakeoil_path) does not exist).
      type: bool
      returned: when a TLS session was established
      sample: false
    chain:
      description:
        - The certificates as served, leaf first (only the leaf when RV(endpoints[].chain_source=leaf_only)), each with the
          same certificate facts as the leaf's above.
      type: list
      elements: dict
      returned: when a TLS session was established
      sample: [{"subject": "CN=mail.example.org", "issuer": "CN=Example Issuing CA", "fingerprint_sha256": "3f:0a:...",
                "not_after": "2027-01-30T00:00:00Z", "is_ca": false}]
    chain_source:
      description: V(served) when the whole served chain was read, V(leaf_only) when this Python can only see the leaf.
      type: str
      returned: when a TLS session was established
      sample: served
    chain_order_ok:
      description: Whether each served certificate is signed by the next one (null when only the leaf is known).
      type: bool
      returned: when a TLS session was established
      sample: true
    chain_valid:
      description: Whether OpenSSL verified the chain against the trust anchors (null when no default client could connect).
      type: bool
      returned: always
      sample: true
    chain_error:
      description: OpenSSL's reason when the chain does not verify.
      type: str
      returned: always
      sample: self-signed certificate
    trust_path:
      description: Subjects of the verified path, leaf to trust anchor.
      type: list
      elements: str
      returned: when the chain verified
      sample: ["CN=mail.example.org", "CN=Example Issuing CA", "CN=Example Root CA"]
    hostname_matches:
      description: Whether the leaf covers the server name (or the host connected to).
      type: bool
      returned: when a TLS session was established
      sample: true
    matches_expected:
      description: Whether the leaf is one of the expected certificates (null when none were given).
      type: bool
      returned: when a TLS session was established
      sample: true
    protocols:
      description: Per TLS version, V(accepted), V(refused), V(untested) (this client cannot offer it) or V(error).
      type: dict
      returned: when O(probe_protocols=true) and the endpoint speaks TLS
      sample: {"TLSv1": "refused", "TLSv1.1": "refused", "TLSv1.2": "accepted", "TLSv1.3": "accepted"}
    protocol_details:
      description: The negotiated cipher or the refusal reason, per TLS version.
      type: dict
      returned: when O(probe_protocols=true) and the endpoint speaks TLS
      sample: {"TLSv1": "TLSV1_ALERT_PROTOCOL_VERSION", "TLSv1.3": "TLSv1.3 TLS_AES_256_GCM_SHA384"}
    accepted_protocols:
      description: The accepted TLS versions, oldest first.
      type: list
      elements: str
      returned: always
      sample: ["TLSv1.2", "TLSv1.3"]
    legacy_protocols_accepted:
      description: Which of TLS 1.0 and 1.1 are accepted.
      type: list
      elements: str
      returned: always
      sample: []
    revocation:
      description:
        - The served leaf's revocation status - C(status) (V(good), V(revoked), V(unknown), V(not_checked),
          V(not_applicable) for a self-signed leaf), C(source) (the CRL file or URL), C(serial), C(reason) and
          C(revocation_date) when revoked, C(crl_number), C(crl_next_update), C(distribution_points), C(errors) (why it
          is unknown, for example an unreachable distribution point) and C(fetch_seconds). Empty when no certificate
          was served.
      type: dict
      returned: always
      sample: {status: revoked, source: 'http://crl.example.org/mail-ca.crl', serial: "4f:2a:91", reason: keyCompromise,
               revocation_date: '2027-03-01T10:00:00Z', crl_number: 4, crl_next_update: '2027-03-08T10:00:00Z',
               distribution_points: ['http://crl.example.org/mail-ca.crl'], errors: [], fetch_seconds: 0.02}
    renewal:
      description:
        - With O(renew_before_days), the renewal rule's verdict on the served leaf (C(due), C(reason), C(renew_at),
          C(threshold_days), C(lifetime_days), C(remaining_days), C(decided_by)); empty otherwise.
      type: dict
      returned: always
      sample: {due: false, reason: null, renew_at: '2027-01-30T10:00:00Z', threshold_days: 30.0, lifetime_days: 90.0,
               remaining_days: 84.5, decided_by: not_due}
    certificate_transparency:
      description:
        - The served leaf's embedded SCTs - C(count), C(scts) (C(log_id), C(log), C(operator), C(timestamp),
          C(signature)), C(scope) (V(public), V(private), V(self-signed), V(unknown)), C(required), C(policy)
          (V(compliant), V(insufficient), V(not_applicable)), C(findings), C(log_list_checked) and a C(note). Empty
          when no certificate was served.
      type: dict
      returned: always
      sample: {count: 2, scts: [{log_id: "7s3QZNXbGs7FXLedtM0TojKHRny87N7DUUhZRnEftZs=", log: "Example Log 2027h1",
               operator: Example, timestamp: '2027-03-01T09:55:01.123Z', signature: valid}], scope: public, required: 2,
               policy: compliant, findings: [], log_list_checked: true}
msg:
  description: How many endpoints meet every expectation and, for those that do not, what fails.
  returned: always
  type: str
  sample: "1 of 7 endpoints failed verification: 127.0.0.1:25/smtp: served certificate 3F:..:9A is not the expected one (...)"
installed_certificates:
  description:
    - The installed certificates O(expect_installed) found, in layout order, each with its SHA-256 fingerprint and the same
      C(revocation), C(certificate_transparency) and (with O(renew_before_days)) C(renewal) facts as
      RV(endpoints[].revocation), RV(endpoints[].certificate_transparency) and RV(endpoints[].renewal) - the issuer is
      looked for in its C(live/chain.pem) and the trust anchor file.
  returned: with O(expect_installed=true)
  type: list
  elements: dict
  sample: [{"path": /etc/postmaster-tls/mail.example.org/rsa/live/cert.pem, "fingerprint_sha256": "3F:...:9A",
            revocation: {status: good, source: /etc/postmaster-tls/crl.pem, serial: "4f:2a:91"},
            certificate_transparency: {count: 0, scope: private, policy: not_applicable}}]
crls:
  description:
    - What each CRL file the checks used says (given in O(crl_path), or found by O(expect_installed)) - C(path),
      C(issuer), C(crl_number), C(this_update), C(next_update) and C(revoked) (every revoked certificate's C(serial),
      C(reason) and C(revocation_date)); empty without one.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/postmaster-tls/crl.pem, issuer: CN=postmaster.tls local CA, crl_number: 4,
            this_update: '2027-03-01T09:55:00Z', next_update: '2027-03-08T10:00:00Z',
            revoked: [{serial: "4f:2a:91", reason: keyCompromise, revocation_date: '2027-03-01T10:00:00Z'}]}]
grades:
  description:
    - With O(grade=true), one entry per endpoint (same order as RV(endpoints)) - internet.nl's mail TLS subtests with
      their verdicts and evidence, and the overall line. Verdicts are V(good), V(sufficient), V(phase out),
      V(insufficient), V(not applicable), or V(not tested) (this client could not find out; the reason is given).
    - The classification follows internet.nl's tables (NCSC-NL TLS guidelines v2.1), where RSA 2048 certificate keys
      and FFDHE 3072+ are V(phase out), ffdhe2048 and custom DH groups, CBC-SHA1 suites, TLS 1.0/1.1, SSLv3, SHA-1
      signatures and TLS compression V(insufficient).
  returned: when O(grade=true)
  type: list
  elements: dict
  contains:
    endpoint:
      description: C(host:port/protocol), as in RV(endpoints[].endpoint).
      type: str
      returned: always
      sample: 127.0.0.1:25/smtp
    port:
      description: The TCP port.
      type: int
      returned: always
      sample: 25
    verdict:
      description:
        - V(would pass) when no subtest that internet.nl counts is V(insufficient), else V(would fail); V(not graded) when
          no probe got an answer in time (with O(grade_fail_on) set, that is a failure too).
        - C(renegotiation_client), C(cert_trust) and C(cert_hostmatch) are informational on internet.nl's mail test and
          do not change it.
      type: str
      returned: always
      sample: would pass
    summary:
      description: One line for people, with the reasons (or the phase-out warnings).
      type: str
      returned: always
      sample: "WOULD PASS 127.0.0.1:25/smtp -- phase out: cert_pubkey: CN=mail.example.org: RSA 2048"
    reasons:
      description: The counted subtests graded insufficient, one line each.
      type: list
      elements: str
      returned: always
      sample: ["tls_version: insufficient: TLSv1, TLSv1.1"]
    warnings:
      description: The subtests graded phase out, one line each.
      type: list
      elements: str
      returned: always
      sample: ["cert_pubkey: CN=mail.example.org: RSA 2048"]
    informational:
      description: Informational subtests graded insufficient, one line each.
      type: list
      elements: str
      returned: always
      sample: []
    insufficient:
      description: Names of every subtest graded insufficient.
      type: list
      elements: str
      returned: always
      sample: []
    phase_out:
      description: Names of every subtest graded phase out.
      type: list
      elements: str
      returned: always
      sample: ["cert_pubkey"]
    not_tested:
      description: Names of the subtests this client could not judge, and why the grading stopped early if it did.
      type: list
      elements: str
      returned: always
      sample: ["renegotiation_client"]
    connections:
      description: Connections the grading made to this endpoint.
      type: int
      returned: always
      sample: 27
    subtests:
      description:
        - Per internet.nl mail TLS subtest (C(starttls_exists), C(tls_version), C(tls_ciphers), C(tls_cipher_order),
          C(fs_params), C(kex_hash_func), C(tls_compression), C(renegotiation_secure), C(renegotiation_client),
          C(extended_master_secret), C(zero_rtt), C(cert_trust), C(cert_pubkey), C(cert_signature), C(cert_hostmatch),
          C(dane_valid)) a dictionary with C(verdict), C(detail), C(counts) (whether internet.nl counts it) and the
          evidence.
        - C(tls_version) has C(accepted), C(refused), C(untested) (SSLv3 to TLS 1.3; untested when the probe got no
          answer in time) and C(classes); C(tls_ciphers) has C(accepted),
          per version the suites (C(code), IANA C(name), C(openssl) name, C(class), C(key_exchange) group), in the
          server's order for the forward-secret ones; C(tls_cipher_order) has C(server_enforces_order) and
          C(violation); C(fs_params) has C(negotiated) (the groups a current client gets, by name; a custom DH group
          with its size) and C(supported) (with O(grade_all_groups=true), every TLS 1.3 group and TLS 1.2 curve
          accepted, else empty); C(kex_hash_func) has
          C(probes); C(tls_compression) the C(versions) that compress; C(cert_pubkey) and C(cert_signature) the
          C(certificates) served; C(dane_valid) the C(records) and the C(matched) ones.
      type: dict
      returned: always
      sample: {"tls_version": {"verdict": "sufficient", "detail": "TLSv1.2 sufficient, TLSv1.3 good", "counts": true,
               "accepted": ["TLSv1.2", "TLSv1.3"], "refused": ["SSLv3", "TLSv1", "TLSv1.1"]}}
grade_summary:
  description: The RV(grades[].summary) lines.
  returned: when O(grade=true)
  type: list
  elements: str
  sample: ["WOULD PASS 127.0.0.1:25/smtp -- phase out: cert_pubkey: CN=mail.example.org: RSA 2048"]
failed_endpoints:
  description: The endpoints with failures, each with C(endpoint), C(host), C(port), C(protocol) and its C(failures).
  returned: always
  type: list
  elements: dict
  sample: [{"endpoint": "127.0.0.1:25/smtp", "host": "127.0.0.1", "port": 25, "protocol": "smtp",
            "failures": ["certificate does not cover mail.example.org (it is for vm)"]}]
summary:
  description: One human-readable line per endpoint.
  returned: always
  type: list
  elements: str
  sample: ["OK   127.0.0.1:25/smtp: TLSv1.3 TLS_AES_256_GCM_SHA384 | CN=mail.example.org | expires 2027-01-30 (62 d)
           | chain ok | name ok | accepts TLSv1.2,TLSv1.3"]
trust_anchors:
  description: Where the trust anchors for the chain check came from.
  returned: always
  type: str
  sample: /etc/ssl/certs/ca-certificates.crt
client:
  description: What this client can do (its Python and OpenSSL decide the chain and legacy-version limits).
  returned: always
  type: dict
  sample: {"python": "3.11.2", "openssl": "OpenSSL 3.0.20 7 Apr 2026", "served_chain": "available",
           "versions": ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]}
elapsed:
  description: Seconds the checks took, all endpoints together.
  returned: always
  type: float
  sample: 0.41
"""

import concurrent.futures
import dataclasses
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _layout, _lifecycle, _probe, _tlsgrade, _validate


def argument_spec() -> dict:
    return dict(
        endpoints=dict(
            type="list", elements="dict", default=[],
            options=dict(
                host=dict(type="str"),
                port=dict(type="int"),
                protocol=dict(type="str", choices=["smtp", "smtps", "imap", "imaps", "pop3", "pop3s"]),
                server_name=dict(type="str"),
                submission=dict(type="bool"),
            ),
            required_one_of=[("port", "protocol")],
        ),
        all_ports=dict(type="bool", default=False),
        host=dict(type="str", default="127.0.0.1"),
        server_name=dict(type="str"),
        expected_fingerprint=dict(type="list", elements="str", default=[]),
        expected_certificate_path=dict(type="list", elements="path", default=[]),
        expect_installed=dict(type="bool", default=False),
        base_dir=dict(type="path", default=_layout.BASE_DIR),
        ca_path=dict(type="path"),
        validate_chain=dict(type="bool", default=True),
        check_hostname=dict(type="bool", default=True),
        check_auth_before_tls=dict(type="bool", default=True),
        check_submission_auth=dict(type="bool", default=True),
        min_days_remaining=dict(type="int", default=14),
        min_protocol=dict(type="str", choices=["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"], default="TLSv1.2"),
        required_names=dict(type="list", elements="str", default=[]),
        probe_protocols=dict(type="bool", default=True),
        report_only=dict(type="bool", default=False),
        timeout=dict(type="float", default=10),
        workers=dict(type="int", default=32),
        source_address=dict(type="str"),
        ehlo_name=dict(type="str"),
        snakeoil_path=dict(type="path", default="/etc/ssl/certs/ssl-cert-snakeoil.pem"),
        grade=dict(type="bool", default=False),
        grade_fail_on=dict(type="list", elements="str", choices=["insufficient", "phase out"], default=[]),
        tlsa_records=dict(type="list", elements="str", default=[]),
        grade_all_groups=dict(type="bool", default=False),
        grade_timeout=dict(type="float", default=120),
        ct_enforce=dict(type="bool", default=False),
        **_lifecycle.argument_spec(renewal=True, renew_before_days=None),
    )


def _tlsa_record(option: str, value: str) -> None:
    try:
        _tlsgrade.parse_tlsa_record(value)
    except _tlsgrade.GradeError as exc:
        raise _validate.InputError(f"{option}: {exc}") from None


# Each option's meaning beyond its type (the universal rule refuses control characters in every value).
RULES = _validate.Rules(checks={
    "endpoints[].host": _validate.host,
    "endpoints[].server_name": _validate.host,
    "host": _validate.host,
    "server_name": _validate.host,
    "expected_certificate_path[]": _validate.absolute_path,
    "ca_path": _validate.absolute_path,
    "required_names[]": _validate.name_or_address,
    "min_days_remaining": _validate.at_least(0),
    "source_address": _validate.ip_address,
    "ehlo_name": _validate.ehlo_name,
    "snakeoil_path": _validate.absolute_path,
    "tlsa_records[]": _tlsa_record,
    "grade_timeout": _validate.positive,
})


def run(module: AnsibleModule) -> dict:
    params = module.params
    if params["timeout"] <= 0:
        raise _probe.ProbeError("timeout must be a positive number of seconds")
    if params["workers"] < 1:
        raise _probe.ProbeError("workers must be 1 or more")
    endpoints = _probe.build_endpoints(
        endpoints=params["endpoints"], all_ports=params["all_ports"], host=params["host"],
        server_name=params["server_name"],
    )
    fingerprints = {_probe.normalize_fingerprint(value) for value in params["expected_fingerprint"]}
    sources = list(params["expected_fingerprint"])
    paths = list(params["expected_certificate_path"])
    installed: list[str] = []
    if params["expect_installed"]:
        found = _layout.discover(params["base_dir"])
        installed = [paths.live("cert") for paths in found]
        if not installed:
            module.warn(f"expect_installed: no certificate is installed under {params['base_dir']} (<name>/<key type>/live/cert.pem); "
                        "served and installed are not compared")
        anchor = _layout.ca_cert_path(params["base_dir"])
        if params["ca_path"] is None and os.path.isfile(anchor):
            params["ca_path"] = anchor
        # The local CA's CRL, installed with its certificate by the certificate role (certificate_crl).
        crl = _layout.crl_path(params["base_dir"])
        if not params["crl_path"] and os.path.isfile(crl):
            params["crl_path"] = [crl]
        paths += [path for path in installed if path not in paths]
    by_path, notes = _probe.load_expected_fingerprints(paths, check_mode=module.check_mode)
    from_files, file_sources = _probe.expected_from_files(by_path)
    fingerprints |= from_files
    sources += file_sources
    for note in notes:
        module.warn(note)
    expectations = _probe.Expectations(
        fingerprints=frozenset(fingerprints),
        fingerprint_sources=tuple(sources),
        min_days_remaining=params["min_days_remaining"],
        min_protocol=params["min_protocol"],
        required_names=tuple(params["required_names"]),
        validate_chain=params["validate_chain"],
        check_hostname=params["check_hostname"],
        forbid_plaintext_auth=params["check_auth_before_tls"],
        snakeoil_fingerprint=_probe.snakeoil_fingerprint(params["snakeoil_path"]),
        require_submission_auth=params["check_submission_auth"],
    )
    settings = _probe.Settings(
        timeout=params["timeout"], source_address=params["source_address"], ehlo_name=params["ehlo_name"],
        ca_path=params["ca_path"], probe_protocols=params["probe_protocols"], workers=params["workers"],
    )
    contexts = _probe.Contexts(settings)
    lifecycle = _lifecycle.Lifecycle(params, tolerate_missing=module.check_mode)
    for note in lifecycle.notes:
        module.warn(note)
    inspect = _lifecycle.probe_hook(lifecycle, ct_enforce=params["ct_enforce"])
    records = _tlsgrade.parse_tlsa(params["tlsa_records"]) if params["grade"] else []
    if params["grade"] and not records:
        records = _tlsgrade.installed_records(path for path in installed if path in by_path)
    started = time.monotonic()
    grades = None
    if params["grade"]:
        # The verifier and the grader run side by side; the grader takes the verifier's chain and name
        # findings once its own probes are done, the verifier the grader's version findings (its hellos ask
        # about every version anyway, so the verifier makes no version handshakes of its own).
        main_only = dataclasses.replace(settings, probe_protocols=False)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as side:
            verifying = side.submit(_probe.verify, endpoints, main_only, expectations, contexts=contexts,
                                    inspect=inspect)
            grades = _tlsgrade.grade(
                [_grade_target(endpoint, settings) for endpoint in endpoints], tlsa_records=records,
                timeout=params["timeout"], budget=params["grade_timeout"], workers=params["workers"],
                all_groups=params["grade_all_groups"],
                facts=lambda: {r.endpoint: _grade_facts(r) for r in verifying.result()})
            reports = verifying.result()
        if settings.probe_protocols:
            for report, graded in zip(reports, grades):
                _probe.judge_with_protocols(report, _tlsgrade.version_findings(graded), expectations)
        _apply_grade_failures(reports, grades, params["grade_fail_on"])
    else:
        reports = _probe.verify(endpoints, settings, expectations, contexts=contexts, inspect=inspect)
    # A CRL of a CA that issued none of the served certificates: the CRL or the served certificates are
    # wrong. Every endpoint that served one says so, and keeps the rest of its report (a snake-oil
    # certificate, say, is still named as such).
    unused = lifecycle.unused_crls()
    for report in reports:
        if unused and report.facts.get("fingerprint_sha256"):
            report.failures.append(unused)
            report.ok = False
    extra = {} if grades is None else {"grades": grades, "grade_summary": [g["summary"] for g in grades]}
    if params["expect_installed"]:
        judged = _lifecycle.installed_facts(lifecycle, [(p.live("cert"), p.live("chain")) for p in found], anchor=params["ca_path"])
        extra["installed_certificates"] = [dict({"path": path, "fingerprint_sha256": by_path[path]}, **judged.get(path, {}))
                                           for path in installed if path in by_path]
    return dict(
        extra,
        changed=False,
        endpoints=[report.to_dict() for report in reports],
        failed_endpoints=[{"endpoint": r.endpoint, "host": r.host, "port": r.port, "protocol": r.protocol,
                           "failures": r.failures} for r in reports if r.failures],
        summary=[_probe.summary_line(report) for report in reports],
        trust_anchors=contexts.trust_anchors,
        crls=lifecycle.crl_facts(),
        client=_probe.client_facts(),
        elapsed=round(time.monotonic() - started, 3),
    )


def _grade_target(endpoint: _probe.Endpoint, settings: _probe.Settings) -> _tlsgrade.Target:
    # The ports of one protocol share the server's processes (Dovecot's imap-login serves 143 and 993).
    service = {"smtps": "smtp", "imaps": "imap", "pop3s": "pop3"}.get(endpoint.protocol, endpoint.protocol)
    return _tlsgrade.Target(label=endpoint.label, port=endpoint.port, server_name=endpoint.check_name,
                            open=lambda: _probe.open_for_tls(endpoint, settings), host=endpoint.host, service=service)


def _grade_facts(report: _probe.EndpointReport) -> dict:
    return {"chain_valid": report.chain_valid, "chain_error": report.chain_error,
            "hostname_matches": report.hostname_matches, "names": report.names}


def _apply_grade_failures(reports: list[_probe.EndpointReport], grades: list[dict], fail_on: list[str]) -> None:
    for report, graded in zip(reports, grades):
        found = []
        counted = [name for name in graded["insufficient"] if name not in _tlsgrade.INFORMATIONAL]
        if "insufficient" in fail_on and counted:
            found.append(f"insufficient: {', '.join(counted)}")
        if "phase out" in fail_on and graded["phase_out"]:
            found.append(f"phase out: {', '.join(graded['phase_out'])}")
        if fail_on and graded["verdict"] == "not graded":
            found.append(graded["subtests"]["starttls_exists"]["detail"])
        if found:
            report.failures.append(f"internet.nl grade {graded['verdict']} ({'; '.join(found)})")
            report.ok = False


def main() -> None:
    module = _validate.checked_module(RULES, argument_spec=argument_spec(), supports_check_mode=True)
    _crypto.require_cryptography(module)
    try:
        result = run(module)
    except (_probe.ProbeError, _lifecycle.LifecycleError, _tlsgrade.GradeError) as exc:
        module.fail_json(msg=str(exc))
    failed = result["failed_endpoints"]
    if failed:
        details = "; ".join(f"{item['endpoint']}: {', '.join(item['failures'])}" for item in failed)
        result["msg"] = f"{len(failed)} of {len(result['endpoints'])} endpoints failed verification: {details}"
        if not module.params["report_only"]:
            module.fail_json(**result)
    else:
        result["msg"] = f"{len(result['endpoints'])} of {len(result['endpoints'])} endpoints meet every expectation"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
