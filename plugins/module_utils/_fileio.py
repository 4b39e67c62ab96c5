# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic, private file writes shared by every module that writes a file.

The rules (STYLE.md 7): the new content is written to a temporary file in the
target's own directory (so the final step is a rename, atomic on POSIX), the
temporary file is created 0600 so a private key is never readable while it is
being written, ownership and mode are set *before* the rename, and an optional
backup of the previous file is taken with ``module.backup_local``.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import typing as t

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule


class FileIOError(Exception):
    """A file could not be read or written; the message says which and why."""


def file_argument_spec(*, mode: str) -> dict[str, dict[str, t.Any]]:
    """``path``, ``mode``, ``owner``, ``group`` and ``backup`` of the one file a module writes.

    ``mode`` is the default, which differs by what the file holds (``"0600"`` for a private key).
    """
    return {
        "path": {"type": "path", "required": True},
        "mode": {"type": "raw", "default": mode},
        "owner": {"type": "str"},
        "group": {"type": "str"},
        "backup": {"type": "bool", "default": False},
    }


def read_bytes(path: str) -> bytes | None:
    """Return the file's content, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileIOError(f"cannot read {path}: {exc.strerror}") from exc


def parse_mode(value: str | int | None, *, default: int | None) -> int | None:
    """An Ansible ``mode`` option (``"0640"``, ``"640"``, ``0o640`` or ``420``) as an int.

    Symbolic modes (``u=rw,g=r``) are refused with a clear message: key and config files here need
    an exact mode, not one relative to whatever the file had.
    """
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text, 8)
    except ValueError:
        raise FileIOError(f"mode {value!r} is not an octal mode; write it as a quoted octal string such as '0640'") from None


def _resolve_ids(owner: str | int | None, group: str | int | None) -> tuple[int, int]:
    import grp
    import pwd

    uid = -1
    gid = -1
    if owner not in (None, ""):
        try:
            uid = int(owner) if str(owner).isdigit() else pwd.getpwnam(str(owner)).pw_uid
        except KeyError as exc:
            raise FileIOError(f"owner {owner!r} does not exist on this host; create the user or choose another owner") from exc
    if group not in (None, ""):
        try:
            gid = int(group) if str(group).isdigit() else grp.getgrnam(str(group)).gr_gid
        except KeyError as exc:
            raise FileIOError(f"group {group!r} does not exist on this host; create the group or choose another group") from exc
    return uid, gid


def check_writable_dir(path: str) -> None:
    """Fail early, before any work, when the file's directory is missing or not writable."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileIOError(f"directory {directory} does not exist; create it first (for example with ansible.builtin.file state=directory)")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise FileIOError(f"directory {directory} is not writable by this user; run with become or choose another path")


def attributes_differ(path: str, *, mode: int | None, owner: str | int | None = None, group: str | int | None = None) -> bool:
    """True when an existing file's mode/owner/group differ from what is asked."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True
    uid, gid = _resolve_ids(owner, group)
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        return True
    if uid != -1 and st.st_uid != uid:
        return True
    return gid != -1 and st.st_gid != gid


def apply_attributes(path: str, *, mode: int | None, owner: str | int | None = None, group: str | int | None = None) -> None:
    """Set mode/owner/group on an existing file (used when only attributes changed)."""
    uid, gid = _resolve_ids(owner, group)
    try:
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
        if mode is not None:
            os.chmod(path, mode)
    except OSError as exc:
        raise FileIOError(f"cannot set owner/group/mode on {path}: {exc.strerror}") from exc


def atomic_write(
    module: AnsibleModule,
    path: str,
    content: bytes,
    *,
    mode: int | None = 0o600,
    owner: str | int | None = None,
    group: str | int | None = None,
    backup: bool = False,
) -> str | None:
    """Replace ``path`` with ``content`` atomically; return the backup file's path, if one was made.

    ``mode=None`` keeps the mode of the file being replaced (or 0644 for a new file), which is right
    for configuration files; key material always passes an explicit private mode.
    """
    check_writable_dir(path)
    directory = os.path.dirname(os.path.abspath(path))
    backup_file = None
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o644
    if backup and os.path.exists(path):
        backup_file = module.backup_local(path)
    uid, gid = _resolve_ids(owner, group)
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    module.add_cleanup_file(tmp_path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        # Owner and mode before the rename: the file never exists at `path` with the wrong ones.
        if uid != -1 or gid != -1:
            os.chown(tmp_path, uid, gid)
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except OSError as exc:
        try:
            os.unlink(tmp_path)
        except OSError as cleanup_exc:
            if cleanup_exc.errno != errno.ENOENT:
                raise FileIOError(f"cannot write {path}: {exc.strerror}; the temporary file {tmp_path} could not be removed") from exc
        raise FileIOError(f"cannot write {path}: {exc.strerror}; the previous file is unchanged") from exc
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # Directory fsync is best effort; some filesystems refuse it.
    return backup_file


def plan_directory(path: str, *, mode: int, owner: str | int | None = None, group: str | int | None = None) -> tuple[list[str], bool]:
    """What making ``path`` a directory with ``mode``/``owner``/``group`` takes, without doing it.

    Returns the missing directories down to ``path`` (outermost first) and whether an existing ``path``
    has other attributes. A part of the path that exists but is not a directory is refused.
    """
    missing: list[str] = []
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        missing.insert(0, current)
        parent = os.path.dirname(current)
        if parent == current:  # pragma: no cover - "/" always exists
            break
        current = parent
    if not os.path.isdir(current):
        raise FileIOError(f"{current} is not a directory (a part of the path {path} is a file); choose another path")
    return missing, not missing and attributes_differ(path, mode=mode, owner=owner, group=group)


def make_directory(path: str, *, mode: int, owner: str | int | None = None, group: str | int | None = None) -> list[str]:
    """Make ``path`` a directory with ``mode``/``owner``/``group``; every missing level gets the same ones
    (as ansible.builtin.file state=directory does). Returns the directories created or corrected."""
    missing, fix = plan_directory(path, mode=mode, owner=owner, group=group)
    for directory in missing:
        try:
            os.mkdir(directory, 0o700)  # private until its attributes are set
        except FileExistsError:
            pass  # made by someone else meanwhile: its attributes are set below like ours
        except OSError as exc:
            raise FileIOError(f"cannot create the directory {directory}: {exc.strerror}") from exc
        apply_attributes(directory, mode=mode, owner=owner, group=group)
    if fix:
        apply_attributes(path, mode=mode, owner=owner, group=group)
    return missing or ([path] if fix else [])


def restore(path: str, previous: bytes | None, *, mode: int | None = None) -> None:
    """Put back what ``path`` held before (``None`` means it did not exist). Used for rollback."""
    if previous is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    directory = os.path.dirname(os.path.abspath(path))
    uid = gid = -1
    try:
        st = os.stat(path)
        keep_mode = stat.S_IMODE(st.st_mode) if mode is None else mode
        uid, gid = st.st_uid, st.st_gid
    except FileNotFoundError:
        keep_mode = 0o644 if mode is None else mode
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".restore", dir=directory)
    with os.fdopen(fd, "wb") as handle:
        handle.write(previous)
        handle.flush()
        os.fsync(handle.fileno())
    if uid != -1:
        os.chown(tmp_path, uid, gid)
    os.chmod(tmp_path, keep_mode)
    os.replace(tmp_path, path)


class Snapshot:
    """The previous bytes of every file an install step replaces (None: it did not exist), and the
    directories it created, so that a failed install puts everything back (``restore``)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | None] = {}
        self.directories: list[str] = []

    def take(self, path: str) -> None:
        if path not in self.files:
            self.files[path] = read_bytes(path)

    def restore(self) -> list[str]:
        """Put every file back, remove the created directories that are empty again; returns the problems."""
        problems = []
        for path, data in self.files.items():
            try:
                restore(path, data)
            except OSError as exc:
                problems.append(f"{path}: {exc}")
        for directory in reversed(self.directories):
            try:
                os.rmdir(directory)
            except OSError:
                pass  # not empty: something else lives there now
        return problems


# ---------------------------------------------------------------------------------------------
# Pending-reload flags: a service must reload because files it reads changed. Raised BEFORE the
# change is written, removed by the roles' handlers only after a successful reload, so a run that
# stops in between (a failed check, a killed run) leaves the flag and the next run still reloads.
# ---------------------------------------------------------------------------------------------
def raise_flag(path: str) -> None:
    """Create the (empty) flag file ``path``, and its directory (0700), when missing."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        raise FileIOError(f"cannot create the pending-reload flag {path}: {exc.strerror}; nothing was changed") from exc


def reload_pending(path: str | None, *, check_mode: bool, changed: bool) -> bool:
    """Whether the service behind flag ``path`` still has to reload: the flag exists, or (check mode)
    this run would change a file and so raise it. False without a flag."""
    if not path:
        return False
    return os.path.exists(path) or (check_mode and changed)
