# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A short-lived HTTP-01 responder for the postmaster.tls.acme role (Python standard library only).

``start`` binds the port in the foreground, so "the port is taken" is an immediate, clear failure
with a non-zero exit; only then does it detach a server process that answers
``GET /.well-known/acme-challenge/<token>`` with the key authorization for that token and 404 for
anything else. The parent prints the server's pid and exits, so an Ansible ``command`` task returns
as soon as the responder is listening. The server stops itself after ``--timeout`` seconds even if
nobody calls ``stop`` (the role always does, from an ``always:`` section).

``stop`` ends the process named in the pid file, and only if that process runs this script.
"""

from __future__ import annotations

import argparse
import errno
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time

PREFIX = "/.well-known/acme-challenge/"
MARKER = "http01_responder.py"


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "postmaster-acme-responder"
    sys_version = ""
    challenges: dict[str, str] = {}

    def _answer(self, *, with_body: bool) -> None:
        token = self.path[len(PREFIX):] if self.path.startswith(PREFIX) else None
        value = self.challenges.get(token) if token else None
        body = (value or "not found\n").encode("ascii")
        self.send_response(200 if value else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # Detached from any terminal: the CA's requests are not worth a log file.
        return


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _server_class(family: socket.AddressFamily) -> type[_Server]:
    class _FamilyServer(_Server):
        address_family = family

    return _FamilyServer


def _bind(address: str, port: int) -> _Server:
    """Bind, preferring one dual-stack (IPv6 and IPv4) socket for the wildcard address."""
    if address in ("", "::"):
        try:
            server = _server_class(socket.AF_INET6)(("::", port), _Handler, bind_and_activate=False)
        except OSError:  # no IPv6 in this kernel
            server = None
        if server is not None:
            try:
                server.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                server.server_bind()
                server.server_activate()
                return server
            except OSError as exc:
                server.server_close()
                # In use or forbidden is the answer; anything else means "no IPv6 here".
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    raise
        address = "0.0.0.0"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return _server_class(family)((address, port), _Handler)


def _detach(server: _Server, pidfile: str, timeout: int) -> int:
    """Fork twice; the grandchild serves. Returns the grandchild's pid in the original process."""
    read_end, write_end = os.pipe()
    first = os.fork()
    if first:
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            announced = pipe.read().strip()
        os.waitpid(first, 0)
        return int(announced) if announced.isdigit() else -1
    os.close(read_end)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.chdir("/")
    with open(pidfile, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    os.write(write_end, str(os.getpid()).encode("ascii"))
    os.close(write_end)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    threading.Timer(timeout, server.shutdown).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        try:
            os.unlink(pidfile)
        except OSError:
            pass
    os._exit(0)


def start(args: argparse.Namespace) -> int:
    pairs = [item.partition("=") for item in args.challenge]
    if not pairs or any(not token or not sep or not value for token, sep, value in pairs):
        print("HTTP-01 responder: give each challenge as --challenge TOKEN=KEY_AUTHORIZATION", file=sys.stderr)
        return 2
    _Handler.challenges = {token: value for token, _sep, value in pairs}
    shown = f"[{args.address}]" if ":" in args.address else (args.address or "*")
    try:
        server = _bind(args.address, args.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"HTTP-01 responder: port {args.port} on {shown} is already in use by another service. "
                  "Stop that service for the challenge, or serve the challenge from its document root "
                  "with acme_http01_mode: webroot.", file=sys.stderr)
        elif exc.errno == errno.EACCES:
            print(f"HTTP-01 responder: not allowed to listen on port {args.port} on {shown} "
                  "(ports below 1024 need root; run the role with become: true).", file=sys.stderr)
        else:
            print(f"HTTP-01 responder: cannot listen on port {args.port} on {shown}: {exc.strerror}", file=sys.stderr)
        return 2
    pid = _detach(server, args.pidfile, args.timeout)
    if pid <= 0:
        print("HTTP-01 responder: the server process did not start", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    print(json.dumps({"pid": pid, "address": host, "port": port, "tokens": len(_Handler.challenges)}))
    return 0


def _is_responder(pid: int) -> bool:
    """True when ``pid`` runs this script's ``start`` command (never kill anything else)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    for index, arg in enumerate(argv[:-1]):
        if os.path.basename(arg) == MARKER and argv[index + 1] == "start":
            return True
    return False


def stop(args: argparse.Namespace) -> int:
    try:
        with open(args.pidfile, encoding="ascii") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        print(json.dumps({"stopped": False, "reason": "not running"}))
        return 0
    if not _is_responder(pid):
        print(json.dumps({"stopped": False, "reason": f"pid {pid} is not the responder"}))
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _is_responder(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _is_responder(pid):
        os.kill(pid, signal.SIGKILL)
    print(json.dumps({"stopped": True, "pid": pid}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("start")
    run.add_argument("--address", default="::")
    run.add_argument("--port", type=int, default=80)
    run.add_argument("--challenge", action="append", default=[], help="TOKEN=KEY_AUTHORIZATION (repeat for each)")
    run.add_argument("--pidfile", required=True)
    run.add_argument("--timeout", type=int, default=300)
    end = commands.add_parser("stop")
    end.add_argument("--pidfile", required=True)
    args = parser.parse_args()
    return start(args) if args.command == "start" else stop(args)


if __name__ == "__main__":
    sys.exit(main())
