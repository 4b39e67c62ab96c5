# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The failure of an outside tool (postconf, postfix check, doveconf, ...), shared by the service helpers.

Every module that runs a mail server's own tool reports its failure the same way: the message says what
was refused and how to fix it; ``cmd``, ``rc``, ``stdout`` and ``stderr`` carry the tool's own words for
the task result (``fail_json(msg=str(exc), **exc.details())``).
"""

from __future__ import annotations


class CommandError(Exception):
    """An outside tool failed; carries the command and its output."""

    def __init__(self, message: str, *, cmd: list[str], rc: int, stdout: str, stderr: str) -> None:
        super().__init__(message)
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def details(self) -> dict[str, object]:
        """The fields a failed task returns besides ``msg``."""
        return {"cmd": self.cmd, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}
