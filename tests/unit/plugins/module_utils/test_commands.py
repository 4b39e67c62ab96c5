# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One failure shape for the mail servers' own tools: Postfix and Dovecot errors share it."""

from __future__ import annotations

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _commands, _dovecot, _postfix


@pytest.mark.parametrize(
    ("error_class", "domain_error"),
    [(_postfix.PostfixCommandError, _postfix.PostfixError), (_dovecot.DovecotCommandError, _dovecot.DovecotError)],
)
def test_service_command_errors_are_command_errors_of_their_service(error_class, domain_error):
    exc = error_class("postfix check refused it: fix line 3", cmd=["postfix", "check"], rc=1, stdout="out", stderr="fatal: line 3")

    # The modules catch the service error for everything the service refused, and the task result
    # carries the tool's own words through details().
    assert isinstance(exc, _commands.CommandError)
    assert isinstance(exc, domain_error)
    assert str(exc) == "postfix check refused it: fix line 3"
    assert exc.details() == {"cmd": ["postfix", "check"], "rc": 1, "stdout": "out", "stderr": "fatal: line 3"}
