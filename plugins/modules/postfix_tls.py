#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: postfix_tls
short_description: Set Postfix's TLS (certificates, protocols, ciphers, submission services, SNI, outbound TLS) from one profile
version_added: 0.1.0
description:
  - Sets Postfix's TLS parameters in C(main.cf) through C(postconf) and the C(submission) (587) and
    C(submissions) (465) services in C(master.cf) through C(postconf -M) and C(postconf -P), for Postfix 3.6
    and later (tested on 3.7 and 3.10).
  - Values are compared by meaning, not by text - list parameters as lists of elements separated by commas
    and/or whitespace, protocol lists as sets, booleans without regard to case - and only what differs is
    written. Every parameter the module manages is set explicitly in C(main.cf) even when it equals Postfix's
    built-in default, so C(postconf -n) shows the whole TLS policy and a Postfix upgrade that changes a
    default cannot change it silently. Parameters the module wants at their default are removed with
    C(postconf -X).
  - Certificates are served through C(smtpd_tls_chain_files) - one or more files holding a private key
    followed by its certificate chain, such as the C(combined.pem) that M(postmaster.tls.certificate_install)
    writes - so an RSA and an ECDSA certificate can be served side by side. The legacy
    C(smtpd_tls_cert_file)/C(smtpd_tls_key_file)-style parameters are removed, since Postfix ignores them
    (with a warning) once C(smtpd_tls_chain_files) is set.
  - The O(profile) gives the protocol floor and cipher list for the mandatory-TLS services (587, 465, and any
    service with C(smtpd_tls_security_level=encrypt)) through C(smtpd_tls_mandatory_protocols),
    C(smtpd_tls_mandatory_ciphers=high) and C(tls_high_cipherlist), following Mozilla's server-side TLS
    guidelines 6.0 (C(modern) is TLS 1.3 only, C(intermediate) TLS 1.2 and 1.3 with forward-secret AEAD ciphers,
    C(legacy) down to TLS 1.0 for very old clients).
  - Port 25 is opportunistic - a sending server whose handshake fails retries in plaintext - so
    C(smtpd_tls_protocols) gets the opportunistic floor, TLS 1.2 even under C(modern), unless
    O(opportunistic_min_protocol) asks for more. The trade-off - a TLS 1.3-only port 25 sends the mail of every
    TLS 1.2-only peer in the clear instead of encrypted.
  - Outbound mail (the Postfix SMTP client) has its own floors. Opportunistic outbound TLS
    (C(smtp_tls_protocols)) keeps the library floor in every profile, because Postfix falls back to plaintext
    when such a handshake fails; mandatory outbound TLS (C(encrypt), C(dane), C(verify), C(secure)) gets
    C(smtp_tls_mandatory_protocols) from the profile, where a failed handshake defers the mail instead.
  - Also sets C(smtpd_tls_auth_only=yes) (no AUTH before STARTTLS), the TLS session caches, the TLS log level
    and the C(Received:) header note.
  - Before anything goes live, every chain file is checked (key before its certificate, key matching the
    certificate, not encrypted, at most one key per algorithm), protocol lists, cipher grades, TLS levels and
    cipher lists are checked (Postfix accepts a bad value in C(main.cf) and then disables TLS altogether), and
    the changes are applied to a private copy of C(main.cf) and C(master.cf) which must pass
    C(postconf -n) without warnings about unknown parameters and C(postfix -c COPY check). On failure nothing
    live has changed and the task fails with Postfix's own message. The validated copy is then installed
    atomically; if Postfix reads other values afterwards, the previous C(main.cf) and C(master.cf) are put
    back exactly.
  - The module never reloads Postfix. Notify a handler (the role C(postmaster.tls.postfix) has
    C(Check postfix) then C(Reload postfix)); Postfix also reads C(main.cf) again in every new process.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
  - postmaster.tls.reload
attributes:
  check_mode:
    support: full
    details:
      - Check mode builds and validates the same candidate copy a real run installs (C(postconf) and
        C(postfix check) run on the copy), so the prediction and the diff are exact; only the installation and
        the SNI table build are skipped. When a chain file does not exist yet because an earlier task would
        create it, check mode warns and predicts the change; a real run fails.
  diff_mode:
    support: full
    details:
      - The whole text of C(main.cf) and C(master.cf) before and after, and the SNI table's source file.
  idempotent:
    support: full
options:
  config_dir:
    description:
      - Postfix's configuration directory (C(postconf -c)).
    type: path
    default: /etc/postfix
  profile:
    description:
      - The TLS profile from the collection's profile table.
      - V(intermediate) is TLS 1.2 and 1.3 with forward-secret AEAD ciphers (Mozilla intermediate), the
        recommendation for mail servers.
      - V(modern) is TLS 1.3 only on the mandatory-TLS services; port 25 stays at TLS 1.2 (see
        O(opportunistic_min_protocol)).
      - V(legacy) allows TLS 1.0 and 1.1 and CBC ciphers, and lowers OpenSSL's security level for that; use it
        only for known old clients.
    type: str
    choices: [modern, intermediate, legacy]
    default: intermediate
  chain_files:
    description:
      - Files for C(smtpd_tls_chain_files), each holding a private key immediately followed by its certificate
        and the intermediates (the interfaces' C(combined.pem)). One file per key type; RSA and ECDSA together
        are served to the clients that prefer each.
      - Absolute paths without C($variables), so they can be checked before Postfix reads them.
      - When omitted, the certificate settings in C(main.cf) are left as they are.
    type: list
    elements: path
  security_level:
    description:
      - C(smtpd_tls_security_level) of the main SMTP service (port 25).
      - V(may) (opportunistic STARTTLS) is the only right choice for a public MX; RFC 3207 forbids requiring
        TLS there. V(encrypt) suits a relay that only talks to known clients; it makes port 25 use the
        mandatory protocol floor of the profile.
    type: str
    choices: [none, may, encrypt]
    default: may
  opportunistic_min_protocol:
    description:
      - The lowest protocol port 25 accepts while TLS is opportunistic (C(smtpd_tls_protocols)).
      - Defaults to the profile's opportunistic floor, TLS 1.2 for V(modern) and V(intermediate), TLS 1.0 for
        V(legacy). V(TLSv1.3) here makes TLS 1.2-only senders deliver in plaintext.
    type: str
    choices: [TLSv1, TLSv1.1, TLSv1.2, TLSv1.3]
  client_security_level:
    description:
      - C(smtp_tls_security_level) for outbound mail.
      - V(may) is opportunistic TLS.
      - V(dane) uses DANE TLSA records where the destination publishes them under DNSSEC and opportunistic TLS
        elsewhere (RFC 7672); V(dane-only) requires them. Both also set C(smtp_dns_support_level=dnssec). DANE
        needs a DNSSEC-validating resolver on the host (for example unbound on 127.0.0.1 in
        C(/etc/resolv.conf), also inside Postfix's chroot); without one every lookup is insecure and DANE
        silently degrades to opportunistic TLS (V(dane)) or defers all mail (V(dane-only)).
      - V(encrypt), V(verify) and V(secure) require TLS for every destination; use them per destination through
        C(smtp_tls_policy_maps) (O(extra)) rather than globally on an Internet-facing server.
    type: str
    choices: [none, may, encrypt, dane, dane-only, fingerprint, verify, secure]
    default: may
  client_min_protocol:
    description:
      - Floor for opportunistic outbound TLS (C(smtp_tls_protocols)). Defaults to the profile's client floor
        (TLS 1.0, the library default, in every profile); raising it makes Postfix send mail to old servers in
        plaintext rather than over old TLS.
    type: str
    choices: [TLSv1, TLSv1.1, TLSv1.2, TLSv1.3]
  client_mandatory_min_protocol:
    description:
      - Floor for mandatory outbound TLS (C(smtp_tls_mandatory_protocols)). Defaults to the profile's (TLS 1.2
        for V(modern) and V(intermediate)).
    type: str
    choices: [TLSv1, TLSv1.1, TLSv1.2, TLSv1.3]
  submission:
    description:
      - The C(submission/inet) service (port 587, STARTTLS required, SASL on, AUTH only after STARTTLS).
      - V(present) creates it when missing (with the privilege and chroot columns of the C(smtp/inet)
        service) and sets its C(-o) overrides C(syslog_name=postfix/submission),
        C(smtpd_tls_security_level=encrypt), C(smtpd_sasl_auth_enable=yes), C(smtpd_tls_auth_only=yes) and
        O(service_options). Other C(-o) overrides already on the entry are kept.
      - V(absent) removes the entry; V(unmanaged) leaves it alone.
    type: str
    choices: [present, absent, unmanaged]
    default: present
  submissions:
    description:
      - The C(submissions/inet) service (port 465, TLS from the first byte, RFC 8314), with the C(-o)
        overrides C(syslog_name=postfix/submissions), C(smtpd_tls_wrappermode=yes),
        C(smtpd_sasl_auth_enable=yes) and O(service_options).
      - V(present), V(absent) and V(unmanaged) as for O(submission).
    type: str
    choices: [present, absent, unmanaged]
    default: present
  service_options:
    description:
      - More C(-o NAME=VALUE) overrides for both submission services, or replacements for the defaults above
        (the SASL ones from O(sasl_type) too). A value of V(null) removes that override. Lists are joined with
        commas; a C(-o) value cannot contain whitespace.
      - Values are checked as in O(extra); a value with C($name) must name a parameter Postfix defines, and
        what it expands to is checked.
    type: dict
    default: {}
  sasl_type:
    description:
      - The SASL backend of the submission services (C(-o smtpd_sasl_type) and C(-o smtpd_sasl_path) on both).
        SASL needs a backend that offers mechanisms, or C(smtpd) exits on the first C(EHLO) inside TLS (it logs
        that it has no SASL authentication mechanisms), master throttles the service and the port hangs.
      - V(auto) keeps an explicit choice - C(smtpd_sasl_type) in O(service_options) or O(extra), in C(main.cf),
        or already on a submission service - and otherwise, when Dovecot is installed on the host, uses
        Dovecot's auth socket (V(dovecot), the usual pairing); without Dovecot, Postfix's own setting stays.
      - V(dovecot) and V(cyrus) set the backend on both services.
      - Before anything is written, a present submission service with SASL on must have a backend that
        answers - Dovecot's auth socket offers at least one mechanism (or, before Dovecot's reload, its
        configuration declares the socket, as M(postmaster.tls.dovecot_tls) O(postmaster.tls.dovecot_tls#module:postfix_auth)
        does), or the Cyrus PLAIN/LOGIN modules are installed - unless O(sasl_handled_elsewhere=true). Otherwise
        the task fails naming the options that fix it (in check mode, and when nothing would change, it warns).
    type: str
    choices: [auto, dovecot, cyrus]
    default: auto
  sasl_path:
    description:
      - C(smtpd_sasl_path) for the backend O(sasl_type) sets - for Dovecot a socket path relative to Postfix's
        queue directory, an absolute path, or C(inet:HOST:PORT). Defaults to V(private/auth) for V(dovecot) and
        V(smtpd) for V(cyrus).
    type: str
  sasl_handled_elsewhere:
    description:
      - SASL is set up outside this module (a backend on another host, or one a later task creates). The
        backend check of O(sasl_type) is skipped; M(postmaster.tls.mail_tls_verify) still fails a submission port
        that offers no C(AUTH) after TLS.
    type: bool
    default: false
  sni_maps:
    description:
      - Certificates per mail name for servers with several mail domains - C(tls_server_sni_maps). A mapping of
        DNS names (or C(.example.org) for every subdomain) to lists of chain files, in the same format as
        O(chain_files).
      - The module writes the table's source file O(sni_map_path) and builds it with C(postmap -F), which stores
        the files' content (the private keys too, so both files are mode C(0600)). The table is rebuilt
        whenever a listed file's content changed, for example after a renewal; it is built beside the target
        and checked with C(postmap -F -q) before it replaces the old one.
      - An empty mapping removes C(tls_server_sni_maps) and the table files; when omitted, SNI settings are left
        alone.
      - List the server's default names too, so clients that send them get a positive SNI answer.
    type: dict
  sni_map_path:
    description:
      - Source file of the SNI table. Defaults to C(tls_server_sni_map) in O(config_dir).
    type: path
  sni_map_type:
    description:
      - Table type of the SNI table. Defaults to Postfix's C(default_database_type).
    type: str
    choices: [hash, btree, cdb, lmdb]
  log_level:
    description:
      - C(smtpd_tls_loglevel) and C(smtp_tls_loglevel). V(1) logs a summary line per TLS session.
    type: int
    choices: [0, 1, 2, 3, 4]
    default: 1
  received_header:
    description:
      - C(smtpd_tls_received_header) - record the protocol and cipher in the C(Received:) header.
    type: bool
    default: true
  session_cache:
    description:
      - Set C(smtpd_tls_session_cache_database) and C(smtp_tls_session_cache_database) (C(btree) tables in
        C(data_directory)); V(false) removes both.
    type: bool
    default: true
  extra:
    description:
      - More C(main.cf) parameters, for what the module does not model. Values are strings, numbers, booleans
        (written as C(yes)/C(no)) or lists (joined with commas); V(null) removes the parameter.
      - An entry here replaces the value the module would set for the same parameter. Protocol lists, cipher
        grades, TLS levels, TLS log levels, booleans and cipher lists are checked as for the modelled options,
        and a parameter name Postfix does not know fails the task.
    type: dict
    default: {}
  backup:
    description:
      - Keep a timestamped copy of C(main.cf) and C(master.cf) before changing them.
    type: bool
    default: false
notes:
  - Needs C(postconf), C(postfix) and (for SNI) C(postmap) on the managed host, and Python's C(cryptography)
    to check the chain files.
  - Postfix processes read the chain files when they start. After a certificate renewal notify the handler
    that reloads Postfix; for SNI tables run this module again (it notices the change and rebuilds the table).
seealso:
  - module: postmaster.tls.certificate_install
  - name: Postfix TLS support
    description: Postfix's TLS_README, including opportunistic TLS and the client fallback to plaintext.
    link: https://www.postfix.org/TLS_README.html
  - name: Mozilla server-side TLS guidelines
    description: The source of the profiles' protocol floors and cipher lists.
    link: https://wiki.mozilla.org/Security/Server_Side_TLS
requirements:
  - cryptography >= 3.4 (on the managed host)
"""

EXAMPLES = r"""
---
- name: Serve the RSA and ECDSA certificates on 25, 587 and 465 (intermediate profile)
  postmaster.tls.postfix_tls:
    chain_files:
      - /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
      - /etc/postmaster-tls/mail.example.org/ecdsa/live/combined.pem
    service_options:
      smtpd_sasl_type: dovecot
      smtpd_sasl_path: private/auth
  notify: Check postfix

- name: TLS 1.3 only for submission, TLS 1.2 floor kept on port 25; DANE for outbound mail
  postmaster.tls.postfix_tls:
    profile: modern
    chain_files:
      - /etc/postmaster-tls/mail.example.org/ecdsa/live/combined.pem
      - /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
    client_security_level: dane
    backup: true

- name: Several mail domains on one server (SNI), no port 465
  postmaster.tls.postfix_tls:
    chain_files:
      - /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
    submissions: absent
    sni_maps:
      mail.example.org:
        - /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
      mail.example.net:
        - /etc/postmaster-tls/mail.example.net/rsa/live/combined.pem
        - /etc/postmaster-tls/mail.example.net/ecdsa/live/combined.pem

- name: Pass through settings the module does not model
  postmaster.tls.postfix_tls:
    chain_files:
      - /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
    extra:
      smtp_tls_policy_maps: hash:/etc/postfix/tls_policy
      tls_ssl_options: NO_RENEGOTIATION
"""

RETURN = r"""
config_dir:
  description: The Postfix configuration directory.
  returned: always
  type: str
  sample: /etc/postfix
profile:
  description: The profile applied and the protocol floors that came out of it.
  returned: always
  type: dict
  contains:
    name:
      description: Profile name.
      type: str
      sample: intermediate
    min_protocol:
      description: Floor of the mandatory-TLS services (587, 465).
      type: str
      sample: TLSv1.2
    opportunistic_min_protocol:
      description: Floor of port 25.
      type: str
      sample: TLSv1.2
    client_min_protocol:
      description: Floor of opportunistic outbound TLS.
      type: str
      sample: TLSv1
    client_mandatory_min_protocol:
      description: Floor of mandatory outbound TLS.
      type: str
      sample: TLSv1.2
    cipher_list:
      description: OpenSSL cipher list for TLS 1.2 and older (C(tls_high_cipherlist)); V(null) leaves Postfix's default.
      type: str
      sample: ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
  sample:
    name: intermediate
    min_protocol: TLSv1.2
    opportunistic_min_protocol: TLSv1.2
    client_min_protocol: TLSv1
    client_mandatory_min_protocol: TLSv1.2
    cipher_list: ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
parameters:
  description: Every C(main.cf) parameter the module manages and the value it wants; V(null) means "not set" (Postfix's default).
  returned: always
  type: dict
  sample:
    smtpd_tls_chain_files: /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
    smtpd_tls_cert_file: null
    smtpd_tls_protocols: ">=TLSv1.2"
    smtpd_tls_mandatory_protocols: ">=TLSv1.2"
    smtpd_tls_auth_only: "yes"
services:
  description: The C(master.cf) services the module manages, their state and the C(-o) overrides it sets.
  returned: always
  type: dict
  sample:
    submission/inet:
      state: present
      options:
        syslog_name: postfix/submission
        smtpd_tls_security_level: encrypt
        smtpd_sasl_auth_enable: "yes"
        smtpd_tls_auth_only: "yes"
changes:
  description:
    - What changed (or would change in check mode) - C(parameters) maps each changed C(main.cf) parameter to its
      C(before) and C(after) value (V(null) is "not set") and, for a parameter that was not set, the C(default)
      Postfix used until then (C(postconf -d)); C(services) maps each changed service to its C(master.cf) entry
      before and after, as C(postconf -Mf) prints it.
  returned: always
  type: dict
  sample:
    parameters:
      smtpd_tls_protocols:
        before: null
        after: ">=TLSv1.2"
        default: ">=TLSv1"
    services:
      submission/inet:
        before: ""
        after: "submission inet  n       -       y       -       -       smtpd\n    -o syslog_name=postfix/submission\n"
commands:
  description: The C(postconf) commands that were (or in check mode would be) applied; each argument is one argv element.
  returned: always
  type: list
  elements: str
  sample:
    - postconf -e smtpd_tls_protocols=>=TLSv1.2 smtpd_tls_auth_only=yes
    - postconf -M submission/inet=submission inet n - y - - smtpd -o syslog_name=postfix/submission
sasl:
  description:
    - The SASL backend of each present submission service with SASL on - C(service), C(type), C(path), C(status)
      (V(answers) - Dovecot's auth service answered with RV(sasl[].mechanisms); V(declared) - Dovecot's configuration
      declares the socket, which appears when Dovecot reloads; V(installed) - the Cyrus modules are installed;
      V(unchecked) - O(sasl_handled_elsewhere=true); V(missing) or V(broken) - a warning says why) and C(mechanisms).
  returned: success
  type: list
  elements: dict
  contains:
    service:
      description: The C(master.cf) service.
      type: str
      returned: always
      sample: submission/inet
    type:
      description: Its effective C(smtpd_sasl_type).
      type: str
      returned: always
      sample: dovecot
    path:
      description: Its effective C(smtpd_sasl_path).
      type: str
      returned: always
      sample: private/auth
    status:
      description: What the check found, see above.
      type: str
      returned: always
      sample: answers
    mechanisms:
      description: The mechanisms Dovecot's auth service offered (empty unless RV(sasl[].status=answers)).
      type: list
      elements: str
      returned: always
      sample: [PLAIN]
  sample:
    - service: submission/inet
      type: dovecot
      path: private/auth
      status: answers
      mechanisms: [PLAIN]
certificates:
  description:
    - What each key in O(chain_files) serves (no key material) - the certificate facts every module of the collection
      returns (the keys of RV(postmaster.tls.certificate_info#module:certificates) without C(exists), C(count) and
      C(matches_key); C(path) is the file that holds the leaf), plus C(key_path) (the file that holds the key) and
      C(chain_length) (the leaf and the certificates after it).
    - C(names) is now C(dns_names).
  returned: when O(chain_files) (or C(smtpd_tls_chain_files) in O(extra)) is set and the files exist
  type: list
  elements: dict
  sample:
    - path: /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
      key_path: /etc/postmaster-tls/mail.example.org/rsa/live/combined.pem
      subject: CN=mail.example.org
      subject_alt_names: [DNS:mail.example.org]
      dns_names: [mail.example.org]
      issuer: CN=Example Mail CA
      not_after: "2027-03-01T12:00:00Z"
      days_remaining: 89
      key_type: rsa
      key_size: 2048
      key_curve: null
      fingerprint_sha256: "3a:91:...:0c"
      spki_sha256: 5b1c0e...e2
      chain_length: 2
sni_map:
  description:
    - The SNI table - C(map) (C(type:path)), C(names), C(rebuilt) (whether it was, or in check mode would be,
      rebuilt), C(reasons) and C(certificates) (per name, as in RV(certificates)).
  returned: when O(sni_maps) is given
  type: dict
  sample:
    map: hash:/etc/postfix/tls_server_sni_map
    names: [mail.example.net, mail.example.org]
    rebuilt: true
    reasons: [/etc/postfix/tls_server_sni_map.db does not exist]
    certificates: {}
postconf_warnings:
  description: Warnings C(postconf -n) and C(postfix check) printed for the new configuration (about other parameters).
  returned: always
  type: list
  elements: str
  sample: ["postconf: warning: /etc/postfix/main.cf: unused parameter: virtual_maps=hash:/etc/postfix/virtual"]
reload_pending:
  description:
    - Whether Postfix still has to reload - O(reload_flag) exists (raised by this run's change, by
      M(postmaster.tls.certificate_install) for new certificate files, or by an earlier run that stopped before its
      reload); in check mode also when the configuration would change. V(false) without O(reload_flag).
  returned: success
  type: bool
  sample: false
reload_flag:
  description: The flag file of O(reload_flag), for the handler that removes it after the reload; V(null) without one.
  returned: success
  type: str
  sample: /run/postmaster-tls/postfix.reload
check_command:
  description:
    - The command that checks the live configuration before a reload (C(postfix -c CONFIG_DIR check), under C(script)
      when the host has it, so that Postfix prints its reason), with every program by the path this module found - the
      role's C(Check postfix) handler runs it, whatever the PATH of the become method.
  returned: success
  type: list
  elements: str
  sample: [/usr/bin/script, -qec, /usr/sbin/postfix -c /etc/postfix check, /dev/null]
running:
  description:
    - Whether Postfix (the master of O(config_dir)) was running when the module finished, from C(postfix status);
      V(null) when the C(postfix) command is missing. The role starts Postfix only when this is V(false), which saves
      a round trip per host on every run.
  returned: success
  type: bool
  sample: true
backup_files:
  description: Backup copies made because of O(backup), by file (C(main_cf), C(master_cf)).
  returned: when O(backup=true) and a file changed
  type: dict
  sample:
    main_cf: /etc/postfix/main.cf.12345.2026-11-28@15:00:00~
cmd:
  description: The Postfix command that failed (C(postconf), C(postfix check), C(postmap)).
  returned: failure of a Postfix command
  type: list
  elements: str
  sample: [postfix, -c, /tmp/ansible-tmp/postfix, check]
rc:
  description: Its exit code.
  returned: failure of a Postfix command
  type: int
  sample: 1
stdout:
  description: Its standard output.
  returned: failure of a Postfix command
  type: str
  sample: ""
stderr:
  description: Postfix's message, the reason it refused.
  returned: failure of a Postfix command
  type: str
  sample: "postfix: fatal: /etc/postfix/main.cf, line 12: missing '=' after attribute name"
"""

import shlex
import traceback


from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _layout, _postfix, _profiles, _service, _validate, _x509

PROTOCOLS = list(_x509.TLS_VERSIONS)
SERVICE_STATES = ["present", "absent", "unmanaged"]


def argument_spec() -> dict:
    return dict(
        config_dir=dict(type="path", default="/etc/postfix"),
        profile=dict(type="str", default=_profiles.DEFAULT_PROFILE, choices=list(_profiles.PROFILES)),
        chain_files=dict(type="list", elements="path"),
        security_level=dict(type="str", default="may", choices=list(_postfix.SERVER_SECURITY_LEVELS)),
        opportunistic_min_protocol=dict(type="str", choices=PROTOCOLS),
        client_security_level=dict(type="str", default="may", choices=list(_postfix.CLIENT_SECURITY_LEVELS)),
        client_min_protocol=dict(type="str", choices=PROTOCOLS),
        client_mandatory_min_protocol=dict(type="str", choices=PROTOCOLS),
        submission=dict(type="str", default="present", choices=SERVICE_STATES),
        submissions=dict(type="str", default="present", choices=SERVICE_STATES),
        service_options=dict(type="dict", default={}),
        sni_maps=dict(type="dict"),
        sni_map_path=dict(type="path"),
        sni_map_type=dict(type="str", choices=sorted(_postfix.SNI_MAP_SUFFIXES)),
        log_level=dict(type="int", default=1, choices=[0, 1, 2, 3, 4]),
        received_header=dict(type="bool", default=True),
        session_cache=dict(type="bool", default=True),
        extra=dict(type="dict", default={}),
        backup=dict(type="bool", default=False),
        reload_flag=dict(type="path"),
        sasl_type=dict(type="str", default="auto", choices=list(_postfix.SASL_TYPES)),
        sasl_path=dict(type="str"),
        sasl_handled_elsewhere=dict(type="bool", default=False),
    )


def check_sasl_path(option: str, value: str) -> None:
    """smtpd_sasl_path as a master.cf -o value: a path below the queue directory, an absolute path or inet:HOST:PORT."""
    if value.startswith("inet:"):
        host, _sep, port = value[5:].rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            _validate.host(option, host.strip("[]"))
            return
        raise _validate.InputError(f"{option}: {value!r} is not inet:HOST:PORT")
    path = value[5:] if value.startswith("unix:") else value
    if not path or path.startswith("-") or ".." in path.split("/") or not all(part for part in path.lstrip("/").split("/")):
        raise _validate.InputError(f"{option}: {value!r} is not a socket path (such as private/auth or /run/dovecot/auth-client)")
    if any(char in path for char in " ,${}=") or "\\" in path:
        raise _validate.InputError(f"{option}: {value!r} contains a space, comma, '$', '=', a brace or a backslash, which a master.cf "
                                   "-o value cannot hold as a path")


# Each option's meaning beyond its type (the universal rule refuses control characters in every value).
RULES = _validate.Rules(checks={
    "config_dir": _validate.absolute_path,
    "chain_files[]": _validate.postfix_list_path,
    "sni_maps.*[]": _validate.postfix_list_path,
    "sni_map_path": _validate.postfix_list_path,
    "reload_flag": _validate.absolute_path_or_empty,
    "sasl_path": check_sasl_path,
})


def build_request(params: dict) -> _postfix.Request:
    request = _postfix.Request(**{name: params[name] for name in argument_spec()})
    request.reload_flag = _layout.chosen_reload_flag("postfix", params["reload_flag"])
    return request


def needs_cryptography(request: _postfix.Request) -> bool:
    return bool(request.chain_files or request.sni_maps or "smtpd_tls_chain_files" in request.extra)


def check_command(tools: _postfix.Tools, config_dir: str) -> list[str]:
    """What the role's handler runs before a reload: without a terminal Postfix gives the reason of a failed check
    to syslog only, so under script(1) when there is one."""
    command = [str(tools.postfix), "-c", config_dir, "check"]
    return [tools.script, "-qec", shlex.join(command), "/dev/null"] if tools.script else command


def main() -> None:
    module = _validate.checked_module(RULES, argument_spec=argument_spec(), supports_check_mode=True)
    request = build_request(module.params)
    if needs_cryptography(request):
        _crypto.require_cryptography(module)

    postconf = module.get_bin_path("postconf", required=False)
    if postconf is None:
        if module.check_mode:
            # A play that installs Postfix in an earlier task: predict the change instead of failing.
            module.warn("postconf was not found; Postfix is not installed yet (check mode predicts a change)")
            module.exit_json(changed=True, config_dir=request.config_dir, profile={"name": request.profile}, parameters={},
                             services={}, changes={"parameters": {}, "services": {}}, commands=[], certificates=[],
                             postconf_warnings=[], sasl=[])
        module.fail_json(msg="postconf was not found on this host; install Postfix first (the role's postfix_install: true does)")

    host = _service.ModuleHost(module)
    tools = _postfix.Tools(
        run=host.run,
        postconf=postconf,
        postfix=module.get_bin_path("postfix", required=True),
        postmap=module.get_bin_path("postmap", required=request.sni_maps is not None),
        openssl=module.get_bin_path("openssl", required=False),
        script=module.get_bin_path("script", required=False),
        doveconf=module.get_bin_path("doveconf", required=False),
    )
    try:
        outcome = _postfix.run(host, tools, request)
    except _postfix.PostfixCommandError as exc:
        module.fail_json(msg=str(exc), config_dir=request.config_dir, **exc.details())
    except (_postfix.PostfixError, _profiles.UnknownProfileError, _fileio.FileIOError) as exc:
        module.fail_json(msg=str(exc), config_dir=request.config_dir)
    except OSError as exc:
        module.fail_json(msg=f"file system error: {exc}", config_dir=request.config_dir, exception=traceback.format_exc())

    for warning in outcome.warnings:
        module.warn(warning)
    result = outcome.result()
    result["running"] = tools.running(request.config_dir)
    result["reload_pending"] = _fileio.reload_pending(request.reload_flag, check_mode=module.check_mode, changed=outcome.changed)
    result["reload_flag"] = request.reload_flag
    result["check_command"] = check_command(tools, request.config_dir)
    if module._diff:
        result["diff"] = outcome.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
