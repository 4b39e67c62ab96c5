# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.certificate_info run in-process: facts, key match, never changed."""

from __future__ import annotations

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto
from ansible_collections.postmaster.tls.plugins.modules import certificate_info


def test_facts_for_several_paths(run_module, pki):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain(leaf_key=pki.key("rsa-leaf", kind="rsa"))
    leaf_path = pki.write("fullchain.pem", [leaf, intermediate])
    root_path = pki.write("root.pem", root)
    result = run_module(certificate_info.main, {"paths": [leaf_path, root_path], "privatekey_path": pki.write("k.pem", leaf_key)})
    assert result["changed"] is False
    first, second = result["certificates"]
    assert first["path"] == leaf_path and first["count"] == 2
    assert first["subject"] == "CN=mail.example.org" and first["issuer"] == "CN=Test Intermediate CA"
    assert first["subject_alt_names"] == ["DNS:mail.example.org"]
    assert first["key_type"] == "rsa" and first["key_size"] == 2048
    assert first["signature_algorithm"] == "ecdsa-with-SHA256"
    assert first["fingerprint_sha256"] == _crypto.cert_fingerprint_sha256(leaf)
    assert first["spki_sha256"] == _crypto.spki_sha256(leaf_key.public_key())
    assert first["matches_key"] is True and second["matches_key"] is False
    assert second["is_ca"] is True and second["self_signed"] is True
    assert first["days_remaining"] in (89, 90) and first["not_after"].endswith("Z")


def test_single_path_alias_and_no_key(run_module, pki):
    path = pki.write("c.pem", pki.cert("mail.example.org", pki.key("leaf")))
    result = run_module(certificate_info.main, {"path": path}, check_mode=True)
    assert result["changed"] is False and result["certificates"][0]["matches_key"] is None


def test_missing_file(run_module, pki):
    missing = str(pki.dir / "missing.pem")
    assert run_module(certificate_info.main, {"paths": [missing]})["failed"]
    predicted = run_module(certificate_info.main, {"paths": [missing]}, check_mode=True)
    assert predicted["changed"] is False and predicted["certificates"] == [{"path": missing, "exists": False, "count": 0}]
    assert predicted["warnings"]


def test_not_a_certificate(run_module, pki):
    path = pki.write("junk.pem", b"hello\n")
    result = run_module(certificate_info.main, {"paths": [path]})
    assert result["failed"] and "no PEM certificate found" in result["msg"]
