# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pending-reload flag of a mail service's module, postfix_tls and dovecot_tls (postmaster.tls.reload)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  reload_flag:
    description:
      - A flag file that says the service must reload. The module creates it (and its directory, mode 0700) before
        it changes a configuration file the service reads, and reports whether it exists as RV(reload_pending).
      - The collection's roles reload while it exists and remove it only after a successful reload, so a run that
        stops in between (a failed check, a killed run) is still reloaded by the next one.
        M(postmaster.tls.certificate_install) raises the same flag for new certificate files (its
        O(postmaster.tls.certificate_install#module:reload_services)).
      - Unset, the collection's one place for the service's flag, C(/run/postmaster-tls/postfix.reload) or
        C(/run/postmaster-tls/dovecot.reload) (the flags the roles' handlers remove); V("") raises no flag.
      - RV(reload_flag) returns the flag file in use, for the handler that removes it after a successful reload.
    type: path
"""
