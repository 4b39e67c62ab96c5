# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plumbing for the resilience scenario: captured playbook runs, faults, the file watcher, secrets.

Every run of a playbook here is captured whole: stdout and stderr, the Ansible log
(ANSIBLE_LOG_PATH) and every task result as the result_dump callback saw it (returned values,
diffs, invocations). Runs can be disturbed at a chosen moment: a trigger fires when a line of the
run's own output (a task or handler banner) appears, and may change the host or kill the run.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import typing as t
from dataclasses import dataclass, field

import mailtest
import yaml

SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLBACKS = os.path.join(SCENARIO, "tests", "callback_plugins")
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp/pm-resilience")
OUT = os.path.join(EPHEMERAL, "resilience-runs")
SITE = "postmaster.tls.site"
NAME = "mail.example.test"
BASE = f"/etc/postmaster-tls/{NAME}/rsa"
LIVE = f"{BASE}/live"
DROPIN = "/etc/dovecot/conf.d/99-postmaster-tls.conf"
PORTS = {25: "smtp", 587: "smtp", 465: None, 143: "imap", 993: None, 110: "pop3", 995: None}
POSTFIX_PORTS = (25, 587, 465)
DOVECOT_PORTS = (143, 993, 110, 995)
USER, PASSWORD = "mailtest", "Secret-Test-Pass-1"
TIMINGS: list[tuple[str, float, int]] = []
WATCHES: list[tuple[str, dict]] = []


def inventory_dir() -> str:
    return os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])


def containers() -> list[str]:
    with open(os.environ["MOLECULE_INVENTORY_FILE"], encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    return sorted(inventory["mailservers"]["hosts"])


# ------------------------------------------------------------------------------------------------
# Containers
# ------------------------------------------------------------------------------------------------
def dexec(name: str, *argv: str, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    run = subprocess.run(["docker", "exec", "-i", name, *argv], input=input_text, capture_output=True, text=True,
                         timeout=120, check=False)
    if check and run.returncode != 0:
        raise AssertionError(f"{name}: {' '.join(argv)} failed ({run.returncode}): {run.stdout}{run.stderr}")
    return run


def sh(name: str, script: str, check: bool = True) -> str:
    return dexec(name, "sh", "-c", script, check=check).stdout


def sha256_of(name: str, *paths: str) -> dict[str, str | None]:
    """SHA-256 of files in a container (None for a missing file), without copying their content out."""
    out = sh(name, " ".join(["for f in"] + list(paths) + ['; do if [ -e "$f" ]; then sha256sum "$f"; else echo "- $f"; fi; done']))
    sums: dict[str, str | None] = {}
    for line in out.splitlines():
        digest, path = line.split(None, 1)
        sums[path] = None if digest == "-" else digest
    return sums


def cert_fingerprint(name: str, path: str = f"{LIVE}/cert.pem") -> str:
    out = sh(name, f"openssl x509 -in {path} -noout -fingerprint -sha256")
    return out.strip().split("=", 1)[1].lower()


def served(names: t.Iterable[str], ports: t.Iterable[int] = tuple(PORTS)) -> dict[str, dict[int, str | None]]:
    """Leaf fingerprint served on each port of each container, from openssl in its namespace."""
    jobs = [(name, port) for name in names for port in ports]
    with concurrent.futures.ThreadPoolExecutor(max_workers=7) as pool:
        answers = list(pool.map(lambda job: mailtest.served_fingerprint(job[0], job[1], starttls=PORTS[job[1]]), jobs))
    table: dict[str, dict[int, str | None]] = {}
    for (name, port), answer in zip(jobs, answers):
        table.setdefault(name, {})[port] = answer
    return table


def live_files_consistent(name: str) -> list[str]:
    """Problems with the installed set: the four live files and the key must be one certificate's."""
    problems = []
    script = f"""
set -e
cd {LIVE}
k=$(openssl pkey -in {BASE}/privkey.pem -pubout | sha256sum)
c=$(openssl x509 -in cert.pem -noout -pubkey | sha256sum)
[ "$k" = "$c" ] || echo "privkey.pem does not match cert.pem"
cat cert.pem chain.pem | cmp -s - fullchain.pem || echo "fullchain.pem is not cert.pem + chain.pem"
cat {BASE}/privkey.pem cert.pem chain.pem | cmp -s - combined.pem || echo "combined.pem is not key + cert + chain"
"""
    out = sh(name, script, check=False)
    problems += [line for line in out.splitlines() if line.strip()]
    return problems


KEY_READERS = ("postfix", "dovecot", "dovenull", "nobody")


def key_access(name: str, *paths: str) -> dict:
    """Owner, group and mode of key files, and who can read them: the mail users (runuser, each with
    their own groups) and a member of the file's group (nobody with that group)."""
    script = ['for p in "$@"; do set -- $(stat -c "%U %G %a" "$p") "$@"; echo "$p stat $1 $2 $3";',
              f' for u in {" ".join(KEY_READERS)}; do',
              '  if runuser -u $u -- head -c 5 "$p" 2>/dev/null | grep -q -- -----; then echo "$p reader $u"; fi; done;',
              '  if runuser -u nobody -g $2 -- head -c 5 "$p" 2>/dev/null | grep -q -- -----; then echo "$p reader group"; fi;',
              ' shift 3; done; echo "members - $(getent group ssl-cert | cut -d: -f4)"']
    out = dexec(name, "sh", "-c", "".join(script), "sh", *paths).stdout
    access: dict = {"ssl-cert members": [], "files": {}}
    for line in out.splitlines():
        path, kind, *rest = line.split(" ")
        if kind == "stat":
            access["files"][path] = {"owner": rest[0], "group": rest[1], "mode": rest[2], "readers": []}
        elif kind == "reader":
            access["files"][path]["readers"].append(rest[0])
        elif path == "members":
            access["ssl-cert members"] = [m for m in " ".join(rest).split(",") if m]
    return access


# ------------------------------------------------------------------------------------------------
# Captured playbook runs
# ------------------------------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    log: str
    results: list[dict]
    seconds: float
    fired: list[str] = field(default_factory=list)

    def texts(self) -> dict[str, str]:
        """Everything the run produced, by where it came from."""
        return {"stdout": self.stdout, "stderr": self.stderr, "log": self.log,
                "results": "\n".join(json.dumps(r, sort_keys=True) for r in self.results)}

    def for_host(self, host: str) -> list[dict]:
        return [r for r in self.results if r["host"] == host]

    def failed(self, host: str) -> list[dict]:
        return [r for r in self.for_host(host) if r["status"] in ("failed", "unreachable")]

    def changed(self, host: str) -> list[dict]:
        return [r for r in self.for_host(host) if r["status"] == "ok" and r["result"].get("changed")]

    def changed_actions(self, host: str) -> set[str]:
        return {r["action"] for r in self.changed(host)}

    def summary(self, host: str) -> str:
        return "; ".join(f"{r['status']}: {r['task']} ({r['action']})" for r in self.for_host(host)
                         if r["status"] == "failed" or r["result"].get("changed"))


Trigger = t.Tuple[str, t.Callable[["subprocess.Popen"], None]]


def run_playbook(name: str, playbook: str = SITE, *, extra_vars: dict | None = None, vars_file: str | None = None,
                 verbosity: int = 0, diff: bool = False, triggers: t.Sequence[Trigger] = (), timeout: int = 900) -> Run:
    """Run a playbook against the scenario's inventory and capture all of it.

    Each trigger is (regex, action): the action runs once, with the process, when a line of the run's
    stdout first matches. Output is read as it comes, so an action happens at that point of the run.
    """
    os.makedirs(OUT, exist_ok=True)
    log_path = os.path.join(OUT, f"{name}.log")
    dump_path = os.path.join(OUT, f"{name}.jsonl")
    for path in (log_path, dump_path):
        if os.path.exists(path):
            os.unlink(path)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_LOG_PATH": log_path,
        "ANSIBLE_CALLBACK_PLUGINS": CALLBACKS,
        "ANSIBLE_CALLBACKS_ENABLED": "result_dump",
        "PM_RESULT_DUMP": dump_path,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PYTHONUNBUFFERED": "1",
        # Module arguments in every result, as ansible-core before 2.21 always returned them.
        "ANSIBLE_INJECT_INVOCATION": "true",
    })
    argv = ["ansible-playbook", "-i", inventory_dir(), playbook]
    if verbosity:
        argv.append("-" + "v" * verbosity)
    if diff:
        argv.append("--diff")
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if vars_file:
        argv += ["-e", "@" + vars_file]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, bufsize=1)
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    reader.start()
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    out_lines: list[str] = []
    pending = list(triggers)
    fired: list[str] = []
    try:
        for line in proc.stdout:
            out_lines.append(line)
            for trigger in list(pending):
                if re.search(trigger[0], line):
                    pending.remove(trigger)
                    fired.append(line.strip())
                    trigger[1](proc)
        rc = proc.wait()
    finally:
        timer.cancel()
    reader.join(timeout=10)
    log = open(log_path, encoding="utf-8", errors="replace").read() if os.path.exists(log_path) else ""
    results = []
    if os.path.exists(dump_path):
        with open(dump_path, encoding="utf-8") as handle:
            results = [json.loads(line) for line in handle if line.strip()]
    stdout = "".join(out_lines)
    TIMINGS.append((name, round(time.monotonic() - started, 1), rc))
    with open(os.path.join(OUT, f"{name}.stdout"), "w", encoding="utf-8") as handle:
        handle.write(stdout)
    return Run(name=name, argv=argv, rc=rc, stdout=stdout, stderr="".join(err_lines), log=log, results=results,
               seconds=round(time.monotonic() - started, 1), fired=fired)


def _descendants(pid: int) -> list[int]:
    """Every process started under ``pid``, by parent links (not by process group: ansible-core 2.21 puts
    each worker in a session of its own)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_run(proc: subprocess.Popen) -> None:
    """Interrupt a run the hard way (a crash, an OOM kill, a lost controller): no cleanup at all. The
    whole tree goes, workers included - a worker left running would finish its task after the "crash"."""
    victims = _descendants(proc.pid)
    for pid in [proc.pid, *victims]:
        try:
            os.kill(pid, signal.SIGSTOP)  # nothing forks or writes while the tree is collected
        except ProcessLookupError:
            pass
    for pid in [*_descendants(proc.pid), *victims, proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_when(condition: t.Callable[[], bool], *, interval: float = 0.2) -> t.Callable[[subprocess.Popen], None]:
    """A trigger action that watches the hosts from then on and kills the run once ``condition()`` holds:
    for a point inside one task (the certificate role is one task), which no output line marks."""
    def start(proc: subprocess.Popen) -> None:
        def watch() -> None:
            while proc.poll() is None:
                if condition():
                    kill_run(proc)
                    return
                time.sleep(interval)

        threading.Thread(target=watch, daemon=True).start()

    return start


# ------------------------------------------------------------------------------------------------
# The watcher (files/watcher.py) inside the containers
# ------------------------------------------------------------------------------------------------
WATCH_FILES = [f"{BASE}/privkey.pem", f"{BASE}/privkey.next.pem", f"{LIVE}/cert.pem", f"{LIVE}/chain.pem",
               f"{LIVE}/fullchain.pem", f"{LIVE}/combined.pem", "/etc/postfix/main.cf", "/etc/postfix/master.cf", DROPIN]
WATCH_DIRS = [BASE, LIVE, "/etc/postfix", "/etc/dovecot/conf.d"]


def start_watchers(names: t.Iterable[str]) -> None:
    with open(os.path.join(SCENARIO, "files", "watcher.py"), encoding="utf-8") as handle:
        code = handle.read()
    for name in names:
        dexec(name, "sh", "-c", "cat >/run/pm-watcher.py && rm -f /run/pm-watch.stop /run/pm-watch.json", input_text=code)
        # Niced: on a busy machine the run keeps its pace and the watcher takes fewer samples.
        subprocess.run(["docker", "exec", "-d", name, "nice", "-n", "10", "python3", "/run/pm-watcher.py", "/run/pm-watch.json",
                        "/run/pm-watch.stop", "--files", *WATCH_FILES, "--dirs", *WATCH_DIRS], check=True)
    time.sleep(1)  # let the first loop record the starting directory listings


def stop_watchers(names: t.Iterable[str]) -> dict[str, dict]:
    reports = {}
    for name in names:
        sh(name, "touch /run/pm-watch.stop")
    for name in names:
        for _attempt in range(100):
            run = dexec(name, "cat", "/run/pm-watch.json", check=False)
            if run.returncode == 0:
                reports[name] = json.loads(run.stdout)
                WATCHES.append((name, reports[name]))
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"{name}: the watcher wrote no report")
    return reports


# ------------------------------------------------------------------------------------------------
# Secrets
# ------------------------------------------------------------------------------------------------
PEM_KEY = re.compile(r"-----BEGIN ([A-Z ]*PRIVATE KEY)-----\n(.*?)\n-----END \1-----", re.S)


def private_key_files(name: str) -> list[str]:
    """Every file on the host that holds a private key (ours, the next key, Debian's snake-oil)."""
    out = sh(name, "grep -rlE -- '-----BEGIN ([A-Z ]*)PRIVATE KEY-----' /etc/postmaster-tls /etc/ssl/private /root/pm-passphrase "
                   "/etc/postfix /etc/dovecot 2>/dev/null || true")
    return sorted(line for line in out.splitlines() if line)


def needles_for_pem(text: str, where: str) -> dict[str, str]:
    """Three distinct 40-character slices of each key's base64 body (from different lines) and three
    40-digit hex slices of its DER bytes; a hit on any of them is a leak of that key."""
    needles: dict[str, str] = {}
    for number, match in enumerate(PEM_KEY.finditer(text)):
        lines = [line for line in match.group(2).splitlines() if len(line) >= 40 and ":" not in line]
        if len(lines) < 3:
            raise AssertionError(f"{where}: key {number} is too short to slice")
        for pick in (0, len(lines) // 2, len(lines) - 2):
            needles[f"{where}#{number} base64 line {pick}"] = lines[pick][4:44] if len(lines[pick]) >= 44 else lines[pick][:40]
        der = base64.b64decode("".join(line for line in match.group(2).splitlines() if ":" not in line))
        for start in (16, len(der) // 2, len(der) - 40):
            needles[f"{where}#{number} DER hex at {start}"] = binascii.hexlify(der[start:start + 20]).decode()
    return needles


def host_key_needles(name: str) -> dict[str, str]:
    needles = {}
    for path in private_key_files(name):
        text = dexec(name, "cat", path).stdout
        found = needles_for_pem(text, f"{name}:{path}")
        # The needles are live: every one is found in the key it came from (its PEM text and DER hex).
        der_hex = [binascii.hexlify(base64.b64decode("".join(line for line in m.group(2).splitlines() if ":" not in line))).decode()
                   for m in PEM_KEY.finditer(text)]
        own = text.replace("PRIVATE KEY", "private-key") + "\n".join(der_hex)
        assert len(find_secrets({"self-test": own}, found)) == len(found), path
        needles.update(found)
    return needles


def compact(text: str) -> str:
    """The text with line breaks, escaped line breaks and JSON slash escapes taken out, so a key body
    that was re-wrapped or JSON-encoded on its way into the output is still found."""
    return re.sub(r"\s+", "", text.replace("\\n", "").replace("\\r", "").replace("\\/", "/"))


def find_secrets(texts: dict[str, str], needles: dict[str, str]) -> list[str]:
    hits = []
    for source, text in texts.items():
        squeezed = compact(text)
        lowered = text.lower()
        if "PRIVATE KEY" in text:
            index = text.index("PRIVATE KEY")
            hits.append(f"{source}: 'PRIVATE KEY' at {index}: ...{text[max(0, index - 80):index + 20]!r}")
        for label, needle in needles.items():
            if needle in text or needle in squeezed or needle.lower() in lowered:
                hits.append(f"{source}: {label}")
    return hits


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
