#!/usr/bin/env python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.mail_tls_verify against sslscan over the seven mail ports of one container.

One Debian 12 test container (postmaster-testbed:debian12, loopback only) runs the stock Postfix
and Dovecot with submission (587) and submissions (465) switched on, so all seven ports answer:
25, 587 and 143, 110 with STARTTLS; 465, 993 and 995 implicit TLS.

Per round, interleaved so that load on this shared machine hits every contender alike:

  module     the module as it runs on a managed host: its AnsiballZ payload, built once by Ansible
             with ANSIBLE_KEEP_REMOTE_FILES, executed with the container's python3 (``docker exec``;
             Python start-up, imports, all checks, JSON out). This is the number the goal is about.
  ansible    the same module through ``ansible`` ad hoc over the docker connection, end to end
             (controller start-up, transfer, run), for context.
  sslscan    sslscan's default scan of the seven ports, one after another, as a person would run it
             (``--starttls-smtp`` etc.), in the container's network namespace.
  sslscan-p  sslscan limited to the protocol-version check (no cipher, group, heartbleed,
             renegotiation, fallback or compression tests): the closest like-for-like comparison.

Medians of the rounds (5, or 2 with BENCH_QUICK=1) and the ratio sslscan / module are printed; the
goal is the module at least 10 times faster than sslscan. Raw samples go to
$BENCH_RESULTS/<run id>-verify.json (bench/results/ by default).

Run from the repository root: /work/main/.venv/bin/python bench/verify_vs_sslscan.py [--rounds N]
The container (pm-bench-verify-<pid>, labelled postmaster.bench.run=<run id>) is always removed.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "postmaster-testbed:debian12"
GOAL_RATIO = 10.0
PORTS = [(25, "smtp"), (587, "smtp"), (465, None), (143, "imap"), (993, None), (110, "pop3"), (995, None)]
MODULE_ARGS = {"all_ports": True, "server_name": "mail.example.test", "report_only": True}
SSLSCAN_PROTOCOLS_ONLY = ["--no-ciphersuites", "--no-groups", "--no-heartbleed", "--no-renegotiation",
                          "--no-fallback", "--no-compression", "--no-check-certificate"]


class BenchError(RuntimeError):
    pass


def run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv[:6])} ... failed ({done.returncode}): {done.stderr.strip()[-600:] or done.stdout[-600:]}")
    return done


def timed(argv: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    done = run(argv, **kwargs)
    return time.monotonic() - start, done


class Container:
    def __init__(self, run_id: str) -> None:
        self.name = f"pm-bench-verify-{os.getpid()}"
        self.run_id = run_id
        self.pid = ""

    def __enter__(self) -> Container:
        run(["docker", "run", "-d", "--name", self.name, "--hostname", "mail.example.test", "--network", "none",
             "--label", f"postmaster.bench.run={self.run_id}", IMAGE, "sleep", "infinity"])
        self.pid = run(["docker", "inspect", "-f", "{{.State.Pid}}", self.name]).stdout.strip()
        return self

    def __exit__(self, *_exc) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, check=False)

    def sh(self, script: str) -> str:
        return run(["docker", "exec", self.name, "sh", "-c", script]).stdout

    def prepare(self) -> None:
        self.sh(
            "postconf -e myhostname=mail.example.test inet_protocols=ipv4"
            " && postconf -M 'submission/inet=submission inet n - y - - smtpd' 'smtps/inet=smtps inet n - y - - smtpd'"
            " && postconf -P smtps/inet/smtpd_tls_wrappermode=yes"
            " && service postfix start >/dev/null && service dovecot start >/dev/null"
        )
        wanted = {str(port) for port, _ in PORTS}
        for _ in range(60):
            listening = self.sh("ss -Hltn | awk '{print $4}' | sed 's/.*://'").split()
            if wanted <= set(listening):
                return
            time.sleep(0.5)
        raise BenchError(f"not all of the ports {sorted(wanted)} listen in {self.name}")


def collection_copy(directory: Path) -> Path:
    """The working tree's collection under ansible_collections/postmaster/tls (always current)."""
    target = directory / "ansible_collections" / "postmaster" / "tls"
    target.mkdir(parents=True)
    for item in ("plugins", "meta", "galaxy.yml"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, target / item)
        else:
            shutil.copy2(source, target / item)
    return directory


def ansible_env(collections: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    env.update(extra)
    return env


def ansible_adhoc(container: Container, env: dict[str, str]) -> list[str]:
    return [str(Path(sys.executable).with_name("ansible")), "all", "-i", f"{container.name},",
            "-c", "community.docker.docker", "-m", "postmaster.tls.mail_tls_verify", "-a", json.dumps(MODULE_ARGS)]


def check_module_output(text: str) -> dict:
    result = json.loads(text[text.index("{"):])
    if "plays" in result:  # the json callback of the ad-hoc run
        result = next(iter(result["plays"][0]["tasks"][0]["hosts"].values()))
    endpoints = result.get("endpoints", [])
    if len(endpoints) != 7 or not all(e["reachable"] and e["tls_version"] for e in endpoints):
        raise BenchError(f"the module did not check all seven ports: {result.get('summary') or result.get('msg')}")
    return result


def sslscan_argv(container: Container, port: int, starttls: str | None, extra: list[str]) -> list[str]:
    argv = ["nsenter", "-t", container.pid, "-n", "sslscan", "--no-colour", *extra]
    if starttls:
        argv.append(f"--starttls-{starttls}")
    return [*argv, f"127.0.0.1:{port}"]


def sslscan_all(container: Container, extra: list[str]) -> float:
    start = time.monotonic()
    for port, starttls in PORTS:
        out = run(sslscan_argv(container, port, starttls, extra)).stdout
        if "TLSv1.2" not in out:
            raise BenchError(f"sslscan found no TLS on port {port}: {out[-400:]}")
    return time.monotonic() - start


def summarize(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} s  [{min(values):.2f} - {max(values):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2 if os.environ.get("BENCH_QUICK") else 5)
    args = parser.parse_args()
    if shutil.which("sslscan") is None or shutil.which("nsenter") is None:
        raise BenchError("sslscan and nsenter are needed on this machine (./dev.sh setup installs them)")
    run_id = os.environ.get("BENCH_RUN_ID", time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}")
    results_dir = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results"))
    samples: dict[str, list[float]] = {"module": [], "module_internal": [], "ansible": [], "sslscan": [], "sslscan_protocols": []}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="pm-bench-verify-") as tmp, Container(run_id) as container:
        print(f"[bench verify] container {container.name} from {IMAGE}; {args.rounds} rounds", flush=True)
        container.prepare()
        collections = collection_copy(Path(tmp))
        # Build the module payload once (Ansible leaves it in the container with KEEP_REMOTE_FILES).
        keep = ansible_env(collections, ANSIBLE_KEEP_REMOTE_FILES="1")
        check_module_output(run(ansible_adhoc(container, keep), env=keep).stdout)
        payload = container.sh("find /root/.ansible/tmp -name AnsiballZ_mail_tls_verify.py | head -n 1").strip()
        if not payload:
            raise BenchError("Ansible left no AnsiballZ_mail_tls_verify.py in the container")
        env = ansible_env(collections)
        for number in range(1, args.rounds + 1):
            seconds, done = timed(["docker", "exec", container.name, "python3", payload])
            result = check_module_output(done.stdout)
            samples["module"].append(seconds)
            samples["module_internal"].append(result["elapsed"])
            seconds, done = timed(ansible_adhoc(container, env), env=env)
            check_module_output(done.stdout)
            samples["ansible"].append(seconds)
            samples["sslscan"].append(sslscan_all(container, []))
            samples["sslscan_protocols"].append(sslscan_all(container, SSLSCAN_PROTOCOLS_ONLY))
            print(f"[bench verify] round {number}: module {samples['module'][-1]:.2f} s, ansible {samples['ansible'][-1]:.2f} s,"
                  f" sslscan {samples['sslscan'][-1]:.2f} s, sslscan protocols only {samples['sslscan_protocols'][-1]:.2f} s",
                  flush=True)
    module = statistics.median(samples["module"])
    ratio = statistics.median(samples["sslscan"]) / module
    ratio_protocols = statistics.median(samples["sslscan_protocols"]) / module
    ratio_ansible = statistics.median(samples["sslscan"]) / statistics.median(samples["ansible"])
    lines = [
        f"mail_tls_verify vs sslscan: 7 ports (25, 587, 465, 143, 993, 110, 995) of one {IMAGE} container,",
        f"median of {args.rounds} rounds [min - max]",
        f"  module (AnsiballZ payload in the container)       {summarize(samples['module'])}",
        f"    of which the checks themselves (RV elapsed)      {summarize(samples['module_internal'])}",
        f"  module through ansible ad hoc, end to end          {summarize(samples['ansible'])}",
        f"  sslscan default scan, port after port              {summarize(samples['sslscan'])}",
        f"  sslscan protocol versions only, port after port    {summarize(samples['sslscan_protocols'])}",
        "",
        f"ratio sslscan / module: {ratio:.1f}x -> goal >= {GOAL_RATIO:.0f}x {'met' if ratio >= GOAL_RATIO else 'MISSED'}",
        f"ratio sslscan protocols-only / module: {ratio_protocols:.1f}x; sslscan / module through ansible: {ratio_ansible:.1f}x",
    ]
    print("\n".join(lines))
    results_dir.mkdir(parents=True, exist_ok=True)
    record = {"run_id": run_id, "image": IMAGE, "rounds": args.rounds, "samples": samples, "ratio": ratio,
              "ratio_protocols_only": ratio_protocols, "ratio_through_ansible": ratio_ansible,
              "goal_ratio": GOAL_RATIO, "load_average": os.getloadavg()}
    (results_dir / f"{run_id}-verify.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"[bench verify] error: {exc}", file=sys.stderr)
        sys.exit(1)
