# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The product over SSH as an unprivileged user, become sudo and su, and a stale certificate (issue 22).

converge deployed with sudo. One session fixture then runs every step from the controller as a
user would (a separate ansible-playbook run each, over SSH; the become method varies by step so both
methods run on both distros, and sudo steps run with pipelining on and off - su never pipelines) and records, after each step, what the hosts have
installed and what every port serves, seen by outside witnesses (``openssl`` on the controller: the
installed cert.pem read through ``docker exec``, the served leaves through ``openssl s_client`` in
the container's network namespace). The tests then judge each step; a step that fails does not stop
the ones after it from being recorded.
"""

from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess

import certwitness
import mailtest
import pytest
import yaml

SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
WHOAMI = os.path.join(SCENARIO, "whoami.yml")
CERT = "/etc/postmaster-tls/mail.example.test/rsa/live/cert.pem"
# Everything a run of the roles may write on a host: a step that must change nothing leaves these as they were.
WATCHED = ["/etc/postmaster-tls", "/etc/postfix/main.cf", "/etc/postfix/master.cf", "/etc/dovecot/conf.d", "/run/postmaster-tls"]
PORTS = [port for port, _starttls in certwitness.PORTS]
_FINGERPRINT = re.compile(r"\b(?:[0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2}\b")

with open(os.environ["MOLECULE_INVENTORY_FILE"], encoding="utf-8") as _handle:
    NAMES = sorted(yaml.safe_load(_handle)["mailservers"]["hosts"])


# ------------------------------------------------------------------------------------------------
# Outside witnesses
# ------------------------------------------------------------------------------------------------
def _docker_exec(name: str, *argv: str) -> str:
    run = subprocess.run(["docker", "exec", name, *argv], capture_output=True, text=True, check=False)
    assert run.returncode == 0, f"docker exec {name} {' '.join(argv)}: {run.stderr}"
    return run.stdout


def _spki_sha256(pem: str) -> str:
    """DANE 3 1 1 digest of a certificate's key, per openssl (hex, lower-case)."""
    key = subprocess.run(["openssl", "x509", "-noout", "-pubkey"], input=pem, capture_output=True, text=True, check=True)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=key.stdout.encode(),
                         capture_output=True, check=True)
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-r"], input=der.stdout, capture_output=True, check=True)
    return digest.stdout.decode().split()[0].lower()


def _observe(name: str) -> dict:
    """What the host has installed and what each of its ports serves."""
    pem = _docker_exec(name, "cat", CERT)
    files = _docker_exec(name, "sh", "-c", "find " + " ".join(WATCHED) + " -type f 2>/dev/null | sort | xargs -r sha256sum")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(certwitness.PORTS)) as pool:
        served = {port: pool.submit(mailtest.served_fingerprint, name, port, starttls=starttls)
                  for port, starttls in certwitness.PORTS}
        served = {port: future.result() for port, future in served.items()}
    return {"installed": certwitness.fingerprint(pem), "spki": _spki_sha256(pem), "files": files, "served": served}


def _observe_all() -> dict[str, dict]:
    return {name: _observe(name) for name in NAMES}


def _reload_services(name: str) -> None:
    """What an operator does on seeing the verify failure: reload both services (as root, in the container)."""
    _docker_exec(name, "service", "postfix", "reload")
    _docker_exec(name, "service", "dovecot", "reload")


# ------------------------------------------------------------------------------------------------
# Reading ansible-playbook output
# ------------------------------------------------------------------------------------------------
def _fatal_text(run: subprocess.CompletedProcess, name: str) -> str:
    """Every failure report for one host ("fatal: [name]: ..." up to the next task, handler, recap or
    message). ansible-core writes them to stderr, older versions to stdout: both are read."""
    pattern = rf"^fatal: \[{re.escape(name)}\].*?(?=^(?:TASK|RUNNING HANDLER|PLAY RECAP|PLAY \[|fatal:|\[)|\Z)"
    return "\n".join(re.findall(pattern, run.stdout + "\n" + run.stderr, re.S | re.M))


def _normalise_fingerprints(text: str) -> str:
    """Colon-separated SHA-256 fingerprints in any case -> bare lower-case hex, the rest untouched."""
    return _FINGERPRINT.sub(lambda match: match.group(0).replace(":", "").lower(), text)


def _port_mentions(text: str, port: int) -> list[int]:
    """Positions where a port number stands on its own (":25/", "port 25", "25 (smtp)"): not inside 2525, an
    address or a hex fingerprint (any digits there touch other hex characters)."""
    return [m.start() for m in re.finditer(rf"(?<![\w.]){port}(?![\w.])", text)]


def _names_port_with(text: str, port: int, *fingerprints: str) -> bool:
    """Whether some mention of the port is followed, before the next port's mention, by all the fingerprints."""
    others = sorted(pos for other in PORTS if other != port for pos in _port_mentions(text, other))
    for start in _port_mentions(text, port):
        end = next((pos for pos in others if pos > start), len(text))
        window = text[start:end]
        if all(fp.replace(":", "") in window for fp in fingerprints):
            return True
    return False


def _step(*args: str, become: str | None = None, pipelining: bool | None = None, **env: str) -> subprocess.CompletedProcess:
    """One ansible-playbook run over SSH. become: None keeps the inventory's method (sudo), "su" or "sudo"
    set it, "off" runs without. pipelining: None keeps ../config.yml's (on); Ansible's su plugin never
    pipelines, so it matters for sudo and no become. Keyword arguments go into the run's environment."""
    extra: list[str] = []
    if become == "off":
        extra += ["-e", "ansible_become=false"]
    elif become:
        extra += ["-e", f"ansible_become_method={become}"]
    if pipelining is not None:
        env["ANSIBLE_PIPELINING"] = "true" if pipelining else "false"
    return certwitness.run_playbook(*args, *extra, env=env)


def _who(run: subprocess.CompletedProcess, name: str) -> dict[str, str]:
    """whoami.yml's report for one host: user, SSH_CONNECTION, PATH and the discovered Python."""
    match = re.search(rf"^ok: \[{re.escape(name)}\] => \{{\s+\"msg\": \"WHO ([^\"]*)\"", run.stdout, re.M)
    assert match, _failure(run)
    user, ssh_connection, path, python = (part.strip() for part in match.group(1).split(" @@ "))
    return {"user": user, "ssh_connection": ssh_connection, "path": path, "python": python}


def _playbook(name: str) -> str:
    return f"postmaster.tls.{name}"


def _failure(run: subprocess.CompletedProcess) -> str:
    return run.stdout[-4000:] + run.stderr[-2000:]


# ------------------------------------------------------------------------------------------------
# The journey
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def journey() -> dict:
    seen: dict = {}
    # Who the runs are and what root's PATH is under each method (the condition issue 22 names: su
    # without '-' keeps the user's PATH, which has no /usr/sbin).
    # JSON results: one line per value, whatever its length.
    seen["whoami"] = _step(WHOAMI, become="off", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    seen["whoami_su"] = _step(WHOAMI, become="su", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    seen["deployed"] = _observe_all()

    seen["no_become"] = _step(_playbook("site"), become="off", pipelining=False)
    seen["after_no_become"] = _observe_all()

    seen["renew"] = _step(_playbook("renew"), "-e", "certificate_force_renew=true", become="su")
    seen["renewed"] = _observe_all()

    seen["rerun"] = _step(_playbook("site"), become="su")
    seen["rerun_state"] = _observe_all()

    seen["files_only"] = _step(os.path.join(SCENARIO, "certificate_only.yml"), become="sudo", pipelining=True)
    seen["stale"] = _observe_all()
    seen["stale_verify"] = _step(_playbook("verify"), become="sudo", pipelining=False)

    for name in NAMES:
        _reload_services(name)
    seen["reloaded"] = _observe_all()

    # The standalone runs must produce their output themselves: nothing left from converge counts.
    for directory in ("dns", "audit"):
        shutil.rmtree(os.path.join(EPHEMERAL, directory), ignore_errors=True)
    seen["verify"] = _step(_playbook("verify"), become="su")
    seen["dns"] = _step(_playbook("dns"), become="su")
    seen["audit"] = _step(_playbook("audit"), become="sudo", pipelining=False)
    seen["final"] = _observe_all()
    return seen


def _recap(run: subprocess.CompletedProcess, name: str) -> dict[str, int]:
    counts = certwitness.recap(run.stdout)
    assert name in counts, f"{name} is not in the PLAY RECAP:\n{_failure(run)}"
    return counts[name]


# ------------------------------------------------------------------------------------------------
# The runs are what the scenario says they are
# ------------------------------------------------------------------------------------------------
def _address(name: str) -> str:
    """The container's address on the scenario's network, as ssh resolves the inventory name."""
    config = subprocess.run(["ssh", "-G", "-F", os.path.join(EPHEMERAL, "ssh", "config"), name],
                            capture_output=True, text=True, check=True).stdout
    return re.search(r"^hostname (\S+)$", config, re.M).group(1)


@pytest.mark.parametrize("name", NAMES)
def test_runs_log_in_over_ssh_as_the_unprivileged_user_with_a_discovered_python(journey, name):
    who = _who(journey["whoami"], name)
    assert who["user"] == "pmadmin", who
    # SSH_CONNECTION: client address, client port, server address, server port.
    assert who["ssh_connection"].split()[2:] == [_address(name), "22"], who
    assert re.fullmatch(r"/usr/bin/python3[.\d]*", who["python"]), who


@pytest.mark.parametrize("name", NAMES)
def test_su_keeps_the_users_path_without_sbin(journey, name):
    """The condition of issue 22: root's PATH under su (no '-') has no /usr/sbin, so a bare `postfix` is not found."""
    who = _who(journey["whoami_su"], name)
    assert who["user"] == "root", who
    assert who["ssh_connection"], who
    assert who["path"] and "/usr/sbin" not in who["path"].split(":"), who


@pytest.mark.parametrize("name", NAMES)
def test_first_deploy_over_ssh_serves_the_installed_certificate(journey, name):
    deployed = journey["deployed"][name]
    assert deployed["served"] == {port: deployed["installed"] for port in PORTS}


# ------------------------------------------------------------------------------------------------
# Without become
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_without_become_the_failure_says_the_roles_need_become(journey, name):
    run = journey["no_become"]
    assert run.returncode != 0, _failure(run)
    assert _recap(run, name)["failed"] == 1
    fatal = _fatal_text(run, name)
    assert fatal, _failure(run)
    assert re.search(r"\bbecome\b", fatal), f"the message does not say the roles need become:\n{fatal}"
    assert re.search(r"(cannot|can't|can not|not allowed to|unable to|may not) write", fatal, re.I), (
        f"the message does not say the user cannot write there:\n{fatal}")


@pytest.mark.parametrize("name", NAMES)
def test_without_become_nothing_changed(journey, name):
    assert journey["after_no_become"][name] == journey["deployed"][name]


# ------------------------------------------------------------------------------------------------
# Forced renewal with su (no '-'), pipelining off
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_forced_renewal_with_su_succeeds(journey, name):
    run = journey["renew"]
    counts = _recap(run, name)
    assert run.returncode == 0 and counts["failed"] == 0 and counts["unreachable"] == 0, _failure(run)


@pytest.mark.parametrize("name", NAMES)
def test_forced_renewal_with_su_serves_the_new_certificate_on_every_port(journey, name):
    before, after = journey["after_no_become"][name], journey["renewed"][name]
    assert after["installed"] != before["installed"], "the forced renewal did not install a new certificate"
    stale = {port: fp for port, fp in after["served"].items() if fp != after["installed"]}
    assert not stale, f"ports still serving something other than the installed {after['installed']}: {stale}"


@pytest.mark.parametrize("name", NAMES)
def test_rerun_with_su_changes_nothing(journey, name):
    run = journey["rerun"]
    counts = _recap(run, name)
    assert run.returncode == 0, _failure(run)
    assert counts == {**counts, "changed": 0, "failed": 0, "unreachable": 0}, counts
    assert journey["rerun_state"][name] == journey["renewed"][name]


# ------------------------------------------------------------------------------------------------
# Renewed files, services not reloaded: the standalone verify playbook must see it
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_certificate_role_alone_leaves_the_old_certificate_served(journey, name):
    """The precondition of the stale case, seen from outside: new files, every port still on the old ones."""
    run = journey["files_only"]
    assert run.returncode == 0, _failure(run)
    before, stale = journey["rerun_state"][name], journey["stale"][name]
    assert stale["installed"] != before["installed"], "the certificate role did not install a new certificate"
    assert stale["served"] == before["served"], "a port changed what it serves without a reload"
    assert stale["installed"] not in stale["served"].values()


@pytest.mark.parametrize("name", NAMES)
def test_standalone_verify_fails_on_a_stale_certificate(journey, name):
    run = journey["stale_verify"]
    counts = _recap(run, name)
    assert run.returncode != 0 and counts["failed"] == 1, _failure(run)
    assert counts["changed"] == 0, counts


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("name", NAMES)
def test_standalone_verify_names_port_served_and_installed(journey, name, port):
    served = journey["stale"][name]["served"][port]
    installed = journey["stale"][name]["installed"]
    text = _normalise_fingerprints(_fatal_text(journey["stale_verify"], name))
    assert text, _failure(journey["stale_verify"])
    assert _names_port_with(text, port, served, installed), (
        f"no failure names port {port} with the served {served} and the installed {installed}:\n{text[-3000:]}")


@pytest.mark.parametrize("name", NAMES)
def test_after_a_reload_every_port_serves_the_installed_certificate(journey, name):
    reloaded = journey["reloaded"][name]
    assert reloaded["installed"] == journey["stale"][name]["installed"]
    assert reloaded["served"] == {port: reloaded["installed"] for port in PORTS}


# ------------------------------------------------------------------------------------------------
# verify, dns and audit on their own against the deployed hosts
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("step", ["verify", "dns", "audit"])
def test_standalone_playbook_succeeds(journey, name, step):
    run = journey[step]
    counts = _recap(run, name)
    assert run.returncode == 0 and counts["failed"] == 0 and counts["unreachable"] == 0, _failure(run)
    # dns writes its files on the controller, counted against the host it is for; verify and audit only read.
    if step != "dns":
        assert counts["changed"] == 0, counts


@pytest.mark.parametrize("name", NAMES)
def test_standalone_runs_left_the_host_as_it_was(journey, name):
    assert journey["final"][name] == journey["reloaded"][name]


def test_standalone_dns_writes_tlsa_for_the_installed_keys(journey):
    """The TLSA set names exactly the keys the hosts have installed (3 1 1 digests per openssl)."""
    run = journey["dns"]
    assert run.returncode == 0, _failure(run)
    zones = glob.glob(os.path.join(EPHEMERAL, "dns", "**", "*.zone"), recursive=True)
    lines = [line for path in zones for line in open(path, encoding="utf-8") if " TLSA " in line and not line.startswith(";")]
    digests = {line.split()[-1].lower() for line in lines}
    assert lines and all(re.match(r"^_25\._tcp\.mail\.example\.test\.\s", line) for line in lines), lines
    assert digests == {journey["final"][name]["spki"] for name in NAMES}, (digests, zones)


def test_standalone_audit_reports_every_host_ok(journey):
    run = journey["audit"]
    assert run.returncode == 0, _failure(run)
    with open(os.path.join(EPHEMERAL, "audit", "audit.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    rows = {row["host"]: row for row in report["certificates"]}
    assert set(rows) == set(NAMES), report
    for name in NAMES:
        assert rows[name]["status"] == "ok", rows[name]
        assert journey["final"][name]["spki"] in json.dumps(rows[name]).lower(), rows[name]


# ------------------------------------------------------------------------------------------------
# A real SMTP client from the controller, over the network: swaks does STARTTLS and AUTH on 587
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_swaks_starttls_and_auth_on_submission(journey, name, tmp_path):
    peer = tmp_path / "peer.pem"
    run = subprocess.run(
        ["swaks", "--server", _address(name), "--port", "587", "--tls", "--tls-verify", "--tls-sni", "mail.example.test",
         "--tls-ca-path", os.path.join(EPHEMERAL, "ca", "ca.pem"), "--tls-get-peer-cert", str(peer),
         "--ehlo", "client.example.test", "--auth", "PLAIN", "--auth-user", "mailtest",
         "--auth-password", "Secret-Test-Pass-1", "--from", "mailtest@mail.example.test",
         "--to", "mailtest@mail.example.test", "--quit-after", "AUTH"],
        capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "=== TLS started with cipher" in run.stdout, run.stdout
    assert re.search(r"^<~\s+235 ", run.stdout, re.M), run.stdout
    assert certwitness.fingerprint(peer.read_text()) == journey["final"][name]["installed"]
