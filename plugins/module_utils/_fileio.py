# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic, private file writes shared by every module that writes a file, and the pending-reload flags.

The rules (STYLE.md 7): the new content is written to a temporary file in the target's own directory (so
the last step is a rename, atomic on POSIX), created 0600 so a private key is never readable while it is
written; its owner, group, mode and SELinux context are set *before* the rename, and a backup of the
previous file is taken with ``module.backup_local``.

File attributes go through AnsibleModule's own helpers (``load_file_common_arguments``,
``set_fs_attributes_if_different``, ``selinux_context``), so owner and group names, modes and SELinux
contexts behave exactly as in ansible.builtin.file. What AnsibleModule lacks is here: checking owner and
group before anything is written, staging several files before the first goes live, putting files back
(rollback), and directories made with the attributes of their last level.

``AnsibleModule.atomic_move`` is not used for the rename: when it creates a file it sets the mode from the
umask *after* the rename, so a new private key would be world-readable for a moment.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
import tempfile
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

Owner = t.Union[str, int, None]


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


def read_option_file(path: str, *, option: str, missing: str | None) -> bytes | None:
    """The content of the file that ``option`` names. A read error is a FileIOError naming the option; so is a
    missing file, with ``missing`` saying what to give, unless ``missing`` is None (the caller tolerates it: None)."""
    try:
        data = read_bytes(path)
    except FileIOError as exc:
        raise FileIOError(f"{option}: {exc}") from None
    if data is None and missing is not None:
        raise FileIOError(f"{option} {path} does not exist; {missing}")
    return data


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


def check_owner_group(owner: Owner, group: Owner) -> None:
    """Refuse, before anything is written, an owner or group this host does not have."""
    if owner not in (None, "") and not str(owner).isdigit():
        try:
            pwd.getpwnam(str(owner))
        except KeyError:
            raise FileIOError(f"owner {owner!r} does not exist on this host; create the user or choose another owner") from None
    if group not in (None, "") and not str(group).isdigit():
        try:
            grp.getgrnam(str(group))
        except KeyError:
            raise FileIOError(f"group {group!r} does not exist on this host; create the group first "
                              "(ssl-cert comes with the ssl-cert package) or choose another group") from None


def check_writable_dir(path: str, *, missing_ok: bool = False) -> None:
    """Fail early, before any work, when the file's directory is missing (unless ``missing_ok``) or not writable."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        if missing_ok:
            return
        raise FileIOError(f"directory {directory} does not exist; create it first (for example with ansible.builtin.file state=directory)")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise FileIOError(f"directory {directory} is not writable by this user; run with become or choose another path (nothing was written)")


def check_target_dir(path: str, *, check_mode: bool) -> str | None:
    """Refuse a path whose directory is missing (check mode: only warn) or that is itself a directory.

    An earlier task (ansible.builtin.file state=directory) that would create the directory does not
    create it in check mode, so check mode predicts instead of failing: the warning is returned.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        found = os.stat(directory)
    except FileNotFoundError:
        if check_mode:
            return f"directory {directory} does not exist yet; check mode assumes an earlier task creates it"
        raise FileIOError(f"directory {directory} does not exist; create it first (for example with ansible.builtin.file state=directory)") from None
    except PermissionError:
        raise FileIOError(f"directory {directory} cannot be reached by this user (permission denied on a parent directory); "
                          "run with become or choose another path") from None
    except NotADirectoryError:
        raise FileIOError(f"{directory} is not a directory (a part of the path is a file); choose another path") from None
    if not stat.S_ISDIR(found.st_mode):
        raise FileIOError(f"{directory} is not a directory; choose another path")
    if os.path.isdir(path):
        raise FileIOError(f"{path} is a directory; give the full path of the file, for example {os.path.join(path, 'privkey.pem')}")
    return None


def file_facts(path: str) -> dict[str, t.Any]:
    """Mode, owner and group of a file, for diffs (names when they resolve); empty when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    try:
        owner: str | int = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = st.st_uid
    try:
        group: str | int = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = st.st_gid
    return {"mode": f"{stat.S_IMODE(st.st_mode):04o}", "owner": owner, "group": group}


def _file_args(module: AnsibleModule, path: str, *, mode: int | None, owner: Owner, group: Owner) -> dict[str, t.Any]:
    args = module.load_file_common_arguments({"mode": mode, "owner": owner, "group": group}, path=path)
    args.update(owner=None if owner in (None, "") else str(owner), group=None if group in (None, "") else str(group))
    return args


def set_attributes(module: AnsibleModule, path: str, *, mode: int | None, owner: Owner = None, group: Owner = None) -> bool:
    """Give an existing file this owner, group and mode; True when something differed.

    In check mode nothing is applied and the answer is what a real run would do (AnsibleModule's own rule).
    """
    check_owner_group(owner, group)
    return bool(module.set_fs_attributes_if_different(_file_args(module, path, mode=mode, owner=owner, group=group), False))


def attributes_differ(module: AnsibleModule, path: str, *, mode: int | None, owner: Owner = None, group: Owner = None) -> bool:
    """Whether :func:`set_attributes` would change ``path``, without changing it, in any mode.

    For plans made before the first write: AnsibleModule compares (its helpers apply nothing in check mode).
    """
    saved = module.check_mode
    module.check_mode = True
    try:
        return set_attributes(module, path, mode=mode, owner=owner, group=group)
    finally:
        module.check_mode = saved


@dataclass
class StagedFile:
    """New content in a private temporary file beside ``path``, with its final attributes; not live yet."""

    path: str
    tmp: str
    backup: str | None = None

    def commit(self) -> None:
        """Rename the staged file over ``path`` (atomic), then make the rename durable."""
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            _discard(self.tmp)
            raise FileIOError(f"cannot write {self.path}: {exc.strerror}; the previous file is unchanged") from exc
        try:
            dir_fd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass  # Directory fsync is best effort; some filesystems refuse it.


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise FileIOError(f"the temporary file {path} could not be removed: {exc.strerror}") from exc


def stage(module: AnsibleModule, path: str, content: bytes, *, mode: int | None = 0o600, owner: Owner = None,
          group: Owner = None, backup: bool = False) -> StagedFile:
    """Write ``content`` to a private temporary file beside ``path`` and give it its final attributes.

    ``mode=None`` keeps the mode of the file being replaced (or 0644 for a new file), which is right for
    configuration files; key material always passes an explicit private mode. With ``backup`` the current
    file is copied aside now, so that nothing can fail between the first and the last commit of a set.
    """
    if module.check_mode:
        raise FileIOError(f"internal error: {path} would be written in check mode")
    check_writable_dir(path)
    check_owner_group(owner, group)
    exists = os.path.exists(path)
    if mode is None:
        mode = stat.S_IMODE(os.stat(path).st_mode) if exists else 0o644
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)  # 0600
    module.add_cleanup_file(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        _discard(tmp)
        raise FileIOError(f"cannot write {path}: {exc.strerror}; the previous file is unchanged") from exc
    args = _file_args(module, tmp, mode=mode, owner=owner, group=group)
    if module.selinux_enabled():
        # The context the file has, or the one policy gives a new file there (not the temporary name's).
        args["secontext"] = module.selinux_context(path) if exists else module.selinux_default_context(path)
    module.set_fs_attributes_if_different(args, False)
    return StagedFile(path=path, tmp=tmp, backup=module.backup_local(path) if backup and exists else None)


def atomic_write(module: AnsibleModule, path: str, content: bytes, *, mode: int | None = 0o600, owner: Owner = None,
                 group: Owner = None, backup: bool = False) -> str | None:
    """Replace ``path`` with ``content`` atomically; return the backup file's path, if one was made."""
    staged = stage(module, path, content, mode=mode, owner=owner, group=group, backup=backup)
    staged.commit()
    return staged.backup


@dataclass
class _Saved:
    content: bytes | None
    mode: int = 0o644
    uid: int = -1
    gid: int = -1


@dataclass
class Snapshot:
    """What files held before a change (content, mode, owner, group; None: absent), to put them back on failure."""

    files: dict[str, _Saved] = field(default_factory=dict)
    # Directories the change created (outermost first): removed again by restore() when empty.
    directories: list[str] = field(default_factory=list)

    def take(self, path: str) -> None:
        if path in self.files:
            return
        content = read_bytes(path)
        saved = _Saved(content)
        if content is not None:
            info = os.stat(path)
            saved.mode, saved.uid, saved.gid = stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid
        self.files[path] = saved

    @staticmethod
    def _unchanged(path: str, saved: _Saved) -> bool:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return saved.content is None
        return saved.content is not None and (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (
            saved.mode, saved.uid, saved.gid) and read_bytes(path) == saved.content

    def restore(self, write: t.Callable[..., t.Any]) -> list[str]:
        """Put every file back as it was with ``write`` (:func:`atomic_write`'s signature, without the module); the
        problems (empty when all went back)."""
        problems = []
        for path, saved in self.files.items():
            if self._unchanged(path, saved):
                continue
            try:
                if saved.content is None:
                    _discard(path)
                else:
                    write(path, saved.content, mode=saved.mode, owner=saved.uid, group=saved.gid, backup=False)
            except (FileIOError, OSError) as exc:
                problems.append(f"{path}: {exc}")
        for directory in reversed(self.directories):
            try:
                os.rmdir(directory)
            except OSError:
                pass  # not empty: something else lives there now
        return problems


def plan_directory(path: str) -> list[str]:
    """The directories missing down to ``path`` (outermost first); a part of the path that is a file is refused."""
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
    return missing


def denied(path: str, exc: OSError) -> str:
    """Permission denied, said as what it means: this user may not write (or look) there; the fix is become."""
    import pwd

    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # pragma: no cover - a uid without a passwd entry
        user = f"uid {os.geteuid()}"
    return (f"the user {user} may not create {path}: it cannot write in (or look into) {os.path.dirname(path) or '.'} "
            f"({exc.strerror}); run the task with become (become: true), as the postmaster.tls roles need")


def make_directory(module: AnsibleModule, path: str, *, mode: int, owner: Owner = None, group: Owner = None) -> list[str]:
    """Make ``path`` a directory with ``mode``/``owner``/``group``; every missing level gets the same ones (as
    ansible.builtin.file state=directory does). Returns the directories created or corrected; in check mode,
    the ones that would be."""
    check_owner_group(owner, group)
    missing = plan_directory(path)
    if module.check_mode:
        return missing or ([path] if attributes_differ(module, path, mode=mode, owner=owner, group=group) else [])
    for directory in missing:
        try:
            os.mkdir(directory, 0o700)  # private until its attributes are set
        except FileExistsError:
            pass  # made by someone else meanwhile: its attributes are set below like ours
        except PermissionError as exc:
            raise FileIOError(denied(directory, exc)) from exc
        except OSError as exc:
            raise FileIOError(f"cannot create the directory {directory}: {exc.strerror}") from exc
        set_attributes(module, directory, mode=mode, owner=owner, group=group)
    if missing:
        return missing
    return [path] if set_attributes(module, path, mode=mode, owner=owner, group=group) else []


# ---------------------------------------------------------------------------------------------
# Pending-reload flags: a service must reload because files it reads changed. Raised BEFORE the
# change is written, removed by the roles' handlers only after a successful reload, so a run that
# stops in between (a failed check, a killed run) leaves the flag and the next run still reloads.
# Where the flags are is _layout's business (_layout.reload_flag).
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
