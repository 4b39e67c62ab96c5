# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""After playbooks/site.yml: files, effective config, outside witnesses and a real mail round trip."""

from __future__ import annotations

import glob
import json
import os
import subprocess

import mailtest
import pytest

BASE = "/etc/postmaster-tls/mail.example.test/rsa"
PORTS = [(25, "smtp"), (587, "smtp"), (465, None), (143, "imap"), (993, None), (110, "pop3"), (995, None)]
UTILS = os.path.join(os.path.dirname(__file__), "..", "..", "utils")


def _fingerprint_of_file(host, path):
    out = host.check_output(f"openssl x509 -in {path} -noout -fingerprint -sha256")
    return out.split("=", 1)[1].lower()


@pytest.fixture(scope="module")
def ca_file(host, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(host.file("/etc/postmaster-tls/ca.pem").content_string)
    return str(path)


def test_key_and_combined_files_are_private(host):
    for name in (f"{BASE}/privkey.pem", f"{BASE}/live/combined.pem"):
        f = host.file(name)
        assert f.exists, name
        assert f.user == "root" and f.group == "root", name
        assert f.mode == 0o600, f"{name} has mode {oct(f.mode)}"
    assert host.file(f"{BASE}/live/fullchain.pem").mode & 0o077 in (0o044, 0o004, 0o040, 0)


def test_installed_chain_verifies_against_the_local_ca(host):
    result = host.run(f"openssl verify -CAfile /etc/postmaster-tls/ca.pem {BASE}/live/cert.pem")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_effective_postfix_and_dovecot_config(host):
    chain_files = host.check_output("postconf -h smtpd_tls_chain_files")
    assert f"{BASE}/live/combined.pem" in chain_files
    assert host.check_output("postconf -h smtpd_tls_auth_only") == "yes"
    version = host.check_output("dovecot --version")
    # Dovecot 2.4 keeps ssl_server_* settings in an ssl_server { } filter, queried as ssl_server/cert_file.
    setting = "ssl_cert" if version.startswith("2.3") else "ssl_server/cert_file"
    assert host.check_output(f"doveconf -h {setting}").lstrip("<").strip() == f"{BASE}/live/fullchain.pem"


@pytest.mark.parametrize(("port", "starttls"), PORTS)
def test_every_port_serves_the_installed_certificate(host, port, starttls):
    served = mailtest.served_fingerprint(host, port, starttls=starttls)
    assert served == _fingerprint_of_file(host, f"{BASE}/live/cert.pem"), f"port {port}"


@pytest.mark.parametrize(("port", "starttls"), PORTS)
@pytest.mark.parametrize("legacy", ["-tls1", "-tls1_1"])
def test_legacy_protocols_are_refused(host, port, starttls, legacy):
    # SECLEVEL=0 on the client: a refusal can only come from the server.
    hello = mailtest.s_client(host, port, starttls=starttls, extra=[legacy, "-cipher", "DEFAULT@SECLEVEL=0"])
    assert "BEGIN CERTIFICATE" not in hello.stdout, f"port {port} accepted {legacy}"


@pytest.mark.parametrize(("port", "starttls"), PORTS)
def test_chain_and_name_verify_for_a_strict_client(host, ca_file, port, starttls):
    hello = mailtest.s_client(host, port, starttls=starttls,
                              extra=["-CAfile", ca_file, "-verify_return_error", "-verify_hostname", "mail.example.test"])
    assert "Verify return code: 0 (ok)" in hello.stdout, f"port {port}: {hello.stdout[-400:]}"


def test_real_mail_round_trip(host, ca_file):
    script = os.path.join(UTILS, "mail_roundtrip.py")
    run = mailtest.in_netns(host, ["python3", script, ca_file, "mail.example.test", "mailtest", "Secret-Test-Pass-1"], timeout=120)
    report = json.loads(run.stdout or "{}")
    assert run.returncode == 0 and report.get("ok"), run.stdout + run.stderr
    assert report["submission_587"]["auth_offered_before_starttls"] is False
    assert report["imaps_993"]["tls"] in ("TLSv1.2", "TLSv1.3")


def test_dns_records_match_what_is_served(host):
    ephemeral = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    files = glob.glob(os.path.join(ephemeral, "dns", "**", "*"), recursive=True)
    text = "\n".join(open(f).read() for f in files if os.path.isfile(f))
    pem = host.check_output(f"openssl x509 -in {BASE}/live/cert.pem -pubkey -noout")
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem.encode() + b"\n",
                         capture_output=True, check=True).stdout
    digest = subprocess.run(["sha256sum"], input=der, capture_output=True, check=True).stdout.split()[0].decode()
    assert f"_25._tcp.mail.example.test" in text
    assert f"3 1 1 {digest}" in text
    assert "v=STSv1" in text and "mode: enforce" in text
    assert "v=TLSRPTv1; rua=mailto:tls-reports@example.test" in text
