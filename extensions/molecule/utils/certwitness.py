# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Outside-witness helpers on top of mailtest: certificates as openssl sees them, and playbook runs.

Everything here asks the host's ``openssl`` (never the collection's code): PEM blocks are split
by text, fingerprints come from ``openssl x509``, served chains from ``openssl s_client -showcerts``
inside the container's network namespace. ``run_playbook`` runs ``ansible-playbook`` against the
Molecule inventory with the environment Molecule gave the verifier (ANSIBLE_CONFIG,
ANSIBLE_COLLECTIONS_PATH), as a user would from the controller.
"""

from __future__ import annotations

import os
import re
import subprocess
import typing as t

import mailtest
import testinfra
import yaml

# The seven mail ports: STARTTLS on 25, 587, 143 and 110, implicit TLS on 465, 993 and 995.
PORTS = [(25, "smtp"), (587, "smtp"), (465, None), (143, "imap"), (993, None), (110, "pop3"), (995, None)]

_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?\n-----END CERTIFICATE-----", re.S)
_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\n.*?\n-----END \1-----", re.S)
_RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                    r"\s+failed=(?P<failed>\d+)", re.M)


def pem_certificates(text: str) -> list[str]:
    """The certificates in a PEM text, in file order."""
    return [block + "\n" for block in _CERT.findall(text)]


def pem_labels(text: str) -> list[str]:
    """The labels of every PEM block in order, e.g. ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"]."""
    return [match.group(1) for match in _BLOCK.finditer(text)]


def fingerprint(pem: str) -> str:
    """SHA-256 fingerprint of one PEM certificate, lower-case and colon-separated, per openssl."""
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                         input=pem, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("=", 1)[1].lower()


def fingerprints(text: str) -> list[str]:
    """Fingerprints of every certificate in a PEM text, in order."""
    return [fingerprint(pem) for pem in pem_certificates(text)]


def served(host, port: int, *, starttls: str | None, extra: list[str] | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    """One handshake with ``-showcerts``: the s_client result and the fingerprints of the served chain."""
    hello = mailtest.s_client(host, port, starttls=starttls, extra=["-showcerts", *(extra or [])])
    return hello, fingerprints(hello.stdout)


def mailserver_hosts() -> dict[str, t.Any]:
    """The testinfra hosts of the Molecule inventory's ``mailservers`` group, by container name, in name order."""
    with open(os.environ["MOLECULE_INVENTORY_FILE"], encoding="utf-8") as handle:
        names = sorted(yaml.safe_load(handle)["mailservers"]["hosts"])
    return {name: testinfra.get_host(f"docker://{name}") for name in names}


def run_playbook(*args: str, timeout: int = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """ansible-playbook against the Molecule inventory; plain text output, no colours.

    ``env`` adds to the verifier's environment, e.g. {"ANSIBLE_PIPELINING": "false"} for one run.
    """
    full_env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0", **(env or {})}
    argv = ["ansible-playbook", "-i", full_env["MOLECULE_INVENTORY_FILE"], *args]
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host: {host: {ok, changed, unreachable, failed}}."""
    return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")} for m in _RECAP.finditer(output)}
