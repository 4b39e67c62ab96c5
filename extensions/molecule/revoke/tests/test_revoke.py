# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/revoke.yml on deployed hosts, and the revocation seen by outside witnesses.

One session fixture does the story once for both mail hosts: it records what every port serves and
what is installed, keeps a copy of the installed tree (old keys and certificates), runs revoke.yml
from the controller, records again, runs openssl against the CRL, publishes the CRL DER on the
nginx container, puts the old tree back on purpose (and reloads), then runs the checking playbooks:
mail_tls_verify fetching the CRL from the distribution point, the audit, and certificate_info on a
certificate whose distribution point nothing answers. The tests judge the results.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys

import certwitness
import mailtest
import pytest

testinfra_hosts = ["mailservers"]

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CA_DIR = os.path.join(EPHEMERAL, "ca")
TREE = "/etc/postmaster-tls/mail.example.test"
TYPES = ("rsa", "ecdsa")
PREFIX = os.environ.get("PM_PREFIX", "pm")
CDP_CONTAINER = f"{PREFIX}-revoke-cdp"
NETWORK = f"{PREFIX}-revoke-net"


def _openssl(*argv: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *argv], input=input_text, capture_output=True, text=True, check=False)


def _serial(pem: str) -> int:
    out = _openssl("x509", "-noout", "-serial", input_text=pem)
    return int(out.stdout.strip().split("=", 1)[1], 16)


def _observe(host) -> dict:
    """What is installed (per key type: certificate PEM, serial, key hash) and what every port serves
    (served_certs.py: the seven ports at once, from inside the container's network namespace)."""
    installed = {}
    for kind in TYPES:
        pem = host.file(f"{TREE}/{kind}/live/cert.pem").content_string
        installed[kind] = {"pem": pem, "fingerprint": certwitness.fingerprint(pem), "serial": _serial(pem),
                           "key_sha256": host.file(f"{TREE}/{kind}/privkey.pem").sha256sum}
    run = subprocess.run([sys.executable, os.path.join(mailtest.UTILS, "served_certs.py"), mailtest.container_name(host)],
                         capture_output=True, text=True, check=True)
    served = {int(port): fingerprint for port, fingerprint in json.loads(run.stdout).items()}
    return {"installed": installed, "served": served}


def _json(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _dead_url() -> str:
    """An address on the test network that no container has (the last but one of its subnet)."""
    info = json.loads(subprocess.run(["docker", "network", "inspect", NETWORK], capture_output=True, text=True, check=True).stdout)
    subnet = ipaddress.ip_network(info[0]["IPAM"]["Config"][0]["Subnet"])
    return f"http://{subnet[-2]}/crl.der"


@pytest.fixture(scope="session")
def story():
    hosts = certwitness.mailserver_hosts()
    before = {name: _observe(h) for name, h in hosts.items()}
    for h in hosts.values():
        h.check_output(f"rm -rf /root/old-tree && cp -a {TREE} /root/old-tree")

    revoke = certwitness.run_playbook("postmaster.tls.revoke")
    after = {name: _observe(h) for name, h in hosts.items()}

    crl_pem = os.path.join(CA_DIR, "crl.pem")
    ca_pem = os.path.join(CA_DIR, "ca.pem")
    witness: dict = {"crl_text": _openssl("crl", "-in", crl_pem, "-noout", "-text").stdout, "verify": {}}
    for name in hosts:
        for stage, observed in (("old", before), ("new", after)):
            for kind in TYPES:
                path = os.path.join(EPHEMERAL, f"{name}-{stage}-{kind}.pem")
                with open(path, "w", encoding="ascii") as handle:
                    handle.write(observed[name]["installed"][kind]["pem"])
                witness["verify"][(name, stage, kind)] = _openssl("verify", "-crl_check", "-CAfile", ca_pem, "-CRLfile", crl_pem, path)

    # The CRL goes where the certificates say it is; then the old keys and certificates are served again.
    subprocess.run(["docker", "cp", os.path.join(CA_DIR, "crl.der"), f"{CDP_CONTAINER}:/var/www/html/crl.der"], check=True)
    for h in hosts.values():
        h.check_output(f"cp -a /root/old-tree/. {TREE}/ && postfix reload && doveadm reload")
    again = {name: _observe(h) for name, h in hosts.items()}

    out = os.path.join(EPHEMERAL, "revoke-results")
    os.makedirs(out, exist_ok=True)
    check = certwitness.run_playbook(os.path.join(SCENARIO, "check_served.yml"), "-e", f"pm_out={out}")
    audit = certwitness.run_playbook("postmaster.tls.audit", "-e", f"postmaster_audit_output_dir={out}")
    dead_url = _dead_url()
    dead = certwitness.run_playbook(os.path.join(SCENARIO, "dead_cdp.yml"), "-e", f"pm_out={out}", "-e", f"pm_dead_url={dead_url}")
    return {"names": list(hosts), "before": before, "revoke": revoke, "after": after, "witness": witness, "again": again,
            "check": check, "audit": audit, "dead": dead, "dead_url": dead_url, "out": out}


# ---------------------------------------------------------------------------------------------
# revoke.yml itself
# ---------------------------------------------------------------------------------------------
def test_revoke_run_succeeded_and_says_what_is_left(host, story):
    name = mailtest.container_name(host)
    run = story["revoke"]
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counts = certwitness.recap(run.stdout)[name]
    assert counts["failed"] == 0 and counts["unreachable"] == 0 and counts["changed"] > 0, counts
    assert "ports serve a new certificate for a new key" in run.stdout
    for kind in TYPES:
        serial = story["before"][name]["installed"][kind]["serial"]
        assert f"{serial:x}" in run.stdout.replace(":", ""), f"{kind} serial of {name} not reported as revoked"
    assert "crl.der at http://" in run.stdout and "certificate_crl: true" in run.stdout
    assert "TLSA records from DNS" in run.stdout


@pytest.mark.parametrize(("port", "starttls"), certwitness.PORTS)
def test_every_port_serves_a_new_certificate_for_a_new_key(host, story, port, starttls):
    name = mailtest.container_name(host)
    before, after = story["before"][name], story["after"][name]
    old = {item["fingerprint"] for item in before["installed"].values()}
    new = {item["fingerprint"] for item in after["installed"].values()}
    assert before["served"][port] in old, f"port {port} before"
    assert after["served"][port] in new, f"port {port} serves {after['served'][port]}, not a new certificate"
    for kind in TYPES:
        assert after["installed"][kind]["key_sha256"] != before["installed"][kind]["key_sha256"], f"{kind}: the key was not replaced"


# ---------------------------------------------------------------------------------------------
# Outside witnesses: openssl
# ---------------------------------------------------------------------------------------------
def test_openssl_crl_lists_the_old_serials_as_key_compromise(host, story):
    name = mailtest.container_name(host)
    text = story["witness"]["crl_text"]
    entries = re.findall(r"Serial Number: ([0-9A-F]+)\s+Revocation Date: [^\n]+\n\s+CRL entry extensions:\s+"
                         r"X509v3 CRL Reason Code:\s+(\S[^\n]*)", text)
    listed = {int(serial, 16): reason.strip() for serial, reason in entries}
    for kind in TYPES:
        assert listed.get(story["before"][name]["installed"][kind]["serial"]) == "Key Compromise", (kind, text)
        assert story["after"][name]["installed"][kind]["serial"] not in listed


def test_openssl_crl_check_refuses_the_old_and_accepts_the_new(host, story):
    name = mailtest.container_name(host)
    for kind in TYPES:
        old = story["witness"]["verify"][(name, "old", kind)]
        new = story["witness"]["verify"][(name, "new", kind)]
        assert old.returncode != 0 and "certificate revoked" in old.stdout + old.stderr, old.stdout + old.stderr
        assert new.returncode == 0 and ": OK" in new.stdout, new.stdout + new.stderr


# ---------------------------------------------------------------------------------------------
# The old certificate served again on purpose: verify and audit see it revoked
# ---------------------------------------------------------------------------------------------
def test_the_old_certificate_is_served_again(host, story):
    name = mailtest.container_name(host)
    old = {item["fingerprint"] for item in story["before"][name]["installed"].values()}
    assert set(story["again"][name]["served"].values()) <= old


def test_verify_fetches_the_crl_from_the_distribution_point_and_fails_the_old_certificate(host, story):
    name = mailtest.container_name(host)
    assert story["check"].returncode == 0, story["check"].stdout[-3000:]
    result = _json(os.path.join(story["out"], f"served-{name}.json"))
    old_serials = {story["before"][name]["installed"][kind]["serial"] for kind in TYPES}
    assert len(result["endpoints"]) == 7 and len(result["failed_endpoints"]) == 7
    for endpoint in result["endpoints"]:
        revocation = endpoint["revocation"]
        assert revocation["status"] == "revoked", (endpoint["endpoint"], revocation)
        assert revocation["reason"] == "keyCompromise"
        assert revocation["source"].startswith("http://") and revocation["source"] in revocation["distribution_points"]
        assert int(revocation["serial"].replace(":", ""), 16) in old_serials
        assert any(" is revoked (keyCompromise, since " in failure for failure in endpoint["failures"])
        # A local CA logs nothing to CT; that is expected, not a finding.
        assert endpoint["certificate_transparency"]["policy"] == "not_applicable"
        assert endpoint["certificate_transparency"]["scope"] == "private"


def test_audit_reports_the_old_certificate_revoked(host, story):
    name = mailtest.container_name(host)
    run = story["audit"]
    assert run.returncode != 0, "the audit must fail while a revoked certificate is installed and served"
    report = _json(os.path.join(story["out"], "audit.json"))
    rows = [row for row in report["certificates"] if row["host"] == name]
    assert len(rows) == 2 and {row["status"] for row in rows} == {"REVOKED"}
    assert {row["revocation"] for row in rows} == {"revoked"}
    assert all(row["ct"].startswith("0 SCT(s), none needed (private)") for row in rows)
    listed = {int(entry["serial"].replace(":", ""), 16) for crl in report["crls"] for entry in crl["revoked"]}
    for kind in TYPES:
        assert story["before"][name]["installed"][kind]["serial"] in listed
    assert "REVOKED" in run.stdout


# ---------------------------------------------------------------------------------------------
# A distribution point nothing answers on
# ---------------------------------------------------------------------------------------------
def test_an_unreachable_distribution_point_is_reported_within_the_timeout(host, story):
    name = mailtest.container_name(host)
    assert story["dead"].returncode == 0, story["dead"].stdout[-3000:]
    [entry] = _json(os.path.join(story["out"], f"dead-{name}.json"))["certificates"]
    revocation = entry["revocation"]
    assert revocation["status"] == "unknown"
    assert revocation["distribution_points"] == [story["dead_url"]]
    assert revocation["errors"] == [f"CRL distribution point {story['dead_url']}: no complete answer within 2 s"]
    # The module's own deadline: the 2-second bound plus its bookkeeping, never the kernel's connect timeout.
    assert revocation["fetch_seconds"] < 3
