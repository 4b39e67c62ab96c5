# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The on-disk layout is defined once: paths, reload flags, discovery of installed certificates."""

from __future__ import annotations

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _layout


def test_key_paths_spell_the_layout():
    paths = _layout.key_paths("mail.example.org", "ecdsa", base_dir="/srv/tls")
    assert paths.key == "/srv/tls/mail.example.org/ecdsa/privkey.pem"
    assert paths.next_key == "/srv/tls/mail.example.org/ecdsa/privkey.next.pem"
    assert paths.csr == "/srv/tls/mail.example.org/ecdsa/request.csr"
    assert paths.issued == "/srv/tls/mail.example.org/ecdsa/issued.pem"
    assert paths.live_files() == {
        "cert": "/srv/tls/mail.example.org/ecdsa/live/cert.pem",
        "chain": "/srv/tls/mail.example.org/ecdsa/live/chain.pem",
        "fullchain": "/srv/tls/mail.example.org/ecdsa/live/fullchain.pem",
        "combined": "/srv/tls/mail.example.org/ecdsa/live/combined.pem",
    }
    assert _layout.ca_cert_path("/srv/tls") == "/srv/tls/ca.pem"
    assert _layout.reload_flag("postfix") == "/run/postmaster-tls/postfix.reload"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "mail\nexample", "mail\x00x"])
def test_names_that_are_not_one_directory_are_refused(name):
    with pytest.raises(_layout.LayoutError, match="name"):
        _layout.key_paths(name, "rsa")


@pytest.mark.parametrize("service", ["", ".hidden", "../x", "a/b", "post fix", "x\n", 7])
def test_service_names_that_cannot_name_a_flag_are_refused(service):
    with pytest.raises(_layout.LayoutError, match="certificate_reload_services: .* is not a service name"):
        _layout.check_service(service, option="certificate_reload_services")
    with pytest.raises(_layout.LayoutError):
        _layout.reload_flag(service)


def test_service_names_name_their_flag():
    assert _layout.check_service("nginx-mta-sts") == "nginx-mta-sts"
    assert _layout.reload_flag("dovecot", flag_dir="/tmp/flags") == "/tmp/flags/dovecot.reload"


def test_unknown_key_type_is_refused():
    with pytest.raises(_layout.LayoutError, match="ed25519"):
        _layout.key_paths("mail.example.org", "ed25519")


def test_discover_finds_installed_leaves_only(tmp_path):
    for name, key_type in (("mail.example.org", "rsa"), ("mail.example.org", "ecdsa"), ("b.example.org", "rsa")):
        live = tmp_path / name / key_type / "live"
        live.mkdir(parents=True)
        (live / "cert.pem").write_text("x")
    (tmp_path / "c.example.org" / "rsa").mkdir(parents=True)  # a key without a certificate yet
    (tmp_path / "ca.pem").write_text("x")
    found = [(p.name, p.key_type) for p in _layout.discover(str(tmp_path))]
    assert found == [("b.example.org", "rsa"), ("mail.example.org", "rsa"), ("mail.example.org", "ecdsa")]
    assert [(p.name, p.key_type) for p in _layout.discover(str(tmp_path), name="b.example.org")] == [("b.example.org", "rsa")]
    assert _layout.live_certificates(str(tmp_path / "missing")) == []
