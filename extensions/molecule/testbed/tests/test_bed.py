# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test bed answers like a mail server: Postfix on 25, Dovecot on 143, the expected versions."""

from __future__ import annotations

import mailtest


def test_versions_match_the_image(host):
    name = mailtest.container_name(host)
    postfix = host.check_output("postconf -h mail_version")
    dovecot = host.check_output("dovecot --version")
    if name.endswith("debian12"):
        assert postfix.startswith("3.7."), postfix
        assert dovecot.startswith("2.3."), dovecot
    else:
        assert postfix.startswith("3.10."), postfix
        assert dovecot.startswith("2.4."), dovecot


def test_smtp_greets_on_25(host):
    answer = mailtest.in_netns(host, ["timeout", "10", "swaks", "--server", "127.0.0.1:25", "--quit-after", "EHLO",
                                      "--ehlo", "client.example.test"])
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "220 mail.example.test ESMTP" in answer.stdout
    assert "250-STARTTLS" in answer.stdout


def test_imap_greets_on_143(host):
    answer = mailtest.in_netns(host, ["timeout", "10", "openssl", "s_client", "-connect", "127.0.0.1:143",
                                      "-starttls", "imap", "-brief"], input_text="a1 LOGOUT\r\n")
    assert "CONNECTION ESTABLISHED" in answer.stderr or "Protocol version" in answer.stderr, answer.stderr


def test_stock_services_use_the_snakeoil_certificate(host):
    # What a deployment starts from: Debian's self-signed snakeoil certificate on 25.
    fingerprint = mailtest.served_fingerprint(host, 25, starttls="smtp")
    snakeoil = host.check_output("openssl x509 -in /etc/ssl/certs/ssl-cert-snakeoil.pem -noout -fingerprint -sha256")
    assert fingerprint is not None
    assert fingerprint == snakeoil.split("=", 1)[1].lower()
