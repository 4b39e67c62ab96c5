# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _profiles


def test_default_is_intermediate_and_refuses_old_protocols():
    profile = _profiles.get_profile(_profiles.DEFAULT_PROFILE)
    assert profile.name == "intermediate"
    assert _profiles.protocols_at_or_above(profile.min_protocol) == ["TLSv1.2", "TLSv1.3"]
    assert profile.opportunistic_min_protocol == "TLSv1.2"


def test_port_25_never_above_tls12_even_under_modern():
    # Opportunistic TLS: a floor of TLS 1.3 would push TLS 1.2-only senders to plaintext.
    assert _profiles.get_profile("modern").min_protocol == "TLSv1.3"
    assert _profiles.get_profile("modern").opportunistic_min_protocol == "TLSv1.2"


def test_outbound_opportunistic_floor_is_never_strict():
    for profile in _profiles.PROFILES.values():
        assert profile.client_min_protocol == "TLSv1"


def test_unknown_profile_lists_the_choices():
    with pytest.raises(_profiles.UnknownProfileError, match=r"unknown TLS profile 'strict'; choose one of modern, intermediate, legacy \(strictest first\)"):
        _profiles.get_profile("strict")


@pytest.mark.parametrize("name", ["intermediate", "legacy"])
def test_cipher_lists_have_no_weak_ciphers(name):
    ciphers = _profiles.get_profile(name).cipher_list
    for weak in ("RC4", "DES-CBC3", "NULL", "EXPORT", "MD5", "ADH", "AECDH"):
        assert weak not in ciphers


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is the outside witness")
@pytest.mark.parametrize("name", ["intermediate", "legacy"])
def test_openssl_understands_every_cipher(name):
    ciphers = _profiles.get_profile(name).cipher_list
    listed = subprocess.run(["openssl", "ciphers", ciphers], check=True, capture_output=True, text=True).stdout.strip().split(":")
    wanted = [c for c in ciphers.split(":") if not c.startswith("@")]
    assert sorted(set(listed) & set(wanted)) == sorted(wanted)


def test_postfix_floor_syntax():
    assert _profiles.postfix_protocol_floor("TLSv1.2") == ">=TLSv1.2"


def test_postfix_and_dovecot_offer_the_profiles_in_the_same_order():
    """One table, one order (strictest first) in both modules' choices and in their refusal messages."""
    from ansible_collections.postmaster.tls.plugins.modules import dovecot_tls, postfix_tls

    assert postfix_tls.argument_spec()["profile"]["choices"] == dovecot_tls.argument_spec()["profile"]["choices"] == ["modern", "intermediate", "legacy"]
