# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a SASL backend can answer Postfix's submission services: Dovecot's auth socket, Cyrus's plugins.

Postfix's smtpd exits on the first EHLO inside TLS when SASL is on and its backend offers no mechanism
("fatal: no SASL authentication mechanisms"); master then throttles the service and the port hangs.
These checks look at the backend the way smtpd will:

* Dovecot: connect to the auth socket (a UNIX socket, or ``inet:host:port``), send the client's half of
  the auth protocol handshake (``VERSION`` and ``CPID``; Dovecot 2.4 waits for it) and read the server's
  ``MECH`` lines up to ``DONE``. A socket that does not exist yet may be declared in Dovecot's
  configuration (``doveconf -n service/auth``), to appear when Dovecot (re)loads.
* Cyrus: the PLAIN/LOGIN mechanism plugins of libsasl2 are installed.

Shared by the Postfix and Dovecot helpers, so neither imports the other. The Dovecot listener the
collection writes for Postfix (``service auth { unix_listener PATH { ... } }``) is spelled here once.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import typing as t

Runner = t.Callable[[t.List[str]], t.Tuple[int, str, str]]

DOVECOT_LISTENER = "/var/spool/postfix/private/auth"
POSTFIX_SASL_PATH = "private/auth"
LISTENER_USER = "postfix"
LISTENER_GROUP = "postfix"
LISTENER_MODE = "0660"
_MAX_HANDSHAKE = 65536
_LISTENER_LINE = re.compile(r'^\s*unix_listener\s+"?([^"{\s]+)"?\s*\{\s*$')
CYRUS_PLUGIN_GLOBS = ("/usr/lib/*/sasl2/libplain.so*", "/usr/lib/*/sasl2/liblogin.so*", "/usr/lib/sasl2/libplain.so*",
                      "/usr/lib/sasl2/liblogin.so*", "/usr/lib64/sasl2/libplain.so*", "/usr/lib64/sasl2/liblogin.so*")


class SaslBackendError(Exception):
    """The backend does not answer as smtpd needs; the message says what was seen."""


def dovecot_listener_section(path: str = DOVECOT_LISTENER, *, indent: str = "") -> str:
    """The Dovecot configuration (same syntax in 2.3 and 2.4) that gives Postfix an auth socket at ``path``."""
    inner = indent + "  "
    return (f"{indent}service auth {{\n"
            f"{inner}unix_listener {path} {{\n"
            f"{inner}  mode = {LISTENER_MODE}\n"
            f"{inner}  user = {LISTENER_USER}\n"
            f"{inner}  group = {LISTENER_GROUP}\n"
            f"{inner}}}\n"
            f"{indent}}}\n")


def socket_path(sasl_path: str, queue_directory: str) -> str:
    """Where smtpd connects for ``smtpd_sasl_path`` (relative paths are below the queue directory)."""
    if sasl_path.startswith(("inet:", "unix:")):
        kind, _sep, rest = sasl_path.partition(":")
        return sasl_path if kind == "inet" else rest
    return sasl_path if sasl_path.startswith("/") else os.path.join(queue_directory, sasl_path)


def dovecot_mechanisms(address: str, *, timeout: float = 5.0) -> list[str]:
    """The mechanisms Dovecot's auth service offers at ``address`` (a socket path or ``inet:host:port``)."""
    try:
        if address.startswith("inet:"):
            hostport = address[5:]
            host, _sep, port = hostport.rpartition(":")
            if not host or not port.isdigit():
                raise SaslBackendError(f"{address} is not inet:HOST:PORT")
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(address)
    except SaslBackendError:
        raise
    except OSError as exc:
        raise SaslBackendError(f"nothing answers at {address} ({exc.strerror or exc})") from None
    data = b""
    try:
        sock.sendall(f"VERSION\t1\t2\nCPID\t{os.getpid()}\n".encode("ascii"))
        while b"\nDONE\n" not in b"\n" + data and len(data) < _MAX_HANDSHAKE:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise SaslBackendError(f"{address} did not complete the auth handshake ({exc.strerror or exc})") from None
    finally:
        sock.close()
    lines = data.decode("utf-8", "replace").splitlines()
    if not lines or not lines[0].startswith("VERSION\t1\t"):
        raise SaslBackendError(f"{address} does not speak Dovecot's auth protocol (it answered {data[:60]!r})")
    return [line.split("\t")[1] for line in lines if line.startswith("MECH\t") and len(line.split("\t")) > 1]


def dovecot_declared_listeners(run: Runner, doveconf: str, *, config_path: str | None = None) -> list[str]:
    """The UNIX listeners of Dovecot's ``service auth`` in its current configuration (absolute paths only)."""
    argv = [doveconf] + (["-c", config_path] if config_path else []) + ["-n", "service/auth"]
    rc, out, _err = run(argv)
    if rc != 0:
        return []
    return [match.group(1) for match in map(_LISTENER_LINE.match, out.splitlines()) if match and match.group(1).startswith("/")]


def cyrus_plugins() -> list[str]:
    """The installed Cyrus SASL PLAIN/LOGIN mechanism plugins."""
    found: list[str] = []
    for pattern in CYRUS_PLUGIN_GLOBS:
        found.extend(glob.glob(pattern))
    return sorted(set(found))


__all__ = [
    "DOVECOT_LISTENER", "POSTFIX_SASL_PATH", "LISTENER_USER", "LISTENER_GROUP", "LISTENER_MODE", "SaslBackendError",
    "dovecot_listener_section", "socket_path", "dovecot_mechanisms", "dovecot_declared_listeners", "cyrus_plugins",
]
