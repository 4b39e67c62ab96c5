# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mail_srv_records filter: the dns_records role's SRV lines, from the same rendering as the module."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.postmaster.tls.plugins.filter import mail_discovery as f
from ansible_collections.postmaster.tls.plugins.module_utils import _discovery


def test_a_name_and_a_mail_host():
    lines = f.mail_srv_records("Example.ORG.", mail_host="mail.example.org")
    assert lines[0] == "_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mail.example.org."
    assert len(lines) == 6 and all(" IN SRV " in line for line in lines)


def test_a_dns_records_entry_with_its_own_services_and_no_ttl():
    entry = {"name": "example.org", "mx": ["mx.example.org"], "mta_sts_mode": "enforce", "tls_rpt_rua": ["a@example.org"],
             "services": ["imaps", "submissions"], "mail_host": "imap.example.org"}
    lines = f.mail_srv_records(entry, mail_host="ignored.example.org", services=list(_discovery.SERVICE_NAMES), ttl=None)
    assert lines == [
        "_submissions._tcp.example.org. IN SRV 0 1 465 imap.example.org.",
        "_submission._tcp.example.org. IN SRV 0 0 0 .",
        "_imaps._tcp.example.org. IN SRV 0 1 993 imap.example.org.",
        "_imap._tcp.example.org. IN SRV 0 0 0 .",
        "_pop3s._tcp.example.org. IN SRV 0 0 0 .",
        "_pop3._tcp.example.org. IN SRV 0 0 0 .",
    ]
    assert lines == _discovery.srv_records(_discovery.build_domain(entry, defaults={"ttl": None}))


@pytest.mark.parametrize("value,kwargs,message", [
    ("example.org", {}, "no mail_host"),
    ("exa mple.org", {"mail_host": "mail.example.org"}, "is not a valid host name"),
    (["example.org"], {"mail_host": "mail.example.org"}, "needs a domain name or a domain entry"),
    ("example.org", {"mail_host": "mail.example.org", "services": ["smtp"]}, "'smtp' is not a mail client service"),
])
def test_bad_input(value, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.mail_srv_records(value, **kwargs)


def test_filter_name():
    assert list(f.FilterModule().filters()) == ["mail_srv_records"]
