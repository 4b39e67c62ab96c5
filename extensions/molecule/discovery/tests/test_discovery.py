# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Clients and senders find TLS on their own (issue 19), judged from the scenario's client container.

Every client runs in ${PM_PREFIX}-discovery-client, resolves through the scenario's BIND server (whose zone
holds SRV and TXT records only through the dns_records role's TSIG-signed RFC 2136 update) and trusts only
the test CA:

* the autoconfig client (Thunderbird's draft) and the SRV client (RFC 6186/8314 with dnspython) both end
  up on implicit TLS (993 and 465), verified, and log in;
* an RFC 8461 sender fetches the policy and checks id, MX match and the MX certificate;
* curl --cacert witnesses: status 200, the content types, no redirect, for every endpoint (Autodiscover by
  GET and POST, Outlook's mixed-case path too);
* the SRV records say "." for the services Debian 13's domain does not offer;
* witnesses that those records are the collection's: dig asks BIND itself (authoritative answer), BIND's
  journal of dynamic updates holds them, and an update without the TSIG key is refused.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

PREFIX = os.environ.get("PM_PREFIX", "pm")
CLIENT = f"{PREFIX}-discovery-client"
DNS = f"{PREFIX}-discovery-dns"
NETWORK = f"{PREFIX}-disc"
DIR = "/opt/pm-disc"
PASSWORD = "Secret-Test-Pass-1"
DOMAINS = ["d12.example.test", "d13.example.test"]
AUTODISCOVER_REQUEST = (
    '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
    'outlook/requestschema/2006"><Request><EMailAddress>mailtest@{domain}</EMailAddress><AcceptableResponseSchema>'
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>"
    "</Request></Autodiscover>"
)


def in_client(argv: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", CLIENT, *argv], capture_output=True, text=True, timeout=timeout, check=False)


def client_report(mode: str, *args: str) -> dict:
    run = in_client(["python3", f"{DIR}/disc_client.py", mode, *args, f"{DIR}/ca.pem"])
    report = json.loads(run.stdout)
    assert run.returncode == 0 and report["ok"], run.stdout + run.stderr
    return report


@pytest.mark.parametrize("domain", DOMAINS)
def test_autoconfig_client_lands_on_implicit_tls(domain):
    report = client_report("autoconfig", domain, f"mailtest@{domain}", PASSWORD)
    assert report["status"] == 200
    assert (report["imap"]["port"], report["imap"]["socketType"]) == (993, "SSL")
    assert (report["smtp"]["port"], report["smtp"]["socketType"]) == (465, "SSL")
    for side in ("imap", "smtp"):
        assert report[side]["host"] == f"mail.{domain}"
        assert report[side]["user"] == "mailtest"
        assert report[side]["tls_version"] in ("TLSv1.2", "TLSv1.3")
        assert f"mail.{domain}" in report[side]["cert_names"]
    assert report["imap"]["login"] == "OK"
    assert report["smtp"]["login"] == 235


@pytest.mark.parametrize("domain", DOMAINS)
def test_srv_client_lands_on_implicit_tls(domain):
    report = client_report("srv", domain, f"mailtest@{domain}", PASSWORD)
    assert (report["imap"]["service"], report["imap"]["port"], report["imap"]["priority"]) == ("imaps", 993, 0)
    assert (report["smtp"]["service"], report["smtp"]["port"], report["smtp"]["priority"]) == ("submissions", 465, 0)
    assert report["imap"]["login"] == "OK" and report["smtp"]["login"] == 235
    assert report["imap"]["host"] == report["smtp"]["host"] == f"mail.{domain}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_mta_sts_sender_check(domain):
    report = client_report("sender", domain)
    assert report["status"] == 200 and report["content_type"] == "text/plain"
    assert report["policy"] == {"version": "STSv1", "mode": "testing", "mx": [f"mail.{domain}"], "max_age": "86400"}
    assert report["policy_id"] == report["txt_id"]
    assert [mx["host"] for mx in report["mx"]] == [f"mail.{domain}"]


ENDPOINTS = [
    ("mta-sts", "GET", "/.well-known/mta-sts.txt", "text/plain"),
    ("autoconfig", "GET", "/mail/config-v1.1.xml?emailaddress=mailtest%40{domain}", "text/xml"),
    ("autoconfig", "GET", "/.well-known/autoconfig/mail/config-v1.1.xml", "text/xml"),
    ("autodiscover", "GET", "/autodiscover/autodiscover.xml", "application/xml"),
    ("autodiscover", "POST", "/autodiscover/autodiscover.xml", "application/xml"),
    ("autodiscover", "POST", "/Autodiscover/Autodiscover.xml", "application/xml"),
]


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("host,method,path,content_type", ENDPOINTS)
def test_curl_witness(domain, host, method, path, content_type):
    url = f"https://{host}.{domain}{path.format(domain=domain)}"
    argv = ["curl", "-sS", "--cacert", f"{DIR}/ca.pem", "-o", "/dev/null",
            "-w", "%{http_code}|%{content_type}|%{num_redirects}|%{redirect_url}|%{ssl_verify_result}"]
    if method == "POST":
        argv += ["-H", "Content-Type: text/xml", "--data-binary", AUTODISCOVER_REQUEST.format(domain=domain)]
    run = in_client([*argv, url])
    assert run.returncode == 0, run.stderr
    status, served_type, redirects, location, verify = run.stdout.split("|")
    assert (status, served_type, redirects, location, verify) == ("200", content_type, "0", "", "0")


@pytest.mark.parametrize("name,answer", [
    ("_pop3s._tcp.d13.example.test", "0 0 0 ."),
    ("_pop3._tcp.d13.example.test", "0 0 0 ."),
    ("_imaps._tcp.d13.example.test", "0 1 993 mail.d13.example.test."),
    ("_pop3s._tcp.d12.example.test", "0 1 995 mail.d12.example.test."),
    ("_imap._tcp.d12.example.test", "10 1 143 mail.d12.example.test."),
    ("_submission._tcp.d12.example.test", "10 1 587 mail.d12.example.test."),
])
def test_srv_records_in_dns(name, answer):
    """Implicit TLS has the preferred priority; a service not offered has the target "." (RFC 6186 3.4)."""
    run = in_client(["dig", "+short", name, "SRV"])
    assert run.stdout.strip() == answer, run.stdout + run.stderr


@pytest.fixture(scope="module")
def bind_address() -> str:
    run = subprocess.run(["docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', DNS],
                         capture_output=True, text=True, timeout=60, check=True)
    return run.stdout.strip()


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("service,port", [("imaps", 993), ("submissions", 465)])
def test_bind_answers_with_the_published_srv_record(bind_address, domain, service, port):
    """dig at BIND itself, no recursion: an authoritative answer with the record the collection published."""
    run = in_client(["dig", "+norec", "+noall", "+comments", "+answer", f"@{bind_address}", f"_{service}._tcp.{domain}", "SRV"])
    assert run.returncode == 0, run.stderr
    assert "status: NOERROR" in run.stdout, run.stdout
    flags = next(line for line in run.stdout.splitlines() if line.startswith(";; flags:")).split(":", 1)[1].split(";", 1)[0].split()
    assert "aa" in flags, run.stdout
    answers = [line.split() for line in run.stdout.splitlines() if line and not line.startswith(";")]
    assert answers == [[f"_{service}._tcp.{domain}.", "3600", "IN", "SRV", "0", "1", str(port), f"mail.{domain}."]], run.stdout


def test_the_records_came_through_the_dynamic_update():
    """BIND's journal holds only what dynamic updates added: the SRV and MTA-STS records of both domains."""
    run = subprocess.run(["docker", "exec", DNS, "named-journalprint", "/var/lib/bind/example.test.zone.jnl"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    added = [" ".join(line.split()[1:]) for line in run.stdout.splitlines() if line.startswith("add ")]
    for domain in DOMAINS:
        assert f"_imaps._tcp.{domain}. 3600 IN SRV 0 1 993 mail.{domain}." in added
        assert f"_submissions._tcp.{domain}. 3600 IN SRV 0 1 465 mail.{domain}." in added
        assert any(line.startswith(f'_mta-sts.{domain}. 3600 IN TXT "v=STSv1; id=') for line in added)
    assert "_pop3s._tcp.d13.example.test. 3600 IN SRV 0 0 0 ." in added


def test_an_update_without_the_tsig_key_is_refused(bind_address):
    """The zone takes updates only with the key: the records above could only come from the signed update."""
    script = f"server {bind_address}\nzone example.test\nupdate add intruder.example.test. 60 IN A 192.0.2.1\nsend\n"
    run = subprocess.run(["docker", "exec", "-i", CLIENT, "nsupdate"], input=script, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode != 0 and "REFUSED" in run.stdout + run.stderr, run.stdout + run.stderr
    check = in_client(["dig", "+short", "+norec", f"@{bind_address}", "intruder.example.test", "A"])
    assert check.stdout.strip() == ""
