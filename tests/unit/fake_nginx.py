# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stand-in for the nginx binary in unit tests (the real one runs in Molecule).

It reads the main file given with -c, follows its include globs, lists every file it read (as
``nginx -T`` does) and refuses a configuration holding ``ssl_session_timeout soon`` with nginx's own
wording; ``fail_live`` makes the check of the live tree (not a ``postmaster-nginx-`` candidate) fail.
"""

from __future__ import annotations

import glob
import os
import re


class FakeNginx:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail_live = False

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        main = argv[argv.index("-c") + 1]
        files: list[str] = []

        def read(path: str) -> None:
            files.append(path)
            with open(path) as handle:
                text = handle.read()
            for match in re.finditer(r"^\s*include\s+(\S+);", text, re.M):
                pattern = match.group(1)
                if not os.path.isabs(pattern):
                    pattern = os.path.join(os.path.dirname(main), pattern)
                for name in sorted(glob.glob(pattern)):
                    read(name)

        read(main)
        for path in files:
            with open(path) as handle:
                if "ssl_session_timeout soon" in handle.read():
                    return 1, "", (f'2026/12/03 10:00:00 [emerg] 42#42: "ssl_session_timeout" directive invalid value in {path}:14\n'
                                   f"nginx: configuration file {main} test failed\n")
        if self.fail_live and "postmaster-nginx-" not in main:
            return 1, "", "nginx: [emerg] cannot load certificate: live tree broken\n"
        out = ""
        if "-T" in argv:
            for path in files:
                with open(path) as handle:
                    out += f"# configuration file {path}:\n{handle.read()}\n"
        return 0, out, f"nginx: the configuration file {main} syntax is ok\nnginx: configuration file {main} test is successful\n"

    @property
    def candidate_tests(self) -> list[list[str]]:
        return [call for call in self.calls if "-T" in call]

    @property
    def live_tests(self) -> list[list[str]]:
        return [call for call in self.calls if "-t" in call]
