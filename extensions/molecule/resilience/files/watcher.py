#!/usr/bin/env python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Watch live files from inside a test container while a playbook rewrites them (no inotify).

A tight loop reads every watched file whole and records the SHA-256 of each distinct content it
saw (never the content: some files hold private keys), how often a file was missing, and whether
each content is structurally complete (PEM blocks closed, a config file ending in a newline). It
also lists the watched directories and records every entry that was not there at the start (the
writers' temporary files) with every mode it was seen with. It stops when the stop file appears
and writes a JSON report.

usage: watcher.py REPORT STOPFILE --files F.. --dirs D..
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import time

PEM_FILE = re.compile(rb"\A(?:-----BEGIN ([A-Z0-9 ]+)-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END \1-----\n)*\Z")


def complete(path: str, data: bytes) -> bool:
    """Whether a read is a whole file of its kind (a torn read fails this)."""
    if path.endswith(".pem"):
        return PEM_FILE.match(data) is not None
    return data.endswith(b"\n")


def main() -> int:
    report_path, stop_path = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    files = args[args.index("--files") + 1:args.index("--dirs")]
    dirs = args[args.index("--dirs") + 1:]
    initial = {d: set(os.listdir(d)) if os.path.isdir(d) else set() for d in dirs}
    seen: dict[str, dict[str, int]] = {f: {} for f in files}
    incomplete: dict[str, int] = {f: 0 for f in files}
    missing: dict[str, int] = {f: 0 for f in files}
    verdicts: dict[bytes, bool] = {}
    new_entries: dict[str, dict] = {}
    reads = loops = 0
    started = time.monotonic()
    while not os.path.exists(stop_path):
        loops += 1
        for path in files:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                missing[path] += 1
                continue
            reads += 1
            digest = hashlib.sha256(data).digest()
            key = digest.hex()
            seen[path][key] = seen[path].get(key, 0) + 1
            if digest not in verdicts:
                verdicts[digest] = complete(path, data)
            if not verdicts[digest]:
                incomplete[path] += 1
        for directory in dirs:
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                continue
            for name in names:
                if name in initial[directory]:
                    continue
                entry = os.path.join(directory, name)
                try:
                    info = os.lstat(entry)
                except FileNotFoundError:
                    continue
                record = new_entries.setdefault(entry, {"modes": [], "uids": [], "gids": []})
                mode = f"{stat.S_IMODE(info.st_mode):04o}"
                if mode not in record["modes"]:
                    record["modes"].append(mode)
                if info.st_uid not in record["uids"]:
                    record["uids"].append(info.st_uid)
                if info.st_gid not in record["gids"]:
                    record["gids"].append(info.st_gid)
        time.sleep(0.003)
    for entry, record in new_entries.items():
        record["exists_at_end"] = os.path.lexists(entry)
    with open(report_path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump({"loops": loops, "reads": reads, "seconds": round(time.monotonic() - started, 1), "seen": seen,
                   "incomplete": incomplete, "missing": missing, "new_entries": new_entries}, handle, indent=1)
    os.replace(report_path + ".tmp", report_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
