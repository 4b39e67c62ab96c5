#!/usr/bin/env python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real mail client round trip, as a user's mail program does it, with full certificate checks.

Sends one message through submission (587, STARTTLS + AUTH) and one through submissions (465,
implicit TLS + AUTH), then reads both back over IMAPS (993) and POP3S (995). Every TLS connection
verifies the chain against the deployment's CA file and the host name. Prints a JSON report and
exits non-zero when any step fails. Run it inside the container's network namespace (nsenter).

usage: mail_roundtrip.py CAFILE SERVER_NAME USER PASSWORD [ADDRESS]
"""

from __future__ import annotations

import imaplib
import json
import poplib
import smtplib
import ssl
import sys
import time
import uuid
from email.message import EmailMessage

HOST = "127.0.0.1"


def context(cafile: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def message(to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = to
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(f"postmaster.tls round trip {subject}\n")
    return msg


def send_submission(ctx, server_name, user, password, to, subject) -> dict:
    with smtplib.SMTP(HOST, 587, local_hostname="client.example.test", timeout=20) as smtp:
        smtp.ehlo()
        auth_before = "auth" in smtp.esmtp_features
        smtp._host = server_name  # starttls() checks the certificate against _host (SNI + hostname check)
        smtp.starttls(context=ctx)
        smtp.ehlo()
        smtp.login(user, password)
        smtp.send_message(message(to, subject))
        return {"auth_offered_before_starttls": auth_before, "tls": smtp.sock.version(), "sent": True}


class _NamedSMTPSSL(smtplib.SMTP_SSL):
    """SMTP over implicit TLS to an address, checking the certificate against a name."""

    def __init__(self, server_name, **kwargs):
        self.server_name = server_name
        super().__init__(**kwargs)

    def _get_socket(self, host, port, timeout):
        import socket

        raw = socket.create_connection((host, port), timeout)
        return self.context.wrap_socket(raw, server_hostname=self.server_name)


def send_submissions(ctx, server_name, user, password, to, subject) -> dict:
    with _NamedSMTPSSL(server_name, host=HOST, port=465, local_hostname="client.example.test", timeout=20, context=ctx) as smtp:
        smtp.login(user, password)
        smtp.send_message(message(to, subject))
        return {"tls": smtp.sock.version(), "sent": True}


class _SNISocketContext:
    """imaplib/poplib connect to HOST; wrap with the right server_hostname for SNI and the name check."""

    def __init__(self, ctx, server_name):
        self.ctx = ctx
        self.server_name = server_name

    def wrap_socket(self, sock, server_hostname=None, **kwargs):
        return self.ctx.wrap_socket(sock, server_hostname=self.server_name, **kwargs)


def read_imaps(ctx, server_name, user, password, subjects) -> dict:
    imap = imaplib.IMAP4_SSL(HOST, 993, ssl_context=_SNISocketContext(ctx, server_name), timeout=20)
    try:
        imap.login(user, password)
        imap.select("INBOX", readonly=True)
        found = {}
        for subject in subjects:
            typ, data = imap.search(None, "SUBJECT", f'"{subject}"')
            found[subject] = typ == "OK" and bool(data and data[0].split())
        return {"tls": imap.sock.version(), "found": found}
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def read_pop3s(ctx, server_name, user, password, subjects) -> dict:
    pop = poplib.POP3_SSL(HOST, 995, context=_SNISocketContext(ctx, server_name), timeout=20)
    try:
        pop.user(user)
        pop.pass_(password)
        count, _size = pop.stat()
        bodies = []
        for index in range(1, count + 1):
            _resp, lines, _octets = pop.retr(index)
            bodies.append(b"\n".join(lines).decode("utf-8", "replace"))
        return {"tls": pop.sock.version(), "found": {s: any(f"Subject: {s}" in b for b in bodies) for s in subjects}}
    finally:
        pop.quit()


def main() -> int:
    cafile, server_name, user, password = sys.argv[1:5]
    to = sys.argv[5] if len(sys.argv) > 5 else f"{user}@{server_name}"
    ctx = context(cafile)
    tag = uuid.uuid4().hex[:10]
    subjects = [f"pmtls-587-{tag}", f"pmtls-465-{tag}"]
    report: dict = {}
    ok = True
    try:
        report["submission_587"] = send_submission(ctx, server_name, user, password, to, subjects[0])
        report["submissions_465"] = send_submissions(ctx, server_name, user, password, to, subjects[1])
        deadline = time.monotonic() + 30
        while True:
            report["imaps_993"] = read_imaps(ctx, server_name, user, password, subjects)
            if all(report["imaps_993"]["found"].values()) or time.monotonic() > deadline:
                break
            time.sleep(1)
        report["pop3s_995"] = read_pop3s(ctx, server_name, user, password, subjects)
        ok = all(report["imaps_993"]["found"].values()) and all(report["pop3s_995"]["found"].values())
        ok = ok and not report["submission_587"]["auth_offered_before_starttls"]
    except (OSError, ssl.SSLError, smtplib.SMTPException, imaplib.IMAP4.error, poplib.error_proto) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        ok = False
    report["ok"] = ok
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
