#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nginx_site
short_description: Serve small files over HTTPS with nginx, validated with nginx -t before anything is live
version_added: 0.1.0
description:
  - Writes one nginx site file with a C(server) block per host name and the files those host names serve, such as
    the MTA-STS policy, Thunderbird autoconfig and Autodiscover responses that M(postmaster.tls.mail_discovery)
    renders (its RV(postmaster.tls.mail_discovery#module:sites) is this module's O(sites)).
  - Each host name answers on HTTPS only, with the certificates in O(certificates) and the protocols and ciphers of
    the TLS O(profile) (the table Postfix and Dovecot use). Each file has an exact-match C(location) with its own
    C(Content-Type) and allowed methods; every other path answers 404. Nothing redirects.
  - The order of M(postmaster.tls.postfix_tls) - the wanted state is compared by meaning with what is there (the
    site file as nginx tokens, so comments and layout do not count; each served file by its bytes); a changed site
    file is written into a private copy of O(config_dir) and checked with C(nginx -T) there (nginx parses every file,
    loads the certificates and tries the listen addresses) while the running server is untouched; then the files are
    written atomically, C(nginx -t) checks the live tree again, and every previous file is put back on any failure.
  - Before that the certificate files are read - the key must match, the leaf must not be expired and must cover every
    host name - so a site with a certificate that clients would refuse is never written.
  - Reloading nginx is left to the caller (the C(postmaster.tls.mail_discovery) role's handler checks, then
    reloads). With O(reload_flag), a flag file is raised before the site file changes, so a run that stops before
    the reload still reloads on the next run.
author: postmaster.tls contributors (@postmaster-tls)
requirements:
  - nginx (Debian package C(nginx) or C(nginx-light)) on the host
  - cryptography >= 3.4 on the host
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.FILES
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs the same comparison and the same C(nginx -T) on the candidate; only the writes are skipped.
        When the certificate files do not exist yet (an earlier task of the play would create them), the check is
        skipped with a warning and a change is predicted.
  diff_mode:
    support: full
    details:
      - The site file and each served file that changes, before and after. No key material.
  idempotent:
    support: full
  platform:
    support: full
    platforms: debian
options:
  name:
    description:
      - Name of the site; the site file is C(<config_dir>/conf.d/<name>.conf) unless O(site_path) is given.
    type: str
    default: postmaster-tls
  state:
    description:
      - V(absent) removes the site file and the files under the host names' directories that the previous site file
        served from.
    type: str
    choices: [present, absent]
    default: present
  sites:
    description:
      - One entry per host name, with the files it serves.
    type: list
    elements: dict
    default: []
    suboptions:
      server_name:
        description: The host name (lower case is used; a trailing dot is removed).
        type: str
        required: true
      documents:
        description: The files this host name serves.
        type: list
        elements: dict
        required: true
        suboptions:
          path:
            description: The URL path, such as V(/.well-known/mta-sts.txt).
            type: str
            required: true
          content:
            description: The exact text to serve (UTF-8).
            type: str
            required: true
          content_type:
            description: The C(Content-Type) sent with it (no charset is added).
            type: str
            default: text/plain
          methods:
            description:
              - Allowed methods; V(GET) is always allowed (and C(HEAD) with it). With V(POST) a POST returns the same
                file (Autodiscover clients POST their request).
            type: list
            elements: str
            choices: [GET, HEAD, POST]
            default: [GET]
          case_insensitive:
            description: Match the path without regard to case (Outlook asks for C(/Autodiscover/Autodiscover.xml)).
            type: bool
            default: false
  certificates:
    description:
      - Certificate and key files, one pair per key type (RSA and ECDSA may be served side by side), for example the
        C(fullchain) file and the key from the C(postmaster.tls.certificate) role.
    type: list
    elements: dict
    default: []
    suboptions:
      certificate:
        description: The leaf followed by its intermediates (PEM).
        type: path
        required: true
      key:
        description: Its unencrypted private key (PEM).
        type: path
        required: true
  profile:
    description: The TLS profile (protocols, ciphers, curves); the same table as M(postmaster.tls.postfix_tls).
    type: str
    choices: [modern, intermediate, legacy]
    default: intermediate
  listen:
    description: Addresses nginx listens on for these host names (a port, or address:port).
    type: list
    elements: str
    default: ["443", "[::]:443"]
  config_dir:
    description: nginx's configuration directory; the candidate check copies it.
    type: path
    default: /etc/nginx
  main_config:
    description: The main configuration file. Default C(<config_dir>/nginx.conf).
    type: path
  site_path:
    description:
      - The site file; it must be inside O(config_dir) and included by the main configuration (checked with C(nginx -T)).
        Default C(<config_dir>/conf.d/<name>.conf).
    type: path
  document_root:
    description: Files are kept under C(<document_root>/<server_name>/) (0644, directories 0755).
    type: path
    default: /var/www/postmaster-tls
  extra_directives:
    description:
      - Further directives for every C(server) block, name to value (a list repeats the directive), such as
        C(ssl_session_timeout). Values that would end or break the block (C(;), braces, C(#), backslashes, unbalanced
        quotes) and the directives the module writes itself are refused; nginx judges the rest in the candidate check.
    type: dict
    default: {}
  backup:
    description: Keep a timestamped copy of the previous site file.
    type: bool
    default: false
  reload_flag:
    description: Flag file raised before the site file changes (see the description).
    type: path
notes:
  - The candidate check copies O(config_dir) (symbolic links followed) into a private temporary directory and rewrites
    the copy's own absolute paths to point at the copy; files outside O(config_dir) (certificates, modules) are read
    where they are.
  - C(nginx -T) binds the listen addresses for the check. That works while nginx runs on them; an address this host
    does not have is refused.
seealso:
  - module: postmaster.tls.mail_discovery
  - module: postmaster.tls.mail_discovery_verify
"""

EXAMPLES = r"""
---
- name: Serve the MTA-STS policy of example.org
  postmaster.tls.nginx_site:
    name: mta-sts
    sites:
      - server_name: mta-sts.example.org
        documents:
          - path: /.well-known/mta-sts.txt
            content: "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n"
            content_type: text/plain
    certificates:
      - certificate: /etc/postmaster-tls/mta-sts.example.org/rsa/live/fullchain.pem
        key: /etc/postmaster-tls/mta-sts.example.org/rsa/privkey.pem
    reload_flag: /run/postmaster-tls/nginx.reload
  notify: Nginx site changed

- name: Serve what mail_discovery rendered
  postmaster.tls.nginx_site:
    sites: "{{ discovery.sites }}"
    certificates: "{{ web_certificates }}"
"""

RETURN = r"""
site_path:
  description: The site file.
  returned: always
  type: str
  sample: /etc/nginx/conf.d/postmaster-tls.conf
document_root:
  description: The directory holding one directory per host name.
  returned: always
  type: str
  sample: /var/www/postmaster-tls
sites:
  description: What each host name serves.
  returned: always
  type: list
  elements: dict
  contains:
    server_name:
      description: The host name.
      type: str
      returned: always
      sample: mta-sts.example.org
    root:
      description: Its directory.
      type: str
      returned: always
      sample: /var/www/postmaster-tls/mta-sts.example.org
    documents:
      description: Each served file with C(path), C(file), C(content_type), C(methods) and the C(sha256) of its content.
      type: list
      elements: dict
      returned: always
      sample: [{"path": "/.well-known/mta-sts.txt", "file": "/var/www/postmaster-tls/mta-sts.example.org/.well-known/mta-sts.txt",
                "content_type": "text/plain", "methods": ["GET"], "sha256": "5f0c..."}]
config_changed:
  description: Whether the site file changed (or would change in check mode); only then nginx must reload.
  returned: always
  type: bool
  sample: true
files_changed:
  description: Served files written (or that would be).
  returned: always
  type: list
  elements: str
  sample: [/var/www/postmaster-tls/mta-sts.example.org/.well-known/mta-sts.txt]
files_removed:
  description: Files under the host names' directories that are no longer served and were removed.
  returned: always
  type: list
  elements: str
  sample: []
certificates:
  description: The certificates nginx loads (paths, key type, names, expiry, fingerprint); no key material.
  returned: always
  type: list
  elements: dict
  sample: [{"certificate": "/etc/postmaster-tls/web/rsa/live/fullchain.pem", "key": "/etc/postmaster-tls/web/rsa/privkey.pem",
            "key_type": "rsa", "names": ["mta-sts.example.org"], "not_after": "2027-03-01T00:00:00Z", "days_remaining": 89,
            "fingerprint_sha256": "3f:0a:...", "chain_length": 2}]
nginx_test:
  description: What C(nginx -T) said about the candidate (empty when the site file did not change).
  returned: always
  type: list
  elements: str
  sample: ["nginx: the configuration file /etc/nginx/nginx.conf syntax is ok"]
running:
  description: Whether nginx runs (its pid file names a live process).
  returned: always
  type: bool
  sample: true
reload_pending:
  description: Whether nginx still has to reload (the flag exists, or check mode predicts a new site file).
  returned: always
  type: bool
  sample: false
backup_files:
  description: The backup of the previous site file.
  returned: when O(backup=true) and the site file changed
  type: dict
  sample: {"site": "/etc/nginx/conf.d/postmaster-tls.conf.12345.2026-12-03@10:00:00~"}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _nginx, _profiles


def argument_spec() -> dict:
    return dict(
        name=dict(type="str", default="postmaster-tls"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        sites=dict(type="list", elements="dict", default=[], options=dict(
            server_name=dict(type="str", required=True),
            documents=dict(type="list", elements="dict", required=True, options=dict(
                path=dict(type="str", required=True),
                content=dict(type="str", required=True),
                content_type=dict(type="str", default="text/plain"),
                methods=dict(type="list", elements="str", default=["GET"], choices=["GET", "HEAD", "POST"]),
                case_insensitive=dict(type="bool", default=False),
            )),
        )),
        certificates=dict(type="list", elements="dict", default=[], options=dict(
            certificate=dict(type="path", required=True),
            key=dict(type="path", required=True),
        )),
        profile=dict(type="str", default=_profiles.DEFAULT_PROFILE, choices=list(_profiles.PROFILES)),
        listen=dict(type="list", elements="str", default=["443", "[::]:443"]),
        config_dir=dict(type="path", default="/etc/nginx"),
        main_config=dict(type="path"),
        site_path=dict(type="path"),
        document_root=dict(type="path", default="/var/www/postmaster-tls"),
        extra_directives=dict(type="dict", default={}),
        backup=dict(type="bool", default=False),
        reload_flag=dict(type="path"),
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    request = _nginx.Request(**{name: module.params[name] for name in argument_spec()})
    if request.state == "present":
        _crypto.require_cryptography(module)
    nginx = module.get_bin_path("nginx", required=False)
    if nginx is None:
        if module.check_mode:
            module.warn("nginx was not found; it is not installed yet (check mode predicts a change)")
            module.exit_json(changed=True, site_path=request.site_file, document_root=request.document_root, sites=[],
                             config_changed=True, files_changed=[], files_removed=[], certificates=[], nginx_test=[],
                             running=False, reload_pending=True)
        module.fail_json(msg="nginx was not found on this host; install it first (the mail_discovery role's "
                             "mail_discovery_install: true does)")

    def run(argv: list) -> tuple:
        return module.run_command(argv, environ_update={"LC_ALL": "C", "LANG": "C"})

    tools = _nginx.Tools(run=run, nginx=nginx)
    try:
        outcome = _nginx.run(module, tools, request, check_mode=module.check_mode, tmpdir=module.tmpdir)
    except (_nginx.NginxError, _profiles.UnknownProfileError, _fileio.FileIOError, OSError) as exc:
        # nginx's own output with a refused configuration; a traceback only for an unexpected file system error.
        extra = exc.details() if isinstance(exc, _nginx.NginxCommandError) else {}
        message = str(exc)
        if isinstance(exc, OSError):
            message, extra = f"file system error: {exc}", {"exception": traceback.format_exc()}
        module.fail_json(msg=message, site_path=request.site_file, **extra)

    for warning in outcome.warnings:
        module.warn(warning)
    result = outcome.result()
    result["running"] = tools.running()
    result["reload_pending"] = _fileio.reload_pending(request.reload_flag, check_mode=module.check_mode,
                                                      changed=outcome.plan.config_changed)
    if module._diff:
        result["diff"] = outcome.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
