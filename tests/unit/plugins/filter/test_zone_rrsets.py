# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The zone_rrsets filter: the dns_records role's records per zone, as postmaster.tls.dns_rrsets takes them.

The output of every case is also parsed by _dns.parse_wanted, the module's own input check: what the
filter hands on is what the module accepts (the real update against BIND is the Molecule scenarios'
job: "discovery" for the SRV records, "dane" for TLSA).
"""

from __future__ import annotations

import dns.name
import dns.rdatatype
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.postmaster.tls.plugins.filter import mail_discovery
from ansible_collections.postmaster.tls.plugins.filter import zone_rrsets as f
from ansible_collections.postmaster.tls.plugins.module_utils import _dns

D1 = "8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d"
D2 = "2bb1f8d9b0c1b9a3f5d1a3d8e0e42f87c9a1e4a3b8d2ad5bd35f10c6c4f4d4a1"
MTA_STS = '_mta-sts.example.org. 3600 IN TXT "v=STSv1; id=4f2a910c7e135baa029d61c43e88f017"'
TLS_RPT = '_smtp._tls.example.org. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls@example.org"'


def srv(domain: str, host: str, **kwargs) -> list[str]:
    return mail_discovery.mail_srv_records(domain, mail_host=host, **kwargs)


def records(**extra) -> dict:
    base = {
        "mx_name": "mail.example.org", "zone": "example.org",
        "tlsa": [f"_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 {D1}"], "tlsa_retire": True, "tlsa_retire_held": [],
        "domains": {"example.org": {"zone": "example.org", "mta_sts_policy": "...", "mta_sts_record": MTA_STS,
                                    "tls_rpt_record": TLS_RPT}},
        "srv": {"example.org": srv("example.org", "mail.example.org")},
    }
    base.update(extra)
    return base


def accepted(updates: list[dict]) -> dict[str, list[str]]:
    """Each zone's rrsets through the module's parser; the RRsets it would manage, per zone."""
    out = {}
    for update in updates:
        zone = _dns.parse_zone(update["zone"])
        wanted = _dns.parse_wanted(zone, update["rrsets"])
        out[update["zone"]] = [item.label for item in wanted]
    return out


def test_one_update_per_zone_with_tlsa_mta_sts_tls_rpt_and_srv():
    updates = f.zone_rrsets(records())
    assert [u["zone"] for u in updates] == ["example.org"]
    tlsa, domain = updates[0]["rrsets"]
    assert tlsa == {"records": [f"_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 {D1}"], "state": "exact"}
    assert domain["records"][:2] == [MTA_STS, TLS_RPT]
    assert domain["records"][2:] == srv("example.org", "mail.example.org")
    labels = accepted(updates)["example.org"]
    assert labels[:3] == ["_25._tcp.mail.example.org. TLSA", "_mta-sts.example.org. TXT", "_smtp._tls.example.org. TXT"]
    assert labels[3:] == [f"_{name}._tcp.example.org. SRV" for name in ("submissions", "submission", "imaps", "imap", "pop3s", "pop3")]


def test_a_not_offered_service_reaches_the_module_as_target_dot():
    lines = srv("example.org", "mail.example.org", services=["submissions", "imaps"])
    updates = f.zone_rrsets(records(tlsa=[], domains={"example.org": {"zone": None}}, srv={"example.org": lines}))
    wanted = _dns.parse_wanted(dns.name.from_text("example.org"), updates[0]["rrsets"])
    pop3 = next(item for item in wanted if item.name == dns.name.from_text("_pop3._tcp.example.org"))
    assert pop3.rdtype == dns.rdatatype.SRV and [r.to_text() for r in pop3.values] == ["0 0 0 ."]


def test_a_subdomain_goes_into_its_parent_zone_with_the_tlsa_records():
    """d12.example.test in the zone example.test: one update, its _imaps._tcp names inside that zone."""
    rec = records(
        mx_name="mail.d12.example.test", zone="example.test",
        tlsa=[f"_25._tcp.mail.d12.example.test. 60 IN TLSA 3 1 1 {D1}"],
        domains={"d12.example.test": {"zone": "Example.Test.", "mta_sts_record": None, "tls_rpt_record": None}},
        srv={"d12.example.test": srv("d12.example.test", "mail.d12.example.test", ttl=60)},
    )
    updates = f.zone_rrsets(rec)
    assert [u["zone"] for u in updates] == ["example.test"]
    assert len(updates[0]["rrsets"]) == 2
    assert "_imaps._tcp.d12.example.test. SRV" in accepted(updates)["example.test"]


def test_domains_in_their_own_zones_one_update_each_tlsa_zone_first():
    rec = records(
        tlsa=[f"_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 {D1}"],
        domains={"example.net": {"zone": None, "mta_sts_record": MTA_STS.replace("example.org", "example.net")},
                 "example.org": {"zone": "example.org", "mta_sts_record": MTA_STS},
                 "sub.example.net": {"zone": "example.net."}},
        srv={"example.net": srv("example.net", "mail.example.org"), "sub.example.net": srv("sub.example.net", "mail.example.org")},
    )
    updates = f.zone_rrsets(rec)
    assert [u["zone"] for u in updates] == ["example.org", "example.net"]
    assert [len(u["rrsets"]) for u in updates] == [2, 1]
    net = accepted(updates)["example.net"]
    assert "_mta-sts.example.net. TXT" in net and "_imaps._tcp.sub.example.net. SRV" in net and len(net) == 13


def test_a_zone_with_nothing_to_publish_is_left_out():
    rec = records(tlsa=[], domains={"example.org": {"zone": None, "mta_sts_record": None, "tls_rpt_record": None}}, srv={})
    assert f.zone_rrsets(rec) == []


def test_srv_keys_match_the_domain_as_a_dns_name():
    rec = records(tlsa=[], domains={"Example.ORG.": {"zone": None}}, srv={"example.org": srv("example.org", "mail.example.org")})
    updates = f.zone_rrsets(rec)
    assert updates[0]["zone"] == "Example.ORG." and len(updates[0]["rrsets"][0]["records"]) == 6


def test_the_tlsa_set_joins_every_host_of_the_mx_name():
    """A pool behind one MX name: one TLSA set with every key; exact only when every host lets old keys go."""
    mine = records(srv={})
    other = records(tlsa=[f"_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 {D2}"], tlsa_retire="False", srv={})
    elsewhere = records(mx_name="mx2.example.org", tlsa=["_25._tcp.mx2.example.org. 3600 IN TLSA 3 1 1 " + "ee" * 32], srv={})
    tlsa = f.zone_rrsets(mine, [mine, other, elsewhere])[0]["rrsets"][0]
    assert tlsa["records"] == [f"_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 {D1}", f"_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 {D2}"]
    assert tlsa["state"] == "present"
    assert f.zone_rrsets(mine, [mine, dict(other, tlsa_retire=True)])[0]["rrsets"][0]["state"] == "exact"
    # This host counts even when the pool does not list it.
    assert f.zone_rrsets(mine, [elsewhere])[0]["rrsets"][0]["records"] == mine["tlsa"]


@pytest.mark.parametrize("value, pool, message", [
    ("records", None, "the input must be the dns_records role's dns_records_records"),
    ({"tlsa": [], "domains": {"example.org": {"zone": "example.net"}}}, None,
     "the mail domain example.org is not inside its zone example.net: its _mta-sts, _smtp._tls and SRV names"),
    ({"tlsa": [], "domains": {"example.org": {"zone": "ample.org"}}}, None, "example.org is not inside its zone ample.org"),
    ({"tlsa": [], "domains": {"example.org": {"zone": "exa mple.org"}}}, None, "the zone of example.org 'exa mple.org' is not a valid host name"),
    ({"tlsa": [], "domains": {"example.org": {"zone": "example.org\n"}}}, None, "control character"),
    ({"tlsa": [], "domains": ["example.org"]}, None, "domains must map mail domains to their records"),
    ({"tlsa": [], "domains": {"example.org": {}}, "srv": ["x"]}, None, "srv must map mail domains to SRV lines"),
    ({"tlsa": [], "domains": {"example.org": {}}, "srv": {"example.org": "x"}}, None, "srv of example.org must be a list of zone-file lines"),
    ({"tlsa": "x", "zone": "example.org"}, None, "tlsa must be a list of zone-file lines"),
    ({"tlsa": ["x"], "zone": None}, None, r"zone \(dns_records_zone\) must be a host name"),
    (records(), "pool", "the pool must be a list of every host's dns_records_records"),
    (records(), ["x"], r"pool\[1\] must be the dns_records role's dns_records_records"),
])
def test_bad_input_is_refused_naming_it(value, pool, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.zone_rrsets(value, pool)


def test_filter_name():
    assert list(f.FilterModule().filters()) == ["zone_rrsets"]
