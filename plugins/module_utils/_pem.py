# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Truncated PEM files: a BEGIN line whose END line never comes.

A copy cut short (a full disk, an interrupted transfer, a paste that lost its tail) leaves a block
that the PEM readers in ``_crypto`` skip without a word, because they only see complete blocks. The
leaf in front of it still parses, so a module would accept the file, but OpenSSL in Postfix and
Dovecot stops at the broken block ("bad end line") and the service offers no TLS at all. Every
module that hands a PEM file to a mail service checks it with :func:`cut_short` first.
"""

from __future__ import annotations

import re

_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def cut_short_block(data: bytes) -> tuple[int, str] | None:
    """The first PEM block without its END line, as (position counted from 1, label); None when all are whole."""
    begins = list(_BEGIN.finditer(data))
    for index, match in enumerate(begins):
        stop = begins[index + 1].start() if index + 1 < len(begins) else len(data)
        if b"-----END " + match.group(1) + b"-----" not in data[match.end():stop]:
            return index + 1, match.group(1).decode("ascii")
    return None


def cut_short(data: bytes, *, source: str) -> str | None:
    """A message naming ``source`` and the block that is cut short, or None when every block is whole."""
    found = cut_short_block(data)
    if found is None:
        return None
    position, label = found
    return (f"{source}: PEM block {position} ('-----BEGIN {label}-----') is cut short (its '-----END {label}-----' line is "
            "missing): the file is truncated, and OpenSSL would refuse all of it; copy the complete file again")
