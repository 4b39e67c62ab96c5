#!/usr/bin/env python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.mail_tls_verify with grade=true against sslscan and testssl.sh over seven mail ports.

Two Debian 12 test containers (postmaster-testbed:debian12, loopback only), each with Postfix and
Dovecot on all seven ports (25, 587, 143, 110 with STARTTLS; 465, 993, 995 implicit TLS):

  stock      the distributions' own TLS settings (many suites, TLS 1.0+ on Postfix): the most work
             for a grader that enumerates what is accepted;
  deployed   the collection's intermediate profile (ECDHE + AEAD, TLS 1.2+, security level 2): what
             a deployment graded by the verify role looks like.

Per round and container, in turn (so load on this shared machine hits every contender alike):

  module     the module as it runs on a managed host: its AnsiballZ payload (built once by Ansible
             with ANSIBLE_KEEP_REMOTE_FILES) with grade=true, executed with the container's python3:
             Python start-up, the verifier's checks and the grading of all seven ports, JSON out.
             Measured twice: through `docker exec` (as the docker connection starts it: the daemon's
             round trip is in the time) and through nsenter into the container's namespaces, the way
             sslscan and testssl.sh are started (like for like: no daemon in either time).
  sslscan    sslscan's full default scan of the seven ports, one after another, in the container's
             network namespace, as a person would run it.
  testssl    testssl.sh over the seven ports, one after another, limited to what the grading covers:
             protocols, ciphers per protocol, server defaults (certificate), server preference,
             forward secrecy (groups), renegotiation and compression (-p -E -S -P -f -R -C).

  module, role default   the same, with the verify role's default grade (grade=true alone: every
             verdict, without listing each accepted group), entered with nsenter.

Server CPU: around every run entered with nsenter (module, sslscan, testssl.sh) the container's cgroup
CPU time is read, so each contender's cost to Postfix and Dovecot is measured apart from the client's
own. (docker exec puts the module itself in the container's cgroup, so that run is not counted.) From
it the floor: the module's start-up (wall time less its RV `elapsed`) plus the servers' CPU spread over
every core of this machine, the least the module's run could take here even if the client cost nothing.

BENCH_GRADE_FLAVOURS (or --flavours) picks the containers: stock, deployed or both (the default).
Medians of the rounds (3, or 1 with BENCH_QUICK=1) and the ratios sslscan / module and testssl /
module are printed; the goal is the module under a tenth of sslscan's time (ratio >= 10). Raw samples
go to $BENCH_RESULTS/<run id>-grade.json.

Run from the repository root: /work/main/.venv/bin/python bench/grade_vs_sslscan.py [--rounds N]
The containers (pm-bench-grade-<stock|deployed>-<pid>, labelled postmaster.bench.run=<run id>) are
always removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import verify_vs_sslscan as base  # noqa: E402  (the verify benchmark's container and Ansible helpers)

T = t.TypeVar("T")

GOAL_RATIO = 10.0
TESTSSL_CHECKS = ["-p", "-E", "-S", "-P", "-f", "-R", "-C"]
STARTTLS = {25: "smtp", 587: "smtp", 143: "imap", 110: "pop3"}
TESTSSL_ERRORS = 240
# The full grade (every accepted group too, as sslscan's full scan lists them), not the verify role's default.
MODULE_ARGS = {"all_ports": True, "server_name": "mail.example.test", "report_only": True, "grade": True,
               "grade_all_groups": True}
# What the verify role runs (verify_grade: true): every verdict, the accepted groups not listed one by one.
DEFAULT_ARGS = {key: value for key, value in MODULE_ARGS.items() if key != "grade_all_groups"}
CGROUP_FILES = (  # cgroup v2 (cgroupfs or systemd driver, unified or hybrid), then v1 (nanoseconds)
    "/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat", "/sys/fs/cgroup/docker/{id}/cpu.stat",
    "/sys/fs/cgroup/unified/docker/{id}/cpu.stat", "/sys/fs/cgroup/unified/system.slice/docker-{id}.scope/cpu.stat",
    "/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage", "/sys/fs/cgroup/cpu,cpuacct/docker/{id}/cpuacct.usage",
    "/sys/fs/cgroup/cpuacct/system.slice/docker-{id}.scope/cpuacct.usage",
)



def intermediate_ciphers(collections: Path) -> str:
    """The collection's intermediate cipher list, from its one definition (_profiles.py), imported from the
    copy of the collection under ``collections`` (it imports the collection's other floor modules)."""
    if str(collections) not in sys.path:
        sys.path.insert(0, str(collections))
    from ansible_collections.postmaster.tls.plugins.module_utils import _profiles  # pylint: disable=import-outside-toplevel

    return _profiles.PROFILES["intermediate"].cipher_list


class Container(base.Container):
    def __init__(self, run_id: str, flavour: str) -> None:
        super().__init__(run_id)
        self.name = f"pm-bench-grade-{flavour}-{os.getpid()}"
        self.flavour = flavour
        self.cgroup: Path | None = None

    def __enter__(self) -> Container:
        super().__enter__()
        ident = base.run(["docker", "inspect", "-f", "{{.Id}}", self.name]).stdout.strip()
        found = [Path(pattern.format(id=ident)) for pattern in CGROUP_FILES if Path(pattern.format(id=ident)).is_file()]
        self.cgroup = found[0] if found else None
        if self.cgroup is None:
            print(f"[bench grade] no CPU accounting file for {self.name} under /sys/fs/cgroup: server CPU not measured",
                  flush=True)
        return self

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by everything in the container's cgroup (the mail servers), or None."""
        if self.cgroup is None:
            return None
        text = self.cgroup.read_text(encoding="ascii")
        if self.cgroup.name == "cpuacct.usage":
            return int(text) / 1e9
        usage = next(line.split()[1] for line in text.splitlines() if line.startswith("usage_usec "))
        return int(usage) / 1e6

    def served(self, contender: t.Callable[[], T]) -> tuple[T, float | None]:
        """``contender``'s own result and the server CPU it cost."""
        before = self.cpu_seconds()
        seconds = contender()
        after = self.cpu_seconds()
        return seconds, None if before is None or after is None else after - before

    def prepare(self, collections: Path) -> None:  # pylint: disable=arguments-differ
        super().prepare()
        if self.flavour != "deployed":
            return
        ciphers = intermediate_ciphers(collections)
        self.sh(
            "postconf -e 'smtpd_tls_protocols=>=TLSv1.2' 'smtpd_tls_mandatory_protocols=>=TLSv1.2'"
            f" smtpd_tls_ciphers=high smtpd_tls_mandatory_ciphers=high 'tls_high_cipherlist={ciphers}'"
            " 'tls_eecdh_auto_curves=X25519 prime256v1 secp384r1'"
            f" && printf 'ssl_cipher_list = {ciphers}\\nssl_min_protocol = TLSv1.2\\n'"
            " >/etc/dovecot/conf.d/99-bench-grade.conf"
            " && postfix reload >/dev/null && doveadm reload"
        )
        time.sleep(1)


def sslscan_all(container: Container) -> float:
    return base.sslscan_all(container, [])


def testssl_all(container: Container) -> float:
    start = time.monotonic()
    for port, _proto in base.PORTS:
        argv = ["nsenter", "-t", container.pid, "-n", "testssl", "--quiet", "--warnings", "off", "--color", "0",
                *TESTSSL_CHECKS]
        if port in STARTTLS:
            argv += ["--starttls", STARTTLS[port]]
        done = subprocess.run([*argv, f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=1800, check=False)
        # testssl.sh 3.0's exit status adds up the findings of its checks; only 240 and above are its own
        # errors (no connection, bad options, ...).
        if done.returncode >= TESTSSL_ERRORS:
            raise base.BenchError(f"testssl.sh failed on port {port} ({done.returncode}): {done.stdout[-600:]}")
        out = done.stdout
        if "TLS 1.2" not in out and "TLSv1.2" not in out:
            raise base.BenchError(f"testssl.sh found no TLS 1.2 on port {port}: {out[-400:]}")
    return time.monotonic() - start


def check_grades(text: str) -> dict:
    result = base.check_module_output(text)
    grades = result.get("grades") or []
    if len(grades) != 7 or any(g["subtests"]["starttls_exists"]["verdict"] != "good" for g in grades):
        raise base.BenchError(f"the module did not grade all seven ports: {result.get('grade_summary')}")
    return result


def payload(container: Container, env: dict[str, str], args: dict, label: str) -> str:
    """The AnsiballZ payload of one module run with ``args`` (kept by Ansible in the container, in a directory
    of its own named by ``label``), checked."""
    env = dict(env, ANSIBLE_REMOTE_TMP=f"/root/.ansible/tmp/{label}")
    argv = base.ansible_adhoc(container, env)
    argv[-1] = json.dumps(args)
    check_grades(base.run(argv, env=env).stdout)
    found = container.sh(f"find {env['ANSIBLE_REMOTE_TMP']} -name AnsiballZ_mail_tls_verify.py | head -n 1").strip()
    if not found:
        raise base.BenchError("Ansible left no AnsiballZ_mail_tls_verify.py in the container")
    return found


def entered(container: Container, path: str) -> tuple[float, dict]:
    """The payload entered like sslscan: the container's mount, UTS, IPC, network and PID namespaces (setns to
    its mount namespace makes its root the container's root), but not its cgroup."""
    seconds, done = base.timed(["nsenter", "-t", container.pid, "-m", "-u", "-i", "-n", "-p", "/usr/bin/python3", path])
    return seconds, check_grades(done.stdout)


def median(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def floor_lines(got: dict[str, list], prefix: str, sslscan: float, cores: int) -> list[str]:
    """Server CPU and the floor it sets for one module variant (``prefix``)."""
    server = median(got[f"{prefix}_server_cpu"])
    startup = median([w - e for w, e in zip(got[f"{prefix}_nsenter"], got[f"{prefix}_internal"])])
    if server is None or startup is None:
        return ["    servers' CPU: not measured (no cgroup CPU accounting file)"]
    floor = startup + server / cores
    return [f"    servers' CPU for it {server:6.2f} s; start-up and exit (wall less RV elapsed) {startup:.2f} s",
            f"    floor here: start-up + servers' CPU / {cores} cores = {floor:.2f} s -> at best {sslscan / floor:.1f}x"]


def main() -> int:  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1 if os.environ.get("BENCH_QUICK") else 3)
    parser.add_argument("--flavours", default=os.environ.get("BENCH_GRADE_FLAVOURS", "stock,deployed"),
                        help="comma-separated: stock, deployed (default both)")
    args = parser.parse_args()
    flavours = tuple(f for f in args.flavours.split(",") if f)
    if not flavours or set(flavours) - {"stock", "deployed"}:
        raise base.BenchError(f"--flavours {args.flavours!r}: give stock, deployed or both")
    for tool in ("sslscan", "testssl", "nsenter"):
        if shutil.which(tool) is None:
            raise base.BenchError(f"{tool} is needed on this machine (./dev.sh setup installs it)")
    run_id = os.environ.get("BENCH_RUN_ID", time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}")
    results_dir = Path(os.environ.get("BENCH_RESULTS", base.ROOT / "bench" / "results"))
    cores = os.cpu_count() or 1
    keys = ("module", "module_nsenter", "module_internal", "module_server_cpu", "connections", "default_nsenter",
            "default_internal", "default_server_cpu", "default_connections", "sslscan", "sslscan_server_cpu",
            "testssl", "testssl_server_cpu")
    samples: dict[str, dict[str, list]] = {f: {key: [] for key in keys} for f in flavours}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="pm-bench-grade-") as tmp, contextlib.ExitStack() as stack:
        containers = {f: stack.enter_context(Container(run_id, f)) for f in flavours}
        collections = base.collection_copy(Path(tmp))
        keep = base.ansible_env(collections, ANSIBLE_KEEP_REMOTE_FILES="1")
        payloads = {}
        for flavour, container in containers.items():
            container.prepare(collections)
            payloads[flavour] = {name: payload(container, keep, module_args, name)
                                 for name, module_args in (("full", MODULE_ARGS), ("default", DEFAULT_ARGS))}
            print(f"[bench grade] container {container.name} ({flavour}) ready", flush=True)
        print(f"[bench grade] {args.rounds} rounds; {cores} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
        for number in range(1, args.rounds + 1):
            # Alternate the order of the contenders from round to round.
            order = ["module", "sslscan", "testssl"] if number % 2 else ["testssl", "sslscan", "module"]
            for flavour, container in containers.items():
                got = samples[flavour]
                for contender in order:
                    if contender == "module":
                        seconds, done = base.timed(["docker", "exec", container.name, "python3", payloads[flavour]["full"]])
                        result = check_grades(done.stdout)
                        got["module"].append(seconds)
                        for variant, prefix in (("full", "module"), ("default", "default")):
                            (seconds, result), cpu = container.served(lambda v=variant: entered(container, payloads[flavour][v]))
                            got[f"{prefix}_nsenter"].append(seconds)
                            got[f"{prefix}_internal"].append(result["elapsed"])
                            got[f"{prefix}_server_cpu"].append(cpu)
                            got["connections" if prefix == "module" else "default_connections"].append(
                                sum(g["connections"] for g in result["grades"]))
                    elif contender == "sslscan":
                        seconds, cpu = container.served(lambda: sslscan_all(container))
                        got["sslscan"].append(seconds)
                        got["sslscan_server_cpu"].append(cpu)
                    else:
                        seconds, cpu = container.served(lambda: testssl_all(container))
                        got["testssl"].append(seconds)
                        got["testssl_server_cpu"].append(cpu)
                print(f"[bench grade] round {number} {flavour}: module {got['module'][-1]:.2f} s "
                      f"(nsenter {got['module_nsenter'][-1]:.2f} s, {got['connections'][-1]:.0f} connections; "
                      f"role default {got['default_nsenter'][-1]:.2f} s, {got['default_connections'][-1]:.0f}), "
                      f"sslscan {got['sslscan'][-1]:.2f} s, testssl.sh {got['testssl'][-1]:.2f} s", flush=True)
    lines = [f"mail_tls_verify grade=true vs sslscan and testssl.sh: 7 ports of {base.IMAGE} containers,",
             f"median of {args.rounds} rounds [min - max]; {cores} CPUs"]
    record: dict = {"run_id": run_id, "image": base.IMAGE, "rounds": args.rounds, "samples": samples, "cpus": cores,
                    "goal_ratio": GOAL_RATIO, "testssl_checks": TESTSSL_CHECKS, "load_average": os.getloadavg(),
                    "ratios": {}}
    for flavour in flavours:
        got = samples[flavour]
        sslscan = statistics.median(got["sslscan"])
        module = statistics.median(got["module"])
        entered_full = statistics.median(got["module_nsenter"])
        entered_default = statistics.median(got["default_nsenter"])
        ratios = {"sslscan": sslscan / module, "testssl": statistics.median(got["testssl"]) / module,
                  "sslscan_pairs": statistics.median(s / m for s, m in zip(got["sslscan"], got["module"])),
                  "sslscan_nsenter": sslscan / entered_full,
                  "sslscan_nsenter_pairs": statistics.median(s / m for s, m in zip(got["sslscan"], got["module_nsenter"])),
                  "sslscan_default": sslscan / entered_default}
        server = {name: median(got[f"{name}_server_cpu"]) for name in ("module", "default", "sslscan", "testssl")}
        if server["module"] and server["sslscan"]:
            ratios["server_cpu_sslscan"] = server["sslscan"] / server["module"]
            ratios["server_cpu_sslscan_default"] = server["sslscan"] / server["default"]
        record["ratios"][flavour] = ratios

        def met(ratio: float) -> str:
            return "met" if ratio >= GOAL_RATIO else "MISSED"

        def cpu(name: str) -> str:
            return f"servers' CPU {server[name]:.2f} s" if server[name] is not None else "servers' CPU not measured"

        lines += [
            f"{flavour}:",
            f"  module, grade=true (AnsiballZ payload)            {base.summarize(got['module'])}",
            f"  module, same payload entered with nsenter        {base.summarize(got['module_nsenter'])}",
            f"    of which checks and grading (RV elapsed)         {base.summarize(got['module_internal'])}",
            f"    connections to the seven ports                   {statistics.median(got['connections']):7.0f}",
            *floor_lines(got, "module", sslscan, cores),
            f"  module, the verify role's default grade (nsenter) {base.summarize(got['default_nsenter'])}",
            f"    of which checks and grading (RV elapsed)         {base.summarize(got['default_internal'])}",
            f"    connections to the seven ports                   {statistics.median(got['default_connections']):7.0f}",
            *floor_lines(got, "default", sslscan, cores),
            f"  sslscan full scan, port after port               {base.summarize(got['sslscan'])}; {cpu('sslscan')}",
            f"  testssl.sh {' '.join(TESTSSL_CHECKS)}, port after port {base.summarize(got['testssl'])}; "
            f"{cpu('testssl')}",
            f"  ratio sslscan / module: {ratios['sslscan']:.1f}x (median of pairs {ratios['sslscan_pairs']:.1f}x) -> "
            f"goal >= {GOAL_RATIO:.0f}x {met(ratios['sslscan'])}; testssl.sh / module: {ratios['testssl']:.1f}x",
            f"  ratio sslscan / module entered like sslscan (nsenter): {ratios['sslscan_nsenter']:.1f}x (median of pairs "
            f"{ratios['sslscan_nsenter_pairs']:.1f}x) -> goal >= {GOAL_RATIO:.0f}x {met(ratios['sslscan_nsenter'])}",
            f"  ratio sslscan / the role's default grade (nsenter): {ratios['sslscan_default']:.1f}x -> "
            f"goal >= {GOAL_RATIO:.0f}x {met(ratios['sslscan_default'])}",
        ]
        if "server_cpu_sslscan" in ratios:
            lines.append(f"  servers' CPU, sslscan / module: {ratios['server_cpu_sslscan']:.1f}x (full grade), "
                         f"{ratios['server_cpu_sslscan_default']:.1f}x (the role's default)")
    print("\n".join(lines))
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{run_id}-grade.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except base.BenchError as exc:
        print(f"[bench grade] error: {exc}", file=sys.stderr)
        sys.exit(1)
