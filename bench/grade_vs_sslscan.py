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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import verify_vs_sslscan as base  # noqa: E402  (the verify benchmark's container and Ansible helpers)

GOAL_RATIO = 10.0
TESTSSL_CHECKS = ["-p", "-E", "-S", "-P", "-f", "-R", "-C"]
STARTTLS = {25: "smtp", 587: "smtp", 143: "imap", 110: "pop3"}
TESTSSL_ERRORS = 240
# The full grade (every accepted group too, as sslscan's full scan lists them), not the verify role's default.
MODULE_ARGS = {"all_ports": True, "server_name": "mail.example.test", "report_only": True, "grade": True,
               "grade_all_groups": True}



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


def main() -> int:
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
    samples: dict[str, dict[str, list[float]]] = {
        f: {"module": [], "module_nsenter": [], "module_internal": [], "sslscan": [], "testssl": [], "connections": []}
        for f in flavours}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="pm-bench-grade-") as tmp, contextlib.ExitStack() as stack:
        containers = {f: stack.enter_context(Container(run_id, f)) for f in flavours}
        collections = base.collection_copy(Path(tmp))
        keep = base.ansible_env(collections, ANSIBLE_KEEP_REMOTE_FILES="1")
        payloads = {}
        for flavour, container in containers.items():
            container.prepare(collections)
            argv = base.ansible_adhoc(container, keep)
            argv[-1] = json.dumps(MODULE_ARGS)
            check_grades(base.run(argv, env=keep).stdout)
            payloads[flavour] = container.sh("find /root/.ansible/tmp -name AnsiballZ_mail_tls_verify.py | head -n 1").strip()
            if not payloads[flavour]:
                raise base.BenchError("Ansible left no AnsiballZ_mail_tls_verify.py in the container")
            print(f"[bench grade] container {container.name} ({flavour}) ready", flush=True)
        print(f"[bench grade] {args.rounds} rounds; load average {os.getloadavg()[0]:.1f}", flush=True)
        for number in range(1, args.rounds + 1):
            # Alternate the order of the contenders from round to round.
            order = ["module", "sslscan", "testssl"] if number % 2 else ["testssl", "sslscan", "module"]
            for flavour, container in containers.items():
                got = samples[flavour]
                for contender in order:
                    if contender == "module":
                        seconds, done = base.timed(["docker", "exec", container.name, "python3", payloads[flavour]])
                        result = check_grades(done.stdout)
                        got["module"].append(seconds)
                        got["module_internal"].append(result["elapsed"])
                        got["connections"].append(sum(g["connections"] for g in result["grades"]))
                        # The same payload entered like sslscan: the container's mount, UTS, IPC, network and PID
                        # namespaces (setns to its mount namespace makes its root the container's root).
                        seconds, done = base.timed(["nsenter", "-t", container.pid, "-m", "-u", "-i", "-n", "-p",
                                                    "/usr/bin/python3", payloads[flavour]])
                        check_grades(done.stdout)
                        got["module_nsenter"].append(seconds)
                    elif contender == "sslscan":
                        got["sslscan"].append(sslscan_all(container))
                    else:
                        got["testssl"].append(testssl_all(container))
                print(f"[bench grade] round {number} {flavour}: module {got['module'][-1]:.2f} s "
                      f"(nsenter {got['module_nsenter'][-1]:.2f} s) "
                      f"({got['connections'][-1]:.0f} connections), sslscan {got['sslscan'][-1]:.2f} s, "
                      f"testssl.sh {got['testssl'][-1]:.2f} s", flush=True)
    lines = [f"mail_tls_verify grade=true vs sslscan and testssl.sh: 7 ports of {base.IMAGE} containers,",
             f"median of {args.rounds} rounds [min - max]"]
    record: dict = {"run_id": run_id, "image": base.IMAGE, "rounds": args.rounds, "samples": samples,
                    "goal_ratio": GOAL_RATIO, "testssl_checks": TESTSSL_CHECKS, "load_average": os.getloadavg(),
                    "ratios": {}}
    for flavour in flavours:
        got = samples[flavour]
        module = statistics.median(got["module"])
        ratio = statistics.median(got["sslscan"]) / module
        ratio_testssl = statistics.median(got["testssl"]) / module
        pairs = statistics.median(s / m for s, m in zip(got["sslscan"], got["module"]))
        entered = statistics.median(got["module_nsenter"])
        ratio_entered = statistics.median(got["sslscan"]) / entered
        pairs_entered = statistics.median(s / m for s, m in zip(got["sslscan"], got["module_nsenter"]))
        record["ratios"][flavour] = {"sslscan": ratio, "testssl": ratio_testssl, "sslscan_pairs": pairs,
                                     "sslscan_nsenter": ratio_entered, "sslscan_nsenter_pairs": pairs_entered}
        lines += [
            f"{flavour}:",
            f"  module, grade=true (AnsiballZ payload)            {base.summarize(got['module'])}",
            f"  module, same payload entered with nsenter        {base.summarize(got['module_nsenter'])}",
            f"    of which checks and grading (RV elapsed)         {base.summarize(got['module_internal'])}",
            f"    connections to the seven ports                   {statistics.median(got['connections']):7.0f}",
            f"  sslscan full scan, port after port               {base.summarize(got['sslscan'])}",
            f"  testssl.sh {' '.join(TESTSSL_CHECKS)}, port after port {base.summarize(got['testssl'])}",
            f"  ratio sslscan / module: {ratio:.1f}x (median of pairs {pairs:.1f}x) -> goal >= {GOAL_RATIO:.0f}x "
            f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}; testssl.sh / module: {ratio_testssl:.1f}x",
            f"  ratio sslscan / module entered like sslscan (nsenter): {ratio_entered:.1f}x (median of pairs "
            f"{pairs_entered:.1f}x) -> goal >= {GOAL_RATIO:.0f}x {'met' if ratio_entered >= GOAL_RATIO else 'MISSED'}",
        ]
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
