# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent checks after the acme scenario: what openssl (on the host, in the container's
network namespace) and the files say, trusting only the Pebble root fetched from its management
endpoint during prepare."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import mailtest
import pytest

BASE = "/etc/postmaster-tls/mail.example.test"
PEBBLE_ROOT = "/opt/pebble-test/pebble-root.pem"
SIGALGS = {"ecdsa": "ECDSA+SHA256", "rsa": "RSA-PSS+SHA256:RSA+SHA256"}


@pytest.fixture(scope="module")
def pebble_root(host):
    """The Pebble root as a file on the host, for openssl s_client running outside the container."""
    content = host.file(PEBBLE_ROOT).content_string
    assert "BEGIN CERTIFICATE" in content
    handle, path = tempfile.mkstemp(suffix=".pem")
    with os.fdopen(handle, "w") as out:
        out.write(content)
    yield path
    os.unlink(path)


def fingerprint(host, path: str) -> str:
    out = host.check_output(f"openssl x509 -in {path} -noout -fingerprint -sha256")
    return out.split("=", 1)[1].strip().lower()


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa"])
def test_installed_chain_verifies_against_pebble_root(host, key_type):
    live = f"{BASE}/{key_type}/live"
    result = host.run(f"openssl verify -CAfile {PEBBLE_ROOT} -untrusted {live}/chain.pem {live}/cert.pem")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")
    text = host.check_output(f"openssl x509 -in {live}/cert.pem -noout -text")
    assert "DNS:mail.example.test" in text
    assert re.search(r"Issuer: CN ?= ?Pebble Intermediate CA", text), text
    algorithm = "id-ecPublicKey" if key_type == "ecdsa" else "rsaEncryption"
    assert algorithm in text


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa"])
def test_live_files_are_the_issued_ones(host, key_type):
    d = f"{BASE}/{key_type}"
    assert fingerprint(host, f"{d}/live/cert.pem") == fingerprint(host, f"{d}/issued.pem")
    fullchain = host.file(f"{d}/live/fullchain.pem").content_string
    combined = host.file(f"{d}/live/combined.pem").content_string
    leaf = host.file(f"{d}/live/cert.pem").content_string
    chain = host.file(f"{d}/live/chain.pem").content_string
    assert fullchain.count("BEGIN CERTIFICATE") == 2 and fullchain.index(leaf.strip()) == 0
    first_line = combined.lstrip().splitlines()[0]
    assert first_line.startswith("-----BEGIN") and first_line.endswith("PRIVATE KEY-----"), first_line
    assert combined.index(leaf.strip()) < combined.index(chain.strip())
    # The key in combined.pem is the one the certificate was issued for.
    key_pub = host.check_output(f"openssl pkey -in {d}/privkey.pem -pubout")
    cert_pub = host.check_output(f"openssl x509 -in {d}/live/cert.pem -noout -pubkey")
    assert key_pub.strip() == cert_pub.strip()


@pytest.mark.parametrize("path", [
    "/etc/postmaster-tls/acme/account.key",
    f"{BASE}/rsa/privkey.pem",
    f"{BASE}/ecdsa/privkey.pem",
    f"{BASE}/rsa/live/combined.pem",
    f"{BASE}/ecdsa/live/combined.pem",
])
def test_private_files_are_root_only(host, path):
    f = host.file(path)
    assert f.exists
    assert f.user == "root"
    assert f.mode == 0o600


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa"])
def test_postfix_serves_the_installed_certificate_and_it_verifies(host, pebble_root, key_type):
    hello = mailtest.s_client(host, 25, starttls="smtp", extra=[
        "-sigalgs", SIGALGS[key_type], "-CAfile", pebble_root, "-verify_return_error",
        "-verify_hostname", "mail.example.test"])
    assert hello.returncode == 0, hello.stderr[-2000:]
    assert "Verify return code: 0 (ok)" in hello.stdout
    start = hello.stdout.index("-----BEGIN CERTIFICATE-----")
    end = hello.stdout.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    served = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=hello.stdout[start:end] + "\n",
                            capture_output=True, text=True, check=True)
    assert served.stdout.split("=", 1)[1].strip().lower() == fingerprint(host, f"{BASE}/{key_type}/live/cert.pem")


def test_no_responder_is_left_behind(host):
    assert not host.file("/run/postmaster-acme-http01-responder.pid").exists
    procs = host.run("ps -eo args")
    assert "http01_responder.py" not in procs.stdout
    assert not host.socket("tcp://0.0.0.0:80").is_listening
    assert not host.socket("tcp://:::80").is_listening


def test_dns_hook_removed_what_it_published(host):
    # Every "present" call of the command hook that succeeded has its "cleanup" call.
    log = host.file("/var/log/challtestsrv-hook.log").content_string.splitlines()
    actions = [line for line in log if '"reject": false' in line]
    assert sum('"argv": ["present"' in line for line in actions) == 1
    assert sum('"argv": ["cleanup"' in line for line in actions) == 1
