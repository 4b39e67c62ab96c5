# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What postmaster.tls.dovecot deployed, seen by Dovecot's own doveconf and by outside clients.

Outside clients (openssl s_client, a small Python IMAP/POP3 client) run on the host inside the
container's network namespace. Plaintext-login checks connect to 127.0.0.2: Dovecot treats a
connection whose remote address equals its local address (127.0.0.1 to 127.0.0.1) as secure and
would allow cleartext logins there whatever the configuration says.
"""

from __future__ import annotations

import subprocess
import sys
import time

import mailtest
import pytest

LIVE = "/etc/postmaster-tls/mail.example.test"
RSA_CERT = f"{LIVE}/rsa/live/fullchain.pem"
RSA_KEY = f"{LIVE}/rsa/privkey.pem"
ECDSA_CERT = f"{LIVE}/ecdsa/live/fullchain.pem"
ECDSA_KEY = f"{LIVE}/ecdsa/privkey.pem"
SNI_CERT = "/etc/postmaster-tls/imap.example.test/rsa/live/fullchain.pem"
SNI_KEY = "/etc/postmaster-tls/imap.example.test/rsa/privkey.pem"
DROPIN = "/etc/dovecot/conf.d/99-postmaster-tls.conf"
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:@SECLEVEL=2"
)
# (port, STARTTLS protocol or None for implicit TLS)
PORTS = [(993, None), (995, None), (143, "imap"), (110, "pop3")]
PASSWORD = "Secret-Test-Pass-1"


def is_24(host) -> bool:
    return not mailtest.container_name(host).endswith("debian12")


_FINGERPRINTS: dict[tuple[str, str], str] = {}


def fingerprint_of_file(host, path: str) -> str:
    key = (mailtest.container_name(host), path)
    if key not in _FINGERPRINTS:
        out = host.check_output(f"openssl x509 -in {path} -noout -fingerprint -sha256")
        _FINGERPRINTS[key] = out.split("=", 1)[1].strip().lower()
    return _FINGERPRINTS[key]


def pem_fingerprint(text: str) -> str | None:
    start = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----")
    if start < 0 or end < 0:
        return None
    pem = text[start:end + len("-----END CERTIFICATE-----")] + "\n"
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                         input=pem, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("=", 1)[1].lower()


def served(host, port: int, starttls: str | None, *, extra: list[str] | None = None,
           servername: str = "mail.example.test") -> tuple[str | None, subprocess.CompletedProcess]:
    hello = mailtest.s_client(host, port, starttls=starttls, extra=extra, servername=servername)
    return pem_fingerprint(hello.stdout), hello


def doveconf_n(host) -> dict[str, str]:
    """``doveconf -nP`` flattened: ``local_name imap.example.test/ssl_server/cert_file`` style keys."""
    values: dict[str, str] = {}
    stack: list[str] = []
    for raw in host.check_output("doveconf -nP").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "}":
            stack.pop()
        elif line.endswith("{"):
            stack.append(line[:-1].strip())
        elif "=" in line:
            name, _sep, value = line.partition("=")
            values["/".join([*stack, name.strip()])] = value.strip()
    return values


# ---------------------------------------------------------------------------------------------
# Dovecot's own view
# ---------------------------------------------------------------------------------------------
def test_doveconf_n_shows_the_intended_values(host):
    conf = doveconf_n(host)
    assert conf["ssl"] == "required"
    assert conf["ssl_cipher_list"] == INTERMEDIATE_CIPHERS
    assert conf["ssl_curve_list"] == "X25519:prime256v1:secp384r1"
    if is_24(host):
        assert conf["ssl_server/cert_file"] == RSA_CERT
        assert conf["ssl_server/key_file"] == RSA_KEY
        assert conf["ssl_server/alt_cert_file"] == ECDSA_CERT
        assert conf["ssl_server/alt_key_file"] == ECDSA_KEY
        assert conf["local_name imap.example.test/ssl_server/cert_file"] == SNI_CERT
        assert conf["local_name imap.example.test/ssl_server/key_file"] == SNI_KEY
    else:
        assert conf["ssl_cert"] == f"<{RSA_CERT}"
        assert conf["ssl_key"] == f"<{RSA_KEY}"
        assert conf["ssl_alt_cert"] == f"<{ECDSA_CERT}"
        assert conf["ssl_alt_key"] == f"<{ECDSA_KEY}"
        assert conf["local_name imap.example.test/ssl_cert"] == f"<{SNI_CERT}"
        assert conf["local_name imap.example.test/ssl_key"] == f"<{SNI_KEY}"
    # local.conf's overrides were commented out, so no protocol filter overrides the floor.
    assert not [key for key in conf if key.endswith("ssl_min_protocol")], conf


@pytest.mark.parametrize("protocol", [None, "imap", "pop3"])
def test_effective_floor_and_cleartext_rule(host, protocol):
    # Both are Dovecot's defaults too, so `doveconf -n` does not list them; ask for them by name.
    flt = f"-f protocol={protocol} " if protocol else ""
    assert host.check_output(f"doveconf {flt}-h ssl_min_protocol") == "TLSv1.2"
    if is_24(host):
        assert host.check_output(f"doveconf {flt}-h auth_allow_cleartext") == "no"
        assert host.check_output(f"doveconf {flt}-h ssl_server/prefer_ciphers") == "client"
    else:
        assert host.check_output(f"doveconf {flt}-h disable_plaintext_auth") == "yes"
        assert host.check_output(f"doveconf {flt}-h ssl_prefer_server_ciphers") == "no"


def test_dropin_uses_the_series_names(host):
    text = host.file(DROPIN).content_string
    assert host.file(DROPIN).mode == 0o644
    if is_24(host):
        assert f"ssl_server_cert_file = {RSA_CERT}\n" in text
        assert "auth_allow_cleartext = no\n" in text
        assert "ssl_cert" not in text
    else:
        assert f"ssl_cert = <{RSA_CERT}\n" in text
        assert "disable_plaintext_auth = yes\n" in text
        assert "ssl_server_" not in text


def test_distribution_files_are_as_shipped(host):
    # Debian installs Dovecot's configuration with ucf, which records each file's shipped md5.
    registered = [line for line in host.file("/var/lib/ucf/hashfile").content_string.splitlines()
                  if " /etc/dovecot/" in line]
    assert len(registered) > 10
    check = host.run("grep ' /etc/dovecot/' /var/lib/ucf/hashfile | md5sum --check --quiet")
    assert check.rc == 0, check.stdout + check.stderr


def test_conflicting_admin_settings_are_commented_out(host):
    text = host.file("/etc/dovecot/local.conf").content_string
    marker = "#[postmaster.tls] overridden by conf.d/99-postmaster-tls.conf: "
    assert f"{marker}ssl_min_protocol = TLSv1\n" in text
    assert f"{marker}  ssl_min_protocol = TLSv1.1\n" in text
    active = [line for line in text.splitlines() if line.strip().startswith("ssl_min_protocol")]
    assert active == []


@pytest.mark.parametrize("user", ["dovecot", "dovenull"])
@pytest.mark.parametrize("key", [RSA_KEY, ECDSA_KEY, SNI_KEY])
def test_keys_are_not_readable_by_dovecots_unprivileged_users(host, user, key):
    attempt = host.run(f"runuser -u {user} -- cat {key}")
    assert attempt.rc != 0
    assert "Permission denied" in attempt.stderr


# ---------------------------------------------------------------------------------------------
# Outside clients
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("port", "starttls"), PORTS)
def test_every_port_serves_the_deployed_certificate(host, port, starttls):
    deployed = {fingerprint_of_file(host, RSA_CERT), fingerprint_of_file(host, ECDSA_CERT)}
    fingerprint, hello = served(host, port, starttls)
    assert fingerprint in deployed, hello.stdout[-2000:] + hello.stderr[-2000:]


@pytest.mark.parametrize(("port", "starttls"), PORTS)
def test_client_limited_to_ecdsa_gets_the_ecdsa_certificate(host, port, starttls):
    fingerprint, hello = served(host, port, starttls, extra=["-sigalgs", "ECDSA+SHA256:ECDSA+SHA384"])
    assert fingerprint == fingerprint_of_file(host, ECDSA_CERT), hello.stderr[-2000:]


@pytest.mark.parametrize(("port", "starttls"), PORTS)
def test_client_limited_to_rsa_gets_the_rsa_certificate(host, port, starttls):
    fingerprint, hello = served(host, port, starttls, extra=["-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"])
    assert fingerprint == fingerprint_of_file(host, RSA_CERT), hello.stderr[-2000:]


def test_tls12_with_an_rsa_cipher_gets_the_rsa_certificate(host):
    fingerprint, hello = served(host, 993, None, extra=["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])
    assert fingerprint == fingerprint_of_file(host, RSA_CERT), hello.stderr[-2000:]


def test_sni_name_gets_its_own_certificate(host):
    fingerprint, hello = served(host, 993, None, servername="imap.example.test")
    assert fingerprint == fingerprint_of_file(host, SNI_CERT), hello.stderr[-2000:]


OLD_CLIENT = ["-cipher", "DEFAULT@SECLEVEL=0"]


@pytest.mark.parametrize(("port", "starttls"), PORTS)
def test_tls10_and_tls11_are_refused(host, port, starttls):
    for version in ("-tls1", "-tls1_1"):
        fingerprint, hello = served(host, port, starttls, extra=[version, *OLD_CLIENT])
        assert fingerprint is None, f"{version} accepted: {hello.stdout[-2000:]}"
        assert hello.returncode != 0
    # Same client settings, TLS 1.2: the connection itself works, only the old versions are refused.
    fingerprint, hello = served(host, port, starttls, extra=["-tls1_2", *OLD_CLIENT])
    assert fingerprint is not None, hello.stderr[-2000:]


def test_the_old_client_itself_can_speak_tls10(host, tmp_path):
    """Control: the client used above does complete TLS 1.0 with a server that allows it, so the
    refusals are Dovecot's."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=control",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = subprocess.Popen(
        ["nsenter", "-t", mailtest.container_pid(host), "-n", "openssl", "s_server", "-accept", "127.0.0.1:10993",
         "-cert", str(cert), "-key", str(key), "-tls1", *OLD_CLIENT, "-naccept", "1", "-quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _attempt in range(50):
            hello = mailtest.in_netns(host, ["timeout", "10", "openssl", "s_client", "-connect", "127.0.0.1:10993",
                                             "-tls1", *OLD_CLIENT], input_text="")
            if "Connection refused" not in hello.stderr and "connect:errno" not in hello.stderr:
                break
            time.sleep(0.1)
        assert "Protocol  : TLSv1\n" in hello.stdout or "Protocol: TLSv1\n" in hello.stdout, hello.stdout + hello.stderr
    finally:
        server.kill()
        server.wait()


_LOGIN_CLIENT = r"""
import socket, ssl, sys
port, password = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
sock = socket.create_connection(("127.0.0.2", port), timeout=45)
f = sock.makefile("rwb")
def say(line):
    f.write(line.encode() + b"\r\n"); f.flush()
def hear():
    return f.readline().decode().rstrip()
if port == 143:
    print("GREETING", hear())
    say("a1 LOGIN mailtest " + password)
    reply = hear()
    while reply.startswith("*"):
        print("UNTAGGED", reply); reply = hear()
    print("PLAIN", reply)
    say("a2 STARTTLS"); print("STARTTLS", hear())
    tls = ctx.wrap_socket(sock, server_hostname="mail.example.test"); f = tls.makefile("rwb")
    say("a3 LOGIN mailtest " + password)
    reply = hear()
    while reply.startswith("*"):
        reply = hear()
    print("TLS", reply)
else:
    print("GREETING", hear())
    say("USER mailtest"); print("USER", hear())
    say("PASS " + password); print("PLAIN", hear())
    say("STLS"); print("STARTTLS", hear())
    tls = ctx.wrap_socket(sock, server_hostname="mail.example.test"); f = tls.makefile("rwb")
    say("USER mailtest"); hear()
    say("PASS " + password); print("TLS", hear())
"""


def login_transcript(host, port: int) -> dict[str, str]:
    # The test user's password hash has 656000 SHA-512 rounds (prepare_mailserver.yml), so a login
    # takes seconds on a busy machine: generous timeouts.
    result = mailtest.in_netns(host, ["timeout", "100", sys.executable, "-c", _LOGIN_CLIENT, str(port), PASSWORD],
                               timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    transcript = {}
    for line in result.stdout.splitlines():
        key, _sep, value = line.partition(" ")
        transcript.setdefault(key, value)
    return transcript


def test_imap_login_is_refused_before_starttls(host):
    transcript = login_transcript(host, 143)
    assert "LOGINDISABLED" in transcript["GREETING"]
    assert "STARTTLS" in transcript["GREETING"]
    assert transcript["PLAIN"].startswith("a1 NO"), transcript
    assert transcript["STARTTLS"].startswith("a2 OK")
    # The same login is accepted over TLS: the refusal above is about TLS, not the password.
    assert transcript["TLS"].startswith("a3 OK"), transcript


def test_pop3_login_is_refused_before_stls(host):
    transcript = login_transcript(host, 110)
    assert transcript["PLAIN"].startswith("-ERR") or transcript["USER"].startswith("-ERR"), transcript
    assert transcript["STARTTLS"].startswith("+OK")
    assert transcript["TLS"].startswith("+OK"), transcript


def test_dovecot_is_running(host):
    assert host.run("pgrep -x dovecot").rc == 0
