# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only callback: every task result, whole, as one JSON line in $PM_RESULT_DUMP.

It sees what every callback sees (json, tree, a CI log collector): the returned values, diffs and
module invocations after Ansible's no_log censoring. The resilience scenario scans these lines
for key material and reads which tasks changed or failed.
"""

from __future__ import annotations

DOCUMENTATION = """
name: result_dump
type: notification
short_description: write every task result to a JSON lines file (tests only)
description: Writes host, task, action, handler flag, status and the whole result to $PM_RESULT_DUMP.
requirements: [enable in callbacks_enabled]
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "result_dump"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, status, result):
        path = os.environ.get("PM_RESULT_DUMP")
        if not path:
            return
        task = result._task
        record = {
            "status": status,
            "host": result._host.get_name(),
            "task": task.get_name(),
            "action": getattr(task, "resolved_action", None) or task.action,
            "handler": type(task).__name__ == "Handler",
            "result": result._result,
        }
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str, sort_keys=True) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._write("unreachable", result)
