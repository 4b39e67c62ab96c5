#!/usr/bin/python
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mail_discovery_verify
short_description: Prove that what mail domains advertise is served, and that everything advertised speaks verified TLS
version_added: 0.1.0
description:
  - Takes the same O(domains) and defaults as M(postmaster.tls.mail_discovery) (give both the same values), renders
    what is published, and checks it from the outside the way clients and senders see it.
  - B(HTTPS files.) Each file (the MTA-STS policy on C(mta-sts.<domain>), C(config-v1.1.xml) on
    C(autoconfig.<domain>) at both of its paths, C(autodiscover.xml) on C(autodiscover.<domain>) by GET and by POST) is
    fetched with a verifying client (chain against O(ca_path), certificate name against the host name), without
    following redirects. It must answer 200 with the published C(Content-Type) and exactly the published bytes.
  - B(MTA-STS id.) The served policy's id (derived from its text) must be the id of the C(_mta-sts) TXT record - the
    record in DNS with O(check_dns=true), else the record this collection publishes. A policy changed without a new id
    is found here (senders would keep their cached copy).
  - B(Advertised endpoints.) Every host and port a record or file names (the six client services that are offered,
    and port 25 of every MX in the policy) must answer with TLS (STARTTLS where the service uses it) and a certificate
    whose chain verifies and which covers that host name (RFC 8314 section 5), through the engine of
    M(postmaster.tls.mail_tls_verify).
  - B(DNS), with O(check_dns=true) (needs dnspython) - the SRV records in DNS must equal the published ones.
  - Reads only; always C(changed=false). Fails with every finding unless O(report_only=true).
author: postmaster.tls contributors (@postmaster-tls)
requirements:
  - cryptography >= 3.4 on the host that runs the module
  - dnspython (Debian package C(python3-dnspython)) for O(check_dns=true)
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
    description: Trust anchors (PEM bundle file or hashed directory); default the system CA bundle.
    type: path
  connect_address:
    description:
      - Connect to this address for every host name instead of resolving it (SNI, the name check and the C(Host) header
        keep the name), for example V(127.0.0.1) on the server itself.
    type: str
  check_endpoints:
    description: Check the TLS of every advertised mail host and port.
    type: bool
    default: true
  min_days_remaining:
    description: Certificates of the advertised endpoints must stay valid this many more days.
    type: int
    default: 14
  check_dns:
    description: Compare the SRV and C(_mta-sts) TXT records in DNS with the published ones (needs dnspython).
    type: bool
    default: false
  dns_server:
    description: The DNS server to ask with O(check_dns=true) (an IP address); default the system resolver.
    type: str
  timeout:
    description: Seconds for each connection and DNS query.
    type: float
    default: 10
  report_only:
    description: Return the findings without failing the task.
    type: bool
    default: false
seealso:
  - module: postmaster.tls.mail_discovery
  - module: postmaster.tls.mail_tls_verify
"""

EXAMPLES = r"""
---
- name: Check what example.org advertises, on the server itself
  postmaster.tls.mail_discovery_verify:
    mail_host: mail.example.org
    domains:
      - name: example.org
    connect_address: 127.0.0.1
    ca_path: /etc/postmaster-tls/ca.pem

- name: Check it as the world sees it, DNS included
  postmaster.tls.mail_discovery_verify:
    mail_host: mail.example.org
    domains:
      - name: example.org
    check_dns: true
  delegate_to: localhost
"""

RETURN = r"""
checks:
  description: One entry per check.
  returned: always
  type: list
  elements: dict
  contains:
    domain:
      description: The mail domain.
      type: str
      returned: always
      sample: example.org
    kind:
      description: V(https) (a served file), V(mta-sts-id), V(tls) (an advertised mail endpoint) or V(dns).
      type: str
      returned: always
      sample: https
    target:
      description: What was checked (URL with method, endpoint, or record name).
      type: str
      returned: always
      sample: GET https://mta-sts.example.org/.well-known/mta-sts.txt
    ok:
      description: Whether it passed.
      type: bool
      returned: always
      sample: true
    failures:
      description: Why not, one sentence each.
      type: list
      elements: str
      returned: always
      sample: []
    details:
      description: What was seen (status, content type, TLS version, certificate names; for endpoints the summary line).
      type: dict
      returned: always
      sample: {"status": 200, "content_type": "text/plain", "tls_version": "TLSv1.3"}
failed_checks:
  description: The checks that did not pass.
  returned: always
  type: list
  elements: dict
  sample: []
summary:
  description: One line per check.
  returned: always
  type: list
  elements: str
  sample: ["OK   example.org https GET https://mta-sts.example.org/.well-known/mta-sts.txt"]
trust_anchors:
  description: Where the trust anchors came from.
  returned: always
  type: str
  sample: /etc/postmaster-tls/ca.pem
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _discovery, _https, _probe

try:
    import dns.exception
    import dns.resolver
except ImportError:
    HAS_DNSPYTHON = False
    DNSPYTHON_ERROR = traceback.format_exc()
else:
    HAS_DNSPYTHON = True
    DNSPYTHON_ERROR = None


def argument_spec() -> dict:
    spec = _discovery.domains_argument_spec()
    spec.update(
        ca_path=dict(type="path"),
        connect_address=dict(type="str"),
        check_endpoints=dict(type="bool", default=True),
        min_days_remaining=dict(type="int", default=14),
        check_dns=dict(type="bool", default=False),
        dns_server=dict(type="str"),
        timeout=dict(type="float", default=10),
        report_only=dict(type="bool", default=False),
    )
    return spec


def _check(domain: str, kind: str, target: str, failures: list[str], details: dict) -> dict:
    return {"domain": domain, "kind": kind, "target": target, "ok": not failures, "failures": failures, "details": details}


def check_files(domain, *, context, connect_address, timeout, txt_id: str | None, txt_source: str) -> list[dict]:
    """Fetch every published file like a client (GET, and POST where clients POST) and compare it."""
    out = []
    for site in _discovery.documents(domain):
        host = site["server_name"]
        for doc in site["documents"]:
            expected = doc["content"].encode("utf-8")
            methods = ["GET"] + (["POST"] if "POST" in doc["methods"] else [])
            for method in methods:
                body = _discovery.autodiscover_request(f"postmaster@{domain.name}") if method == "POST" else None
                response = _https.fetch(host, doc["path"], context=context, address=connect_address, method=method, body=body,
                                        content_type="text/xml" if body else None, timeout=timeout)
                failures = _discovery.document_failures(
                    expected=expected, content_type=doc["content_type"], status=response.status, media_type=response.media_type,
                    location=response.location, body=response.body, error=response.error)
                out.append(_check(domain.name, "https", f"{method} {response.url}", failures, _https.describe(response)))
                if doc["path"] == _discovery.MTA_STS_PATH and method == "GET" and response.status == 200 and not response.error:
                    id_failures = _discovery.policy_id_failures(response.body, txt_id=txt_id, txt_source=txt_source)
                    out.append(_check(domain.name, "mta-sts-id", f"_mta-sts.{domain.name}", id_failures,
                                      {"txt_id": txt_id, "served_id": _discovery.mta_sts_id(response.body) if response.body.strip() else None}))
    return out


def _resolver(params: dict):
    resolver = dns.resolver.Resolver(configure=params["dns_server"] is None)
    if params["dns_server"] is not None:
        resolver.nameservers = [params["dns_server"]]
    resolver.lifetime = params["timeout"]
    return resolver


def dns_txt_id(resolver, domain: str) -> tuple[str | None, str]:
    name = f"_mta-sts.{domain}"
    try:
        answer = resolver.resolve(name, "TXT")
    except dns.exception.DNSException as exc:
        return None, f"DNS lookup of {name} TXT: {exc.__class__.__name__}"
    ids = [_discovery.parse_mta_sts_txt(b"".join(rdata.strings).decode("utf-8", "replace")) for rdata in answer]
    ids = [value for value in ids if value]
    if len(ids) != 1:
        return None, f"{name} in DNS has {len(ids)} v=STSv1 records (RFC 8461 3.1 wants exactly one)"
    return ids[0], f"{name} in DNS"


def check_srv(resolver, domain) -> list[dict]:
    out = []
    for line in _discovery.srv_records(domain):
        owner, _sep, rest = line.partition(" ")
        wanted = " ".join(rest.split()[-4:])
        try:
            answer = resolver.resolve(owner, "SRV")
            found = sorted(f"{r.priority} {r.weight} {r.port} {r.target.to_text()}" for r in answer)
            failures = [] if found == [wanted] else [f"DNS has {', '.join(found)}; published is {wanted}"]
        except dns.exception.DNSException as exc:
            found = []
            failures = [f"DNS lookup failed: {exc.__class__.__name__}; published is {wanted}"]
        out.append(_check(domain.name, "dns", f"{owner} SRV", failures, {"published": wanted, "found": found}))
    return out


def check_endpoints(domains, params: dict, settings) -> list[dict]:
    """RFC 8314 5: every advertised host and port speaks TLS with a certificate valid for that name."""
    endpoints: dict[tuple[str, int], _probe.Endpoint] = {}
    owners: dict[tuple[str, int], list[str]] = {}
    for domain in domains:
        for item in _discovery.advertised_endpoints(domain):
            key = (item["host"], item["port"])
            endpoints.setdefault(key, _probe.Endpoint(host=params["connect_address"] or item["host"], port=item["port"],
                                                      protocol=item["protocol"], server_name=item["host"]))
            owners.setdefault(key, []).append(domain.name)
    expectations = _probe.Expectations(validate_chain=True, check_hostname=True, min_days_remaining=params["min_days_remaining"])
    reports = _probe.verify(list(endpoints.values()), settings, expectations)
    out = []
    for key, report in zip(endpoints, reports):
        for owner in dict.fromkeys(owners[key]):
            out.append(_check(owner, "tls", f"{key[0]}:{key[1]}/{report.protocol}", list(report.failures),
                              {"summary": _probe.summary_line(report), "tls_version": report.tls_version, "names": report.names}))
    return out


def run(params: dict) -> dict:
    domains = _discovery.domains_from_params(params)
    settings = _probe.Settings(timeout=params["timeout"], ca_path=params["ca_path"], probe_protocols=False)
    contexts = _probe.Contexts(settings)
    resolver = _resolver(params) if params["check_dns"] else None
    checks: list[dict] = []
    for domain in domains:
        txt_id, txt_source = None, "published record"
        if domain.mta_sts:
            if resolver is not None:
                txt_id, txt_source = dns_txt_id(resolver, domain.name)
            else:
                txt_id = _discovery.mta_sts_id(_discovery.policy_text(domain) or "")
                txt_source = "the record mail_discovery publishes"
        checks += check_files(domain, context=contexts.verifying, connect_address=params["connect_address"],
                              timeout=params["timeout"], txt_id=txt_id, txt_source=txt_source)
        if resolver is not None and domain.srv:
            checks += check_srv(resolver, domain)
    if params["check_endpoints"]:
        checks += check_endpoints(domains, params, settings)
    summary = [f"{'OK  ' if c['ok'] else 'FAIL'} {c['domain']} {c['kind']} {c['target']}"
               + (f" -- {'; '.join(c['failures'])}" if c["failures"] else "") for c in checks]
    return dict(changed=False, checks=checks, failed_checks=[c for c in checks if not c["ok"]], summary=summary,
                trust_anchors=contexts.trust_anchors)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    _crypto.require_cryptography(module)
    if params["check_dns"] and not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNSPYTHON_ERROR)
    if params["timeout"] <= 0:
        module.fail_json(msg=f"timeout {params['timeout']} must be a positive number of seconds")
    for option in ("connect_address", "dns_server"):
        if params[option] is not None and not _discovery.is_address_or_name(params[option]):
            module.fail_json(msg=f"{option} {params[option]!r} must be an IP address or a host name")
    try:
        result = run(params)
    except _discovery.DiscoveryError as exc:
        module.fail_json(msg=str(exc))
    except _probe.ProbeError as exc:
        module.fail_json(msg=str(exc))
    failed = result["failed_checks"]
    if failed and not params["report_only"]:
        details = " | ".join(f"{c['domain']} {c['kind']} {c['target']}: {'; '.join(c['failures'])}" for c in failed)
        module.fail_json(msg=f"{len(failed)} of {len(result['checks'])} discovery checks failed: {details}", **result)
    result["msg"] = f"all {len(result['checks'])} discovery checks passed"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
