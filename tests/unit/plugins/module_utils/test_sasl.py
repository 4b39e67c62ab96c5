# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_sasl: where smtpd connects, Dovecot's auth handshake, the listener Dovecot declares. The real Dovecot 2.3 and
2.4 answer in the Molecule scenario sasl."""

from __future__ import annotations

import os
import socket
import tempfile
import threading

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _sasl

# doveconf -n service/auth as Dovecot 2.4.1 prints it with the collection's listener (2.3 prints the same block
# without auth-userdb).
DOVECONF_24 = """\
service auth {
  unix_listener auth-userdb {
  }
  unix_listener /var/spool/postfix/private/auth {
    group = postfix
    mode = 0660
    user = postfix
  }
  unix_listener "/run/quoted/auth" {
  }
}
"""


def test_socket_path():
    assert _sasl.socket_path("private/auth", "/var/spool/postfix") == "/var/spool/postfix/private/auth"
    assert _sasl.socket_path("/run/dovecot/auth-client", "/q") == "/run/dovecot/auth-client"
    assert _sasl.socket_path("unix:/run/x", "/q") == "/run/x"
    assert _sasl.socket_path("inet:127.0.0.1:12345", "/q") == "inet:127.0.0.1:12345"


def test_declared_listeners_are_read_from_doveconf():
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, DOVECONF_24, ""

    assert _sasl.dovecot_declared_listeners(run, "/usr/bin/doveconf", config_path="/etc/dovecot/dovecot.conf") == [
        "/var/spool/postfix/private/auth", "/run/quoted/auth"]
    assert calls == [["/usr/bin/doveconf", "-c", "/etc/dovecot/dovecot.conf", "-n", "service/auth"]]
    assert _sasl.dovecot_declared_listeners(lambda argv: (89, "", "doveconf: Fatal: ..."), "doveconf") == []


def test_the_listener_section_is_what_dovecot_reads():
    assert _sasl.dovecot_listener_section() == (
        "service auth {\n"
        "  unix_listener /var/spool/postfix/private/auth {\n"
        "    mode = 0660\n"
        "    user = postfix\n"
        "    group = postfix\n"
        "  }\n"
        "}\n"
    )


def serve_once(path: str, answer: bytes, *, wait_for_client: bool = True) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        conn, _addr = listener.accept()
        with conn:
            if wait_for_client:
                conn.recv(1024)
            conn.sendall(answer)
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def sock_path():
    directory = tempfile.mkdtemp(prefix="pm-sasl-", dir="/tmp")
    path = os.path.join(directory, "auth")
    yield path
    if os.path.exists(path):
        os.unlink(path)
    os.rmdir(directory)


def test_mechanisms_from_a_dovecot_handshake(sock_path):
    serve_once(sock_path, b"VERSION\t1\t3\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t9\nCUID\t1\nDONE\n")
    assert _sasl.dovecot_mechanisms(sock_path, timeout=5) == ["PLAIN", "LOGIN"]


def test_something_else_on_the_socket(sock_path):
    serve_once(sock_path, b"220 not dovecot\r\n")
    with pytest.raises(_sasl.SaslBackendError, match="does not speak Dovecot's auth protocol"):
        _sasl.dovecot_mechanisms(sock_path, timeout=5)


def test_nothing_there(sock_path, closed_port):
    with pytest.raises(_sasl.SaslBackendError, match=f"nothing answers at {sock_path}"):
        _sasl.dovecot_mechanisms(sock_path, timeout=1)
    with pytest.raises(_sasl.SaslBackendError, match=f"nothing answers at inet:127.0.0.1:{closed_port}"):
        _sasl.dovecot_mechanisms(f"inet:127.0.0.1:{closed_port}", timeout=1)
    with pytest.raises(_sasl.SaslBackendError, match="is not inet:HOST:PORT"):
        _sasl.dovecot_mechanisms("inet:nohost", timeout=1)
