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


def test_without_a_mail_host_the_target_is_the_first_mx_name_not_a_pattern():
    """A property of the domain: the dns_records role on mx1 and on mx2 publishes the same target."""
    entry = {"name": "example.org", "mx": ["*.example.net", "MX1.example.org.", "mx2.example.org"]}
    on_mx1 = f.mail_srv_records({**entry, "mx": entry["mx"] + ["mx1.example.org"]})
    on_mx2 = f.mail_srv_records({**entry, "mx": entry["mx"] + ["mx2.example.org"]})
    assert on_mx1 == on_mx2
    assert on_mx1[2] == "_imaps._tcp.example.org. 3600 IN SRV 0 1 993 mx1.example.org."
    # Only patterns (or a single name as text): the next name the caller appended, or that name.
    assert f.mail_srv_records({"name": "example.org", "mx": ["*.example.org", "mail.example.org"]})[0].endswith(" mail.example.org.")
    assert f.mail_srv_records({"name": "example.org", "mx": "mail.example.org"})[0].endswith(" mail.example.org.")


@pytest.mark.parametrize("entry,kwargs,target", [
    ({"mail_host": "imap.example.org", "mx": ["mx1.example.org"]}, {"mail_host": "arg.example.org"}, "imap.example.org."),
    ({"mx": ["mx1.example.org"]}, {"mail_host": "arg.example.org"}, "arg.example.org."),
    ({"mx": ["mx1.example.org"]}, {}, "mx1.example.org."),
])
def test_the_entry_s_mail_host_then_the_argument_then_the_mx(entry, kwargs, target):
    assert f.mail_srv_records({"name": "example.org", **entry}, **kwargs)[0].endswith(" " + target)


@pytest.mark.parametrize("value,kwargs,message", [
    ("example.org", {}, "no mail_host"),
    ({"name": "example.org", "mx": ["*.example.org"]}, {}, "no mail_host"),
    ({"name": "example.org", "mx": ["mx one.example.org"]}, {}, "mail_host 'mx one.example.org' is not a valid host name"),
    ("exa mple.org", {"mail_host": "mail.example.org"}, "is not a valid host name"),
    (["example.org"], {"mail_host": "mail.example.org"}, "needs a domain name or a domain entry"),
    ("example.org", {"mail_host": "mail.example.org", "services": ["smtp"]}, "'smtp' is not a mail client service"),
])
def test_bad_input(value, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.mail_srv_records(value, **kwargs)


def test_filter_name():
    assert list(f.FilterModule().filters()) == ["mail_srv_records", "mail_srv_pool"]


# ------------------------------------------------------------------------------------------------
# mail_srv_pool: hosts serving the same mail domain publish one set
# ------------------------------------------------------------------------------------------------
def test_pool_of_one_is_the_host_s_own_lines():
    own = {"example.org": f.mail_srv_records("example.org", mail_host="mail.example.org")}
    assert f.mail_srv_pool(own, [own]) == own
    assert f.mail_srv_pool(own) == own


def test_two_hosts_of_one_domain_are_both_listed_and_dot_only_where_none_offers():
    a = {"example.org": f.mail_srv_records("example.org", mail_host="mx1.example.org", services=["submissions", "imaps", "pop3s"])}
    b = {"Example.ORG.": f.mail_srv_records("example.org", mail_host="mx2.example.org", services=["submissions", "imaps"]),
         "other.org": f.mail_srv_records("other.org", mail_host="mx2.example.org")}
    pool = [a, b]
    merged_a, merged_b = f.mail_srv_pool(a, pool), f.mail_srv_pool(b, pool)
    assert list(merged_a) == ["example.org"] and list(merged_b) == ["Example.ORG.", "other.org"]
    # Every host computes the same set for the shared domain, in the pool's order.
    assert merged_a["example.org"] == merged_b["Example.ORG."] == [
        "_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mx1.example.org.",
        "_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mx2.example.org.",
        "_submission._tcp.example.org. 3600 IN SRV 0 0 0 .",
        "_imaps._tcp.example.org. 3600 IN SRV 0 1 993 mx1.example.org.",
        "_imaps._tcp.example.org. 3600 IN SRV 0 1 993 mx2.example.org.",
        "_imap._tcp.example.org. 3600 IN SRV 0 0 0 .",
        "_pop3s._tcp.example.org. 3600 IN SRV 0 1 995 mx1.example.org.",
        "_pop3._tcp.example.org. 3600 IN SRV 0 0 0 .",
    ]
    assert merged_b["other.org"] == b["other.org"]


def test_the_same_mail_host_on_two_hosts_is_one_record():
    lines = f.mail_srv_records("example.org", mail_host="mail.example.org")
    assert f.mail_srv_pool({"example.org": lines}, [{"example.org": lines}, {"example.org": list(lines)}]) == {"example.org": lines}


@pytest.mark.parametrize("own, pool, message", [
    (["x"], None, "the input must map mail domains to lists of SRV lines"),
    ({"example.org": "x"}, None, "the input must map mail domains to lists of SRV lines"),
    ({"example.org": ["example.org. IN TXT x"]}, None, "is not an SRV line as mail_srv_records writes it"),
    ({"example.org": [None]}, None, "is not an SRV line"),
    ({"example.org": []}, "pool", "the pool must be a list"),
    ({"example.org": []}, [["x"]], r"pool\[1\] must map mail domains"),
    ({"example.org": ["_imaps._tcp.example.org. 3600 IN SRV 0 1 993 a.example.org."]},
     [{"example.org": ["_imaps._tcp.example.org. 60 IN SRV 0 1 993 b.example.org."]}],
     r"the hosts serving example.org give _imaps._tcp.example.org. different TTLs \(3600, 60\).*same dns_records_ttl"),
])
def test_pool_bad_input(own, pool, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.mail_srv_pool(own, pool)
