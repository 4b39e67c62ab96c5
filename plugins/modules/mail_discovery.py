#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mail_discovery
short_description: Render what mail domains tell clients and senders about TLS (SRV, autoconfig, Autodiscover, MTA-STS)
version_added: 0.1.0
description:
  - For each mail domain, renders the RFC 6186/8314 SRV records (C(_submissions), C(_submission), C(_imaps),
    C(_imap), C(_pop3s), C(_pop3)), the Thunderbird autoconfig file C(config-v1.1.xml), the Autodiscover (POX)
    response C(autodiscover.xml) and the MTA-STS policy (RFC 8461) with its C(_mta-sts) TXT record.
  - Implicit TLS is preferred everywhere (RFC 8314) - the SRV records of C(_submissions), C(_imaps) and C(_pop3s) have
    a lower (preferred) priority than their STARTTLS counterparts, autoconfig lists the implicit-TLS servers first,
    and Autodiscover names the implicit-TLS server of each type. C(socketType) is V(SSL) or V(STARTTLS), never plain.
    A service a domain does not offer gets the SRV target C(.) (RFC 6186 3.4).
  - The MTA-STS policy has CRLF line ends and its C(id) is derived from the policy text, so it changes exactly when
    the policy changes. The same rendering is behind the filters P(postmaster.tls.mta_sts_policy#filter),
    P(postmaster.tls.mta_sts_record#filter) and P(postmaster.tls.mail_srv_records#filter).
  - B(The enforce gate.) A domain with O(domains[].mta_sts_mode=enforce) is refused unless port 25 of every C(mx)
    host serves a certificate whose chain verifies against O(ca_path) and which covers the host name, checked the way
    M(postmaster.tls.mail_tls_verify) checks it. Senders applying an C(enforce) policy refuse to deliver otherwise.
  - Reads only; returns RV(sites) in the form M(postmaster.tls.nginx_site) takes. Always C(changed=false).
author: postmaster.tls contributors (@postmaster-tls)
requirements:
  - cryptography >= 3.4 on the host that runs the module (for the enforce gate)
extends_documentation_fragment:
  - postmaster.tls.attributes
  - postmaster.tls.attributes.INFO_MODULE
  - postmaster.tls.discovery
attributes:
  platform:
    support: full
    platforms: posix
options:
  ca_path:
    description:
      - Trust anchors for the enforce gate (a PEM bundle file or a hashed directory); default the system CA bundle.
    type: path
  connect_address:
    description:
      - Connect to this address for every MX host instead of resolving its name (SNI and the name check keep the
        name), for example V(127.0.0.1) when the module runs on the mail host itself.
    type: str
  timeout:
    description: Seconds for each port 25 check of the enforce gate.
    type: float
    default: 10
seealso:
  - module: postmaster.tls.nginx_site
  - module: postmaster.tls.mail_discovery_verify
  - module: postmaster.tls.mail_tls_verify
"""

EXAMPLES = r"""
---
- name: Render the discovery records and files of example.org
  postmaster.tls.mail_discovery:
    mail_host: mail.example.org
    domains:
      - name: example.org
        mta_sts_mode: testing
  register: discovery

- name: Show the SRV records to publish
  ansible.builtin.debug:
    msg: "{{ discovery.srv_records }}"

- name: Move example.org to enforce (refused unless port 25 of mail.example.org verifies)
  postmaster.tls.mail_discovery:
    mail_host: mail.example.org
    domains:
      - name: example.org
        mx: [mail.example.org]
        mta_sts_mode: enforce
    connect_address: 127.0.0.1
"""

RETURN = r"""
domains:
  description: Everything published per domain.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The domain, normalised.
      type: str
      returned: always
      sample: example.org
    srv_records:
      description: The six SRV lines (zone-file syntax).
      type: list
      elements: str
      returned: always
      sample: ["_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mail.example.org.",
               "_pop3._tcp.example.org. 3600 IN SRV 0 0 0 ."]
    mta_sts_policy:
      description: The policy text (CRLF line ends); null when O(domains[].mta_sts=false).
      type: str
      returned: always
      sample: "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n"
    mta_sts_id:
      description: The policy id (derived from the text).
      type: str
      returned: always
      sample: 0123456789abcdef0123456789abcdef
    mta_sts_record:
      description: The C(_mta-sts) TXT line.
      type: str
      returned: always
      sample: '_mta-sts.example.org. 3600 IN TXT "v=STSv1; id=0123456789abcdef0123456789abcdef"'
    mta_sts_mode:
      description: The policy mode (null without a policy).
      type: str
      returned: always
      sample: testing
    autoconfig_xml:
      description: The C(config-v1.1.xml) text (null when not published).
      type: str
      returned: always
      sample: '<?xml version="1.0" encoding="UTF-8"?>...'
    autodiscover_xml:
      description: The C(autodiscover.xml) text (null when not published).
      type: str
      returned: always
      sample: '<?xml version="1.0" encoding="utf-8"?>...'
    web_names:
      description: The HTTPS host names that serve the files (the web certificate must cover them).
      type: list
      elements: str
      returned: always
      sample: [mta-sts.example.org, autoconfig.example.org, autodiscover.example.org]
    endpoints:
      description: Every host and port a record or file advertises (client services, and port 25 of each MX).
      type: list
      elements: dict
      returned: always
      sample: [{"host": "mail.example.org", "port": 465, "protocol": "smtps", "service": "submissions"}]
    mail_host:
      description: The default host of the domain's services.
      type: str
      returned: always
      sample: mail.example.org
    services:
      description: The services offered.
      type: list
      elements: str
      returned: always
      sample: [submissions, submission, imaps, imap]
sites:
  description: The files to serve per host name, in the form of M(postmaster.tls.nginx_site)'s O(postmaster.tls.nginx_site#module:sites).
  returned: always
  type: list
  elements: dict
  sample: [{"server_name": "mta-sts.example.org", "documents": [{"path": "/.well-known/mta-sts.txt", "content": "version: STSv1\r\n...",
            "content_type": "text/plain", "methods": ["GET"]}]}]
web_names:
  description: All HTTPS host names of all domains.
  returned: always
  type: list
  elements: str
  sample: [mta-sts.example.org, autoconfig.example.org, autodiscover.example.org]
srv_records:
  description: The SRV lines of all domains.
  returned: always
  type: list
  elements: str
  sample: ["_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mail.example.org."]
mta_sts_records:
  description: The C(_mta-sts) TXT lines of all domains.
  returned: always
  type: list
  elements: str
  sample: ['_mta-sts.example.org. 3600 IN TXT "v=STSv1; id=0123456789abcdef0123456789abcdef"']
enforce_checks:
  description: The port 25 checks of the enforce gate, one per MX host of a domain in V(enforce) mode.
  returned: always
  type: list
  elements: dict
  sample: [{"domain": "example.org", "mx": "mail.example.org", "endpoint": "127.0.0.1:25/smtp", "ok": true, "failures": []}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _discovery, _probe


def argument_spec() -> dict:
    spec = _discovery.domains_argument_spec()
    spec.update(
        ca_path=dict(type="path"),
        connect_address=dict(type="str"),
        timeout=dict(type="float", default=10),
    )
    return spec


class GateError(Exception):
    """enforce was asked for a domain whose MX hosts do not verify; carries the checks."""

    def __init__(self, message: str, checks: list) -> None:
        super().__init__(message)
        self.checks = checks


def enforce_gate(domains: list, *, ca_path: str | None, connect_address: str | None, timeout: float) -> list[dict]:
    """Port 25 of every MX of every domain in enforce mode must verify (chain and name); else GateError."""
    enforced = [domain for domain in domains if domain.mta_sts and domain.mta_sts_mode == "enforce"]
    if not enforced:
        return []
    refusals: list[str] = []
    endpoints: dict[str, _probe.Endpoint] = {}
    for domain in enforced:
        patterns = [mx for mx in domain.mx if mx.startswith("*.")]
        if patterns:
            refusals.append(f"{domain.name}: the mx pattern {', '.join(patterns)} names no host this check can connect to; "
                            "list the MX host names themselves for enforce")
        for mx in domain.mx:
            if not mx.startswith("*."):
                endpoints[mx] = _probe.Endpoint(host=connect_address or mx, port=25, protocol="smtp", server_name=mx)
    settings = _probe.Settings(timeout=timeout, ca_path=ca_path, probe_protocols=False)
    expectations = _probe.Expectations(validate_chain=True, check_hostname=True, forbid_plaintext_auth=False)
    reports = {report.server_name: report for report in _probe.verify(list(endpoints.values()), settings, expectations)}
    checks = []
    for domain in enforced:
        for mx in domain.mx:
            report = reports.get(mx)
            if report is None:
                continue
            checks.append({"domain": domain.name, "mx": mx, "endpoint": report.endpoint, "ok": report.ok,
                           "failures": list(report.failures)})
            if not report.ok:
                refusals.append(f"{domain.name}: {mx} port 25 does not pass ({'; '.join(report.failures)})")
    if refusals:
        raise GateError(
            "mta_sts_mode enforce refused: " + " | ".join(refusals) + ". Senders applying an enforce policy would refuse to "
            "deliver to these MX hosts. Fix their certificates (check with postmaster.tls.mail_tls_verify) or keep "
            "mta_sts_mode testing; nothing was changed", checks)
    return checks


def run(params: dict) -> dict:
    domains = _discovery.domains_from_params(params)
    checks = enforce_gate(domains, ca_path=params["ca_path"], connect_address=params["connect_address"],
                          timeout=params["timeout"])
    rendered = [_discovery.render(domain) for domain in domains]
    return dict(
        changed=False,
        domains=rendered,
        sites=[site for domain in domains for site in _discovery.documents(domain)],
        web_names=[name for item in rendered for name in item["web_names"]],
        srv_records=[line for item in rendered for line in item["srv_records"]],
        mta_sts_records=[item["mta_sts_record"] for item in rendered if item["mta_sts_record"]],
        enforce_checks=checks,
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg=f"timeout {params['timeout']} must be a positive number of seconds")
    if params["connect_address"] is not None and not _discovery.is_address_or_name(params["connect_address"]):
        module.fail_json(msg=f"connect_address {params['connect_address']!r} must be an IP address or a host name")
    if any(domain.get("mta_sts_mode") == "enforce" for domain in params["domains"]) or params["mta_sts_mode"] == "enforce":
        _crypto.require_cryptography(module)
    try:
        result = run(params)
    except _discovery.DiscoveryError as exc:
        module.fail_json(msg=str(exc))
    except _probe.ProbeError as exc:
        module.fail_json(msg=f"enforce gate: {exc}")
    except GateError as exc:
        module.fail_json(msg=str(exc), enforce_checks=exc.checks)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
