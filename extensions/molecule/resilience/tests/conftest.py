# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
import os
import sys

# utils/ is on the path through ../../conftest.py; this scenario's own harness is here.
sys.path.insert(0, os.path.dirname(__file__))


def pytest_configure(config):
    # Show expected failures (xfail) and their reasons in the summary too, should a known bug be marked one.
    if "x" not in config.option.reportchars:
        config.option.reportchars += "xX"


def pytest_terminal_summary(terminalreporter):
    import harness

    if harness.TIMINGS:
        terminalreporter.write_sep("-", "playbook runs (seconds, exit status)")
        for name, seconds, rc in harness.TIMINGS:
            terminalreporter.write_line(f"{name}: {seconds}s rc={rc}")
    for name, report in harness.WATCHES:
        entries = ", ".join(f"{os.path.basename(path)} {'/'.join(record['modes'])}" for path, record in report["new_entries"].items())
        terminalreporter.write_line(f"watcher {name}: {report['reads']} reads in {report['seconds']}s, "
                                    f"temporary entries: {entries or 'none seen'}")
