# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Truncated PEM files (a BEGIN line without its END line) are refused by every module that serves them.

The PEM readers only see complete blocks, so a chain file cut short used to pass: the leaf in front
still parsed. OpenSSL in Postfix ("error loading private keys and certificates ... disabling TLS
support") and Dovecot ("Can't load SSL certificate ... bad end line") then offered no TLS at all.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _dovecot, _pem, _postfix
from ansible_collections.postmaster.tls.plugins.modules import certificate_install


def _cut(pem: bytes) -> bytes:
    return pem[: len(pem) // 2]


def test_whole_blocks_pass(pki):
    key = pki.key("pem-whole")
    data = pki.pem(key) + pki.pem(pki.cert("mail.example.org", key))
    assert _pem.cut_short_block(data) is None
    assert _pem.cut_short(data, source="f.pem") is None
    assert _pem.cut_short_block(b"no PEM here\n") is None


def test_the_first_block_without_its_end_line_is_named(pki):
    key = pki.key("pem-cut")
    cert = pki.pem(pki.cert("mail.example.org", key))
    assert _pem.cut_short_block(_cut(cert)) == (1, "CERTIFICATE")
    assert _pem.cut_short_block(pki.pem(key) + cert + _cut(cert)) == (3, "CERTIFICATE")
    # An END line of another kind does not close the block.
    assert _pem.cut_short_block(_cut(cert) + b"-----END PRIVATE KEY-----\n") == (1, "CERTIFICATE")
    message = _pem.cut_short(pki.pem(key) + _cut(cert), source="/x/combined.pem")
    assert message.startswith("/x/combined.pem: PEM block 2 ('-----BEGIN CERTIFICATE-----') is cut short")


def test_postfix_refuses_a_chain_file_whose_last_intermediate_is_cut_short(pki):
    _root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    path = pki.write("pf/combined.pem", pki.pem(leaf_key) + pki.pem(leaf) + _cut(pki.pem(intermediate)))
    with pytest.raises(_postfix.PostfixError, match=r"combined.pem: PEM block 3 \('-----BEGIN CERTIFICATE-----'\) is cut short"):
        _postfix.inspect_chain_files([path], label="chain_files")


def test_dovecot_refuses_a_full_chain_whose_tail_is_cut_short(pki):
    _root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    cert_path = pki.write("dc/fullchain.pem", pki.pem(leaf) + _cut(pki.pem(intermediate)))
    key_path = pki.write("dc/privkey.pem", leaf_key)
    os.chmod(key_path, 0o600)
    with pytest.raises(_dovecot.DovecotError, match=r"fullchain.pem: PEM block 2 \('-----BEGIN CERTIFICATE-----'\) is cut short"):
        _dovecot.inspect_pair("certificate", _dovecot.CertKeyPair(cert_path, key_path), check_mode=False, warnings=[])


def test_certificate_install_names_a_truncated_certificate(run_module, pki):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    args = {"dest": str(pki.dir / "live"), "certificate_path": pki.write("ci/leaf.pem", _cut(pki.pem(leaf))),
            "chain_paths": [pki.write("ci/chain.pem", intermediate)], "privatekey_path": pki.write("ci/leaf.key", leaf_key),
            "trust_anchors_path": pki.write("ci/root.pem", root), "required_names": ["mail.example.org"]}
    result = run_module(certificate_install.main, args)
    assert result["failed"]
    assert "leaf.pem: PEM block 1 ('-----BEGIN CERTIFICATE-----') is cut short" in result["msg"]
    assert not os.path.exists(args["dest"])
