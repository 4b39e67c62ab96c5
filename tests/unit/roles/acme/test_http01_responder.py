# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTP-01 responder of the postmaster.tls.acme role (roles/acme/files/http01_responder.py).

Everything runs on 127.0.0.1 with ports the kernel picks; no root needed, nothing leaves the host.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[4] / "roles" / "acme" / "files" / "http01_responder.py"
TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY_AUTHZ = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=30, check=False)


def fetch(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def gone(pid: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for the responder ``pid`` to end."""
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return str(SCRIPT).encode() in handle.read()
    except OSError:
        return False


@pytest.fixture
def responder(tmp_path):
    """A running responder on a free loopback port; always stopped afterwards."""
    pidfile = tmp_path / "responder.pid"
    started = run("start", "--address", "127.0.0.1", "--port", "0", "--pidfile", str(pidfile), "--timeout", "60",
                  "--challenge", f"{TOKEN}={KEY_AUTHZ}")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    yield info, pidfile
    run("stop", "--pidfile", str(pidfile))


def test_answers_the_challenge_and_nothing_else(responder):
    info, pidfile = responder
    assert info["address"] == "127.0.0.1" and info["tokens"] == 1 and info["port"] > 0
    assert int(pidfile.read_text()) == info["pid"]
    assert fetch(info["port"], f"/.well-known/acme-challenge/{TOKEN}") == (200, KEY_AUTHZ)
    assert fetch(info["port"], f"/.well-known/acme-challenge/{TOKEN}", method="HEAD") == (200, "")
    assert fetch(info["port"], "/.well-known/acme-challenge/other")[0] == 404
    assert fetch(info["port"], "/etc/passwd")[0] == 404
    assert fetch(info["port"], "/")[0] == 404


def test_wildcard_address_answers_on_ipv4_loopback(tmp_path):
    # "::" is one dual-stack socket where IPv6 works, and 0.0.0.0 where it does not: IPv4 answers either way.
    pidfile = tmp_path / "r.pid"
    started = run("start", "--address", "::", "--port", "0", "--pidfile", str(pidfile), "--timeout", "60",
                  "--challenge", f"{TOKEN}={KEY_AUTHZ}")
    try:
        assert started.returncode == 0, started.stderr
        info = json.loads(started.stdout)
        assert info["address"] in ("::", "0.0.0.0")
        assert fetch(info["port"], f"/.well-known/acme-challenge/{TOKEN}") == (200, KEY_AUTHZ)
    finally:
        run("stop", "--pidfile", str(pidfile))


def test_stop_ends_the_server_and_is_repeatable(responder):
    info, pidfile = responder
    stopped = run("stop", "--pidfile", str(pidfile))
    assert stopped.returncode == 0
    assert json.loads(stopped.stdout) == {"stopped": True, "pid": info["pid"]}
    assert gone(info["pid"], 5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", info["port"]), timeout=2)
    again = run("stop", "--pidfile", str(pidfile))
    assert again.returncode == 0 and json.loads(again.stdout)["stopped"] is False


def test_taken_port_fails_at_once_with_a_clear_message(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run("start", "--address", "127.0.0.1", "--port", str(port), "--pidfile", str(tmp_path / "r.pid"),
                     "--challenge", f"{TOKEN}={KEY_AUTHZ}")
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use by another service" in result.stderr
    assert "acme_http01_mode: webroot" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "r.pid").exists()


@pytest.mark.parametrize("challenge", ["no-separator", "=value-without-token", "token-without-value="])
def test_malformed_challenges_are_refused(tmp_path, challenge):
    result = run("start", "--address", "127.0.0.1", "--port", "0", "--pidfile", str(tmp_path / "r.pid"),
                 "--challenge", challenge)
    assert result.returncode == 2
    assert "--challenge TOKEN=KEY_AUTHORIZATION" in result.stderr
    assert not (tmp_path / "r.pid").exists()


def test_stops_itself_after_the_timeout(tmp_path):
    pidfile = tmp_path / "r.pid"
    started = run("start", "--address", "127.0.0.1", "--port", "0", "--pidfile", str(pidfile), "--timeout", "1",
                  "--challenge", f"{TOKEN}={KEY_AUTHZ}")
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    assert gone(pid, 10)
    assert not pidfile.exists()


def test_stop_never_kills_a_process_that_is_not_the_responder(tmp_path):
    pidfile = tmp_path / "r.pid"
    pidfile.write_text(f"{os.getpid()}\n")
    result = run("stop", "--pidfile", str(pidfile))
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"stopped": False, "reason": f"pid {os.getpid()} is not the responder"}


def test_stop_without_a_pidfile_reports_not_running(tmp_path):
    result = run("stop", "--pidfile", str(tmp_path / "missing.pid"))
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"stopped": False, "reason": "not running"}
