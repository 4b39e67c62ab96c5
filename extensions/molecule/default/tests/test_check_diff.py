# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's --check --diff promise, judged on the real ansible-playbook output.

On the converged hosts, ``ansible-playbook postmaster.tls.site --check --diff`` runs from the
controller against the Molecule inventory, twice: as it is (changed=0, no diff at all) and with two
settings changed on the command line (Postfix's TLS log level, Dovecot's ``ssl``): the diff shows
those settings and nothing else, changed>0, and nothing on the hosts is written (checksums and
modification times of every file involved, and the effective postconf/doveconf values).
"""

from __future__ import annotations

import re

import certwitness
import mailtest
import pytest

DROPIN = "/etc/dovecot/conf.d/99-postmaster-tls.conf"
# Every file site.yml manages or that could carry a setting it manages, and the roles' pending-reload
# flags (a flag left by a check run would make the next real run reload for nothing).
WATCHED = "/etc/postfix /etc/dovecot /etc/postmaster-tls /run/postmaster-tls"
CHANGES = ["-e", "postfix_log_level=2", "-e", "dovecot_ssl=yes"]
EXPECTED_DIFF = {
    "/etc/postfix/main.cf": {("-", "smtpd_tls_loglevel = 1"), ("+", "smtpd_tls_loglevel = 2"),
                             ("-", "smtp_tls_loglevel = 1"), ("+", "smtp_tls_loglevel = 2")},
    DROPIN: {("-", "ssl = required"), ("+", "ssl = yes")},
}


def _snapshot(host) -> dict:
    # Directories too: a file created and removed again still leaves its directory's mtime changed.
    roots = f"$(ls -d {WATCHED} 2>/dev/null)"
    files = host.check_output(f"find {roots} -print0 | sort -z | xargs -0 stat -c '%n %F %a %y %s' && "
                              f"find {roots} -type f -print0 | sort -z | xargs -0 sha256sum")
    return {
        "files": files,
        "postconf": host.check_output("postconf -h smtpd_tls_loglevel smtp_tls_loglevel"),
        "doveconf": host.check_output("doveconf -h ssl"),
    }


def _diffs_by_host(output: str) -> dict[str, dict[str, set[tuple[str, str]]]]:
    """{host: {file: {(sign, line)}}} from the default callback: a diff is printed just before the
    status line of the host it belongs to."""
    out: dict[str, dict[str, set[tuple[str, str]]]] = {}
    pending: dict[str, set[tuple[str, str]]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("TASK [") or line.startswith("RUNNING HANDLER ["):
            pending, current = {}, None
            continue
        header = re.match(r"^\+\+\+ after: (.+)$", line)
        if header:
            current = pending.setdefault(header.group(1).strip(), set())
            continue
        if line.startswith("--- before") or line.startswith("@@ "):
            continue
        status = re.match(r"^(ok|changed|skipping|fatal|failed): \[([^\]\s]+)", line)
        if status:
            for path, lines in pending.items():
                out.setdefault(status.group(2), {}).setdefault(path, set()).update(lines)
            pending, current = {}, None
            continue
        if current is not None and line[:1] in ("+", "-") and line[1:].strip():
            current.add((line[0], line[1:].strip()))
    return out


@pytest.fixture(scope="session")
def check_runs():
    hosts = certwitness.mailserver_hosts()
    start = {name: _snapshot(h) for name, h in hosts.items()}
    unchanged = certwitness.run_playbook("postmaster.tls.site", "--check", "--diff")
    after_unchanged = {name: _snapshot(h) for name, h in hosts.items()}
    changed = certwitness.run_playbook("postmaster.tls.site", "--check", "--diff", *CHANGES)
    after_changed = {name: _snapshot(h) for name, h in hosts.items()}
    return {"start": start, "unchanged": unchanged, "after_unchanged": after_unchanged,
            "changed": changed, "after_changed": after_changed}


def test_check_diff_on_an_unchanged_host_reports_nothing(host, check_runs):
    name = mailtest.container_name(host)
    run = check_runs["unchanged"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    counts = certwitness.recap(run.stdout)[name]
    assert counts["changed"] == 0 and counts["failed"] == 0 and counts["unreachable"] == 0, counts
    diff_lines = [line for line in run.stdout.splitlines() if re.match(r"^(--- before|\+\+\+ after|@@ )", line)]
    assert diff_lines == [], "\n".join(diff_lines)
    assert check_runs["after_unchanged"][name] == check_runs["start"][name]


def test_check_diff_shows_exactly_the_changed_settings(host, check_runs):
    name = mailtest.container_name(host)
    run = check_runs["changed"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    counts = certwitness.recap(run.stdout)[name]
    assert counts["changed"] > 0 and counts["failed"] == 0 and counts["unreachable"] == 0, counts
    assert _diffs_by_host(run.stdout).get(name) == EXPECTED_DIFF, run.stdout[-4000:]


def test_check_diff_with_changes_writes_nothing(host, check_runs):
    name = mailtest.container_name(host)
    assert check_runs["after_changed"][name] == check_runs["start"][name]
    # And the services still run with the converged values.
    assert host.check_output("postconf -h smtpd_tls_loglevel") == "1"
    assert host.check_output("doveconf -h ssl") == "required"
