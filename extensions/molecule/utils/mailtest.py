# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the testinfra verifiers: run host tools inside a test container's network namespace.

The containers have no network of their own (loopback only), so outside witnesses such as
``openssl s_client``, ``sslscan`` and ``swaks`` run on the host inside the container's network
namespace (``nsenter -t PID -n``): an independent client, but traffic never leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess

UTILS = os.path.dirname(os.path.abspath(__file__))


def container_name(host) -> str:
    """The Docker container behind a testinfra host using the docker connection (or a name as is)."""
    return host if isinstance(host, str) else host.backend.get_hostname()


def container_pid(host) -> str:
    name = container_name(host)
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Pid}}", name],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def in_netns(host, argv: list[str], *, input_text: str | None = None, timeout: int = 60) -> subprocess.CompletedProcess:
    """Run ``argv`` on the host inside the container's network namespace."""
    return subprocess.run(
        ["nsenter", "-t", container_pid(host), "-n", *argv],
        input=input_text, capture_output=True, text=True, timeout=timeout, check=False,
    )


def s_client(host, port: int, *, starttls: str | None = None, extra: list[str] | None = None,
             servername: str = "mail.example.test") -> subprocess.CompletedProcess:
    """One ``openssl s_client`` handshake against 127.0.0.1:port in the container's namespace."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", servername]
    if starttls:
        argv += ["-starttls", starttls]
    argv += extra or []
    return in_netns(host, ["timeout", "20", *argv], input_text="")


def served_fingerprint(host, port: int, *, starttls: str | None = None) -> str | None:
    """SHA-256 fingerprint (lower-case, colon-separated) of the leaf served on a port, per openssl."""
    hello = s_client(host, port, starttls=starttls)
    start = hello.stdout.find("-----BEGIN CERTIFICATE-----")
    end = hello.stdout.find("-----END CERTIFICATE-----")
    if start < 0 or end < 0:
        return None
    pem = hello.stdout[start:end + len("-----END CERTIFICATE-----")] + "\n"
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                         input=pem, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("=", 1)[1].lower()


def policy_report(host, *, server_name: str, user: str, password: str) -> dict:
    """policy_probe.py's JSON report for the seven mail ports of a container (see that script)."""
    run = in_netns(host, ["python3", os.path.join(UTILS, "policy_probe.py"), server_name, user, password], timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)
