# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only callback: count what a playbook run costs per host and write it as JSON.

Enabled only by bench/fleet.py (ANSIBLE_CALLBACKS_ENABLED=pm_bench_count, output file in
PM_BENCH_COUNT_FILE); not part of the collection.
"""

from __future__ import annotations

DOCUMENTATION = """
name: pm_bench_count
type: aggregate
short_description: Count tasks, module executions and per-task time for the benchmarks
description:
  - Counts, per host, the task results (ok, changed, failed, skipped), the module executions
    (one per task result, or one per loop item, for every action that runs a module on the target),
    and the wall time of each task from its start to the last host's result.
  - Writes everything as JSON to the file named by E(PM_BENCH_COUNT_FILE) when the run ends.
requirements:
  - enable in configuration (ANSIBLE_CALLBACKS_ENABLED)
"""

import json
import os
import time
from collections import defaultdict

from ansible.plugins.callback import CallbackBase

# Actions that the controller handles alone: no module is sent to the managed host for them.
CONTROLLER_ONLY_ACTIONS = frozenset(
    {
        "add_host", "assert", "debug", "fail", "group_by", "import_role", "import_tasks",
        "include_role", "include_tasks", "include_vars", "meta", "pause", "set_fact",
        "set_stats", "validate_argument_spec", "wait_for_connection",
    }
)
FACT_ACTIONS = frozenset({"gather_facts", "setup"})


def _short_action(action: str) -> str:
    return action.rsplit(".", 1)[-1]


def _host_name(result) -> str:
    host = getattr(result, "host", None) or result._host
    return host.get_name()


def _task_of(result):
    return getattr(result, "task", None) or result._task


def _result_of(result) -> dict:
    return getattr(result, "result", None) or result._result


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "pm_bench_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._start = time.monotonic()
        self._hosts: dict[str, dict[str, int]] = defaultdict(
            lambda: {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0,
                     "module_calls": 0, "fact_gathering": 0}
        )
        # task uuid -> profile record
        self._tasks: dict[str, dict] = {}
        self._order: list[str] = []
        # Controller CPU (this process and every reaped child: workers and the docker clients they
        # started) at the start of the task that runs now; charged to that task when the next starts.
        self._cpu_mark = self._cpu_now()
        self._cpu_task: str | None = None
        self._cpu_before_first_task = 0.0

    @staticmethod
    def _cpu_now() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def _charge_cpu(self) -> None:
        """Charge the controller CPU since the last mark to the task that was running."""
        now = self._cpu_now()
        spent, self._cpu_mark = now - self._cpu_mark, now
        if self._cpu_task is None:
            self._cpu_before_first_task += spent
        else:
            self._tasks[self._cpu_task]["cpu"] += spent

    # -- task boundaries ------------------------------------------------------------------------
    def _begin(self, task, *, handler: bool) -> None:
        uuid = task._uuid
        self._charge_cpu()
        self._cpu_task = uuid
        if uuid in self._tasks:  # the same task again (e.g. a handler for another play)
            self._tasks[uuid]["started"] = time.monotonic()
            return
        action = _short_action(task.action or "")
        self._tasks[uuid] = {
            "name": task.get_name(),
            "action": task.action,
            "handler": handler,
            "remote": action not in CONTROLLER_ONLY_ACTIONS,
            "started": time.monotonic(),
            "seconds": 0.0,
            # Controller CPU from this task's start to the next task's start (workers are reaped
            # late, so a little of a task's CPU can land on the next one).
            "cpu": 0.0,
            "module_calls": 0,
            "results": 0,
        }
        self._order.append(uuid)

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._begin(task, handler=False)

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._begin(task, handler=True)

    # -- results --------------------------------------------------------------------------------
    def _record(self, result, status: str) -> None:
        task = _task_of(result)
        host = self._hosts[_host_name(result)]
        rec = self._tasks.get(task._uuid)
        if rec is None:
            self._begin(task, handler=False)
            rec = self._tasks[task._uuid]
        rec["seconds"] = time.monotonic() - rec["started"]
        rec["results"] += 1
        res = _result_of(result)
        if status == "ok" and res.get("changed"):
            status = "changed"
        host[status] += 1
        if _short_action(task.action or "") in FACT_ACTIONS and status != "skipped":
            host["fact_gathering"] += 1
        if not rec["remote"] or status in ("skipped", "unreachable"):
            return
        if "results" in res and (task.loop is not None or task.loop_with):
            calls = sum(1 for item in res["results"] if not item.get("skipped"))
        else:
            calls = 1
        host["module_calls"] += calls
        rec["module_calls"] += calls

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, "unreachable")

    # -- output ---------------------------------------------------------------------------------
    def v2_playbook_on_stats(self, stats) -> None:
        path = os.environ.get("PM_BENCH_COUNT_FILE")
        if not path:
            return
        self._charge_cpu()
        tasks = [
            {key: value for key, value in self._tasks[uuid].items() if key != "started"}
            for uuid in self._order
        ]
        data = {
            "seconds": time.monotonic() - self._start,
            # Controller CPU before the first task (start-up, inventory, playbook parsing): the part
            # of a run that does not grow with tasks or hosts.
            "cpu_before_first_task": self._cpu_before_first_task,
            "hosts": dict(self._hosts),
            "tasks": tasks,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
