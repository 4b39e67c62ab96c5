#!/usr/bin/env python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An outside witness for the TLS policy of the seven mail ports (issue 9, the policy gate).

The host's OpenSSL 3 cannot offer RC4, DES, 3DES or export cipher suites any more, so asking
``openssl s_client -cipher RC4`` proves nothing: the client refuses before the server is asked. This
script writes its own TLS ClientHello (only the bytes of the hello; no handshake is completed) that
offers exactly one class of weak suites, after the plaintext STARTTLS dialogue where the port has
one, and reads what the server answers: a ServerHello means the server accepted one of them. A
control hello offering one strong suite must be accepted, so a refusal is known to be the server's
policy and not a broken probe. It also tries to log in in plaintext before STARTTLS (SMTP AUTH on 25
and 587, IMAP LOGIN/AUTHENTICATE on 143, POP3 USER/PASS on 110) and, as the control, after it.

Connections come from 127.0.0.2: Dovecot treats a client on the server's own address as secure and
would allow a plaintext login that no remote client gets. Run it inside the container's network
namespace (nsenter); it prints a JSON report.

usage: policy_probe.py SERVER_NAME USER PASSWORD
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import struct
import sys

HOST = "127.0.0.1"
SOURCE = "127.0.0.2"
TIMEOUT = 20
PORTS = {25: "smtp", 587: "smtp", 465: None, 143: "imap", 993: None, 110: "pop3", 995: None}

# IANA cipher suite numbers per class (RFC 5246 appendix A.5, RFC 4492, RFC 2712 and the export drafts).
WEAK_SUITES = {
    "aNULL": [0x0018, 0x001B, 0x0034, 0x003A, 0x006C, 0x006D, 0x00A6, 0x00A7, 0xC016, 0xC017, 0xC018, 0xC019],
    "eNULL": [0x0001, 0x0002, 0x003B, 0xC006, 0xC010, 0xC015],
    "EXPORT": [0x0003, 0x0006, 0x0008, 0x000B, 0x000E, 0x0011, 0x0014, 0x0017, 0x0019, 0x0062, 0x0063, 0x0064, 0x0065],
    "RC4": [0x0004, 0x0005, 0x0018, 0x0066, 0xC002, 0xC007, 0xC00C, 0xC011, 0xC016],
    "3DES": [0x000A, 0x000D, 0x0010, 0x0013, 0x0016, 0x001B, 0xC003, 0xC008, 0xC00D, 0xC012, 0xC017],
    "DES": [0x0009, 0x000C, 0x000F, 0x0012, 0x0015, 0x001A],
}
# The control: strong suites for an RSA or ECDSA certificate (ECDHE + AES-GCM / ChaCha20).
STRONG_SUITES = [0xC02F, 0xC030, 0xC02B, 0xC02C, 0xCCA8, 0xCCA9]
# Protocol versions below the profile's floor: offered alone, with ordinary CBC and GCM suites.
LEGACY_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302}
LEGACY_VERSION_SUITES = [0xC013, 0xC014, 0xC009, 0xC00A, 0x002F, 0x0035, *STRONG_SUITES]


# ------------------------------------------------------------------------------------------------
# Plaintext dialogues
# ------------------------------------------------------------------------------------------------
class Line:
    """A line-oriented plaintext connection (SMTP, IMAP, POP3) that can be wrapped in TLS later."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT, source_address=(SOURCE, 0))
        self.buffer = b""

    def line(self) -> str:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")

    def smtp_reply(self) -> tuple[int, list[str]]:
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return int(lines[-1][:3]), [entry[4:] for entry in lines]

    def imap_until(self, tag: str) -> list[str]:
        lines = [self.line()]
        while not lines[-1].startswith(tag + " "):
            lines.append(self.line())
        return lines

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def _tls(conn: Line, server_name: str) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn.sock = ctx.wrap_socket(conn.sock, server_hostname=server_name)
    conn.buffer = b""


def smtp_plaintext_auth(port: int, server_name: str, user: str, password: str) -> dict:
    conn = Line(port)
    try:
        conn.smtp_reply()
        conn.send("EHLO client.example.test")
        _code, features = conn.smtp_reply()
        auth_before = [f for f in features if f.upper().startswith("AUTH")]
        conn.send(f"AUTH PLAIN {_plain(user, password)}")
        code_before, text_before = conn.smtp_reply()
        conn.send("STARTTLS")
        code, _text = conn.smtp_reply()
        if code != 220:
            return {"auth_offered_before_tls": auth_before, "auth_reply_before_tls": [code_before, text_before],
                    "starttls": code}
        _tls(conn, server_name)
        conn.send("EHLO client.example.test")
        _code, features_after = conn.smtp_reply()
        auth_after = [f for f in features_after if f.upper().startswith("AUTH")]
        code_after = None
        if auth_after:
            conn.send(f"AUTH PLAIN {_plain(user, password)}")
            code_after, _text = conn.smtp_reply()
        conn.send("QUIT")
        return {"auth_offered_before_tls": auth_before, "auth_reply_before_tls": [code_before, " ".join(text_before)],
                "auth_offered_after_tls": auth_after, "auth_reply_after_tls": code_after}
    finally:
        conn.close()


def imap_plaintext_login(server_name: str, user: str, password: str) -> dict:
    conn = Line(143)
    try:
        greeting = conn.line()
        conn.send("a1 CAPABILITY")
        capability = " ".join(conn.imap_until("a1"))
        conn.send(f'a2 LOGIN "{user}" "{password}"')
        login = conn.imap_until("a2")[-1]
        conn.send("a3 AUTHENTICATE PLAIN")
        answer = conn.line()
        if answer.startswith("+"):
            conn.send(_plain(user, password))
            answer = conn.imap_until("a3")[-1]
        conn.send("a4 STARTTLS")
        conn.imap_until("a4")
        _tls(conn, server_name)
        conn.send(f'a5 LOGIN "{user}" "{password}"')
        login_after = conn.imap_until("a5")[-1]
        conn.send("a6 LOGOUT")
        return {"greeting": greeting, "capability_before_tls": capability, "login_before_tls": login,
                "authenticate_before_tls": answer, "login_after_tls": login_after}
    finally:
        conn.close()


def pop3_plaintext_login(server_name: str, user: str, password: str) -> dict:
    conn = Line(110)
    try:
        conn.line()
        conn.send(f"USER {user}")
        user_reply = conn.line()
        conn.send(f"PASS {password}")
        pass_reply = conn.line()
        conn.send("STLS")
        conn.line()
        _tls(conn, server_name)
        conn.send(f"USER {user}")
        conn.line()
        conn.send(f"PASS {password}")
        pass_after = conn.line()
        conn.send("QUIT")
        return {"user_before_tls": user_reply, "pass_before_tls": pass_reply, "pass_after_tls": pass_after}
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------
# Hand-made ClientHello
# ------------------------------------------------------------------------------------------------
def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def client_hello(*, version: int, suites: list[int], server_name: str) -> bytes:
    name = server_name.encode()
    extensions = b"".join([
        _ext(0x0000, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name),            # server_name
        _ext(0x000A, struct.pack("!H", 8) + struct.pack("!HHHH", 0x001D, 0x0017, 0x0018, 0x0019)),  # groups
        _ext(0x000B, b"\x01\x00"),                                                          # ec_point_formats
        _ext(0x000D, struct.pack("!H", 16) + struct.pack("!8H", 0x0804, 0x0805, 0x0401, 0x0501, 0x0403, 0x0503,
                                                          0x0201, 0x0203)),                 # signature_algorithms
        _ext(0xFF01, b"\x00"),                                                              # renegotiation_info
    ])
    # TLS_EMPTY_RENEGOTIATION_INFO_SCSV is not needed: the extension is sent.
    cipher_bytes = b"".join(struct.pack("!H", s) for s in suites)
    body = (struct.pack("!H", version) + os.urandom(32) + b"\x00"
            + struct.pack("!H", len(cipher_bytes)) + cipher_bytes + b"\x01\x00"
            + struct.pack("!H", len(extensions)) + extensions)
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16" + struct.pack("!HH", 0x0301, len(handshake)) + handshake


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def server_answer(sock: socket.socket) -> dict:
    """What the server sent back first: a ServerHello (version, suite) or an alert, or nothing."""
    try:
        header = _recv_exact(sock, 5)
    except (ConnectionError, OSError) as exc:
        return {"accepted": False, "answer": f"closed ({type(exc).__name__})"}
    kind, _record_version, length = struct.unpack("!BHH", header)
    body = _recv_exact(sock, length)
    if kind == 21:
        return {"accepted": False, "answer": f"alert {body[1] if len(body) > 1 else '?'}"}
    if kind == 22 and body[:1] == b"\x02":
        version = struct.unpack("!H", body[4:6])[0]
        session_length = body[38]
        suite = struct.unpack("!H", body[39 + session_length:41 + session_length])[0]
        return {"accepted": True, "answer": "server hello", "version": f"0x{version:04x}", "suite": f"0x{suite:04x}"}
    return {"accepted": False, "answer": f"record type {kind}"}


def open_for_tls(port: int, protocol: str | None) -> Line:
    """A connection ready for a ClientHello: STARTTLS done where the port has it."""
    conn = Line(port)
    if protocol == "smtp":
        conn.smtp_reply()
        conn.send("EHLO client.example.test")
        conn.smtp_reply()
        conn.send("STARTTLS")
        code, text = conn.smtp_reply()
        if code != 220:
            raise ConnectionError(f"STARTTLS refused: {code} {text}")
    elif protocol == "imap":
        conn.line()
        conn.send("a STARTTLS")
        reply = conn.imap_until("a")[-1]
        if not reply.startswith("a OK"):
            raise ConnectionError(f"STARTTLS refused: {reply}")
    elif protocol == "pop3":
        conn.line()
        conn.send("STLS")
        reply = conn.line()
        if not reply.startswith("+OK"):
            raise ConnectionError(f"STLS refused: {reply}")
    return conn


def offer(port: int, protocol: str | None, *, version: int, suites: list[int], server_name: str) -> dict:
    conn = open_for_tls(port, protocol)
    try:
        conn.sock.sendall(client_hello(version=version, suites=suites, server_name=server_name))
        return server_answer(conn.sock)
    finally:
        conn.close()


def probe_port(port: int, protocol: str | None, server_name: str) -> dict:
    report: dict = {"control": offer(port, protocol, version=0x0303, suites=STRONG_SUITES, server_name=server_name)}
    report["weak_suites"] = {name: offer(port, protocol, version=0x0303, suites=suites, server_name=server_name)
                             for name, suites in WEAK_SUITES.items()}
    report["legacy_versions"] = {name: offer(port, protocol, version=number, suites=LEGACY_VERSION_SUITES,
                                             server_name=server_name)
                                 for name, number in LEGACY_VERSIONS.items()}
    return report


def main() -> int:
    server_name, user, password = sys.argv[1:4]
    report: dict = {"ports": {}, "plaintext_login": {}}
    for port, protocol in PORTS.items():
        try:
            report["ports"][str(port)] = probe_port(port, protocol, server_name)
        except (OSError, ConnectionError, struct.error, IndexError) as exc:
            report["ports"][str(port)] = {"error": f"{type(exc).__name__}: {exc}"}
    probes = {
        "25": lambda: smtp_plaintext_auth(25, server_name, user, password),
        "587": lambda: smtp_plaintext_auth(587, server_name, user, password),
        "143": lambda: imap_plaintext_login(server_name, user, password),
        "110": lambda: pop3_plaintext_login(server_name, user, password),
    }
    for port, run in probes.items():
        try:
            report["plaintext_login"][port] = run()
        except (OSError, ConnectionError, ssl.SSLError, ValueError) as exc:
            report["plaintext_login"][port] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
