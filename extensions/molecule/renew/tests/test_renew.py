# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/renew.yml, run from the controller as a schedule would, against a short-lived certificate.

One session fixture records, for both containers, what every port serves and what is installed;
runs renew.yml (it must renew: 20 days left, 30-day window); records again; runs renew.yml a
second time (nothing is due any more); records once more. The tests then judge each host.
"""

from __future__ import annotations

import datetime
import re

import certwitness
import mailtest
import pytest

CERT = "/etc/postmaster-tls/mail.example.test/rsa/live/cert.pem"
KEY = "/etc/postmaster-tls/mail.example.test/rsa/privkey.pem"


def _observe(host) -> dict:
    """What is installed and what every port serves, seen from outside."""
    not_after = host.check_output(f"openssl x509 -in {CERT} -noout -enddate").split("=", 1)[1]
    return {
        "installed": certwitness.fingerprint(host.file(CERT).content_string),
        "not_after": datetime.datetime.strptime(not_after, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc),
        "key_sha256": host.file(KEY).sha256sum,
        "served": {port: mailtest.served_fingerprint(host, port, starttls=starttls) for port, starttls in certwitness.PORTS},
    }


def _sections(output: str) -> dict[str, list[tuple[str, str]]]:
    """Task and handler headers of the default callback -> [(status, host), ...] under each."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in output.splitlines():
        header = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.+?)\] \*+$", line)
        if header:
            current = sections.setdefault(header.group(1), [])
            continue
        status = re.match(r"^(ok|changed|skipping|fatal|failed): \[([^\]\s]+)", line)
        if status and current is not None:
            current.append((status.group(1), status.group(2)))
    return sections


@pytest.fixture(scope="session")
def renewal():
    hosts = certwitness.mailserver_hosts()
    before = {name: _observe(h) for name, h in hosts.items()}
    first = certwitness.run_playbook("postmaster.tls.renew")
    after = {name: _observe(h) for name, h in hosts.items()}
    second = certwitness.run_playbook("postmaster.tls.renew")
    final = {name: _observe(h) for name, h in hosts.items()}
    return {"before": before, "first": first, "after": after, "second": second, "final": final}


def test_converge_left_a_certificate_inside_the_renewal_window(host, renewal):
    name = mailtest.container_name(host)
    left = renewal["before"][name]["not_after"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=15) < left <= datetime.timedelta(days=20), left
    assert set(renewal["before"][name]["served"].values()) == {renewal["before"][name]["installed"]}


def test_first_renew_run_reissued_and_reloaded(host, renewal):
    name = mailtest.container_name(host)
    run = renewal["first"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    counts = certwitness.recap(run.stdout)[name]
    assert counts["failed"] == 0 and counts["unreachable"] == 0 and counts["changed"] > 0, counts
    assert f"{name}: new certificate installed" in run.stdout
    sections = _sections(run.stdout)
    for handler in ("postmaster.tls.postfix : Reload postfix", "postmaster.tls.dovecot : Reload dovecot"):
        assert ("changed", name) in sections.get(handler, []), f"{handler}: {sections.get(handler)}"
    before, after = renewal["before"][name], renewal["after"][name]
    assert after["installed"] != before["installed"]
    assert after["key_sha256"] == before["key_sha256"], "renewal must keep the key (DANE 3 1 1 records stay valid)"
    left = after["not_after"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=85) < left <= datetime.timedelta(days=90), left


@pytest.mark.parametrize(("port", "starttls"), certwitness.PORTS)
def test_every_port_serves_the_renewed_certificate(host, renewal, port, starttls):
    name = mailtest.container_name(host)
    before, after = renewal["before"][name], renewal["after"][name]
    assert before["served"][port] == before["installed"], f"port {port} before renewal"
    assert after["served"][port] == after["installed"], f"port {port} after renewal"
    assert after["served"][port] != before["served"][port], f"port {port} still serves the old certificate"


def test_second_renew_run_changes_nothing(host, renewal):
    name = mailtest.container_name(host)
    run = renewal["second"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    counts = certwitness.recap(run.stdout)[name]
    assert counts == {**counts, "changed": 0, "failed": 0, "unreachable": 0}, counts
    assert f"{name}: certificates still valid; nothing to do" in run.stdout
    assert renewal["final"][name] == renewal["after"][name]
