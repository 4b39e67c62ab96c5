#!/usr/bin/env python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet benchmarks: the collection's site playbook against the hand-written baseline.

compare  one host per variant, fresh containers for every first converge; then no-op re-runs and
         ``--check --diff`` runs on the converged containers. Two pairs, each reaching one end state:
         the collection (RSA and ECDSA) against the hand-written baseline (bench/baseline), and the
         collection with one key type (RSA, its default) against the lean baseline (bench/lean). Runs
         alternate (A B C D, D C B A, ...) so that load on this shared machine hits every variant alike.
scale    1, 5 and 10 hosts (forks = hosts) of no-op re-runs, interleaved over sizes and variants;
         wall time and the ratio to one host. The ``floor`` variant is what Ansible itself costs on
         this machine: a playbook of nothing but ``ansible.builtin.ping`` tasks, as many per host as
         the collection's no-op makes connection round trips, run on the same kind of containers.

Every run is timed by wall clock, controller CPU (user+sys of ansible-playbook and everything it
started, from wait4's rusage), peak controller memory (PSS of the whole process tree, sampled every
0.5 s, and the largest single process's maxrss), tasks and module executions per host (the
pm_bench_count callback in bench/callback_plugins) and connection round trips per host (every
``docker exec`` the docker connection starts, counted by a shim in front of the docker CLI).

Containers are named ${PM_PREFIX:-pm}-bench-<variant letter><n>, labelled postmaster.bench.run=<run id>,
and are always removed at the end (also on Ctrl-C or SIGTERM). Usage: see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The same preparation as the Molecule scenario of the whole product (extensions/molecule/default):
# stock Postfix and Dovecot running, Postfix SASL through Dovecot's auth socket.
PREPARE = [ROOT / "extensions" / "molecule" / "utils" / name for name in ("prepare_mailserver.yml", "prepare_sasl.yml")]
BASELINE = BENCH / "baseline" / "site.yml"
LEAN = BENCH / "lean" / "site.yml"
CALLBACKS = BENCH / "callback_plugins"
# Containers and anything else this run starts begin with this (two checkouts can bench at once).
PREFIX = os.environ.get("PM_PREFIX") or "pm"
# The goals of issue 17 for an unchanged host, held against both hand-written playbooks: the median of
# the per-pair ratios (collection run / hand-written run, the two runs next to each other).
GOAL_NOOP_WALL = 0.35
GOAL_NOOP_CPU = 0.5
# ... and for a fleet: controller CPU per host added beyond the first, (CPU at N hosts - CPU at 1) / (N - 1).
GOAL_CPU_PER_ADDED_HOST = 1.0
SERVER_NAME = "mail.example.test"
# Which collection variant reaches the end state of which hand-written one.
PAIRS = (("collection", "baseline"), ("collection1", "lean"))


def end_state_files(key_types: tuple[str, ...]) -> list[str]:
    """What a pair's playbooks must both have produced on a host; checked after every first converge, so
    that a renamed variable or a changed default cannot make the comparison unequal without anyone noticing."""
    return [
        f"/etc/postmaster-tls/{SERVER_NAME}/{kind}/{name}"
        for kind in key_types
        for name in ("privkey.pem", "request.csr", "live/cert.pem", "live/fullchain.pem", "live/combined.pem")
    ] + ["/etc/postmaster-tls/ca.pem", "/etc/dovecot/conf.d/99-postmaster-tls.conf"]

END_STATE_POSTFIX = [
    "smtpd_tls_chain_files", "smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_security_level",
    "smtpd_tls_auth_only", "smtpd_tls_protocols", "smtpd_tls_mandatory_protocols", "smtpd_tls_ciphers",
    "smtpd_tls_mandatory_ciphers", "tls_high_cipherlist", "tls_preempt_cipherlist", "tls_eecdh_auto_curves",
    "smtpd_tls_loglevel", "smtpd_tls_received_header", "smtpd_tls_session_cache_database",
    "smtp_tls_security_level", "smtp_tls_protocols", "smtp_tls_mandatory_protocols", "smtp_tls_loglevel",
    "smtp_tls_session_cache_database",
]


class BenchError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------
def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


@dataclass
class Settings:
    quick: bool
    converge_reps: int
    reps: int
    scale_reps: int
    sizes: list[int]
    variants: list[str]
    scale_variants: list[str]
    floor_round_trips: int
    pipelining: bool
    image: str
    results: Path
    run_id: str
    site: str | None
    site_args: list[str]

    @classmethod
    def from_env(cls) -> Settings:
        quick = os.environ.get("BENCH_QUICK", "0") not in ("", "0", "false", "no")
        sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "1,5,10").split(",") if s.strip()]
        if 1 not in sizes:
            sizes.insert(0, 1)
        return cls(
            quick=quick,
            converge_reps=env_int("BENCH_CONVERGE_REPS", 1 if quick else 3),
            reps=env_int("BENCH_REPS", 3 if quick else 5),
            scale_reps=env_int("BENCH_SCALE_REPS", 2 if quick else 3),
            sizes=sorted(set(sizes)),
            variants=os.environ.get("BENCH_VARIANTS", "collection,baseline,collection1,lean").split(","),
            # The scaling goal is about the collection; the baseline's scaling is context (opt-in).
            scale_variants=os.environ.get("BENCH_SCALE_VARIANTS", "collection,floor").split(","),
            # Used when the collection is not measured in the same run (otherwise its own count).
            floor_round_trips=env_int("BENCH_FLOOR_ROUND_TRIPS", 12),
            pipelining=os.environ.get("BENCH_PIPELINING", "1") not in ("0", "false", "no"),
            image=os.environ.get("BENCH_IMAGE", "postmaster-testbed:debian12"),
            results=Path(os.environ.get("BENCH_RESULTS", str(BENCH / "results"))),
            run_id=os.environ.get("BENCH_RUN_ID") or time.strftime("%Y%m%d-%H%M%S"),
            site=find_site_playbook(),
            site_args=os.environ.get("BENCH_SITE_ARGS", "").split(),
        )


def find_site_playbook() -> str | None:
    """The collection's site playbook as a user runs it (by FQCN), when the synced copy has it."""
    override = os.environ.get("BENCH_SITE_PLAYBOOK")
    if override:
        return override
    for base in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        if base and (Path(base) / "ansible_collections/postmaster/tls/playbooks/site.yml").is_file():
            return "postmaster.tls.site"
    return None


@dataclass(frozen=True)
class Variant:
    name: str
    letter: str
    playbook: str
    extra_args: tuple[str, ...] = ()

    @property
    def key_types(self) -> tuple[str, ...]:
        return ("rsa",) if self.name in ("collection1", "lean") else ("rsa", "ecdsa")

    @property
    def hand_written(self) -> bool:
        return self.name in ("baseline", "lean")

    def group_vars(self, ca_dir: Path) -> dict:
        """Inventory variables that give both variants of a pair the same end state (see bench/README.md)."""
        if self.name in ("baseline", "lean", "floor"):
            return {}
        return {
            "certificate_names": [SERVER_NAME],
            "certificate_key_types": list(self.key_types),
            "certificate_provider": "ownca",
            "certificate_ca_dir": str(ca_dir),
            # DNS record files (DANE, MTA-STS) have no counterpart in the baseline.
            "dns_records_enabled": False,
            "dns_records_output_dir": str(ca_dir.parent / "dns-records"),
        }


def build_variants(settings: Settings, wanted: list[str]) -> list[Variant]:
    out = []
    for name in wanted:
        name = name.strip()
        if name == "baseline":
            out.append(Variant("baseline", "b", str(BASELINE)))
        elif name == "lean":
            out.append(Variant("lean", "l", str(LEAN)))
        elif name in ("collection", "collection1"):
            if settings.site is None:
                print("[bench] playbooks/site.yml is not in the synced collection yet: measuring the "
                      "baseline alone (run through ./dev.sh bench so the collection is synced)")
                continue
            extra = tuple(settings.site_args)
            site_vars = os.environ.get("BENCH_SITE_VARS")
            if site_vars:
                extra += ("-e", f"@{site_vars}")
            out.append(Variant(name, "c" if name == "collection" else "o", settings.site, extra))
        elif name == "floor":
            # The playbook is written by bench_scale once it knows how many round trips to make.
            out.append(Variant("floor", "f", ""))
        elif name:
            raise BenchError(f"unknown variant {name!r}; use collection, baseline, collection1, lean or floor")
    if not out:
        raise BenchError("no variant to measure")
    return out


# ------------------------------------------------------------------------------------------------
# Containers
# ------------------------------------------------------------------------------------------------
class Containers:
    """Creates and always removes the benchmark containers (only the ones this run started)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.live: list[str] = []
        self.ids: dict[str, str] = {}

    def create(self, names: list[str]) -> None:
        procs = []
        for name in names:
            argv = ["docker", "run", "-d", "--name", name, "--network", "none",
                    "--hostname", "mail.example.test",
                    "--label", f"postmaster.bench.run={self.settings.run_id}",
                    self.settings.image, "sleep", "infinity"]
            procs.append((name, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        errors = []
        for name, proc in procs:
            out, err = proc.communicate()
            if proc.returncode == 0:
                self.live.append(name)
                self.ids[name] = out.strip()
            else:
                errors.append(f"{name}: {err.strip()}")
        if errors:
            raise BenchError("could not start containers (left over from another run? "
                             f"`docker ps -a --filter name={PREFIX}-bench-`):\n  " + "\n  ".join(errors))

    def remove(self, names: list[str]) -> None:
        names = [n for n in names if n in self.live]
        if not names:
            return
        subprocess.run(["docker", "rm", "-f", *names], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        self.live = [n for n in self.live if n not in names]

    def remove_all(self) -> None:
        self.remove(list(self.live))


# ------------------------------------------------------------------------------------------------
# One measured ansible-playbook run
# ------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    variant: str
    kind: str
    hosts: int
    forks: int
    wall: float
    cpu: float
    # CPU time spent inside the managed containers (modules, and the mail services they poke).
    target_cpu: float
    maxrss_mb: float
    peak_pss_mb: float
    host_busy: float
    load1: float
    tasks: float
    skipped: float
    changed: float
    module_calls: float
    execs: float
    fact_gathering: float
    # Every task in run order: seconds from its start to its last host result, controller CPU from its start
    # to the next task's, module calls, results.
    tasks_profile: list[dict] = field(default_factory=list)
    # Controller CPU outside any task: start-up (Python, Ansible, the collections, the playbook) and wrap-up.
    cpu_startup: float = 0.0
    log: str = ""


def _session_pss_kb(sid: int) -> int:
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
            # Field 6 (session) comes after the command name in parentheses.
            if int(stat.rsplit(")", 1)[1].split()[3]) != sid:
                continue
            with open(f"/proc/{entry.name}/smaps_rollup", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total


def container_cpu_seconds(container_id: str) -> float | None:
    """CPU time used so far by everything inside one container (its cgroup), or None when unknown."""
    candidates = [
        (f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage", 1e-9),
        (f"/sys/fs/cgroup/cpu,cpuacct/docker/{container_id}/cpuacct.usage", 1e-9),
    ]
    for path, scale in candidates:
        try:
            with open(path, encoding="ascii") as handle:
                return int(handle.read().strip()) * scale
        except (OSError, ValueError):
            continue
    for path in (f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat",
                 f"/sys/fs/cgroup/docker/{container_id}/cpu.stat"):
        try:
            with open(path, encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("usage_usec"):
                        return int(line.split()[1]) * 1e-6
        except (OSError, ValueError):
            continue
    return None


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Runner:
    def __init__(self, settings: Settings, workdir: Path, logdir: Path, containers: Containers) -> None:
        self.settings = settings
        self.containers = containers
        self.workdir = workdir
        self.logdir = logdir
        self.counter = 0
        real_docker = shutil.which("docker")
        if real_docker is None:
            raise BenchError("the docker CLI is not on PATH")
        self.home = workdir / "home"
        self.home.mkdir()
        self.shimdir = workdir / "shim"
        self.shimdir.mkdir()
        shim = self.shimdir / "docker"
        shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >>"$PM_BENCH_DOCKER_LOG"\nexec {real_docker} "$@"\n')
        shim.chmod(0o755)

    def inventory(self, names: list[str], variant: Variant | None = None) -> Path:
        path = self.workdir / f"inventory-{len(names)}-{names[0]}.yml"
        group_vars = {
            "ansible_connection": "community.docker.docker",
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        if variant is not None:
            # One local CA per container set (on the controller, as both playbooks keep it): a first
            # converge on fresh containers also starts without a CA.
            group_vars.update(variant.group_vars(self.ca_dir(names)))
        data = {"mailservers": {"hosts": {name: None for name in names}, "vars": group_vars}}
        path.write_text(json.dumps(data, indent=1))
        return path

    def env(self, forks: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ANSIBLE_FORKS=str(forks),
            ANSIBLE_PIPELINING="True" if self.settings.pipelining else "False",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_RETRY_FILES_ENABLED="False",
            ANSIBLE_HOST_KEY_CHECKING="False",
            ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
            ANSIBLE_CALLBACKS_ENABLED="pm_bench_count",
            ANSIBLE_LOCAL_TEMP=str(self.workdir / "ansible-local"),
            # A default that points into $HOME (the collection's CA directory, for one) lands in
            # the run's scratch directory, never in the user's home.
            HOME=str(self.home),
        )
        return env

    def ca_dir(self, names: list[str]) -> Path:
        return self.workdir / f"ca-{names[0]}"

    def end_state(self, name: str, key_types: tuple[str, ...]) -> dict:
        """Files, Postfix parameters, master.cf overrides and Dovecot ssl settings of one host."""
        script = (
            "for f in " + " ".join(end_state_files(key_types)) + "; do [ -s \"$f\" ] || echo \"missing $f\"; done; "
            "postconf " + " ".join(END_STATE_POSTFIX) + " | sed 's/^/main /'; "
            "postconf -P 'submission/inet/*' 'submissions/inet/*' | sed 's/^/master /'; "
            "doveconf -n 2>/dev/null | grep -E '^(ssl|disable_plaintext_auth)' | sed 's/^/dovecot /'"
        )
        done = subprocess.run(["docker", "exec", name, "sh", "-c", script], capture_output=True, text=True, check=False)
        lines = done.stdout.splitlines()
        return {
            "missing": [line.split(" ", 1)[1] for line in lines if line.startswith("missing ")],
            "settings": sorted(line for line in lines if not line.startswith("missing ")),
        }

    def prepare(self, names: list[str]) -> None:
        """The mail services a molecule scenario's prepare step starts: not measured."""
        log = self.logdir / f"prepare-{names[0]}-{len(names)}.log"
        argv = ["ansible-playbook", "-i", str(self.inventory(names)), *[str(p) for p in PREPARE]]
        with open(log, "w", encoding="utf-8") as out:
            rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env(len(names)),
                                cwd=self.workdir, check=False).returncode
        if rc != 0:
            raise BenchError(f"prepare failed on {', '.join(names)}; see {log}")

    def run(self, variant: Variant, names: list[str], *, kind: str, check: bool = False) -> Sample:
        self.counter += 1
        forks = len(names)
        tag = f"{self.counter:03d}-{variant.name}-{kind}-{forks}h"
        log = self.logdir / f"{tag}.log"
        counts = self.workdir / f"{tag}.json"
        dockerlog = self.workdir / f"{tag}.docker"
        dockerlog.write_text("")
        env = self.env(forks)
        env.update(PM_BENCH_COUNT_FILE=str(counts), PM_BENCH_DOCKER_LOG=str(dockerlog),
                   PATH=f"{self.shimdir}{os.pathsep}{env.get('PATH', '')}")
        argv = ["ansible-playbook", "-i", str(self.inventory(names, variant)), variant.playbook, *variant.extra_args]
        if variant.hand_written:
            # The hand-written playbooks keep their settings as play vars (the usual place), which
            # outrank inventory variables: only an extra var moves their CA.
            argv += ["-e", f"{variant.name}_ca_dir={self.ca_dir(names)}"]
        if check:
            argv += ["--check", "--diff"]
        load1 = os.getloadavg()[0]
        targets0 = [container_cpu_seconds(self.containers.ids.get(n, "")) for n in names]
        busy0, total0 = _cpu_times()
        peak = 0
        with open(log, "w", encoding="utf-8") as out:
            out.write("$ " + " ".join(argv) + "\n")
            out.flush()
            start = time.monotonic()
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
                                    start_new_session=True)
            done = threading.Event()

            def sample_memory() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, _session_pss_kb(proc.pid))
                    done.wait(0.5)

            sampler = threading.Thread(target=sample_memory, daemon=True)
            sampler.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:
                # Ctrl-C or SIGTERM reaches only this process (the run has its own session): stop it.
                done.set()
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()
                raise
            wall = time.monotonic() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            done.set()
            sampler.join()
        busy1, total1 = _cpu_times()
        targets1 = [container_cpu_seconds(self.containers.ids.get(n, "")) for n in names]
        target_cpu = (sum(b - a for a, b in zip(targets0, targets1))
                      if None not in targets0 and None not in targets1 else float("nan"))
        if proc.returncode != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
            raise BenchError(f"{variant.name} {kind} run failed (exit {proc.returncode}); log {log}:\n{tail}")
        data = json.loads(counts.read_text())
        per_host = list(data["hosts"].values())
        hosts = max(len(per_host), 1)

        def avg(key: str) -> float:
            return sum(h[key] for h in per_host) / hosts

        execs = sum(1 for line in dockerlog.read_text().splitlines() if line == "exec") / hosts
        profile = [{"name": t["name"], "seconds": round(t["seconds"], 3), "cpu": round(t.get("cpu", 0.0), 3),
                    "module_calls": t["module_calls"], "results": t["results"], "handler": t["handler"]} for t in data["tasks"]]
        return Sample(
            variant=variant.name, kind=kind, hosts=len(names), forks=forks, wall=wall,
            cpu=usage.ru_utime + usage.ru_stime, target_cpu=target_cpu, maxrss_mb=usage.ru_maxrss / 1024, peak_pss_mb=peak / 1024,
            host_busy=(busy1 - busy0) / max(total1 - total0, 1), load1=load1,
            tasks=avg("ok") + avg("changed") + avg("failed"), skipped=avg("skipped"), changed=avg("changed"),
            module_calls=avg("module_calls"), execs=execs, fact_gathering=avg("fact_gathering"),
            tasks_profile=profile,
            cpu_startup=usage.ru_utime + usage.ru_stime - sum(t["cpu"] for t in profile),
            log=str(log),
        )


# ------------------------------------------------------------------------------------------------
# Statistics and tables
# ------------------------------------------------------------------------------------------------
def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return "n=1"
    return f"{min(values):.1f}-{max(values):.1f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    fmt = "  ".join("{:<%d}" % w if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    lines = [fmt.format(*headers), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*[str(x) for x in row]) for row in rows]
    return "\n".join(lines)


def summary_row(label: str, samples: list[Sample]) -> list[str]:
    walls = [s.wall for s in samples]
    return [
        label, str(len(samples)), f"{med(walls):.1f}", spread(walls),
        f"{med([s.cpu for s in samples]):.1f}", f"{med([s.target_cpu for s in samples]):.1f}",
        f"{med([s.peak_pss_mb for s in samples]):.0f}",
        f"{med([s.tasks for s in samples]):.0f}", f"{med([s.skipped for s in samples]):.0f}",
        f"{med([s.module_calls for s in samples]):.0f}", f"{med([s.execs for s in samples]):.0f}",
        f"{med([s.changed for s in samples]):.0f}", f"{med([s.fact_gathering for s in samples]):.0f}",
        f"{med([s.host_busy for s in samples]) * 100:.0f}%", f"{med([s.load1 for s in samples]):.1f}",
    ]


SUMMARY_HEADERS = ["variant / run", "n", "wall s (median)", "min-max", "ctl CPU s", "host CPU s", "ctl PSS MB",
                   "tasks/host", "skipped", "module calls", "round trips", "changed", "facts", "machine busy", "load"]


def task_medians(samples: list[Sample]) -> list[tuple[str, float, int, float]]:
    """Per task name, in run order: the median of its time and of its controller CPU over the runs, and its
    module calls per host."""
    times: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    calls: dict[str, int] = {}
    for s in samples:
        for t in s.tasks_profile:
            times.setdefault(t["name"], []).append(t["seconds"])
            cpus.setdefault(t["name"], []).append(t.get("cpu", 0.0))
            calls[t["name"]] = t["module_calls"] // max(s.hosts, 1)
    return [(n, med(v), calls[n], med(cpus[n])) for n, v in times.items()]


def ratio(num: float, den: float) -> str:
    return f"{num / den:.2f}x" if den > 0 else "n/a"


# ------------------------------------------------------------------------------------------------
# Benchmarks
# ------------------------------------------------------------------------------------------------
def alternate(variants: list[Variant], rep: int) -> list[Variant]:
    return list(variants) if rep % 2 == 0 else list(reversed(variants))


def bench_compare(settings: Settings, runner: Runner, containers: Containers, variants: list[Variant],
                  out: list[str], record: dict) -> None:
    samples: dict[tuple[str, str], list[Sample]] = {}
    current: dict[str, str] = {}
    # Every first converge gets containers no playbook has touched; they are all started and
    # prepared up front in one go (prepare is not measured, and one run of it is cheaper than three).
    sets = [{v.name: f"{PREFIX}-bench-{v.letter}{rep + 1}" for v in variants} for rep in range(settings.converge_reps)]
    every = [name for names in sets for name in names.values()]
    containers.create(every)
    runner.prepare(every)
    for rep, names in enumerate(sets):
        for v in alternate(variants, rep):
            s = runner.run(v, [names[v.name]], kind="converge")
            samples.setdefault((v.name, "converge"), []).append(s)
            print(f"[compare] converge {v.name} #{rep + 1}: {s.wall:.1f}s, {s.changed:.0f} changed", flush=True)
        states = {v.name: runner.end_state(names[v.name], v.key_types) for v in variants}
        for v in variants:
            if not (runner.ca_dir([names[v.name]]) / "ca.pem").is_file():
                states[v.name]["missing"].append(f"{runner.ca_dir([names[v.name]])}/ca.pem (the run's own local CA)")
            if states[v.name]["missing"]:
                raise BenchError(f"{v.name} did not reach the end state the benchmark compares "
                                 f"(renamed variables in fleet.py's group_vars?): missing {', '.join(states[v.name]['missing'])}")
        for pair in present_pairs(variants):
            a, b = (set(states[name]["settings"]) for name in pair)
            diff = sorted(f"{pair[0]}: {x}" for x in a - b) + sorted(f"{pair[1]}: {x}" for x in b - a)
            record.setdefault("end_state_differences", {}).setdefault(" vs ".join(pair), diff)
            if diff and rep == 0:
                print(f"[compare] end states of {' and '.join(pair)} differ in:\n  " + "\n  ".join(diff), flush=True)
        containers.remove(list(current.values()))
        current = names
    for kind, check in (("re-run", False), ("check", True)):
        for rep in range(settings.reps):
            for v in alternate(variants, rep):
                s = runner.run(v, [current[v.name]], kind=kind, check=check)
                samples.setdefault((v.name, kind), []).append(s)
                note = "" if s.changed == 0 else f"  <-- {s.changed:.0f} changed: not a no-op"
                print(f"[compare] {kind} {v.name} #{rep + 1}: {s.wall:.1f}s{note}", flush=True)
    containers.remove(every)

    rows = [summary_row(f"{v.name} {kind}", samples[(v.name, kind)])
            for kind in ("converge", "re-run", "check") for v in variants]
    text = ["## compare: one host, the collection's site playbook vs hand-written playbooks", "",
            table(SUMMARY_HEADERS, rows)]
    for pair, diff in record.get("end_state_differences", {}).items():
        if diff:
            text += ["", f"end state differences of {pair} after the first converge (postconf, master.cf -o, doveconf -n):"]
            text += [f"  {line}" for line in diff]
        else:
            text += ["", f"end states of {pair} after the first converge: same files, Postfix parameters, master.cf "
                     "overrides and Dovecot ssl settings"]
    for ours, theirs in present_pairs(variants):
        text += compare_pair(samples, ours, theirs, record)
    for v in variants:
        text += ["", f"the {v.name} no-op re-runs, task by task (median controller CPU s, median seconds, module calls per "
                 f"host); start-up and wrap-up outside tasks: {med([s.cpu_startup for s in samples[(v.name, 're-run')]]):.2f} s CPU"]
        text += [f"  {cpu:5.2f}  {sec:6.2f}  {calls:3d}  {name}" for name, sec, calls, cpu in task_medians(samples[(v.name, "re-run")])]
    out.append("\n".join(text))
    record["compare"] = {f"{k[0]} {k[1]}": [asdict(s) for s in v] for k, v in samples.items()}
    record["compare_converge_1h"] = {v.name: med([s.wall for s in samples[(v.name, "converge")]]) for v in variants}


def present_pairs(variants: list[Variant]) -> list[tuple[str, str]]:
    names = {v.name for v in variants}
    return [pair for pair in PAIRS if set(pair) <= names]


def paired(c: list[Sample], b: list[Sample], attr: str) -> float:
    """The median of the per-pair ratios: each collection run against the hand-written run next to it."""
    return med([getattr(x, attr) / getattr(y, attr) for x, y in zip(c, b) if getattr(y, attr)])


def compare_pair(samples: dict[tuple[str, str], list[Sample]], ours: str, theirs: str, record: dict) -> list[str]:
    """Ratios of one pair, per kind of run, and the no-op goals against this hand-written playbook."""
    rows = []
    for kind in ("converge", "re-run", "check"):
        c, b = samples[(ours, kind)], samples[(theirs, kind)]
        rows.append([kind, ratio(med([s.wall for s in c]), med([s.wall for s in b])), f"{paired(c, b, 'wall'):.2f}x",
                     ratio(med([s.cpu for s in c]), med([s.cpu for s in b])), f"{paired(c, b, 'cpu'):.2f}x",
                     ratio(med([s.target_cpu for s in c]), med([s.target_cpu for s in b])),
                     ratio(med([s.execs for s in c]), med([s.execs for s in b])),
                     ratio(med([s.tasks + s.skipped for s in c]), med([s.tasks + s.skipped for s in b]))])
    c, b = samples[(ours, "re-run")], samples[(theirs, "re-run")]
    wall, cpu = paired(c, b, "wall"), paired(c, b, "cpu")
    record.setdefault("goals", {})[f"{ours} vs {theirs}"] = {"noop_wall_pairs": wall, "noop_cpu_pairs": cpu}
    return ["", f"{ours} / {theirs} (lower is better; task entries: results incl. skipped):", "",
            table(["run", "wall (medians)", "wall (pairs)", "ctl CPU (medians)", "ctl CPU (pairs)", "host CPU",
                   "round trips", "task entries"], rows),
            "",
            f"goal: {ours} no-op wall <= {GOAL_NOOP_WALL}x {theirs}: {wall:.2f}x -> {'met' if wall <= GOAL_NOOP_WALL else 'MISSED'}",
            f"goal: {ours} no-op controller CPU <= {GOAL_NOOP_CPU}x {theirs}: {cpu:.2f}x -> "
            f"{'met' if cpu <= GOAL_NOOP_CPU else 'MISSED'}"]


def added_host_cpu(samples: dict[tuple[str, int], list[Sample]], name: str, size: int) -> float | None:
    """Controller CPU per host beyond the first: (median CPU at ``size`` hosts - median at one) / (size - 1)."""
    if size <= 1 or (name, 1) not in samples or (name, size) not in samples:
        return None
    return (med([s.cpu for s in samples[(name, size)]]) - med([s.cpu for s in samples[(name, 1)]])) / (size - 1)


def write_floor_playbook(workdir: Path, trips: int) -> Path:
    """``trips`` separate ping tasks (not a loop: each task costs its own controller pass, as the
    collection's tasks do)."""
    tasks = [{"name": f"Round trip {i + 1}", "ansible.builtin.ping": {}} for i in range(trips)]
    path = workdir / "floor.yml"
    path.write_text(json.dumps([{"name": "Floor", "hosts": "mailservers", "gather_facts": False, "tasks": tasks}], indent=1))
    return path


def bench_scale(settings: Settings, runner: Runner, containers: Containers, variants: list[Variant],
                out: list[str], record: dict) -> None:
    top = max(settings.sizes)
    fleets = {v.name: [f"{PREFIX}-bench-{v.letter}s{i + 1}" for i in range(top)] for v in variants}
    every = [n for names in fleets.values() for n in names]
    containers.create(every)
    # The floor's containers run the same services, so that every variant's hosts idle alike.
    runner.prepare(every)
    converge: dict[str, Sample] = {}
    ordered = sorted(variants, key=lambda v: v.name == "floor")
    for i, v in enumerate(ordered):
        if v.name == "floor":
            trips = settings.floor_round_trips
            collection = fleets.get("collection")
            if collection:
                # One untimed no-op of the collection on one host says how many round trips it makes.
                measured = next(x for x in ordered if x.name == "collection")
                trips = round(runner.run(measured, collection[:1], kind="count").execs)
            v = ordered[i] = replace(v, playbook=str(write_floor_playbook(runner.workdir, trips)))
            record["floor_round_trips"] = trips
            converge[v.name] = runner.run(v, fleets[v.name], kind="converge")
            print(f"[scale] floor: {trips} ansible.builtin.ping tasks per host (the collection's round trips)", flush=True)
            continue
        converge[v.name] = runner.run(v, fleets[v.name], kind="converge")
        missing = runner.end_state(fleets[v.name][-1], v.key_types)["missing"]
        if not (runner.ca_dir(fleets[v.name]) / "ca.pem").is_file():
            missing.append(f"{runner.ca_dir(fleets[v.name])}/ca.pem (the run's own local CA)")
        if missing:
            raise BenchError(f"{v.name} did not reach the end state on {fleets[v.name][-1]}: missing {', '.join(missing)}")
        print(f"[scale] converge {v.name} on {top} hosts: {converge[v.name].wall:.1f}s", flush=True)
    variants = [next(x for x in ordered if x.name == v.name) for v in variants]
    samples: dict[tuple[str, int], list[Sample]] = {}
    for rep in range(settings.scale_reps):
        order = settings.sizes if rep % 2 == 0 else list(reversed(settings.sizes))
        for size in order:
            for v in alternate(variants, rep):
                s = runner.run(v, fleets[v.name][:size], kind="re-run")
                samples.setdefault((v.name, size), []).append(s)
                note = "" if s.changed == 0 else f"  <-- {s.changed:.0f} changed per host: not a no-op"
                print(f"[scale] re-run {v.name} {size} hosts #{rep + 1}: {s.wall:.1f}s{note}", flush=True)
    containers.remove(every)

    rows = []
    for v in variants:
        one = med([s.wall for s in samples[(v.name, 1)]])
        for size in settings.sizes:
            ss = samples[(v.name, size)]
            wall = med([s.wall for s in ss])
            added = added_host_cpu(samples, v.name, size)
            rows.append([f"{v.name} {size} host(s)", str(size), str(len(ss)), f"{wall:.1f}", spread([s.wall for s in ss]),
                         ratio(wall, one), f"{med([s.cpu for s in ss]):.1f}", f"{med([s.cpu for s in ss]) / size:.2f}",
                         "-" if added is None else f"{added:.2f}", f"{med([s.target_cpu for s in ss]) / size:.2f}",
                         f"{med([s.peak_pss_mb for s in ss]):.0f}", f"{med([s.maxrss_mb for s in ss]):.0f}",
                         f"{med([s.host_busy for s in ss]) * 100:.0f}%", f"{med([s.execs for s in ss]):.0f}"])
    text = [f"## scale: no-op re-run on 1..{top} hosts, forks = hosts ({os.cpu_count()} CPUs)", "",
            table(["variant / hosts", "forks", "n", "wall s (median)", "min-max", "vs 1 host", "ctl CPU s",
                   "ctl CPU s/host", "ctl CPU s/added host", "host CPU s/host", "ctl PSS MB", "max RSS MB", "machine busy",
                   "round trips/host"], rows)]
    conv = []
    for v in variants:
        c = converge[v.name]
        one = record.get("compare_converge_1h", {}).get(v.name)
        conv.append(f"  {v.name}: first converge of {top} hosts {c.wall:.1f}s (n=1)"
                    + (f", {c.wall / one:.2f}x the one-host median" if one else "")
                    + f"; controller CPU {c.cpu:.1f}s, PSS {c.peak_pss_mb:.0f} MB")
    text += ["", "first converge at fleet size:"] + conv
    ratios = {v.name: med([s.wall for s in samples[(v.name, top)]]) / med([s.wall for s in samples[(v.name, 1)]])
              for v in variants}
    for v in variants:
        r = ratios[v.name]
        if v.name == "floor":
            text.append(f"floor: {record['floor_round_trips']} ping tasks per host, {top} hosts {r:.2f}x one host "
                        "(what Ansible alone scales at on this machine with hosts that share its CPUs)")
        else:
            text.append(f"{v.name}: {top} hosts {r:.2f}x one host (the README's 3x mark)"
                        + (f", floor {ratios['floor']:.2f}x" if "floor" in ratios else ""))
        record[f"goal_scale_ratio_{v.name}"] = r
        added = added_host_cpu(samples, v.name, top)
        if added is not None and v.name.startswith("collection"):
            verdict = "met" if added <= GOAL_CPU_PER_ADDED_HOST else "MISSED"
            text.append(f"goal: {v.name} controller CPU per added host <= {GOAL_CPU_PER_ADDED_HOST:.0f} s: {added:.2f} s -> {verdict}")
        record.setdefault("goals", {})[f"{v.name} cpu per added host"] = added
    for v in (v for v in variants if v.name != "floor"):
        one = {n: cpu for n, _sec, _calls, cpu in task_medians(samples[(v.name, 1)])}
        grown = sorted(((cpu - one.get(n, 0.0), cpu, one.get(n, 0.0), n) for n, _sec, _calls, cpu in task_medians(samples[(v.name, top)])),
                       reverse=True)
        text += ["", f"{v.name}: controller CPU by task at 1 -> {top} hosts (median s), most grown first:"]
        text += [f"  {a:6.2f} -> {b:6.2f}  {n}" for _, b, a, n in grown[:8]]
    out.append("\n".join(text))
    record["scale"] = {f"{k[0]} {k[1]}": [asdict(s) for s in v] for k, v in samples.items()}
    record["scale_converge"] = {k: asdict(v) for k, v in converge.items()}


# ------------------------------------------------------------------------------------------------
def machine() -> str:
    with open("/proc/meminfo", encoding="ascii") as handle:
        mem_kb = int(handle.readline().split()[1])
    ansible = subprocess.run(["ansible", "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
    return (f"{os.cpu_count()} CPUs, {mem_kb / 1024 / 1024:.1f} GiB RAM, load {os.getloadavg()[0]:.1f}, "
            f"{ansible[0] if ansible else 'ansible ?'}, Python {sys.version.split()[0]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmarks", nargs="*", default=["compare", "scale"], choices=["compare", "scale"])
    args = parser.parse_args()
    settings = Settings.from_env()
    settings.results.mkdir(parents=True, exist_ok=True)
    logdir = settings.results / f"{settings.run_id}-logs"
    logdir.mkdir(parents=True, exist_ok=True)
    containers = Containers(settings)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    out: list[str] = []
    record: dict = {"run_id": settings.run_id, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                    "machine": machine(), "command": " ".join(sys.argv), "settings": {
                        k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}}
    header = (f"# fleet benchmarks {record['date']}\n{record['machine']}\n"
              f"image {settings.image}; pipelining {'on' if settings.pipelining else 'off'}; reps: converge "
              f"{settings.converge_reps}, re-run/check {settings.reps}, scale {settings.scale_reps}"
              f"{' (BENCH_QUICK)' if settings.quick else ''}")
    print(header, flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-bench-") as tmp:
            runner = Runner(settings, Path(tmp), logdir, containers)
            if "compare" in args.benchmarks:
                bench_compare(settings, runner, containers, build_variants(settings, settings.variants), out, record)
            if "scale" in args.benchmarks:
                bench_scale(settings, runner, containers, build_variants(settings, settings.scale_variants), out, record)
    except BenchError as exc:
        print(f"[bench] FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        containers.remove_all()
        if out:
            text = header + "\n\n" + "\n\n".join(out) + "\n"
            print("\n" + text)
            with open(settings.results / "results.log", "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
            (settings.results / f"{settings.run_id}-fleet.json").write_text(json.dumps(record, indent=1))
            print(f"[bench] raw samples: {settings.results / (settings.run_id + '-fleet.json')}; logs: {logdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
