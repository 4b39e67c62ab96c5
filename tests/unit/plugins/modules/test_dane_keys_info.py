# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.dane_keys_info run in-process: installed and next keys from the layout, never changed."""

from __future__ import annotations

import os

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _layout
from ansible_collections.postmaster.tls.plugins.modules import dane_keys_info


def _install(pki, base: str, name: str, key_type: str, key, *, next_key=None) -> _layout.KeyPaths:
    paths = _layout.key_paths(name, key_type, base_dir=base)
    os.makedirs(paths.live_dir, exist_ok=True)
    with open(paths.live("cert"), "wb") as handle:
        handle.write(pki.pem(pki.cert(name, key)))
    if next_key is not None:
        with open(paths.next_key, "wb") as handle:
            handle.write(pki.pem(next_key))
    return paths


def test_installed_and_next_keys_from_the_layout(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    current, upcoming, other = pki.key("current"), pki.key("next"), pki.key("other")
    _install(pki, base, "mail.example.org", "ecdsa", current, next_key=upcoming)
    _install(pki, base, "other.example.org", "ecdsa", other)
    result = run_module(dane_keys_info.main, {"base_dir": base, "name": "mail.example.org"}, check_mode=True)
    assert result["changed"] is False
    assert result["current_spki"] == [_crypto.spki_sha256(current.public_key())]
    assert result["next_spki"] == [_crypto.spki_sha256(upcoming.public_key())]
    assert result["certificates"][0]["next_key"].endswith("/mail.example.org/ecdsa/privkey.next.pem")
    assert result["served"] == [] and result["all_ports_serve_current"] is None
    every = run_module(dane_keys_info.main, {"base_dir": base})
    assert len(every["current_spki"]) == 2 and every["next_spki"] == result["next_spki"]


def test_nothing_installed_is_empty_not_an_error(run_module, tmp_path):
    result = run_module(dane_keys_info.main, {"base_dir": str(tmp_path / "absent")})
    assert result["certificates"] == [] and result["current_spki"] == [] and result["next_spki"] == []


def test_a_broken_next_key_names_the_file(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    paths = _install(pki, base, "mail.example.org", "rsa", pki.key("rsa-current", kind="rsa"))
    with open(paths.next_key, "wb") as handle:
        handle.write(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    result = run_module(dane_keys_info.main, {"base_dir": base})
    assert result["failed"] and paths.next_key in result["msg"]


def test_a_closed_port_is_not_serving_the_current_key(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    _install(pki, base, "mail.example.org", "ecdsa", pki.key("current"))
    result = run_module(dane_keys_info.main, {"base_dir": base, "probe_ports": [25], "probe_host": "127.0.0.9",
                                              "timeout": 2.0})
    assert result["served"][0]["port"] == 25 and result["served"][0]["spki_sha256"] is None
    assert result["all_ports_serve_current"] is False


def test_control_characters_are_refused(run_module, tmp_path):
    result = run_module(dane_keys_info.main, {"base_dir": str(tmp_path), "name": "mail\nexample"})
    assert result["failed"] and "control character" in result["msg"]
