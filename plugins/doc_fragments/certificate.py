# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options shared by the modules that issue a certificate into a file (use as postmaster.tls.certificate)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  path:
    description:
      - Where the certificate is written (PEM).
      - An existing certificate there is kept as long as it still fits the inputs and has more than
        O(renew_before_days) days left; otherwise a new one is issued in its place.
    type: path
    required: true
  force:
    description:
      - Issue a new certificate even when the existing one still fits.
      - Every run with V(true) issues again, so the module is not idempotent with it.
    type: bool
    default: false
  mode:
    description:
      - Permissions of the certificate file, as a quoted octal string such as V('0644').
      - Symbolic modes are refused.
    type: raw
    default: '0644'
  owner:
    description:
      - Owner of the certificate file (name or uid). Default is the user running the module.
    type: str
  group:
    description:
      - Group of the certificate file (name or gid). Default is the user's primary group.
    type: str
  backup:
    description:
      - Keep a timestamped copy of the certificate being replaced next to it.
    type: bool
    default: false
"""
