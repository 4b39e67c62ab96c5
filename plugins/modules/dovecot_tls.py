#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dovecot_tls
short_description: Set Dovecot's TLS (certificates, protocols, ciphers, SNI) on Dovecot 2.3 and 2.4 from one option set
version_added: 0.1.0
description:
  - Writes Dovecot's TLS settings into one drop-in file, O(dropin_path) (by default
    C(/etc/dovecot/conf.d/99-postmaster-tls.conf)), which Debian's C(!include conf.d/*.conf) reads after
    the distribution's files. The distribution's files stay as shipped.
  - Detects the Dovecot series with C(dovecot --version) and uses its setting names - Dovecot 2.3
    C(ssl_cert = </path), C(ssl_key), C(ssl_alt_cert), C(ssl_prefer_server_ciphers),
    C(disable_plaintext_auth); Dovecot 2.4 C(ssl_server_cert_file = /path), C(ssl_server_key_file),
    C(ssl_server_alt_cert_file), C(ssl_server_prefer_ciphers), C(auth_allow_cleartext). The options are
    the same for both.
  - The O(profile) gives C(ssl_min_protocol), C(ssl_cipher_list), the server-preference setting and
    C(ssl_curve_list) from the collection's profile table (Mozilla's server-side TLS guidelines 6.0).
  - Cleartext authentication is allowed only over TLS (2.3 C(disable_plaintext_auth = yes), 2.4
    C(auth_allow_cleartext = no)). Note that Dovecot treats a connection from the server's own address
    (for example 127.0.0.1 to 127.0.0.1) as secure whatever these settings say.
  - Before anything is written, every certificate and key is checked (the files exist, the key matches the
    certificate, the alternative certificate has the other key type, the key is not encrypted and not
    readable by Dovecot's unprivileged users), then a complete candidate copy of the configuration
    directory is parsed by C(doveconf -c CANDIDATE -x) (which also opens every referenced file) and
    C(doveconf) must report the intended effective values globally, for the C(imap), C(pop3) and
    C(submission) protocols and for every O(local_names) entry. On failure nothing is changed and the
    task fails with Dovecot's own message.
  - A setting elsewhere that would still override the drop-in (set at top level in a file read later,
    such as C(local.conf), or inside a C(protocol), C(local), C(remote) or C(local_name) block) is reported
    and, with O(conflicts=comment_out), commented out behind a C(#[postmaster.tls]) marker; that edit is
    part of the diff.
  - After writing, the live configuration is checked once more; if Dovecot refuses it the previous files
    are put back. The module never reloads Dovecot; the role M(postmaster.tls.dovecot) (handlers
    C(Check dovecot) then C(Reload dovecot)) does.
author:
  - postmaster.tls contributors (@postmaster-tls)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
  - postmaster.tls.reload
attributes:
  platform:
    platforms: debian
    details:
      - Tested on Debian 12 (Dovecot 2.3) and Debian 13 (Dovecot 2.4); any system with C(dovecot), C(doveconf)
        and a C(conf.d) drop-in directory read by C(dovecot.conf) should work.
  check_mode:
    support: full
    details:
      - Check mode runs every check a real run does, including C(doveconf) on the candidate, and only
        skips the writes. When a certificate or key (or Dovecot itself) does not exist yet because an
        earlier task would create or install it, check mode warns and predicts the change.
  diff_mode:
    support: full
    details:
      - The whole text of the drop-in before and after, and of every file in which a conflicting line is
        commented out, with the values of password-like settings masked.
  idempotent:
    support: full
options:
  ssl:
    description:
      - Dovecot's C(ssl) setting. V(required) refuses every authentication (not only cleartext) before
        TLS; V(yes) offers TLS and still refuses cleartext authentication without it.
    type: str
    choices: [required, "yes"]
    default: required
  cert_path:
    description:
      - The certificate Dovecot serves, with its chain (leaf first), for example C(fullchain.pem) from
        M(postmaster.tls.certificate_install).
    type: path
    required: true
  key_path:
    description:
      - The private key of O(cert_path); unencrypted, readable by root only (see O(key_group)).
    type: path
    required: true
  alt_cert_path:
    description:
      - An alternative certificate with the other key type (ECDSA next to RSA, or the reverse); Dovecot
        serves whichever the client supports.
    type: path
  alt_key_path:
    description:
      - The private key of O(alt_cert_path).
    type: path
  profile:
    description:
      - The TLS profile. V(intermediate) is TLS 1.2 and 1.3 with forward-secret AEAD ciphers; V(modern)
        is TLS 1.3 only; V(legacy) allows TLS 1.0 and 1.1 for very old clients.
    type: str
    choices: [modern, intermediate, legacy]
    default: intermediate
  dh_path:
    description:
      - Diffie-Hellman parameters (PEM) for the C(DHE) ciphers of the V(legacy) profile (2.3 C(ssl_dh),
        2.4 C(ssl_server_dh_file)). Left as the distribution sets it when not given.
      - The file must hold one C(DH PARAMETERS) block of at least 2048 bits (C(openssl dhparam -out FILE 2048)); any
        other file is refused before anything is written.
    type: path
  local_names:
    description:
      - SNI - a certificate per server name. Each entry becomes a C(local_name NAME { }) block with its own
        certificate and key (and no alternative certificate unless given).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The server name a client asks for; a wildcard only as a leading C(*.).
        type: str
        required: true
      cert_path:
        description: The certificate (with chain) for this name.
        type: path
        required: true
      key_path:
        description: Its private key.
        type: path
        required: true
      alt_cert_path:
        description: An alternative certificate with the other key type for this name.
        type: path
      alt_key_path:
        description: The private key of O(local_names[].alt_cert_path).
        type: path
  client_ca:
    description:
      - Ask clients for a certificate and verify it with these CA certificates. Not set when omitted.
    type: dict
    suboptions:
      path:
        description:
          - CA certificates (PEM) that client certificates must chain to, followed by their CRLs when
            O(client_ca.require_crl=true) (2.3 C(ssl_ca), 2.4 C(ssl_server_ca_file)).
          - The file must hold CA certificates only (and CRLs with O(client_ca.require_crl=true)); any other file is
            refused before anything is written.
        type: path
        required: true
      request_cert:
        description: Ask for a client certificate (2.3 C(ssl_verify_client_cert), 2.4 C(ssl_server_request_client_cert)).
        type: bool
        default: true
      require_cert:
        description: Refuse authentication without a valid client certificate (C(auth_ssl_require_client_cert)).
        type: bool
        default: false
      require_crl:
        description: Require a CRL for every CA in O(client_ca.path) (2.3 C(ssl_require_crl), 2.4 C(ssl_server_require_crl)).
        type: bool
        default: true
  extra:
    description:
      - Further settings written at the top level of the drop-in as they are, with the running Dovecot
        series' names (for example C(ssl_options) or C(ssl_cipher_suites)). Booleans become C(yes)/C(no).
      - Names this module manages from its own options are refused (also those of options not in use, such as
        the DH and CA settings - use O(dh_path) and O(client_ca), where the files are checked), and so are secrets
        (names with C(password) or C(secret)), because the drop-in is readable by everyone. Extra settings are parsed
        by C(doveconf) like everything else, but not checked for conflicts.
      - A value must read back as written - no control characters, no trailing backslash (it would join the next
        line), no C(#) (a comment), no unbalanced quotes or braces. File settings (names ending in C(_file) or
        C(_dir), values starting with C(<)) take an absolute path; a CA file (C(*ca_file)) must hold CA certificates.
    type: dict
    default: {}
  postfix_auth:
    description:
      - A C(service auth) listener for Postfix's SMTP AUTH (submission on 587 and 465) at O(postfix_auth_path), mode
        C(0660), user and group C(postfix) - the usual Postfix and Dovecot pairing, the same syntax in Dovecot 2.3 and 2.4.
        M(postmaster.tls.postfix_tls) with O(postmaster.tls.postfix_tls#module:sasl_type=auto) uses it.
      - V(auto) adds it when Postfix is installed on this host (the C(postfix) user and the socket's directory exist);
        V(present) requires that; V(absent) writes no listener (one set up elsewhere stays as it is).
    type: str
    choices: [auto, present, absent]
    default: auto
  postfix_auth_path:
    description:
      - Where the listener for Postfix is created; C(private/auth) below Postfix's queue directory, which is
        Postfix's C(smtpd_sasl_path=private/auth).
    type: path
    default: /var/spool/postfix/private/auth
  config_path:
    description:
      - Dovecot's main configuration file. Its directory is what is copied into the candidate.
    type: path
    default: /etc/dovecot/dovecot.conf
  dropin_path:
    description:
      - The file this module owns. It must be inside the directory of O(config_path) and be included by
        it; the default sorts last in C(conf.d).
    type: path
    default: /etc/dovecot/conf.d/99-postmaster-tls.conf
  conflicts:
    description:
      - What to do with settings elsewhere that would still override the drop-in.
      - V(comment_out) comments them out (in their own file, behind a C(#[postmaster.tls]) marker) and warns.
      - V(warn) leaves them and warns; the effective values then differ from the intended ones.
      - V(fail) fails and changes nothing.
    type: str
    choices: [comment_out, warn, fail]
    default: comment_out
  key_group:
    description:
      - The one group that may have read access to private key files (Debian's C(ssl-cert) convention,
        mode C(0640)). A key readable by everyone, by any other group, or by a group or owner that is one
        of Dovecot's unprivileged users (C(default_internal_user), C(default_login_user)) is refused.
    type: str
    default: ssl-cert
  key_permissions:
    description:
      - V(fail) refuses keys with the permissions O(key_group) describes; V(warn) only warns.
    type: str
    choices: [fail, warn]
    default: fail
  backup:
    description:
      - Keep a timestamped copy of every file changed (the drop-in and files with commented-out conflicts).
    type: bool
    default: false
seealso:
  - module: postmaster.tls.certificate_install
    description: Install the certificate and key files this module points Dovecot at.
  - module: postmaster.tls.mail_tls_verify
    description: Check what Dovecot serves on 993, 995, 143 and 110 from the outside.
  - name: Dovecot - upgrading from 2.3 to 2.4 (converted settings)
    description: The renamed TLS settings.
    link: https://doc.dovecot.org/latest/installation/upgrade/2.3-to-2.4.html
notes:
  - Requires C(cryptography) 3.4 or newer on the managed host (Debian 12's 38 is the oldest tested), and
    C(dovecot)/C(doveconf) 2.3 or 2.4.
  - The module does not reload Dovecot. Use the role M(postmaster.tls.dovecot), or notify a handler that
    runs C(doveconf -x -h ssl) and then reloads.
requirements:
  - cryptography >= 3.4
"""

EXAMPLES = r"""
---
- name: Serve the RSA and ECDSA certificates on IMAP and POP3 with the intermediate profile
  postmaster.tls.dovecot_tls:
    cert_path: /etc/postmaster-tls/mail/rsa/live/fullchain.pem
    key_path: /etc/postmaster-tls/mail/rsa/privkey.pem
    alt_cert_path: /etc/postmaster-tls/mail/ecdsa/live/fullchain.pem
    alt_key_path: /etc/postmaster-tls/mail/ecdsa/privkey.pem
  register: dovecot_tls
  notify: Reload dovecot

- name: TLS 1.3 only, another certificate for imap.example.org, fail on conflicting settings
  postmaster.tls.dovecot_tls:
    cert_path: /etc/postmaster-tls/mail/rsa/live/fullchain.pem
    key_path: /etc/postmaster-tls/mail/rsa/privkey.pem
    profile: modern
    conflicts: fail
    local_names:
      - name: imap.example.org
        cert_path: /etc/postmaster-tls/imap/rsa/live/fullchain.pem
        key_path: /etc/postmaster-tls/imap/rsa/privkey.pem
    backup: true
"""

RETURN = r"""
path:
  description: The drop-in file.
  returned: always
  type: str
  sample: /etc/dovecot/conf.d/99-postmaster-tls.conf
config_path:
  description: Dovecot's main configuration file (O(config_path)), for a handler's C(doveconf -c).
  returned: always
  type: str
  sample: /etc/dovecot/dovecot.conf
dovecot_version:
  description: The version C(dovecot --version) reported (empty when check mode found no Dovecot to ask).
  returned: always
  type: str
  sample: 2.4.1-4
dovecot_series:
  description: The series whose setting names were written.
  returned: always
  type: str
  sample: "2.4"
settings:
  description: The top-level settings of the drop-in (without O(extra)), by their Dovecot name.
  returned: always
  type: dict
  sample:
    ssl: required
    ssl_server_cert_file: /etc/postmaster-tls/mail/rsa/live/fullchain.pem
    ssl_server_key_file: /etc/postmaster-tls/mail/rsa/privkey.pem
    ssl_min_protocol: TLSv1.2
    auth_allow_cleartext: "no"
effective:
  description:
    - The global values of the managed settings as C(doveconf) reports them for the new configuration
      (the candidate; in check mode, what a real run would give).
  returned: always
  type: dict
  sample:
    ssl: required
    ssl_min_protocol: TLSv1.2
conflicts:
  description: Settings elsewhere that would override the drop-in, and what was done about them.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /etc/dovecot/local.conf
      line: 3
      setting: ssl_min_protocol
      value: TLSv1
      section: ""
      reason: read after the drop-in, so it wins
      action: commented out
  contains:
    path:
      description: The file.
      type: str
      returned: always
      sample: /etc/dovecot/local.conf
    line:
      description: The line number (1-based).
      type: int
      returned: always
      sample: 3
    setting:
      description: The setting name.
      type: str
      returned: always
      sample: ssl_min_protocol
    value:
      description: The value it sets there.
      type: str
      returned: always
      sample: TLSv1
    section:
      description: The filter blocks around it, empty at top level.
      type: str
      returned: always
      sample: protocol imap
    reason:
      description: Why it would win.
      type: str
      returned: always
      sample: read after the drop-in, so it wins
    action:
      description: V(commented out), V(left as is) or V(refused).
      type: str
      returned: always
      sample: commented out
certificates:
  description:
    - Facts about every configured certificate (never key material) - C(label) (which option it comes from), the
      certificate facts every module of the collection returns (the keys of
      RV(postmaster.tls.certificate_info#module:certificates) without C(exists), C(count) and C(matches_key); C(path)
      is the certificate file), C(key_path) and C(chain_length).
    - C(cert_path) is now C(path).
  returned: always
  type: list
  elements: dict
  sample:
    - label: certificate
      path: /etc/postmaster-tls/mail/rsa/live/fullchain.pem
      key_path: /etc/postmaster-tls/mail/rsa/privkey.pem
      subject: CN=mail.example.org
      dns_names: [mail.example.org]
      key_type: rsa
      key_size: 2048
      fingerprint_sha256: "6b:1f:...:9a"
      spki_sha256: 0f3c...e2
      not_after: "2027-01-31T12:00:00Z"
      days_remaining: 88
      chain_length: 2
postfix_auth:
  description: The socket of the C(service auth) listener for Postfix in the drop-in (see O(postfix_auth)); V(null) when none.
  returned: always
  type: str
  sample: /var/spool/postfix/private/auth
changed_files:
  description: The files that changed (or, in check mode, would change).
  returned: always
  type: list
  elements: str
  sample: [/etc/dovecot/conf.d/99-postmaster-tls.conf]
reload_pending:
  description:
    - Whether Dovecot still has to reload - O(reload_flag) exists (raised by this run's change, by
      M(postmaster.tls.certificate_install) for new certificate files, or by an earlier run that stopped before its
      reload); in check mode also when the configuration would change. V(false) without O(reload_flag).
  returned: success
  type: bool
  sample: false
reload_flag:
  description: The flag file of O(reload_flag), for the handler that removes it after the reload; V(null) without one.
  returned: success, except in check mode when Dovecot is not installed yet
  type: str
  sample: /run/postmaster-tls/dovecot.reload
check_command:
  description:
    - The command that checks the live configuration before a reload (C(doveconf -c CONFIG_PATH -x -h ssl), which opens every
      file the configuration names), with C(doveconf) by the path this module found - the role's C(Check dovecot) handler
      runs it, whatever the PATH of the become method.
  returned: success, except in check mode when Dovecot is not installed yet
  type: list
  elements: str
  sample: [/usr/bin/doveconf, -c, /etc/dovecot/dovecot.conf, -x, -h, ssl]
running:
  description:
    - Whether the Dovecot master was running when the module finished (its C(master.pid) under C(base_dir) names a
      live process); V(null) when C(doveconf) cannot tell where C(base_dir) is. The role starts Dovecot only when this
      is V(false), which saves a round trip per host on every run.
  returned: success
  type: bool
  sample: true
backup_files:
  description: Backup copy of each changed file, by file, when O(backup=true).
  returned: changed and O(backup=true)
  type: dict
  sample:
    /etc/dovecot/conf.d/99-postmaster-tls.conf: /etc/dovecot/conf.d/99-postmaster-tls.conf.1234.2026-11-28@15:20:01~
cmd:
  description: The C(doveconf)/C(dovecot) command that failed.
  returned: failure of a Dovecot command
  type: list
  elements: str
  sample: [doveconf, -c, /etc/dovecot/dovecot.conf, -x, -h, ssl]
rc:
  description: Its exit code.
  returned: failure of a Dovecot command
  type: int
  sample: 89
stdout:
  description: Its standard output.
  returned: failure of a Dovecot command
  type: str
  sample: ""
stderr:
  description: Dovecot's message (candidate paths mapped back to the real ones).
  returned: failure of a Dovecot command
  type: str
  sample: "doveconf: Fatal: Error in configuration file /etc/dovecot/conf.d/99-postmaster-tls.conf line 15: Unknown setting: ssl_bogus"
"""

import os
import traceback


from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _dovecot, _fileio, _layout, _profiles, _service, _validate


def argument_spec() -> dict:
    pair = {
        "name": {"type": "str", "required": True},
        "cert_path": {"type": "path", "required": True},
        "key_path": {"type": "path", "required": True},
        "alt_cert_path": {"type": "path"},
        "alt_key_path": {"type": "path"},
    }
    return {
        "ssl": {"type": "str", "default": "required", "choices": ["required", "yes"]},
        "cert_path": {"type": "path", "required": True},
        "key_path": {"type": "path", "required": True},
        "alt_cert_path": {"type": "path"},
        "alt_key_path": {"type": "path"},
        "profile": {"type": "str", "default": _profiles.DEFAULT_PROFILE, "choices": list(_profiles.PROFILES)},
        "dh_path": {"type": "path"},
        "local_names": {
            "type": "list", "elements": "dict", "default": [], "options": pair,
            "required_together": [["alt_cert_path", "alt_key_path"]],
        },
        "client_ca": {
            "type": "dict",
            "options": {
                "path": {"type": "path", "required": True},
                "request_cert": {"type": "bool", "default": True},
                "require_cert": {"type": "bool", "default": False},
                "require_crl": {"type": "bool", "default": True},
            },
        },
        "extra": {"type": "dict", "default": {}},
        "config_path": {"type": "path", "default": "/etc/dovecot/dovecot.conf"},
        "dropin_path": {"type": "path", "default": "/etc/dovecot/conf.d/99-postmaster-tls.conf"},
        "conflicts": {"type": "str", "default": "comment_out", "choices": ["comment_out", "warn", "fail"]},
        "key_group": {"type": "str", "default": "ssl-cert", "no_log": False},
        "key_permissions": {"type": "str", "default": "fail", "choices": ["fail", "warn"]},
        "backup": {"type": "bool", "default": False},
        "reload_flag": {"type": "path"},
        "postfix_auth": {"type": "str", "default": "auto", "choices": ["auto", "present", "absent"]},
        "postfix_auth_path": {"type": "path", "default": "/var/spool/postfix/private/auth"},
    }


# Each option's meaning beyond its type (the universal rule refuses control characters in every value); the
# paths written into the drop-in are checked again by _dovecot for the characters Dovecot's syntax cannot hold.
RULES = _validate.Rules(checks={
    "cert_path": _validate.absolute_path,
    "key_path": _validate.absolute_path,
    "alt_cert_path": _validate.absolute_path,
    "alt_key_path": _validate.absolute_path,
    "dh_path": _validate.absolute_path,
    "local_names[].name": _validate.wildcard_dns_name,
    "local_names[].cert_path": _validate.absolute_path,
    "local_names[].key_path": _validate.absolute_path,
    "local_names[].alt_cert_path": _validate.absolute_path,
    "local_names[].alt_key_path": _validate.absolute_path,
    "client_ca.path": _validate.absolute_path,
    "config_path": _validate.absolute_path,
    "dropin_path": _validate.absolute_path,
    "reload_flag": _validate.absolute_path_or_empty,
    "postfix_auth_path": _validate.absolute_path,
})


def build_tls(params: dict) -> _dovecot.TLSRequest:
    def pair(cert: str | None, key: str | None, where: str = "") -> _dovecot.CertKeyPair | None:
        if bool(cert) != bool(key):
            raise _dovecot.DovecotError(f"{where}alt_cert_path and alt_key_path go together: give both or neither")
        return _dovecot.CertKeyPair(cert_path=cert, key_path=key) if cert and key else None

    local_names = tuple(
        _dovecot.LocalName(name=item["name"], main=pair(item["cert_path"], item["key_path"]),
                           alt=pair(item.get("alt_cert_path"), item.get("alt_key_path"), f"local_names {item['name']}: "))
        for item in params["local_names"] or []
    )
    client_ca = None
    if params["client_ca"]:
        ca = params["client_ca"]
        client_ca = _dovecot.ClientCA(path=ca["path"], request_cert=ca["request_cert"], require_cert=ca["require_cert"],
                                      require_crl=ca["require_crl"])
    extra = tuple((str(name), _dovecot.extra_value(value)) for name, value in sorted((params["extra"] or {}).items()))
    return _dovecot.TLSRequest(
        main=pair(params["cert_path"], params["key_path"]),
        profile=_profiles.get_profile(params["profile"]),
        ssl=params["ssl"],
        alt=pair(params["alt_cert_path"], params["alt_key_path"]),
        dh_path=params["dh_path"],
        local_names=local_names,
        client_ca=client_ca,
        extra=extra,
        postfix_auth_path=_dovecot.resolve_postfix_auth(params["postfix_auth"], params["postfix_auth_path"]),
    )


def build_request(params: dict, *, dovecot_bin: str, doveconf_bin: str) -> _dovecot.Request:
    return _dovecot.Request(
        tls=build_tls(params),
        config_path=params["config_path"],
        dropin_path=params["dropin_path"],
        conflicts=params["conflicts"],
        key_group=params["key_group"] or None,
        key_permissions=params["key_permissions"],
        backup=params["backup"],
        dovecot_bin=dovecot_bin,
        doveconf_bin=doveconf_bin,
        reload_flag=_layout.chosen_reload_flag("dovecot", params["reload_flag"]),
    )


def main() -> None:
    module = _validate.checked_module(
        RULES,
        argument_spec=argument_spec(),
        required_together=[["alt_cert_path", "alt_key_path"]],
        supports_check_mode=True,
    )
    _crypto.require_cryptography(module)
    params = module.params
    dovecot_bin = module.get_bin_path("dovecot")
    doveconf_bin = module.get_bin_path("doveconf")
    if not (dovecot_bin and doveconf_bin and os.path.isfile(params["config_path"])):
        missing = f"Dovecot is not installed here (no dovecot and doveconf commands, or no {params['config_path']})"
        if not module.check_mode:
            module.fail_json(msg=f"{missing}; install it first (the role postmaster.tls.dovecot does with dovecot_install=true)",
                             path=params["dropin_path"])
        # An earlier task may be about to install it: predict the change, as a real run would make it.
        module.warn(f"{missing}; check mode predicts the change, but a real run fails unless Dovecot is installed first")
        module.exit_json(changed=True, path=params["dropin_path"], config_path=params["config_path"], dovecot_version="",
                         dovecot_series="", settings={}, effective={}, conflicts=[], certificates=[],
                         changed_files=[params["dropin_path"]], postfix_auth=None)
    host = _service.ModuleHost(module)
    try:
        request = build_request(params, dovecot_bin=dovecot_bin, doveconf_bin=doveconf_bin)
        outcome = _dovecot.run(host, request)
    except _dovecot.DovecotCommandError as exc:
        module.fail_json(msg=str(exc), path=params["dropin_path"], **exc.details())
    except (_dovecot.DovecotError, _profiles.UnknownProfileError, _fileio.FileIOError) as exc:
        module.fail_json(msg=str(exc), path=params["dropin_path"])
    except OSError as exc:
        module.fail_json(msg=f"file system error: {exc}", path=params["dropin_path"], exception=traceback.format_exc())

    for warning in outcome.warnings:
        module.warn(warning)
    result = outcome.result()
    result["running"] = _dovecot.master_running(host, doveconf_bin, params["config_path"])
    result["reload_pending"] = _fileio.reload_pending(request.reload_flag, check_mode=module.check_mode, changed=outcome.changed)
    # -x opens every file the configuration names; -h ssl prints one harmless value instead of their contents.
    result["check_command"] = [doveconf_bin, "-c", params["config_path"], "-x", "-h", "ssl"]
    if module._diff:
        result["diff"] = outcome.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
