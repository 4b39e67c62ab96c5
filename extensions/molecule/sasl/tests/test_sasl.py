# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""After converge (stock submission without SASL refused and reported, then playbooks/site.yml): Postfix's SASL
goes to Dovecot's auth socket, and a real client (swaks, from this machine in the container's network
namespace) logs in on 587 (STARTTLS) and 465 (implicit TLS) with the test user, and not with a wrong password."""

from __future__ import annotations

import mailtest
import pytest

DROPIN = "/etc/dovecot/conf.d/99-postmaster-tls.conf"
SOCKET = "/var/spool/postfix/private/auth"
USER, PASSWORD = "mailtest", "Secret-Test-Pass-1"


@pytest.fixture(scope="module")
def ca_file(host, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(host.file("/etc/postmaster-tls/ca.pem").content_string)
    return str(path)


def swaks(host, ca_file, port: int, password: str):
    tls = ["--tls"] if port == 587 else ["--tls-on-connect"]
    return mailtest.in_netns(host, [
        "timeout", "60", "swaks", "--server", "127.0.0.1", "--port", str(port), *tls, "--tls-verify", "--tls-ca-path", ca_file,
        "--tls-sni", "mail.example.test", "--helo", "client.example.test", "--auth", "PLAIN", "--auth-user", USER,
        "--auth-password", password, "--quit-after", "AUTH"])


def test_dovecot_gives_postfix_an_auth_socket(host):
    text = host.file(DROPIN).content_string
    assert f"service auth {{\n  unix_listener {SOCKET} {{\n    mode = 0660\n    user = postfix\n    group = postfix\n  }}\n}}\n" in text
    sock = host.file(SOCKET)
    assert sock.is_socket and sock.user == "postfix" and sock.group == "postfix" and sock.mode == 0o660


@pytest.mark.parametrize("service", ["submission/inet", "submissions/inet"])
def test_both_submission_services_authenticate_through_dovecot(host, service):
    values = host.check_output(f"postconf -P {service}/smtpd_sasl_type {service}/smtpd_sasl_path {service}/smtpd_sasl_auth_enable")
    assert values.splitlines() == [f"{service}/smtpd_sasl_type = dovecot", f"{service}/smtpd_sasl_path = private/auth",
                                   f"{service}/smtpd_sasl_auth_enable = yes"]
    # Port 25 (main.cf) stays as Debian ships it: no SASL for incoming mail.
    assert host.check_output("postconf -h smtpd_sasl_auth_enable") == "no"


@pytest.mark.parametrize("port", [587, 465])
def test_a_real_client_logs_in(host, ca_file, port):
    run = swaks(host, ca_file, port, PASSWORD)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "235 2.7.0 Authentication successful" in run.stdout


@pytest.mark.parametrize("port", [587, 465])
def test_a_wrong_password_is_refused(host, ca_file, port):
    run = swaks(host, ca_file, port, "Wrong-Pass-1")
    assert run.returncode != 0
    assert "535 5.7.8" in run.stdout, run.stdout


def test_smtpd_no_longer_dies(host):
    # The stock state's crash (converge, step 1) is in the log; nothing like it since the last reload.
    log = host.file("/var/log/postfix.log").content_string
    _before, found, since_reload = log.rpartition("reload -- version")
    assert found and "fatal: no SASL authentication mechanisms" in log
    assert "fatal:" not in since_reload, since_reload[-2000:]
