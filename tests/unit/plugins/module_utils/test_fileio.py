# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic private writes with AnsibleModule's own attribute helpers, staging, rollback, directories, flags."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _fileio


def test_new_file_gets_the_private_mode(tmp_path, ansible_module):
    target = tmp_path / "key.pem"
    _fileio.atomic_write(ansible_module(), str(target), b"secret", mode=0o600)
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name != "ansible-tmp"] == ["key.pem"]


def test_attributes_are_on_the_temporary_file_before_the_rename(tmp_path, ansible_module, monkeypatch):
    """The file never exists at its path with other attributes: they are set before os.replace."""
    module = ansible_module()
    seen = {}
    real_replace = os.replace

    def watching_replace(src, dst):
        seen["mode"] = stat.S_IMODE(os.stat(src).st_mode)
        seen["dir"] = os.path.dirname(src)
        real_replace(src, dst)

    monkeypatch.setattr(_fileio.os, "replace", watching_replace)
    _fileio.atomic_write(module, str(tmp_path / "combined.pem"), b"key", mode=0o640)
    assert seen == {"mode": 0o640, "dir": str(tmp_path)}


def test_replace_keeps_mode_of_config_file_and_backs_up(tmp_path, ansible_module):
    target = tmp_path / "main.cf"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o644)
    backup = _fileio.atomic_write(ansible_module(), str(target), b"new\n", mode=None, backup=True)
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert backup is not None and open(backup, "rb").read() == b"old\n"


def test_missing_directory_is_named_with_the_fix(tmp_path, ansible_module):
    with pytest.raises(_fileio.FileIOError, match=r"does not exist; create it first"):
        _fileio.atomic_write(ansible_module(), str(tmp_path / "nope" / "f"), b"x")


def test_unknown_owner_is_refused_before_writing(tmp_path, ansible_module):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with pytest.raises(_fileio.FileIOError, match=r"owner 'no-such-user-pmtls' does not exist"):
        _fileio.atomic_write(ansible_module(), str(target), b"new", owner="no-such-user-pmtls")
    with pytest.raises(_fileio.FileIOError, match=r"group 'no-such-group-pmtls' does not exist"):
        _fileio.set_attributes(ansible_module(), str(target), mode=0o600, group="no-such-group-pmtls")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "ansible-tmp") == ["f"]


def test_nothing_is_written_in_check_mode(tmp_path, ansible_module):
    with pytest.raises(_fileio.FileIOError, match="check mode"):
        _fileio.atomic_write(ansible_module(check_mode=True), str(tmp_path / "f"), b"x")
    assert not (tmp_path / "f").exists()


def test_staged_files_go_live_only_on_commit(tmp_path, ansible_module):
    target = tmp_path / "cert.pem"
    target.write_bytes(b"old")
    staged = _fileio.stage(ansible_module(), str(target), b"new", mode=0o644, backup=True)
    assert target.read_bytes() == b"old" and open(staged.backup, "rb").read() == b"old"
    staged.commit()
    assert target.read_bytes() == b"new"
    assert not os.path.exists(staged.tmp)


def test_parse_mode():
    assert _fileio.parse_mode("0640", default=0o600) == 0o640
    assert _fileio.parse_mode("640", default=0o600) == 0o640
    assert _fileio.parse_mode(None, default=0o600) == 0o600
    assert _fileio.parse_mode(0o644, default=None) == 0o644
    with pytest.raises(_fileio.FileIOError, match=r"quoted octal string"):
        _fileio.parse_mode("u=rw", default=None)


def test_set_attributes_predicts_in_check_mode_and_applies_for_real(tmp_path, ansible_module):
    target = tmp_path / "f"
    target.write_bytes(b"x")
    os.chmod(target, 0o644)
    assert _fileio.attributes_differ(ansible_module(), str(target), mode=0o600)
    assert _fileio.set_attributes(ansible_module(check_mode=True), str(target), mode=0o600)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    real = ansible_module()
    assert _fileio.set_attributes(real, str(target), mode=0o600)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert not _fileio.attributes_differ(real, str(target), mode=0o600) and real.check_mode is False


def test_snapshot_restores_content_attributes_and_absence(tmp_path, ansible_module):
    module = ansible_module()
    kept = tmp_path / "main.cf"
    kept.write_bytes(b"previous")
    os.chmod(kept, 0o640)
    new = tmp_path / "new.cf"
    snapshot = _fileio.Snapshot()
    snapshot.take(str(kept))
    snapshot.take(str(new))
    _fileio.atomic_write(module, str(kept), b"candidate", mode=0o644)
    new.write_bytes(b"made by the change")
    assert snapshot.restore(lambda path, content, **kw: _fileio.atomic_write(module, path, content, **kw)) == []
    assert kept.read_bytes() == b"previous" and stat.S_IMODE(os.stat(kept).st_mode) == 0o640
    assert not new.exists()


def test_reload_pending_follows_the_flag_and_check_mode(tmp_path):
    flag = str(tmp_path / "run" / "postfix.reload")
    assert _fileio.reload_pending(None, check_mode=True, changed=True) is False
    assert _fileio.reload_pending(flag, check_mode=False, changed=True) is False
    assert _fileio.reload_pending(flag, check_mode=True, changed=True) is True
    _fileio.raise_flag(flag)
    assert stat.S_IMODE(os.stat(os.path.dirname(flag)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(flag).st_mode) == 0o600
    assert _fileio.reload_pending(flag, check_mode=False, changed=False) is True


def test_make_directory_creates_every_missing_level_alike_and_reports_them(tmp_path, ansible_module):
    target = tmp_path / "a" / "b" / "c"
    levels = [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(target)]
    assert _fileio.plan_directory(str(target)) == levels
    assert _fileio.make_directory(ansible_module(check_mode=True), str(target), mode=0o750) == levels
    assert not (tmp_path / "a").exists()
    assert _fileio.make_directory(ansible_module(), str(target), mode=0o750) == levels
    assert {stat.S_IMODE(os.stat(path).st_mode) for path in levels} == {0o750}
    assert _fileio.make_directory(ansible_module(), str(target), mode=0o750) == []


def test_make_directory_corrects_only_the_target_and_refuses_a_file_in_the_path(tmp_path, ansible_module):
    target = tmp_path / "keys"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    assert _fileio.make_directory(ansible_module(check_mode=True), str(target), mode=0o700) == [str(target)]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o755
    assert _fileio.make_directory(ansible_module(), str(target), mode=0o700) == [str(target)]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    (tmp_path / "file").write_text("x")
    with pytest.raises(_fileio.FileIOError, match="is not a directory"):
        _fileio.plan_directory(str(tmp_path / "file" / "sub"))


# ---------------------------------------------------------------------------------------------
# The target's directory, checked before anything is generated
# ---------------------------------------------------------------------------------------------
def test_target_dir_checks(tmp_path, monkeypatch):
    missing = tmp_path / "nope" / "k.pem"
    with pytest.raises(_fileio.FileIOError, match="does not exist; create it first"):
        _fileio.check_target_dir(str(missing), check_mode=False)
    assert "check mode assumes" in _fileio.check_target_dir(str(missing), check_mode=True)
    with pytest.raises(_fileio.FileIOError, match="is a directory"):
        _fileio.check_target_dir(str(tmp_path), check_mode=False)
    _fileio.check_writable_dir(str(missing), missing_ok=True)
    # Root may write anywhere, so an unwritable directory is simulated here; the Molecule
    # scenario covers the real case as an unprivileged user.
    monkeypatch.setattr(_fileio.os, "access", lambda *_args: False)
    with pytest.raises(_fileio.FileIOError, match="is not writable by this user"):
        _fileio.check_writable_dir(str(tmp_path / "k.pem"))


def test_target_dir_names_a_file_in_the_path(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(_fileio.FileIOError, match="is not a directory"):
        _fileio.check_target_dir(str(tmp_path / "plain" / "k.pem"), check_mode=False)


def test_target_dir_reports_permission_denied_as_such(tmp_path, monkeypatch):
    real_stat = os.stat

    def denied(path, *args, **kwargs):
        if str(path) == str(tmp_path):
            raise PermissionError(13, "Permission denied")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(_fileio.os, "stat", denied)
    with pytest.raises(_fileio.FileIOError, match="cannot be reached by this user"):
        _fileio.check_target_dir(str(tmp_path / "k.pem"), check_mode=True)


def test_file_facts_name_owner_and_group(tmp_path):
    target = tmp_path / "f"
    target.write_text("x")
    os.chmod(target, 0o640)
    facts = _fileio.file_facts(str(target))
    assert facts["mode"] == "0640" and set(facts) == {"mode", "owner", "group"}
    assert _fileio.file_facts(str(tmp_path / "missing")) == {}


def test_a_directory_this_user_may_not_create_says_so_and_names_become(tmp_path, monkeypatch, ansible_module):
    """Without become, an unprivileged user cannot look into a 0750 root directory, so a directory that exists
    looks missing: the message says that the user cannot write (or look) there, not that creating failed."""
    target = tmp_path / "postmaster-tls" / "mail.example.org"

    def refuse(path, mode=0o777):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(_fileio.os, "mkdir", refuse)
    with pytest.raises(_fileio.FileIOError) as caught:
        _fileio.make_directory(ansible_module(), str(target), mode=0o750)
    message = str(caught.value)
    assert message.startswith(f"the user {pwd.getpwuid(os.geteuid()).pw_name} may not create {tmp_path / 'postmaster-tls'}: "
                              f"it cannot write in (or look into) {tmp_path} (Permission denied)")
    assert message.endswith("run the task with become (become: true), as the postmaster.tls roles need")
    assert not (tmp_path / "postmaster-tls").exists()


def test_read_option_file_names_the_option(tmp_path):
    """A file an option names: its content; a missing one fails naming the option, path and fix, unless tolerated."""
    present = tmp_path / "crl.pem"
    present.write_bytes(b"data")
    assert _fileio.read_option_file(str(present), option="crl_path", missing="give the CRL file") == b"data"
    missing = str(tmp_path / "absent.pem")
    with pytest.raises(_fileio.FileIOError) as caught:
        _fileio.read_option_file(missing, option="crl_path", missing="give the CRL file")
    assert str(caught.value) == f"crl_path {missing} does not exist; give the CRL file"
    assert _fileio.read_option_file(missing, option="crl_path", missing=None) is None
    with pytest.raises(_fileio.FileIOError, match=r"^ct_log_list_path: cannot read .*: Is a directory"):
        _fileio.read_option_file(str(tmp_path), option="ct_log_list_path", missing="download it")
