#!/usr/bin/env python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What postmaster.tls.private_key costs per call, next to raw key generation with cryptography.

Run from the repository root:

    /work/main/.venv/bin/python bench/keygen.py [--runs 7] [--types rsa2048,rsa3072,rsa4096,p256]

For each key type, in one run and interleaved (so that a change in machine load hits every column
alike), it measures:

raw       ``rsa.generate_private_key`` / ``ec.generate_private_key`` in this process: the floor.
module    the module as the managed host runs it: a new Python process executing the module file
          with its arguments (interpreter start, imports, argument parsing, key generation, PKCS#8
          serialisation, atomic write with fsync, JSON result). ``regenerate=always`` makes every
          call generate a key.
ansible   one task of ansible-playbook against localhost (connection local), timed from task start
          to result by a small callback: what a user pays per task, including the controller's
          templating, worker fork and module transfer.

It prints medians and the module's overhead per call over raw generation, absolute and as a ratio.
RSA generation time varies a lot from key to key (it searches for primes), so the RSA overheads are
differences of noisy medians: use more runs (``--runs 15``) for tighter RSA numbers. The overhead
that matters, the fixed cost per call, is best read from the ECDSA row, where generation is ~0.1 ms.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "plugins" / "modules" / "private_key.py"

TYPES: dict[str, dict] = {
    "rsa2048": {"type": "rsa", "size": 2048},
    "rsa3072": {"type": "rsa", "size": 3072},
    "rsa4096": {"type": "rsa", "size": 4096},
    "p256": {"type": "ecdsa", "curve": "secp256r1"},
}

CALLBACK = textwrap.dedent(
    '''
    """Record the wall time of every task, from task start to its result, into $PMK_BENCH_OUT."""
    from __future__ import annotations

    import json
    import os
    import time

    from ansible.plugins.callback import CallbackBase


    class CallbackModule(CallbackBase):
        CALLBACK_VERSION = 2.0
        CALLBACK_TYPE = "aggregate"
        CALLBACK_NAME = "pmk_bench_timer"
        CALLBACK_NEEDS_ENABLED = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._started = {}
            self._times = []

        def v2_playbook_on_task_start(self, task, is_conditional):
            self._started[task._uuid] = (task.get_name(), time.perf_counter())

        def _record(self, result, ok):
            name, start = self._started[result._task._uuid]
            self._times.append({"name": name, "seconds": time.perf_counter() - start, "ok": ok,
                                "msg": "" if ok else str(result._result.get("msg", ""))})

        def v2_runner_on_ok(self, result):
            self._record(result, True)

        def v2_runner_on_failed(self, result, ignore_errors=False):
            self._record(result, False)

        def v2_playbook_on_stats(self, stats):
            with open(os.environ["PMK_BENCH_OUT"], "w", encoding="utf-8") as handle:
                json.dump(self._times, handle)
    '''
)


def generate_raw(spec: dict) -> None:
    if spec["type"] == "rsa":
        rsa.generate_private_key(public_exponent=65537, key_size=spec["size"])
    else:
        ec.generate_private_key(ec.SECP256R1())


def module_args(spec: dict, path: Path) -> dict:
    return {"path": str(path), "regenerate": "always", **spec}


def time_raw(spec: dict) -> tuple[float, float]:
    """Wall and CPU seconds of one raw generation."""
    start, cpu = time.perf_counter(), time.process_time()
    generate_raw(spec)
    return time.perf_counter() - start, time.process_time() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_module_process(spec: dict, work: Path, env: dict[str, str], name: str) -> tuple[float, float]:
    """One module call the way the managed host runs it (a fresh interpreter with an args file):
    wall and CPU seconds."""
    args_file = work / f"{name}.args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args(spec, work / f"{name}-process.pem")}))
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([sys.executable, str(MODULE), str(args_file)], env=env, capture_output=True, text=True, check=False)
    elapsed, cpu_used = time.perf_counter() - start, _children_cpu() - cpu
    result = json.loads(done.stdout)
    if result.get("failed") or not result.get("generated"):
        raise SystemExit(f"module process call failed: {result.get('msg', done.stderr)}")
    return elapsed, cpu_used


def ansible_playbook(order: list[str], work: Path, env: dict[str, str]) -> dict[str, list[float]]:
    """Run one playbook with one task per call, in the given order; per-task times by type."""
    tasks = [{"name": "Warm up (not counted)", "postmaster.tls.private_key": module_args(TYPES["p256"], work / "warmup.pem")}]
    for index, name in enumerate(order):
        tasks.append({"name": f"bench {name} {index}", "postmaster.tls.private_key": module_args(TYPES[name], work / f"{name}-ansible.pem")})
    play = [{
        "name": "Benchmark postmaster.tls.private_key",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": tasks,
    }]
    playbook = work / "bench.yml"
    playbook.write_text(json.dumps(play))
    callbacks = work / "callbacks"
    callbacks.mkdir(exist_ok=True)
    (callbacks / "pmk_bench_timer.py").write_text(CALLBACK)
    out = work / "times.json"
    run_env = dict(env, ANSIBLE_CALLBACK_PLUGINS=str(callbacks), ANSIBLE_CALLBACKS_ENABLED="pmk_bench_timer",
                   PMK_BENCH_OUT=str(out), ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_NOCOLOR="1")
    ansible_playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    done = subprocess.run([str(ansible_playbook_bin), "-i", "localhost,", str(playbook)], env=run_env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"ansible-playbook failed (rc {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    times: dict[str, list[float]] = {name: [] for name in TYPES}
    for entry in json.loads(out.read_text()):
        if not entry["ok"]:
            raise SystemExit(f"task {entry['name']} failed: {entry['msg']}")
        parts = entry["name"].split()
        if parts[0] == "bench":
            times[parts[1]].append(entry["seconds"])
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="calls per key type and column (default 7)")
    parser.add_argument("--types", default=",".join(TYPES), help=f"comma-separated subset of {', '.join(TYPES)}")
    parser.add_argument("--no-ansible", action="store_true", help="skip the ansible-playbook column")
    parser.add_argument("--json", type=Path, help="also write the raw samples to this file")
    options = parser.parse_args()
    names = [name.strip() for name in options.types.split(",") if name.strip()]
    unknown = [name for name in names if name not in TYPES]
    if unknown or options.runs < 1:
        parser.error(f"unknown types {unknown}; choose from {', '.join(TYPES)}" if unknown else "--runs must be at least 1")
    # Round-robin order: each round has one call of every type, so load drift affects all alike.
    order = [name for _round in range(options.runs) for name in names]

    samples: dict[str, dict[str, list[float]]] = {name: {"raw": [], "module": [], "ansible": [], "raw_cpu": [], "module_cpu": []}
                                                  for name in names}
    with tempfile.TemporaryDirectory(prefix="pmk-bench-") as tmp:
        work = Path(tmp)
        # The collection as Ansible imports it: ansible_collections/postmaster/tls -> this repository.
        (work / "collections" / "ansible_collections" / "postmaster").mkdir(parents=True)
        (work / "collections" / "ansible_collections" / "postmaster" / "tls").symlink_to(ROOT)
        env = dict(os.environ, PYTHONPATH=str(work / "collections"), ANSIBLE_COLLECTIONS_PATH=str(work / "collections"))

        generate_raw(TYPES["p256"])  # load OpenSSL's code paths once before timing
        for name in order:
            wall, cpu = time_raw(TYPES[name])
            samples[name]["raw"].append(wall)
            samples[name]["raw_cpu"].append(cpu)
        for name in order:
            wall, cpu = time_module_process(TYPES[name], work, env, name)
            samples[name]["module"].append(wall)
            samples[name]["module_cpu"].append(cpu)
        if not options.no_ansible:
            for name, times in ansible_playbook(order, work, env).items():
                if name in samples:
                    samples[name]["ansible"] = times

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"postmaster.tls.private_key vs cryptography key generation: medians of {options.runs} calls, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f}")
    columns = ["raw", "module"] + ([] if options.no_ansible else ["ansible"])
    header = f"{'key':<8} {'raw ms':>9} {'module ms':>9} {'overhead ms':>11} {'ratio':>9}"
    if not options.no_ansible:
        header += f" {'task ms':>9} {'overhead ms':>11} {'ratio':>9}"
    print(header)
    print("-" * len(header))
    for name in names:
        median = {column: statistics.median(samples[name][column]) for column in columns}
        row = f"{name:<8} {ms(median['raw'])} {ms(median['module'])} {ms(median['module'] - median['raw']):>11} {median['module'] / median['raw']:8.1f}x"
        if not options.no_ansible:
            row += f" {ms(median['ansible'])} {ms(median['ansible'] - median['raw']):>11} {median['ansible'] / median['raw']:8.1f}x"
        print(row)
    print("module = the module in a fresh Python process (what the managed host runs); task = one ansible-playbook task on localhost.")
    print("overhead = median of the column minus the median of raw generation; ratio = column median / raw median.")
    print()
    print("CPU time (user + system), which a busy machine inflates far less than wall time:")
    header = f"{'key':<8} {'raw ms':>9} {'module ms':>9} {'overhead ms':>11} {'ratio':>9}"
    print(header)
    print("-" * len(header))
    for name in names:
        raw = statistics.median(samples[name]["raw_cpu"])
        module = statistics.median(samples[name]["module_cpu"])
        print(f"{name:<8} {ms(raw)} {ms(module)} {ms(module - raw):>11} {module / raw if raw else float('inf'):8.1f}x")
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps({"runs": options.runs, "load_average": load, "samples": samples}, indent=2))


if __name__ == "__main__":
    main()
