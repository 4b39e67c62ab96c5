# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules mail_discovery, mail_discovery_verify and nginx_site, run in-process.

The enforce gate's port 25 probe is replaced by canned reports here (the probe itself is tested in
test_probe.py, the gate against a real Postfix in the Molecule scenario "discovery"); the HTTPS checks
talk to a real TLS server on 127.0.0.1; nginx is the stand-in of fake_nginx.py.
"""

from __future__ import annotations

import http.server
import os
import re
import ssl
import threading

import pytest
from fake_nginx import FakeNginx

from ansible_collections.postmaster.tls.plugins.module_utils import _discovery, _https, _probe
from ansible_collections.postmaster.tls.plugins.modules import mail_discovery, mail_discovery_verify, nginx_site

DOMAIN = {"name": "Example.ORG.", "mx": ["mail.example.org"], "services": ["submissions", "submission", "imaps", "imap"],
          "tls_rpt_rua": ["tls@example.org"]}


# ------------------------------------------------------------------------------------------------
# mail_discovery
# ------------------------------------------------------------------------------------------------
def test_render(run_module):
    result = run_module(mail_discovery.main, {"domains": [DOMAIN], "mail_host": "MAIL.example.org", "ttl": 300})
    assert result["changed"] is False and "failed" not in result
    rendered = result["domains"][0]
    assert rendered["name"] == "example.org" and rendered["mail_host"] == "mail.example.org"
    assert result["srv_records"][4] == "_pop3s._tcp.example.org. 300 IN SRV 0 0 0 ."
    assert result["web_names"] == ["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"]
    assert result["mta_sts_records"] == [f'_mta-sts.example.org. 300 IN TXT "v=STSv1; id={rendered["mta_sts_id"]}"']
    assert [site["server_name"] for site in result["sites"]] == result["web_names"]
    assert result["enforce_checks"] == []


def test_dns_records_entries_with_zone_and_srv_feed_the_module_too(run_module):
    """One list feeds both: the dns_records role's zone and srv keys are accepted and change nothing here."""
    entry = {**DOMAIN, "zone": "example.org", "srv": False}
    result = run_module(mail_discovery.main, {"domains": [entry], "mail_host": "mail.example.org", "ttl": 300})
    plain = run_module(mail_discovery.main, {"domains": [DOMAIN], "mail_host": "mail.example.org", "ttl": 300})
    assert "failed" not in result and result["domains"] == plain["domains"]
    assert result["srv_records"] == plain["srv_records"]


def test_bad_domain_fails_naming_it(run_module):
    result = run_module(mail_discovery.main, {"domains": [{"name": "exa mple..test"}], "mail_host": "mail.example.org"})
    assert result["failed"] and result["msg"].startswith("domains[1].name 'exa mple..test' is not a valid host name")


@pytest.mark.parametrize("args,message", [
    ({"timeout": 0}, "timeout 0.0 must be a positive number of seconds"),
    ({"connect_address": "-v"}, "connect_address '-v' must be an IP address or a host name"),
    ({"connect_address": "127.0.0.1\n"}, "connect_address '127.0.0.1\\n' must be an IP address or a host name"),
])
def test_bad_options(run_module, args, message):
    result = run_module(mail_discovery.main, {"domains": [DOMAIN], "mail_host": "mail.example.org", **args})
    assert result["failed"] and result["msg"] == message


def report(ok: bool, mx: str) -> _probe.EndpointReport:
    failures = [] if ok else ["chain does not verify against the trust anchors: self-signed certificate"]
    return _probe.EndpointReport(endpoint="127.0.0.1:25/smtp", host="127.0.0.1", port=25, protocol="smtp", server_name=mx,
                                 failures=failures, ok=ok)


def test_enforce_is_refused_when_port_25_does_not_verify(run_module, monkeypatch):
    seen = []

    def fake_verify(endpoints, settings, expectations, **_kwargs):
        seen.append((endpoints, settings, expectations))
        return [report(False, endpoint.server_name) for endpoint in endpoints]

    monkeypatch.setattr(_probe, "verify", fake_verify)
    args = {"domains": [{**DOMAIN, "mta_sts_mode": "enforce"}], "mail_host": "mail.example.org", "connect_address": "127.0.0.1",
            "ca_path": "/etc/postmaster-tls/ca.pem"}
    result = run_module(mail_discovery.main, args)
    assert result["failed"]
    assert result["msg"].startswith("mta_sts_mode enforce refused: example.org: mail.example.org port 25 does not pass "
                                    "(chain does not verify against the trust anchors: self-signed certificate)")
    assert result["msg"].endswith("keep mta_sts_mode testing; nothing was changed")
    assert result["enforce_checks"] == [{"domain": "example.org", "mx": "mail.example.org", "endpoint": "127.0.0.1:25/smtp",
                                         "ok": False, "failures": ["chain does not verify against the trust anchors: "
                                                                   "self-signed certificate"]}]
    endpoints, settings, expectations = seen[0]
    assert endpoints == [_probe.Endpoint(host="127.0.0.1", port=25, protocol="smtp", server_name="mail.example.org")]
    assert settings.ca_path == "/etc/postmaster-tls/ca.pem" and settings.probe_protocols is False
    assert expectations.validate_chain and expectations.check_hostname


def test_enforce_passes_when_every_mx_verifies(run_module, monkeypatch):
    monkeypatch.setattr(_probe, "verify", lambda endpoints, *a, **k: [report(True, e.server_name) for e in endpoints])
    args = {"domains": [{**DOMAIN, "mx": ["mail.example.org", "mx2.example.org"]}], "mail_host": "mail.example.org",
            "mta_sts_mode": "enforce"}
    result = run_module(mail_discovery.main, args)
    assert "failed" not in result
    assert [check["mx"] for check in result["enforce_checks"]] == ["mail.example.org", "mx2.example.org"]
    assert "\r\nmode: enforce\r\n" in result["domains"][0]["mta_sts_policy"]


def test_enforce_with_a_wildcard_mx_is_refused(run_module, monkeypatch):
    monkeypatch.setattr(_probe, "verify", lambda endpoints, *a, **k: [report(True, e.server_name) for e in endpoints])
    args = {"domains": [{**DOMAIN, "mx": ["*.mx.example.org"], "mta_sts_mode": "enforce"}], "mail_host": "mail.example.org"}
    result = run_module(mail_discovery.main, args)
    assert result["failed"] and "the mx pattern *.mx.example.org names no host this check can connect to" in result["msg"]


def test_testing_mode_never_probes(run_module, monkeypatch):
    monkeypatch.setattr(_probe, "verify", lambda *a, **k: pytest.fail("testing mode must not probe"))
    assert "failed" not in run_module(mail_discovery.main, {"domains": [DOMAIN], "mail_host": "mail.example.org"})


# ------------------------------------------------------------------------------------------------
# mail_discovery_verify against a real HTTPS server
# ------------------------------------------------------------------------------------------------
class Served(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def _answer(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        status, content_type, body = Served.files.get((host, self.path.split("?")[0]), (404, "text/html", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self._answer()

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    from conftest import PKI

    pki = PKI(tmp_path_factory.mktemp("web"))
    names = ["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"]
    root_key, key = pki.key("web-root"), pki.key("web-leaf")
    root = pki.cert("Web Root", root_key, ca=True, days=3650)
    leaf = pki.cert(names[0], key, issuer=root, issuer_key=root_key, sans=names, eku=["serverAuth"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.write("leaf.pem", leaf), pki.write("leaf.key", key))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Served)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield {"port": httpd.server_address[1], "ca": pki.write("root.pem", root)}
    httpd.shutdown()


@pytest.fixture
def published(web, monkeypatch):
    """Serve exactly what mail_discovery renders for DOMAIN; the module's fetches go to the test port."""
    real = _https.fetch
    monkeypatch.setattr(_https, "fetch", lambda host, path, **kwargs: real(host, path, **{**kwargs, "port": web["port"]}))
    dom = _discovery.build_domain(DOMAIN, defaults={"mail_host": "mail.example.org"})
    Served.files = {(site["server_name"], doc["path"]): (200, doc["content_type"], doc["content"].encode())
                    for site in _discovery.documents(dom) for doc in site["documents"]}
    return dom


def verify_args(web, **extra):
    return {"domains": [DOMAIN], "mail_host": "mail.example.org", "connect_address": "127.0.0.1", "ca_path": web["ca"],
            "check_endpoints": False, "timeout": 5, **extra}


def test_verify_passes_when_everything_is_served(run_module, web, published):
    result = run_module(mail_discovery_verify.main, verify_args(web))
    assert "failed" not in result, result.get("msg")
    assert [(c["kind"], c["target"].split(" ")[0]) for c in result["checks"]] == [
        ("https", "GET"), ("mta-sts-id", "_mta-sts.example.org"), ("https", "GET"), ("https", "GET"), ("https", "GET"),
        ("https", "POST")]
    assert result["msg"] == "all 6 discovery checks passed" and result["changed"] is False


def test_verify_finds_a_policy_changed_without_a_new_id_and_a_wrong_type(run_module, web, published):
    policy_key = ("mta-sts.example.org", "/.well-known/mta-sts.txt")
    status, content_type, body = Served.files[policy_key]
    Served.files[policy_key] = (200, content_type, body.replace(b"604800", b"86400"))
    Served.files[("autoconfig.example.org", "/mail/config-v1.1.xml")] = (200, "text/html", Served.files[(
        "autoconfig.example.org", "/mail/config-v1.1.xml")][2])
    result = run_module(mail_discovery_verify.main, verify_args(web))
    assert result["failed"] and result["msg"].startswith("3 of 6 discovery checks failed: ")
    failures = {(c["kind"], re.sub(r":\d+/", "/", c["target"])): c["failures"] for c in result["failed_checks"]}
    assert failures[("https", "GET https://mta-sts.example.org/.well-known/mta-sts.txt")][0].startswith(
        "serves other content than published")
    assert "the policy text changed without a new id" in failures[("mta-sts-id", "_mta-sts.example.org")][0]
    assert failures[("https", "GET https://autoconfig.example.org/mail/config-v1.1.xml")] == [
        "is served as text/html, not text/xml"]
    report_only = run_module(mail_discovery_verify.main, verify_args(web, report_only=True))
    assert "failed" not in report_only and len(report_only["failed_checks"]) == 3


def test_verify_reports_a_redirect(run_module, web, published):
    Served.files[("autodiscover.example.org", "/autodiscover/autodiscover.xml")] = (302, "text/html", b"")
    result = run_module(mail_discovery_verify.main, verify_args(web, report_only=True))
    assert [c["failures"][0] for c in result["failed_checks"]] == [
        "redirects (302 to no Location); the file must be served from this URL itself"] * 2


class FakeRDATA:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class FakeTarget:
    def __init__(self, text):
        self.text = text

    def to_text(self):
        return self.text


class FakeResolver:
    def __init__(self, answers):
        self.answers = answers

    def resolve(self, name, rdtype):
        return self.answers[(name, rdtype)]


def test_verify_with_dns(run_module, web, published, monkeypatch):
    policy = _discovery.policy_text(published)
    answers = {("_mta-sts.example.org", "TXT"): [FakeRDATA(strings=[f"v=STSv1; id={_discovery.mta_sts_id(policy)}".encode()])]}
    for line in _discovery.srv_records(published):
        owner = line.split(" ")[0]
        priority, weight, port, target = line.split()[-4:]
        answers[(owner, "SRV")] = [FakeRDATA(priority=int(priority), weight=int(weight), port=int(port), target=FakeTarget(target))]
    answers[("_imap._tcp.example.org.", "SRV")][0].priority = 0  # a record that differs from the published one
    monkeypatch.setattr(mail_discovery_verify, "_resolver", lambda params: FakeResolver(answers))
    result = run_module(mail_discovery_verify.main, verify_args(web, check_dns=True, report_only=True))
    dns_checks = [c for c in result["checks"] if c["kind"] == "dns"]
    assert len(dns_checks) == 6
    assert [c["target"] for c in result["failed_checks"]] == ["_imap._tcp.example.org. SRV"]
    assert result["failed_checks"][0]["failures"] == ["DNS has 0 1 143 mail.example.org.; published is 10 1 143 mail.example.org."]
    assert all(c["ok"] for c in result["checks"] if c["kind"] == "mta-sts-id")


def test_verify_skips_the_srv_check_of_a_domain_the_dns_role_publishes_none_for(run_module, web, published, monkeypatch):
    """A dns_records entry with srv: false publishes no SRV records, so checking them would fail for nothing."""
    policy = _discovery.policy_text(published)
    answers = {("_mta-sts.example.org", "TXT"): [FakeRDATA(strings=[f"v=STSv1; id={_discovery.mta_sts_id(policy)}".encode()])]}
    monkeypatch.setattr(mail_discovery_verify, "_resolver", lambda params: FakeResolver(answers))
    result = run_module(mail_discovery_verify.main, {**verify_args(web, check_dns=True), "domains": [{**DOMAIN, "srv": False}]})
    assert "failed" not in result, result.get("msg")
    assert [c for c in result["checks"] if c["kind"] == "dns"] == []
    assert [c["ok"] for c in result["checks"] if c["kind"] == "mta-sts-id"] == [True]


def test_verify_endpoints_use_the_probe_with_names(run_module, web, published, monkeypatch):
    seen = []

    def fake_verify(endpoints, settings, expectations, **_kwargs):
        seen.append((endpoints, expectations))
        return [_probe.EndpointReport(endpoint=f"{e.host}:{e.port}/{e.protocol}", host=e.host, port=e.port, protocol=e.protocol,
                                      server_name=e.server_name, ok=True) for e in endpoints]

    monkeypatch.setattr(_probe, "verify", fake_verify)
    result = run_module(mail_discovery_verify.main, verify_args(web, check_endpoints=True, min_days_remaining=30))
    assert "failed" not in result
    endpoints, expectations = seen[0]
    assert [(e.host, e.port, e.protocol, e.server_name) for e in endpoints] == [
        ("127.0.0.1", 465, "smtps", "mail.example.org"), ("127.0.0.1", 587, "smtp", "mail.example.org"),
        ("127.0.0.1", 993, "imaps", "mail.example.org"), ("127.0.0.1", 143, "imap", "mail.example.org"),
        ("127.0.0.1", 25, "smtp", "mail.example.org")]
    assert expectations.validate_chain and expectations.check_hostname and expectations.min_days_remaining == 30


@pytest.mark.parametrize("args,message", [
    ({"timeout": -1}, "timeout -1.0 must be a positive number of seconds"),
    ({"dns_server": "--x"}, "dns_server '--x' must be an IP address or a host name"),
    ({"domains": [{"name": "bad_name.org"}]}, "domains[1].name 'bad_name.org' is not a valid host name"),
])
def test_verify_bad_options(run_module, web, args, message):
    result = run_module(mail_discovery_verify.main, {**verify_args(web), **args})
    assert result["failed"] and result["msg"].startswith(message)


# ------------------------------------------------------------------------------------------------
# nginx_site
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def nginx_box(tmp_path, pki, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    config = tmp_path / "nginx"
    (config / "conf.d").mkdir(parents=True)
    (config / "nginx.conf").write_text(f"http {{\n    include {config}/conf.d/*.conf;\n}}\n")
    names = ["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"]
    key = pki.key("site")
    fake = FakeNginx()
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: f"/usr/sbin/{name}")
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, argv, **kwargs: fake(argv))
    dom = _discovery.build_domain(DOMAIN, defaults={"mail_host": "mail.example.org"})
    return {
        "fake": fake,
        "args": {"sites": _discovery.documents(dom), "config_dir": str(config), "document_root": str(tmp_path / "www"),
                 "certificates": [{"certificate": pki.write("site/cert.pem", pki.cert(names[0], key, sans=names)),
                                   "key": pki.write("site/key.pem", key)}],
                 "reload_flag": str(tmp_path / "run" / "nginx.reload")},
        "site": str(config / "conf.d" / "postmaster-tls.conf"),
    }


def test_nginx_site_check_real_and_idempotent(run_module, nginx_box):
    args = nginx_box["args"]
    check = run_module(nginx_site.main, args, check_mode=True, diff=True)
    assert check["changed"] and check["config_changed"] and check["reload_pending"] and not os.path.exists(nginx_box["site"])
    assert check["diff"][0]["after_header"] == nginx_box["site"] and "PRIVATE" not in check.text
    real = run_module(nginx_site.main, args)
    assert real["changed"] and os.path.exists(nginx_box["site"]) and real["reload_pending"]
    assert real["nginx_test"][0].startswith("nginx: the configuration file") and "postmaster-nginx-" not in real["nginx_test"][0]
    again = run_module(nginx_site.main, args, check_mode=True)
    assert again["changed"] is False and again["files_changed"] == [] and again["config_changed"] is False


def test_nginx_site_refusal_is_a_failed_task_with_nginx_words(run_module, nginx_box):
    result = run_module(nginx_site.main, {**nginx_box["args"], "extra_directives": {"ssl_session_timeout": "soon"}})
    assert result["failed"] and result["msg"].startswith('nginx refused the configuration: "ssl_session_timeout" directive')
    assert result["rc"] == 1 and not os.path.exists(nginx_box["site"])


def test_nginx_site_without_nginx(run_module, nginx_box, monkeypatch):
    from ansible.module_utils.basic import AnsibleModule

    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: None)
    result = run_module(nginx_site.main, nginx_box["args"])
    assert result["failed"] and result["msg"].startswith("nginx was not found on this host")
    predicted = run_module(nginx_site.main, nginx_box["args"], check_mode=True)
    assert predicted["changed"] and "nginx was not found" in predicted["warnings"][0]
