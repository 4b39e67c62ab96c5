# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.dane_rollover_gate run in-process: a served key replaced in place is refused, force warns.

The DNS side of the gate (served by every server for 2xTTL) is tested on _dns.gate against an in-process
authoritative fake (tests/unit/plugins/module_utils/test_dns.py) and against BIND in the Molecule scenario dane.
"""

from __future__ import annotations

from ansible_collections.postmaster.tls.plugins.modules import dane_rollover_gate

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
REPLACED = {"name": "mail.example.org", "key_type": "ecdsa", "path": "/etc/postmaster-tls/mail.example.org/ecdsa/privkey.pem",
            "reason": "the key in /etc/postmaster-tls/mail.example.org/ecdsa/privkey.pem is ECDSA secp256r1, ECDSA secp384r1 "
                      "was asked; regenerate=partial_idempotence replaces it"}


def _args(tmp_path, **extra):
    # 192.0.2.0/24 (TEST-NET-1) answers nothing: the module must not need DNS to refuse a replacement.
    args = {"zone": "example.org", "server": "192.0.2.1", "tsig_key_name": "mail-update", "tsig_secret": SECRET,
            "timeout": 1.0, "name": "mail.example.org", "replacing": [REPLACED],
            "served_since_path": str(tmp_path / "dns" / "served-since.json")}
    args.update(extra)
    return args


def test_a_replacement_in_place_fails_naming_the_key_and_the_way_out(run_module, tmp_path):
    result = run_module(dane_rollover_gate.main, _args(tmp_path))
    assert result["failed"] and result["ready"] is False
    assert "this run would replace the served ecdsa key /etc/postmaster-tls/mail.example.org/ecdsa/privkey.pem" in result["msg"]
    assert "regenerate=partial_idempotence replaces it" in result["msg"]
    assert "certificate_rollover=prepare" in result["msg"] and "certificate_rollover_force=true" in result["msg"]
    assert SECRET not in result.text
    assert not (tmp_path / "dns").exists()


def test_force_warns_and_passes(run_module, tmp_path):
    result = run_module(dane_rollover_gate.main, _args(tmp_path, force=True), check_mode=True)
    assert not result.get("failed") and result["forced"] is True and result["changed"] is False
    assert any("certificate_rollover_force" in warning and "Key replacement refused" in warning
               for warning in result["warnings"])


def test_nothing_to_judge_is_an_error(run_module, tmp_path):
    result = run_module(dane_rollover_gate.main, _args(tmp_path, replacing=[]))
    assert result["failed"] and "digests: no key to look for" in result["msg"]
