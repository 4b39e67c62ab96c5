# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The leaf certificate every mail port of a test container serves, in one call.

Usage: served_certs.py CONTAINER [SERVER_NAME]

Prints JSON {"25": "ab:cd:...", "587": ..., ...}: the SHA-256 fingerprint (lower-case, colon-separated,
as openssl shows it) of the certificate served on each of the seven ports, or an "error: ..." string
for a port that did not complete a handshake. STARTTLS on 25/587 (SMTP), 143 (IMAP) and 110 (POP3),
TLS from the first byte on 465, 993 and 995; SNI is SERVER_NAME (mail.example.test by default).

The containers have loopback only, so the script re-runs itself inside the container's network
namespace (nsenter, as mailtest.py does) and asks all ports in parallel: one quick call per check
instead of one openssl process per port.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import socket
import ssl
import subprocess
import sys

PORTS = {25: "smtp", 587: "smtp", 465: None, 143: "imap", 993: None, 110: "pop3", 995: None}
TIMEOUT = 15


def _read_line(sock_file) -> str:
    line = sock_file.readline(4096).decode("utf-8", "replace")
    if not line:
        raise ConnectionError("connection closed by the server")
    return line.rstrip("\r\n")


def _starttls(sock: socket.socket, protocol: str) -> None:
    """Speak the plain-text part of the protocol up to the point where TLS starts."""
    reader = sock.makefile("rb")
    try:
        if protocol == "smtp":
            while not _read_line(reader)[3:4] == " ":
                pass
            sock.sendall(b"EHLO badinput.example.test\r\n")
            while not _read_line(reader)[3:4] == " ":
                pass
            sock.sendall(b"STARTTLS\r\n")
            answer = _read_line(reader)
            if not answer.startswith("220"):
                raise ConnectionError(f"STARTTLS refused: {answer}")
        elif protocol == "imap":
            _read_line(reader)
            sock.sendall(b"a1 STARTTLS\r\n")
            while True:
                answer = _read_line(reader)
                if answer.startswith("a1 "):
                    break
            if not answer.startswith("a1 OK"):
                raise ConnectionError(f"STARTTLS refused: {answer}")
        elif protocol == "pop3":
            _read_line(reader)
            sock.sendall(b"STLS\r\n")
            answer = _read_line(reader)
            if not answer.startswith("+OK"):
                raise ConnectionError(f"STLS refused: {answer}")
    finally:
        reader.close()


def fingerprint(port: int, protocol: str | None, server_name: str) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # what is served is compared by fingerprint, not trusted
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            if protocol:
                _starttls(sock, protocol)
            with context.wrap_socket(sock, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError, ConnectionError) as exc:
        return f"error: {exc}"
    digest = hashlib.sha256(der).digest()
    return ":".join(f"{byte:02x}" for byte in digest)


def inside(server_name: str) -> dict[str, str]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(PORTS)) as pool:
        futures = {port: pool.submit(fingerprint, port, protocol, server_name) for port, protocol in PORTS.items()}
        return {str(port): future.result() for port, future in futures.items()}


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--inside":
        print(json.dumps(inside(argv[1]), sort_keys=True))
        return 0
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    container = argv[0]
    server_name = argv[1] if len(argv) == 2 else "mail.example.test"
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", container],
                         check=True, capture_output=True, text=True).stdout.strip()
    run = subprocess.run(["nsenter", "-t", pid, "-n", sys.executable, __file__, "--inside", server_name],
                         capture_output=True, text=True, timeout=4 * TIMEOUT, check=False)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
