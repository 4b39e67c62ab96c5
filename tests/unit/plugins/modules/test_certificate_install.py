# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.certificate_install run in-process: files, modes, changed by meaning, refusals, rollback."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _layout, _pathcheck, _x509
from ansible_collections.postmaster.tls.plugins.modules import certificate_install

NAMES = ("cert.pem", "chain.pem", "fullchain.pem", "combined.pem")


@pytest.fixture
def setup(pki):
    root, intermediate, leaf, leaf_key, int_key = pki.chain()
    extra = pki.cert("Unrelated CA", pki.key("unrelated"), ca=True)
    paths = {
        "root": pki.write("in/root.pem", root),
        "leaf": pki.write("in/leaf.pem", leaf),
        # Shuffled, with an unrelated certificate, a duplicate and the root.
        "chain": pki.write("in/chain.pem", [extra, root, intermediate, intermediate]),
        "key": pki.write("in/leaf.key", leaf_key),
        "dest": str(pki.dir / "live"),
    }
    return {"paths": paths, "root": root, "intermediate": intermediate, "leaf": leaf, "key": leaf_key, "int_key": int_key}


def _args(setup, **extra):
    paths = setup["paths"]
    args = {"dest": paths["dest"], "certificate_path": paths["leaf"], "chain_paths": [paths["chain"]], "privatekey_path": paths["key"],
            "trust_anchors_path": paths["root"], "required_names": ["mail.example.org"]}
    args.update(extra)
    return args


def _snapshot(dest):
    out = {}
    for name in NAMES:
        path = os.path.join(dest, name)
        if os.path.exists(path):
            st = os.stat(path)
            with open(path, "rb") as handle:
                out[name] = (handle.read(), stat.S_IMODE(st.st_mode))
    return out


def test_check_apply_idempotence(run_module, setup, pki):
    dest = setup["paths"]["dest"]
    check = run_module(certificate_install.main, _args(setup), check_mode=True)
    assert check["changed"] and check["changed_files"] == list(NAMES)
    assert not os.path.exists(dest)
    applied = run_module(certificate_install.main, _args(setup))
    assert applied["changed"] and applied["changed_files"] == list(NAMES)
    assert [c["subject"] for c in applied["chain"]] == ["CN=mail.example.org", "CN=Test Intermediate CA"]
    reasons = sorted(d["reason"] for d in applied["dropped"])
    assert reasons == ["duplicate", "not part of the leaf's chain", "the root stays out (include_root=false)"]
    assert any("Unrelated CA" in w for w in applied["warnings"])
    assert applied["trust_anchor"]["subject"] == "CN=Test Root CA"
    assert applied["fingerprint_sha256"] == _crypto.cert_fingerprint_sha256(setup["leaf"])
    assert applied["spki_sha256"] == _crypto.spki_sha256(setup["key"].public_key())
    files = _snapshot(dest)
    assert files["cert.pem"] == (pki.pem(setup["leaf"]), 0o644)
    assert files["chain.pem"] == (pki.pem(setup["intermediate"]), 0o644)
    assert files["fullchain.pem"] == (pki.pem([setup["leaf"], setup["intermediate"]]), 0o644)
    assert files["combined.pem"] == (pki.pem(setup["key"]) + pki.pem([setup["leaf"], setup["intermediate"]]), 0o600)
    assert not run_module(certificate_install.main, _args(setup), check_mode=True)["changed"]
    again = run_module(certificate_install.main, _args(setup))
    assert not again["changed"] and again["changed_files"] == []


def test_whitespace_differences_are_not_a_change(run_module, setup):
    dest = setup["paths"]["dest"]
    run_module(certificate_install.main, _args(setup))
    path = os.path.join(dest, "fullchain.pem")
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(b"# installed by hand\n" + data.replace(b"\n", b"\r\n") + b"\n\n")
    assert not run_module(certificate_install.main, _args(setup))["changed"]


def test_reordered_file_is_a_change(run_module, setup, pki):
    dest = setup["paths"]["dest"]
    run_module(certificate_install.main, _args(setup))
    with open(os.path.join(dest, "fullchain.pem"), "wb") as handle:
        handle.write(pki.pem([setup["intermediate"], setup["leaf"]]))
    result = run_module(certificate_install.main, _args(setup))
    assert result["changed"] and result["changed_files"] == ["fullchain.pem"]


def test_group_and_mode_for_the_combined_file(run_module, setup):
    import grp

    group = grp.getgrgid(os.getgid()).gr_name
    dest = setup["paths"]["dest"]
    run_module(certificate_install.main, _args(setup))
    result = run_module(certificate_install.main, _args(setup, mode="0640", group=group))
    assert result["changed"] and result["changed_files"] == ["combined.pem"]
    st = os.stat(os.path.join(dest, "combined.pem"))
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_gid == os.getgid()
    assert not run_module(certificate_install.main, _args(setup, mode="0640", group=group))["changed"]


def test_include_root(run_module, setup, pki):
    run_module(certificate_install.main, _args(setup, include_root=True))
    files = _snapshot(setup["paths"]["dest"])
    assert files["chain.pem"][0] == pki.pem([setup["intermediate"], setup["root"]])


def test_certificate_content_and_fullchain_as_certificate(run_module, setup, pki):
    content = pki.pem([setup["leaf"], setup["intermediate"]]).decode()
    args = _args(setup, certificate_content=content, chain_paths=[])
    del args["certificate_path"]
    result = run_module(certificate_install.main, args)
    assert result.get("changed"), result.get("msg") and len(result["chain"]) == 2


def test_refusal_leaves_every_file_as_it_was(run_module, setup, pki):
    dest = setup["paths"]["dest"]
    run_module(certificate_install.main, _args(setup, mode="0640"))
    before = _snapshot(dest)
    other_key = pki.write("in/other.key", pki.key("other"))
    result = run_module(certificate_install.main, _args(setup, privatekey_path=other_key))
    assert result["failed"] and result["check"] == "key match" and "CN=mail.example.org" in result["msg"]
    assert result["concerned"].startswith("leaf certificate 'CN=mail.example.org'")
    assert _snapshot(dest) == before
    result = run_module(certificate_install.main, _args(setup, required_names=["a.b.example.org"]))
    assert result["failed"] and result["check"] == "names"
    assert _snapshot(dest) == before
    assert sorted(os.listdir(dest)) == sorted(NAMES)  # no temporary files left behind


def test_refusal_in_check_mode_too(run_module, setup):
    result = run_module(certificate_install.main, _args(setup, min_days_remaining=1000), check_mode=True)
    assert result["failed"] and result["check"] == "days remaining"


def test_failed_write_rolls_back(run_module, setup, pki, monkeypatch):
    dest = setup["paths"]["dest"]
    run_module(certificate_install.main, _args(setup))
    before = _snapshot(dest)
    # A new leaf for the same key: every file changes; the third write fails.
    new_leaf = pki.cert("mail.example.org", setup["key"], issuer=setup["intermediate"], issuer_key=setup["int_key"],
                        sans=["mail.example.org"], eku=["serverAuth"], days=200)
    pki.write("in/leaf.pem", new_leaf)
    real_commit = _fileio.StagedFile.commit
    calls = []

    def failing_commit(staged):
        calls.append(sorted(name for name in os.listdir(dest) if name.endswith(".tmp")))
        if len(calls) == 3:
            raise _fileio.FileIOError(f"cannot write {staged.path}: No space left on device; the previous file is unchanged")
        return real_commit(staged)

    monkeypatch.setattr(_fileio.StagedFile, "commit", failing_commit)
    result = run_module(certificate_install.main, _args(setup))
    assert result["failed"] and "were restored" in result["msg"]
    assert _snapshot(dest) == before
    # Every changed file (cert, fullchain, combined: the chain stays) was staged, with its attributes, before the
    # first one went live; no temporary file is left.
    assert len(calls[0]) == 3 and not [name for name in os.listdir(dest) if name.endswith(".tmp")]


def test_missing_inputs(run_module, setup):
    args = _args(setup, certificate_path=setup["paths"]["leaf"] + ".missing")
    predicted = run_module(certificate_install.main, args, check_mode=True)
    assert predicted["changed"] and any("does not exist yet" in w for w in predicted["warnings"])
    real = run_module(certificate_install.main, args)
    assert real["failed"] and "does not exist" in real["msg"]


def test_diff_and_result_never_carry_key_material(run_module, setup, pki):
    result = run_module(certificate_install.main, _args(setup), diff=True)
    key_pem = pki.pem(setup["key"]).decode()
    body_line = key_pem.splitlines()[1]
    assert body_line not in repr(result)
    assert "PRIVATE KEY-----" not in repr(result)
    assert "private key: ecdsa" in result["diff"]["after"]
    assert "combined.pem (mode 0600)" in result["diff"]["after"]


def test_corrupt_chain_input_names_the_file(run_module, setup, pki):
    broken = pki.write("in/broken.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    result = run_module(certificate_install.main, _args(setup, chain_paths=[broken]))
    assert result["failed"] and broken in result["msg"]


def test_reload_flags_are_raised_before_a_change_and_only_then(run_module, setup, tmp_path):
    """A run that stops after installing but before the reload leaves the flags for the next run."""
    flags = [str(tmp_path / "run" / "postmaster-tls" / "postfix.reload"), str(tmp_path / "run" / "postmaster-tls" / "dovecot.reload")]
    check = run_module(certificate_install.main, _args(setup, reload_flags=flags), check_mode=True)
    assert check["changed"] and not any(os.path.exists(flag) for flag in flags)
    applied = run_module(certificate_install.main, _args(setup, reload_flags=flags))
    assert applied["changed"] and all(os.path.exists(flag) for flag in flags)
    assert stat.S_IMODE(os.stat(os.path.dirname(flags[0])).st_mode) == 0o700
    for flag in flags:
        os.unlink(flag)  # what the roles' handlers do after a successful reload
    assert not run_module(certificate_install.main, _args(setup, reload_flags=flags))["changed"]
    assert not any(os.path.exists(flag) for flag in flags)
    # A refused install raises nothing: there is nothing new to load.
    refused = run_module(certificate_install.main, _args(setup, reload_flags=flags, required_names=["a.b.example.org"]))
    assert refused["failed"] and not any(os.path.exists(flag) for flag in flags)


def test_reload_services_raise_the_layout_flags(run_module, setup, tmp_path, monkeypatch):
    """The certificate role names services, never flag paths: the module takes them from the one layout."""
    monkeypatch.setattr(_layout, "RELOAD_FLAG_DIR", str(tmp_path / "run"))
    applied = run_module(certificate_install.main, _args(setup, reload_services=["postfix", "dovecot"]))
    assert applied["changed"]
    assert sorted(os.listdir(tmp_path / "run")) == ["dovecot.reload", "postfix.reload"]


def test_a_reload_service_that_cannot_name_a_flag_is_refused_before_anything_is_written(run_module, setup):
    result = run_module(certificate_install.main, _args(setup, reload_services=["../../etc/x"]))
    assert result["failed"] and result["msg"].startswith("reload_services: '../../etc/x' is not a service name")
    assert not os.path.exists(setup["paths"]["dest"])


def _anchor_args(setup, pki, anchors_dest, **extra):
    """The local-CA way: the CA certificate comes as text and is installed on the host with the four files."""
    return _args(setup, trust_anchors_path=anchors_dest, trust_anchors_content=pki.pem(setup["root"]).decode(), **extra)


def test_trust_anchors_content_is_checked_and_installed_with_the_files(run_module, setup, pki, tmp_path):
    anchors_dest = str(tmp_path / "etc" / "ca.pem")
    dest = setup["paths"]["dest"]
    check = run_module(certificate_install.main, _anchor_args(setup, pki, anchors_dest), check_mode=True, diff=True)
    assert check["changed"] and check["changed_files"] == [*NAMES, "trust_anchors"]
    assert check["trust_anchors_installed"] is False  # not there yet: nothing may use it in check mode
    assert f"{anchors_dest} (mode -)" in check["diff"]["before"] and "CN=Test Root CA" in check["diff"]["after"]
    assert not os.path.exists(anchors_dest) and not os.path.exists(dest)

    applied = run_module(certificate_install.main, _anchor_args(setup, pki, anchors_dest))
    assert applied["changed"] and applied["trust_anchors_installed"] is True
    assert applied["trust_anchor"]["source"] == anchors_dest
    with open(anchors_dest, "rb") as handle:
        assert handle.read() == pki.pem(setup["root"])
    assert stat.S_IMODE(os.stat(anchors_dest).st_mode) == 0o644

    # Same meaning in other bytes (no trailing newline, CRLF) is no change.
    text = pki.pem(setup["root"]).decode().replace("\n", "\r\n").rstrip()
    again = run_module(certificate_install.main, _args(setup, trust_anchors_path=anchors_dest, trust_anchors_content=text))
    assert not again["changed"] and again["trust_anchors_installed"] is True
    assert run_module(certificate_install.main, _anchor_args(setup, pki, anchors_dest), check_mode=True)["trust_anchors_installed"] is True


def test_a_new_ca_certificate_alone_changes_only_the_anchors_file_and_raises_no_reload_flag(run_module, setup, pki, tmp_path):
    anchors_dest = str(tmp_path / "ca.pem")
    flag = str(tmp_path / "run" / "postfix.reload")
    run_module(certificate_install.main, _anchor_args(setup, pki, anchors_dest))
    before = _snapshot(setup["paths"]["dest"])
    # The same root plus another CA (a CA bundle that grew): the served files stay, the anchors file changes.
    extra = pki.cert("Second Root CA", pki.key("second-root"), ca=True)
    grown = (pki.pem(setup["root"]) + pki.pem(extra)).decode()
    result = run_module(certificate_install.main, _args(setup, trust_anchors_path=anchors_dest, trust_anchors_content=grown,
                                                        reload_flags=[flag]))
    assert result["changed"] and result["changed_files"] == ["trust_anchors"]
    assert _snapshot(setup["paths"]["dest"]) == before
    assert not os.path.exists(flag)


def test_trust_anchors_content_that_the_chain_does_not_reach_is_refused_and_nothing_written(run_module, setup, pki, tmp_path):
    anchors_dest = str(tmp_path / "ca.pem")
    other = pki.cert("Other Root CA", pki.key("other-root"), ca=True)
    result = run_module(certificate_install.main, _args(setup, trust_anchors_path=anchors_dest, trust_anchors_content=pki.pem(other).decode()))
    assert result["failed"] and result["check"] == "trust anchor"
    assert not os.path.exists(anchors_dest) and not os.path.exists(setup["paths"]["dest"])
    broken = run_module(certificate_install.main, _args(setup, trust_anchors_path=anchors_dest,
                                                        trust_anchors_content="-----BEGIN CERTIFICATE-----\nAAAA\n"))
    assert broken["failed"] and "trust_anchors_content" in broken["msg"]


def test_failed_anchors_write_rolls_back_the_four_files(run_module, setup, pki, monkeypatch, tmp_path):
    anchors_dest = str(tmp_path / "ca.pem")
    run_module(certificate_install.main, _args(setup))
    before = _snapshot(setup["paths"]["dest"])
    new_leaf = pki.cert("mail.example.org", setup["key"], issuer=setup["intermediate"], issuer_key=setup["int_key"],
                        sans=["mail.example.org"], eku=["serverAuth"], days=200)
    pki.write("in/leaf.pem", new_leaf)
    real_commit = _fileio.StagedFile.commit

    def failing_commit(staged):
        if staged.path == anchors_dest:
            raise _fileio.FileIOError(f"cannot write {staged.path}: Read-only file system; the previous file is unchanged")
        return real_commit(staged)

    monkeypatch.setattr(_fileio.StagedFile, "commit", failing_commit)
    result = run_module(certificate_install.main, _anchor_args(setup, pki, anchors_dest))
    assert result["failed"] and "were restored" in result["msg"] and "Read-only" in result["msg"]
    assert _snapshot(setup["paths"]["dest"]) == before and not os.path.exists(anchors_dest)


def test_batch_installs_each_item_and_the_shared_anchors_once(run_module, setup, pki, tmp_path):
    anchors_dest = str(tmp_path / "ca.pem")
    paths = setup["paths"]
    second_key = pki.key("second-leaf")
    second_leaf = pki.cert("mail.example.org", second_key, issuer=setup["intermediate"], issuer_key=setup["int_key"],
                           sans=["mail.example.org"], eku=["serverAuth"], days=200)
    second_key_path = pki.write("in/second.key", second_key)
    batch = [
        {"dest": paths["dest"], "privatekey_path": paths["key"], "certificate_path": paths["leaf"]},
        {"dest": str(tmp_path / "second"), "privatekey_path": second_key_path, "certificate_content": pki.pem(second_leaf).decode()},
    ]
    args = {"batch": batch, "chain_paths": [paths["chain"]], "required_names": ["mail.example.org"],
            "trust_anchors_path": anchors_dest, "trust_anchors_content": pki.pem(setup["root"]).decode()}
    check = run_module(certificate_install.main, args, check_mode=True, diff=True)
    first, second = check["installs"].values()
    assert first["changed_files"] == [*NAMES, "trust_anchors"] and second["changed_files"] == list(NAMES)
    assert len(check["diff"]) == 2 and not os.path.exists(anchors_dest)

    applied = run_module(certificate_install.main, args)
    assert applied["changed"] is True and [i["trust_anchors_installed"] for i in applied["installs"].values()] == [True, True]
    assert _snapshot(str(tmp_path / "second"))["cert.pem"] == (pki.pem(second_leaf), 0o644)
    assert os.path.exists(anchors_dest)
    again = run_module(certificate_install.main, args)
    assert again["changed"] is False and all(i["changed_files"] == [] for i in again["installs"].values())


def test_batch_item_refused_leaves_its_files_and_installs_the_others(run_module, setup, pki, tmp_path):
    paths = setup["paths"]
    batch = [
        {"dest": str(tmp_path / "wrong-key"), "privatekey_path": pki.write("in/other.key", pki.key("other")), "certificate_path": paths["leaf"]},
        {"dest": paths["dest"], "privatekey_path": paths["key"], "certificate_path": paths["leaf"]},
        {"dest": str(tmp_path / "no-cert"), "privatekey_path": paths["key"]},
    ]
    result = run_module(certificate_install.main, {"batch": batch, "chain_paths": [paths["chain"]], "trust_anchors_path": paths["root"]})
    assert result["failed"] is True
    assert result["installs"][str(tmp_path / "wrong-key")]["failed"] is True and not os.path.exists(tmp_path / "wrong-key")
    assert "give exactly one of certificate_path and certificate_content" in result["installs"][str(tmp_path / "no-cert")]["msg"]
    assert result["installs"][paths["dest"]]["changed"] is True and set(_snapshot(paths["dest"])) == set(NAMES)
    assert str(tmp_path / "wrong-key") in result["msg"] and str(tmp_path / "no-cert") in result["msg"]


# ---------------------------------------------------------------------------------------------
# RFC 5280 path validation through the module (issue 22 section 4): both validators, nothing written
# ---------------------------------------------------------------------------------------------
VALIDATORS = ["openssl", "auto"]


@pytest.mark.parametrize("path_validation", VALIDATORS)
def test_a_chain_that_breaks_a_path_length_constraint_is_refused_and_nothing_written(run_module, setup, pki, path_validation):
    run_module(certificate_install.main, _args(setup))
    before = _snapshot(setup["paths"]["dest"])
    root, key = setup["root"], pki.key("root-for-pathlen")
    limited = pki.cert("Limited CA", key, issuer=root, issuer_key=pki.key("Test-root"), ca=True, path_length=0)
    below = pki.cert("Below CA", pki.key("below"), issuer=limited, issuer_key=key, ca=True)
    leaf = pki.cert("mail.example.org", setup["key"], issuer=below, issuer_key=pki.key("below"), sans=["mail.example.org"])
    args = _args(setup, certificate_path=pki.write("in/pathlen.pem", leaf), chain_paths=[pki.write("in/pathlen-chain.pem", [below, limited])],
                 path_validation=path_validation)
    for check_mode in (True, False):
        result = run_module(certificate_install.main, args, check_mode=check_mode)
        assert result["failed"] and result["check"] == "path validation", result["msg"]
        assert "path length constraint" in result["msg"] and result["msg"].endswith("nothing was written")
    assert _snapshot(setup["paths"]["dest"]) == before


@pytest.mark.parametrize("path_validation", VALIDATORS)
def test_a_leaf_without_a_tls_key_usage_is_refused(run_module, setup, pki, path_validation):
    from ansible_collections.postmaster.tls.tests.unit.conftest import key_usage_of

    leaf = pki.cert("mail.example.org", setup["key"], issuer=setup["intermediate"], issuer_key=setup["int_key"], sans=["mail.example.org"],
                    usage=key_usage_of(content_commitment=True))
    result = run_module(certificate_install.main, _args(setup, certificate_path=pki.write("in/ku.pem", leaf), path_validation=path_validation))
    assert result["failed"] and result["check"] == "key usage" and "leaf certificate 'CN=mail.example.org'" == result["concerned"].split(" (")[0]
    assert not os.path.exists(setup["paths"]["dest"])


def test_the_result_names_the_validator_and_the_layouts_flags(run_module, setup):
    result = run_module(certificate_install.main, _args(setup, path_validation="openssl", reload_services=["postfix", "dovecot"]),
                        check_mode=True)
    assert result["path_validation"] == "openssl"
    assert result["reload_flags"] == [_layout.reload_flag("postfix"), _layout.reload_flag("dovecot")]
    assert result["chain"][0]["dns_names"] == ["mail.example.org"] and result["trust_anchor"]["is_ca"] is True
    assert set(result["chain"][0]) == set(_x509.FACT_KEYS) and result["trust_anchor"]["source"] == setup["paths"]["root"]
    auto = run_module(certificate_install.main, _args(setup), check_mode=True)
    assert auto["path_validation"].startswith("cryptography ") == (_pathcheck.cryptography_verifier() is not None)


def test_any_service_that_can_name_a_flag_gets_the_layouts_flag(run_module, setup):
    """nginx (the MTA-STS and autoconfig endpoints) reloads for new certificate files the same way as the mail services."""
    result = run_module(certificate_install.main, _args(setup, reload_services=["nginx"]), check_mode=True)
    assert not result.get("failed"), result
    assert result["reload_flags"] == [_layout.reload_flag("nginx")]
