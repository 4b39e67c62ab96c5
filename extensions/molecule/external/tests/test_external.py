# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""After site.yml with a commercial-style certificate handed in with a shuffled chain.

The CA (root -> intermediate -> leaf) was made on the controller in prepare; the witnesses are the
controller's openssl, with only that root as trust anchor (no system store), and s_client in each
container's network namespace.
"""

from __future__ import annotations

import os
import subprocess

import certwitness
import mailtest
import pytest
import yaml

LIVE = "/etc/postmaster-tls/mail.example.test/rsa/live"
PKI = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"), "pki")
ROOT = os.path.join(PKI, "root.pem")
# Only the root: no CApath, no default store, so nothing else can make a chain verify.
ONLY_ROOT = ["-CAfile", ROOT, "-no-CApath", "-no-CAstore"]


def _read(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def issued(host):
    """Fingerprints of what the CA issued for this host: leaf, intermediate, root."""
    name = mailtest.container_name(host)
    return {
        "leaf": certwitness.fingerprint(_read(os.path.join(PKI, f"{name}.pem"))),
        "intermediate": certwitness.fingerprint(_read(os.path.join(PKI, "intermediate.pem"))),
        "root": certwitness.fingerprint(_read(ROOT)),
    }


def test_the_input_really_was_shuffled(host):
    # The inventory hands the chain in out of order (root before the intermediate, or a leaf+root+
    # intermediate bundle): prove it from the generated inventory, so this scenario cannot pass
    # with an already ordered chain.
    name = mailtest.container_name(host)
    group = "debian12" if name.endswith("debian12") else "debian13"
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    group_vars = yaml.safe_load(_read(os.path.join(inventory, "group_vars", group)))
    parts = group_vars["external_test_certificate_parts"] + group_vars["external_test_chain_parts"]
    assert parts.index("root.pem") < parts.index("intermediate.pem"), parts


def test_installed_files_hold_leaf_then_intermediate_without_root(host, issued):
    leaf, intermediate = issued["leaf"], issued["intermediate"]
    assert certwitness.fingerprints(host.file(f"{LIVE}/cert.pem").content_string) == [leaf]
    assert certwitness.fingerprints(host.file(f"{LIVE}/chain.pem").content_string) == [intermediate]
    assert certwitness.fingerprints(host.file(f"{LIVE}/fullchain.pem").content_string) == [leaf, intermediate]
    combined = host.file(f"{LIVE}/combined.pem").content_string
    assert certwitness.pem_labels(combined)[0].endswith("PRIVATE KEY")
    assert certwitness.pem_labels(combined)[1:] == ["CERTIFICATE", "CERTIFICATE"]
    assert certwitness.fingerprints(combined) == [leaf, intermediate]


def test_installed_chain_verifies_with_only_the_root(host, tmp_path):
    for name in ("cert.pem", "chain.pem"):
        (tmp_path / name).write_text(host.file(f"{LIVE}/{name}").content_string)
    strict = ["openssl", "verify", *ONLY_ROOT, "-x509_strict", "-purpose", "sslserver", "-verify_hostname", "mail.example.test"]
    ok = subprocess.run([*strict, "-untrusted", str(tmp_path / "chain.pem"), str(tmp_path / "cert.pem")],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": OK"), ok.stdout + ok.stderr
    # The witness has teeth: without the installed intermediate the same command fails.
    without = subprocess.run([*strict, str(tmp_path / "cert.pem")], capture_output=True, text=True, check=False)
    assert without.returncode != 0, without.stdout


@pytest.mark.parametrize(("port", "starttls"), certwitness.PORTS)
def test_every_port_serves_leaf_and_intermediate_and_verifies(host, issued, port, starttls):
    hello, chain = certwitness.served(host, port, starttls=starttls,
                                      extra=[*ONLY_ROOT, "-verify_return_error", "-verify_hostname", "mail.example.test"])
    assert chain == [issued["leaf"], issued["intermediate"]], f"port {port}: {hello.stdout[-600:]}{hello.stderr[-300:]}"
    assert "Verify return code: 0 (ok)" in hello.stdout, f"port {port}: {hello.stdout[-600:]}"
    assert hello.returncode == 0, f"port {port}: {hello.stderr[-300:]}"
