# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""After the role: what Postfix's own tools report, and what an outside TLS client sees on 25, 587, 465.

The clients (openssl s_client, Python's smtplib) run on the host inside the container's network
namespace, so they are independent of the code under test. TLS 1.0/1.1 probes use
``-cipher DEFAULT@SECLEVEL=0``: the host's OpenSSL 3 refuses those versions at its default security
level by itself, and a refusal must prove that the *server* refused (see the control test).
"""

from __future__ import annotations

import subprocess
import time

import mailtest
import pytest

LIVE = "/etc/postmaster-tls/mail.example.test"
OTHER = "/etc/postmaster-tls/other.example.test/rsa/live"
CHAIN_FILES = f"{LIVE}/rsa/live/combined.pem, {LIVE}/ecdsa/live/combined.pem"
PORTS = [pytest.param(25, "smtp", id="25-starttls"), pytest.param(587, "smtp", id="587-starttls"),
         pytest.param(465, None, id="465-implicit")]
# TLS 1.3 signature algorithms that make the server pick one certificate or the other.
SIGALGS = {"rsa": "rsa_pss_rsae_sha256", "ecdsa": "ecdsa_secp256r1_sha256"}
INTERMEDIATE_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:@SECLEVEL=2")

SMTP_AUTH = r"""
import smtplib, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if port == 465:
    conn = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=15)
    conn.ehlo("client.example.test")
else:
    conn = smtplib.SMTP("127.0.0.1", port, timeout=15)
    conn.ehlo("client.example.test")
    print("plain-auth:", conn.esmtp_features.get("auth"))
    print("plain-starttls:", conn.has_extn("starttls"))
    conn.starttls(context=ctx)
    conn.ehlo("client.example.test")
print("tls-auth:", conn.esmtp_features.get("auth"))
print("login:", conn.login("mailtest", "Secret-Test-Pass-1")[0])
conn.quit()
"""


@pytest.fixture(autouse=True, scope="module")
def _container_pid_once():
    """Look the container's PID up once per container, not once per client run (docker inspect is
    slow on a busy machine, and this module starts some 80 clients)."""
    real = mailtest.container_pid
    known: dict[str, str] = {}

    def cached(host) -> str:
        name = mailtest.container_name(host)
        if name not in known:
            known[name] = real(host)
        return known[name]

    mailtest.container_pid = cached
    yield
    mailtest.container_pid = real


def postconf_n(host) -> dict[str, str]:
    values = {}
    for line in host.check_output("postconf -n").splitlines():
        name, _sep, value = line.partition(" = ")
        values[name.strip()] = value
    return values


def fingerprint_of(host, path: str) -> str:
    out = host.check_output(f"openssl x509 -in {path} -noout -fingerprint -sha256")
    return out.split("=", 1)[1].strip().lower()


def served_fingerprint(host, port: int, starttls: str | None, extra: list[str], servername: str = "mail.example.test") -> str | None:
    hello = mailtest.s_client(host, port, starttls=starttls, extra=extra, servername=servername)
    start = hello.stdout.find("-----BEGIN CERTIFICATE-----")
    end = hello.stdout.find("-----END CERTIFICATE-----")
    if start < 0 or end < 0:
        return None
    pem = hello.stdout[start:end + len("-----END CERTIFICATE-----")] + "\n"
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("=", 1)[1].lower()


def test_main_cf_holds_the_intermediate_profile(host):
    values = postconf_n(host)
    expected = {
        "smtpd_tls_chain_files": CHAIN_FILES,
        "smtpd_tls_security_level": "may",
        "smtpd_tls_auth_only": "yes",
        "smtpd_tls_protocols": ">=TLSv1.2",
        "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
        "smtpd_tls_ciphers": "high",
        "smtpd_tls_mandatory_ciphers": "high",
        "tls_high_cipherlist": INTERMEDIATE_CIPHERS,
        "tls_preempt_cipherlist": "no",
        "tls_eecdh_auto_curves": "X25519 prime256v1 secp384r1",
        "smtpd_tls_loglevel": "1",
        "smtpd_tls_received_header": "yes",
        "smtpd_tls_session_cache_database": "btree:${data_directory}/smtpd_scache",
        "smtp_tls_security_level": "may",
        "smtp_tls_protocols": ">=TLSv1",
        "smtp_tls_mandatory_protocols": ">=TLSv1.2",
        "tls_server_sni_maps": "hash:/etc/postfix/tls_server_sni_map",
    }
    assert {name: values.get(name) for name in expected} == expected
    # smtpd_tls_chain_files replaces these; Debian's snakeoil settings are gone.
    assert "smtpd_tls_cert_file" not in values
    assert "smtpd_tls_key_file" not in values


def test_postfix_check_is_clean(host):
    result = host.run("postfix check")
    assert result.rc == 0, result.stderr


@pytest.mark.parametrize("service,overrides", [
    ("submission/inet", {"syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt",
                         "smtpd_sasl_auth_enable": "yes", "smtpd_tls_auth_only": "yes",
                         "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/auth"}),
    ("submissions/inet", {"syslog_name": "postfix/submissions", "smtpd_tls_wrappermode": "yes",
                          "smtpd_sasl_auth_enable": "yes", "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/auth"}),
])
def test_master_cf_has_the_submission_services(host, service, overrides):
    entry = host.check_output(f"postconf -M {service}").split()
    assert entry[:2] == service.split("/")
    assert entry[7] == "smtpd"
    found = {}
    for line in host.check_output(f"postconf -P {service}").splitlines():
        key, _sep, value = line.partition(" = ")
        found[key.rsplit("/", 1)[1]] = value
    assert found == overrides


def test_other_services_are_untouched(host):
    # The stock smtp/inet entry keeps its columns and has no overrides from the role.
    assert host.check_output("postconf -M smtp/inet").split() == ["smtp", "inet", "n", "-", "y", "-", "-", "smtpd"]
    assert host.check_output("postconf -P smtp/inet") == ""


@pytest.mark.parametrize("keytype", ["rsa", "ecdsa"])
@pytest.mark.parametrize("port,starttls", PORTS)
def test_each_port_serves_the_deployed_certificate(host, port, starttls, keytype):
    deployed = fingerprint_of(host, f"{LIVE}/{keytype}/live/combined.pem")
    assert deployed == fingerprint_of(host, f"{LIVE}/{keytype}/live/cert.pem")
    assert served_fingerprint(host, port, starttls, ["-sigalgs", SIGALGS[keytype]]) == deployed


@pytest.mark.parametrize("port,starttls", PORTS)
def test_sni_serves_the_other_mail_name(host, port, starttls):
    expected = fingerprint_of(host, f"{OTHER}/cert.pem")
    assert served_fingerprint(host, port, starttls, [], servername="other.example.test") == expected


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
@pytest.mark.parametrize("port,starttls", PORTS)
def test_old_protocols_are_refused(host, port, starttls, version):
    hello = mailtest.s_client(host, port, starttls=starttls, extra=[version, "-cipher", "DEFAULT@SECLEVEL=0"])
    assert "BEGIN CERTIFICATE" not in hello.stdout
    # The server answers the ClientHello with a protocol_version alert (70).
    assert "alert protocol version" in hello.stderr, hello.stderr


@pytest.mark.parametrize("version,expected", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
@pytest.mark.parametrize("port,starttls", PORTS)
def test_tls12_and_tls13_are_accepted(host, port, starttls, version, expected):
    hello = mailtest.s_client(host, port, starttls=starttls, extra=[version, "-brief"])
    assert f"Protocol version: {expected}" in hello.stderr, hello.stderr


@pytest.mark.parametrize("port,starttls", PORTS)
def test_tls12_ciphers_outside_the_profile_are_refused(host, port, starttls):
    # AES128-SHA: RSA key exchange, CBC, no forward secrecy; not in the intermediate list.
    refused = mailtest.s_client(host, port, starttls=starttls, extra=["-tls1_2", "-cipher", "AES128-SHA", "-brief"])
    assert "Protocol version" not in refused.stderr, refused.stderr
    accepted = mailtest.s_client(host, port, starttls=starttls, extra=["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-brief"])
    assert "Protocol version: TLSv1.2" in accepted.stderr, accepted.stderr


def test_the_client_does_speak_tls10_when_a_server_allows_it(host, tmp_path):
    """Control for test_old_protocols_are_refused: the same client flags complete a TLS 1.0 handshake
    with a server that allows it, so the refusals above come from Postfix."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-subj", "/CN=control.example.test", "-days", "1"], check=True, capture_output=True)
    server = subprocess.Popen(
        ["nsenter", "-t", mailtest.container_pid(host), "-n", "openssl", "s_server", "-accept", "127.0.0.1:4433",
         "-cert", str(cert), "-key", str(key), "-tls1", "-cipher", "DEFAULT@SECLEVEL=0", "-naccept", "1", "-quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        hello = None
        for _attempt in range(20):
            hello = mailtest.in_netns(host, ["timeout", "10", "openssl", "s_client", "-connect", "127.0.0.1:4433", "-tls1",
                                             "-cipher", "DEFAULT@SECLEVEL=0", "-brief"], input_text="")
            if "Protocol version" in hello.stderr:
                break
            time.sleep(0.25)
        assert hello is not None and "Protocol version: TLSv1\n" in hello.stderr, hello.stderr if hello else ""
    finally:
        server.kill()
        server.wait()


def test_auth_is_offered_only_after_starttls_on_587(host):
    answer = mailtest.in_netns(host, ["python3", "-c", SMTP_AUTH, "587"])
    assert answer.returncode == 0, answer.stderr
    assert "plain-starttls: True" in answer.stdout
    assert "plain-auth: None" in answer.stdout
    assert "tls-auth: PLAIN" in answer.stdout.replace("  ", " ")
    assert "login: 235" in answer.stdout


def test_auth_works_on_465(host):
    answer = mailtest.in_netns(host, ["python3", "-c", SMTP_AUTH, "465"])
    assert answer.returncode == 0, answer.stderr
    assert "login: 235" in answer.stdout


def test_sni_table_is_private_and_holds_the_current_chains(host):
    for path in ("/etc/postfix/tls_server_sni_map", "/etc/postfix/tls_server_sni_map.db"):
        assert host.file(path).mode == 0o600, path
        assert host.file(path).user == "root"
    stored = host.check_output("postmap -F -q other.example.test hash:/etc/postfix/tls_server_sni_map")
    on_disk = host.file(f"{OTHER}/combined.pem").content_string
    assert stored.strip() == on_disk.strip()


def test_postfix_logged_no_tls_setup_errors(host):
    log = host.file("/var/log/postfix.log").content_string
    for problem in ("cannot load", "disabling TLS support", "no SASL authentication mechanisms", "malformed BASE64"):
        assert problem not in log
