# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cryptography requirement of the certificate modules (use as postmaster.tls.cryptography)."""

from __future__ import annotations


class ModuleDocFragment:
    # The version is _crypto.MIN_CRYPTOGRAPHY_VERSION, which _crypto.require_cryptography enforces.
    DOCUMENTATION = r"""
options: {}
notes:
  - Requires C(cryptography) 3.4 or newer on the managed host (Debian 12's 38 is the oldest tested).
requirements:
  - cryptography >= 3.4
"""
