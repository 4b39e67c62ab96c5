# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cross-check postmaster.tls.mail_tls_verify with outside tools on the real Postfix and Dovecot.

For every endpoint (the seven standard ports plus the deliberately legacy smtps port 2465):
sslscan's list of accepted protocol versions and openssl's served fingerprint must equal what the
module reports; the TLSA file written by dns_records must carry the module's served spki_sha256,
which must equal openssl's pipeline for the installed certificate.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import mailtest
import pytest

PKI = "/etc/pm-verify-test"
# port -> (STARTTLS flavour for sslscan / openssl s_client, or None for implicit TLS)
ENDPOINTS = {25: "smtp", 587: "smtp", 465: None, 143: "imap", 993: None, 110: "pop3", 995: None, 2465: None}
SSLSCAN_VERSIONS = {"TLSv1.0": "TLSv1", "TLSv1.1": "TLSv1.1", "TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}
_RESULTS: dict[str, dict] = {}


def module_result(host) -> dict:
    """Run the module once per container, now, through Ansible (report only)."""
    name = mailtest.container_name(host)
    if name not in _RESULTS:
        args = {
            "all_ports": True,
            "endpoints": [{"port": 2465, "protocol": "smtps"}],
            "server_name": "mail.example.test",
            "ca_path": f"{PKI}/root.pem",
            "report_only": True,
            "timeout": 30,  # generous: this machine may be busy; a slow answer must not read as a refusal
        }
        result = host.ansible("postmaster.tls.mail_tls_verify", json.dumps(args), check=False)
        assert result.get("changed") is False, result
        _RESULTS[name] = {endpoint["port"]: endpoint for endpoint in result["endpoints"]}
    return _RESULTS[name]


def sslscan_versions(host, port: int, starttls: str | None) -> list[str]:
    argv = ["timeout", "120", "sslscan", "--no-colour", "--no-ciphersuites", "--no-groups", "--no-heartbleed",
            "--no-renegotiation", "--no-fallback", "--no-compression", "--no-check-certificate",
            "--timeout=20", "--sni-name=mail.example.test"]
    if starttls:
        argv.append(f"--starttls-{starttls}")
    answer = mailtest.in_netns(host, [*argv, f"127.0.0.1:{port}"], timeout=150)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    enabled = re.findall(r"^(TLSv1\.[0-3])\s+enabled", answer.stdout, flags=re.MULTILINE)
    assert re.search(r"^TLSv1\.2\s+(enabled|disabled)", answer.stdout, flags=re.MULTILINE), answer.stdout
    return [SSLSCAN_VERSIONS[version] for version in enabled]


@pytest.mark.parametrize("port", sorted(ENDPOINTS))
def test_accepted_versions_equal_sslscan(host, port):
    report = module_result(host)[port]
    expected = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] if port == 2465 else ["TLSv1.2", "TLSv1.3"]
    assert report["accepted_protocols"] == expected, report["protocol_details"]
    assert sslscan_versions(host, port, ENDPOINTS[port]) == report["accepted_protocols"]


@pytest.mark.parametrize("port", sorted(ENDPOINTS))
def test_served_fingerprint_equals_openssl(host, port):
    report = module_result(host)[port]
    served = mailtest.served_fingerprint(host, port, starttls=ENDPOINTS[port])
    installed = host.check_output(f"openssl x509 -in {PKI}/cert.pem -noout -fingerprint -sha256")
    assert served == report["fingerprint_sha256"]
    assert served == installed.split("=", 1)[1].lower()


def test_legacy_port_is_flagged_and_the_standard_ports_are_green(host):
    results = module_result(host)
    assert [port for port, report in results.items() if not report["ok"]] == [2465]
    assert results[2465]["legacy_protocols_accepted"] == ["TLSv1", "TLSv1.1"]
    assert "accepts TLSv1, TLSv1.1 (below min_protocol TLSv1.2)" in results[2465]["failures"]


def openssl_spki_sha256(host) -> str:
    out = host.check_output(
        f"openssl x509 -in {PKI}/cert.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum")
    return out.split()[0]


def dns_dir(host) -> str:
    ephemeral = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    return os.path.join(ephemeral, "dns", mailtest.container_name(host))


def test_tlsa_file_carries_the_served_key_and_the_next_one(host):
    served = {report["spki_sha256"] for report in module_result(host).values()}
    assert served == {openssl_spki_sha256(host)}
    next_key = host.check_output(f"openssl pkey -pubin -in {PKI}/next.pub -outform DER | sha256sum").split()[0]
    with open(os.path.join(dns_dir(host), "example.test", "tlsa-mail.example.test.zone"), encoding="utf-8") as handle:
        records = [line for line in handle.read().splitlines() if line and not line.startswith(";")]
    [current] = served
    mine = [
        f"_{port}._tcp.mail.example.test. 3600 IN TLSA 3 1 1 {digest}"
        for port in (25, 465, 587) for digest in (current, next_key)
    ]
    # Both test containers answer as mail.example.test: the one TLSA set for that name must list
    # every key either of them serves (current and next), each record once.
    assert set(mine) <= set(records), records
    assert len(records) == len(set(records)) == 2 * len(mine), records


def test_mta_sts_and_tls_rpt_files(host):
    directory = os.path.join(dns_dir(host), "example.test")
    # newline="": the policy's CRLF line ends (RFC 8461 3.2) are part of the text its id is derived from.
    with open(os.path.join(directory, "mta-sts.txt"), encoding="utf-8", newline="") as handle:
        policy = handle.read()
    assert policy == "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n"
    with open(os.path.join(directory, "mta-sts.zone"), encoding="utf-8") as handle:
        txt = handle.read()
    policy_id = hashlib.sha256(policy.encode()).hexdigest()[:32]
    assert f'_mta-sts.example.test. 3600 IN TXT "v=STSv1; id={policy_id}"' in txt.splitlines()
    with open(os.path.join(directory, "tls-rpt.zone"), encoding="utf-8") as handle:
        rpt = handle.read()
    assert '_smtp._tls.example.test. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@example.test"' in rpt.splitlines()
