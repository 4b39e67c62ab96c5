# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import pwd
import stat

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _fileio


class FakeModule:
    """Just what atomic_write uses of AnsibleModule."""

    def __init__(self):
        self.cleanup = []

    def add_cleanup_file(self, path):
        self.cleanup.append(path)

    def backup_local(self, path):
        dest = f"{path}.bak"
        with open(path, "rb") as src, open(dest, "wb") as dst:
            dst.write(src.read())
        return dest


def test_new_file_gets_the_private_mode(tmp_path):
    target = tmp_path / "key.pem"
    _fileio.atomic_write(FakeModule(), str(target), b"secret", mode=0o600)
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_replace_keeps_mode_of_config_file_and_backs_up(tmp_path):
    target = tmp_path / "main.cf"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o644)
    backup = _fileio.atomic_write(FakeModule(), str(target), b"new\n", mode=None, backup=True)
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert backup is not None and open(backup, "rb").read() == b"old\n"


def test_missing_directory_is_named_with_the_fix(tmp_path):
    with pytest.raises(_fileio.FileIOError, match=r"does not exist; create it first"):
        _fileio.atomic_write(FakeModule(), str(tmp_path / "nope" / "f"), b"x")


def test_unknown_owner_is_refused_before_writing(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with pytest.raises(_fileio.FileIOError, match=r"owner 'no-such-user-pmtls' does not exist"):
        _fileio.atomic_write(FakeModule(), str(target), b"new", owner="no-such-user-pmtls")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_parse_mode():
    assert _fileio.parse_mode("0640", default=0o600) == 0o640
    assert _fileio.parse_mode("640", default=0o600) == 0o640
    assert _fileio.parse_mode(None, default=0o600) == 0o600
    assert _fileio.parse_mode(0o644, default=None) == 0o644
    with pytest.raises(_fileio.FileIOError, match=r"quoted octal string"):
        _fileio.parse_mode("u=rw", default=None)


def test_attributes_differ_and_apply(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"x")
    os.chmod(target, 0o644)
    assert _fileio.attributes_differ(str(target), mode=0o600)
    _fileio.apply_attributes(str(target), mode=0o600)
    assert not _fileio.attributes_differ(str(target), mode=0o600)


def test_restore_puts_back_previous_content_or_removes(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"candidate")
    _fileio.restore(str(target), b"previous")
    assert target.read_bytes() == b"previous"
    _fileio.restore(str(target), None)
    assert not target.exists()


def test_reload_pending_follows_the_flag_and_check_mode(tmp_path):
    flag = str(tmp_path / "run" / "postfix.reload")
    assert _fileio.reload_pending(None, check_mode=True, changed=True) is False
    assert _fileio.reload_pending(flag, check_mode=False, changed=True) is False
    assert _fileio.reload_pending(flag, check_mode=True, changed=True) is True
    _fileio.raise_flag(flag)
    assert stat.S_IMODE(os.stat(os.path.dirname(flag)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(flag).st_mode) == 0o600
    assert _fileio.reload_pending(flag, check_mode=False, changed=False) is True


def test_make_directory_creates_every_missing_level_alike_and_reports_them(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    assert _fileio.plan_directory(str(target), mode=0o750) == ([str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(target)], False)
    made = _fileio.make_directory(str(target), mode=0o750)
    assert made == [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(target)]
    assert {stat.S_IMODE(os.stat(path).st_mode) for path in made} == {0o750}
    assert _fileio.make_directory(str(target), mode=0o750) == []


def test_make_directory_corrects_only_the_target_and_refuses_a_file_in_the_path(tmp_path):
    target = tmp_path / "keys"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    assert _fileio.plan_directory(str(target), mode=0o700) == ([], True)
    assert _fileio.make_directory(str(target), mode=0o700) == [str(target)]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
    (tmp_path / "file").write_text("x")
    with pytest.raises(_fileio.FileIOError, match="is not a directory"):
        _fileio.plan_directory(str(tmp_path / "file" / "sub"), mode=0o700)


def test_a_directory_this_user_may_not_create_says_so_and_names_become(tmp_path, monkeypatch):
    """Without become, an unprivileged user cannot look into a 0750 root directory, so a directory that exists
    looks missing: the message says that the user cannot write (or look) there, not that creating failed."""
    target = tmp_path / "postmaster-tls" / "mail.example.org"

    def refuse(path, mode=0o777):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(_fileio.os, "mkdir", refuse)
    with pytest.raises(_fileio.FileIOError) as caught:
        _fileio.make_directory(str(target), mode=0o750)
    message = str(caught.value)
    assert message.startswith(f"the user {pwd.getpwuid(os.geteuid()).pw_name} may not create {tmp_path / 'postmaster-tls'}: "
                              f"it cannot write in (or look into) {tmp_path} (Permission denied)")
    assert message.endswith("run the task with become (become: true), as the postmaster.tls roles need")
    assert not (tmp_path / "postmaster-tls").exists()
