# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File options shared by postmaster.tls.private_key and postmaster.tls.csr (postmaster.tls.keys)."""

from __future__ import annotations


class ModuleDocFragment:
    # Owner, group and backup of the one file the module writes. Each module documents its own mode,
    # because the defaults differ (0600 for a private key, 0644 for a CSR).
    DOCUMENTATION = r"""
options:
  owner:
    description:
      - Name or numeric ID of the user that should own the file.
      - When omitted, a new file belongs to the user the module runs as and an existing file keeps its owner.
    type: str
  group:
    description:
      - Name or numeric ID of the group that should own the file.
      - When omitted, a new file gets the user's primary group and an existing file keeps its group.
      - The group must exist; the module fails before writing anything when it does not.
    type: str
  backup:
    description:
      - Keep a timestamped copy of the previous file next to it before the file is replaced.
      - Only a replaced file is backed up; a changed mode, owner or group alone does not make a backup.
    type: bool
    default: false
"""
