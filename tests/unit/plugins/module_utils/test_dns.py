# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_dns: wanted state, compare, one update with prerequisites, per-server checks, the ledger and the gate.

dnspython's dns.query is replaced by a small in-process authoritative server (FakeDNS) that answers
queries from its data and applies updates with RFC 2136 prerequisite semantics; the real BIND is the
Molecule scenario ``dane``'s job.
"""

from __future__ import annotations

import json

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _dns

ZONE = dns.name.from_text("example.org")
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
D1 = "8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d"
D2 = "2bb1f8d9b0c1b9a3f5d1a3d8e0e42f87c9a1e4a3b8d2ad5bd35f10c6c4f4d4a1"


class FakeDNS:
    """Authoritative servers by address: {address: {(name, rdtype): (ttl, set of rdata)}} plus a serial each."""

    def __init__(self) -> None:
        self.data: dict[str, dict] = {}
        self.serial: dict[str, int] = {}
        self.updates: list[dns.message.Message] = []
        self.secret_ok = True
        self.down: set[str] = set()

    def add_server(self, address: str, records: list[str] = ()) -> None:
        self.data[address] = {}
        self.serial[address] = 1
        for text in ["@ 60 IN NS ns1.example.org.", "@ 60 IN NS ns2.example.org.", "ns1 60 IN A 192.0.2.1",
                     "ns2 60 IN A 192.0.2.2", *records]:
            for rrset in dns.zonefile_read(text):
                entry = self.data[address].setdefault((rrset.name, rrset.rdtype), [rrset.ttl, set()])
                entry[1].update(rrset)

    def copy(self, source: str, target: str) -> None:
        self.data[target] = {k: [v[0], set(v[1])] for k, v in self.data[source].items()}
        self.serial[target] = self.serial[source]

    def __call__(self, message, where, timeout=None, port=53, **_kwargs):
        if where in self.down:
            raise dns.exception.Timeout
        if where not in self.data:
            raise ConnectionRefusedError(111, "Connection refused")
        if message.had_tsig and not self.secret_ok:
            raise dns.tsig.PeerBadSignature
        if message.opcode() == dns.opcode.UPDATE:
            return self._update(message, where)
        response = dns.message.make_response(message)
        question = message.question[0]
        if not question.name.is_subdomain(ZONE):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        if question.rdtype == dns.rdatatype.SOA:
            soa = dns.rrset.from_text(ZONE, 60, "IN", "SOA", f"ns1.example.org. h.example.org. {self.serial[where]} 1 1 1 1")
            _put(response, soa)
            return response
        entry = self.data[where].get((question.name, question.rdtype))
        if entry and entry[1]:
            _put(response, dns.rrset.from_rdata_list(question.name, entry[0], list(entry[1])))
        elif not any(name == question.name for name, _t in self.data[where]):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    def _update(self, message, where):
        self.updates.append(message)
        response = dns.message.make_response(message)
        data = self.data[where]
        for rrset in message.prerequisite:  # RFC 2136 3.2
            have = data.get((rrset.name, rrset.rdtype), [0, set()])[1]
            if _class(rrset) == dns.rdataclass.NONE and have:
                response.set_rcode(dns.rcode.YXRRSET)
                return response
            if _class(rrset) == dns.rdataclass.IN and have != set(rrset):
                response.set_rcode(dns.rcode.NXRRSET)
                return response
        for rrset in message.update:  # RFC 2136 3.4
            key = (rrset.name, rrset.rdtype)
            if _class(rrset) == dns.rdataclass.ANY:
                data.pop(key, None)
            elif _class(rrset) == dns.rdataclass.NONE:
                data.get(key, [0, set()])[1].difference_update(rrset)
            else:
                entry = data.setdefault(key, [rrset.ttl, set()])
                entry[0] = rrset.ttl
                entry[1].update(rrset)
        self.serial[where] += 1
        return response


def _class(rrset):
    """The class on the wire: dnspython keeps ANY/NONE of deletions and prerequisites in ``deleting``."""
    return rrset.deleting if rrset.deleting is not None else rrset.rdclass


def _put(response, rrset):
    """Into the answer section through the message's index, as parsing a real answer does."""
    target = response.find_rrset(response.answer, rrset.name, rrset.rdclass, rrset.rdtype, create=True)
    target.update(rrset)


def _zonefile_read(text):
    import dns.zonefile

    return dns.zonefile.read_rrsets(text, origin=ZONE, rdclass=None, default_ttl=60, relativize=False)


dns.zonefile_read = _zonefile_read  # type: ignore[attr-defined]


@pytest.fixture
def fake(monkeypatch):
    server = FakeDNS()
    server.add_server("192.0.2.1", [f"_25._tcp.mail 60 IN TLSA 3 1 1 {D1}"])
    server.copy("192.0.2.1", "192.0.2.2")
    monkeypatch.setattr(_dns.dns.query, "tcp", server)
    monkeypatch.setattr(_dns.dns.query, "udp", server)
    return server


def params(**extra):
    base = {"zone": "example.org", "server": "192.0.2.1", "port": 53, "tsig_key_name": "mail-update",
            "tsig_algorithm": "hmac-sha256", "tsig_secret": SECRET, "servers": None, "timeout": 2.0,
            "wait_timeout": 0, "wait_interval": 1.0, "ttl": 60, "resolver": None, "served_since_path": None,
            "rrsets": [{"name": "_25._tcp.mail", "type": "TLSA", "values": [f"3 1 1 {D1}", f"3 1 1 {D2}"],
                        "ttl": 60, "state": "exact", "records": None}]}
    base.update(extra)
    return base


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------
def test_rrsets_from_dicts_and_zone_lines_compare_by_meaning():
    wanted = _dns.parse_wanted(ZONE, [
        {"name": "_25._tcp.mail", "type": "tlsa", "values": [f"3 1 1 {D1.upper()}"], "ttl": 300},
        {"records": ['_mta-sts 300 IN TXT "v=STSv1; id=1"', f"_25._tcp.mail.example.org. 300 TLSA 3 1 1 {D1}"]},
    ], default_ttl=60)
    assert len(wanted) == 2  # the same TLSA RRset twice, asking for the same thing, is one RRset
    assert wanted[0].values == frozenset([dns.rdata.from_text("IN", "TLSA", f"3 1 1 {D1}")])
    assert wanted[1].label == "_mta-sts.example.org. TXT" and wanted[1].ttl == 300


def test_txt_plain_text_is_one_value_split_at_255_bytes():
    long = "v=TLSRPTv1; rua=mailto:" + "a" * 300 + "@example.org"
    item = _dns.parse_wanted(ZONE, [{"name": "_smtp._tls", "type": "TXT", "values": [long]}])[0]
    rdata = next(iter(item.values))
    assert b"".join(rdata.strings).decode() == long and len(rdata.strings) == 2


@pytest.mark.parametrize("spec, message", [
    ({"name": "www.example.com.", "type": "A", "values": ["192.0.2.1"]}, "is not inside the zone example.org."),
    ({"name": "x", "type": "SOA", "values": ["a. b. 1 1 1 1 1"]}, "kept by the DNS server itself"),
    ({"name": "x", "type": "RRSIG", "values": []}, "kept by the DNS server itself"),
    ({"name": "x", "type": "NOPE", "values": ["1"]}, "is not a DNS record type"),
    ({"name": "x", "type": "TLSA", "values": ["3 1 1 zz"]}, "is not TLSA data"),
    ({"name": "x\nevil", "type": "A", "values": ["192.0.2.1"]}, "control character"),
    ({"name": "x", "type": "A", "values": []}, "no values for x.example.org. A"),
    ({"name": "x", "type": "A", "values": ["192.0.2.1"], "ttl": -1}, "is not a TTL"),
    ({"name": "x", "type": "A", "values": ["192.0.2.1"], "state": "maybe"}, "is not one of exact, present, absent"),
    ({"records": ["x IN A 192.0.2.1"], "name": "x"}, "give either records"),
    ({"records": ["x 60 IN A 192.0.2.1", "x 61 IN A 192.0.2.2"]}, "different TTLs"),
    ({"records": ["this is not a record"]}, "is not a zone-file record line"),
])
def test_bad_rrsets_are_refused_naming_the_option(spec, message):
    with pytest.raises(_dns.DNSError, match=message):
        _dns.parse_wanted(ZONE, [spec])


def test_the_same_rrset_twice_with_other_values_is_refused():
    with pytest.raises(_dns.DNSError, match=r"rrsets\[2\]: x.example.org. A is also given by rrsets\[1\]"):
        _dns.parse_wanted(ZONE, [{"name": "x", "type": "A", "values": ["192.0.2.1"]},
                                 {"name": "x", "type": "A", "values": ["192.0.2.2"]}])


@pytest.mark.parametrize("name, algorithm, secret, message", [
    ("k", "hmac-md5", SECRET, "tsig_algorithm: 'hmac-md5' is not supported"),
    ("k", "hmac-sha256", "", "tsig_secret: empty for TSIG key 'k'"),
    ("k", "hmac-sha256", "not base64!", "is not base64 text"),
    (None, "hmac-sha256", SECRET, "tsig_secret is set but tsig_key_name is not"),
    ("k\r\n", "hmac-sha256", SECRET, "control character"),
])
def test_bad_tsig_settings(name, algorithm, secret, message):
    with pytest.raises(_dns.DNSError, match=message):
        _dns.parse_tsig(name, algorithm, secret)


def test_secret_never_in_the_repr():
    tsig = _dns.parse_tsig("k", "hmac-sha512", SECRET)
    assert SECRET not in repr(tsig) and SECRET not in tsig.label


@pytest.mark.parametrize("text, address, port", [
    ("192.0.2.1", "192.0.2.1", 53), ("192.0.2.1:5353", "192.0.2.1", 5353), ("[2001:db8::1]:54", "2001:db8::1", 54),
    ("2001:db8::1", "2001:db8::1", 53),
])
def test_server_syntax(text, address, port):
    server = _dns.parse_server(text)
    assert (server.address, server.port) == (address, port)


@pytest.mark.parametrize("text, message", [("-v", "is not a server"), ("192.0.2.1:0", "is not a port number"),
                                           ("", "is not a server")])
def test_bad_servers(text, message):
    with pytest.raises(_dns.DNSError, match=message):
        _dns.parse_server(text)


# ------------------------------------------------------------------------------------------------
# Plan, update, checks
# ------------------------------------------------------------------------------------------------
def test_check_mode_plans_the_diff_and_sends_nothing(fake):
    result = _dns.apply(params(), check_mode=True)
    assert result["changed"] is True
    assert result["added"] == [f"_25._tcp.mail.example.org. 60 IN TLSA 3 1 1 {D2}"] and result["removed"] == []
    assert fake.updates == [] and result["serial_after"] == result["serial_before"] == 1
    assert f"3 1 1 {D2}" in result["diff_text"]["after"] and f"3 1 1 {D2}" not in result["diff_text"]["before"]
    assert SECRET not in json.dumps(result)


def test_one_update_with_prerequisites_then_nothing_to_do(fake):
    rrsets = params()["rrsets"] + [{"records": ['_mta-sts IN TXT "v=STSv1; id=1"'], "state": "exact"}]
    result = _dns.apply(params(rrsets=rrsets, servers=["192.0.2.1"]), check_mode=False)
    assert result["changed"] and len(fake.updates) == 1 and result["serial_after"] == 2
    update = fake.updates[0]
    assert update.had_tsig
    kinds = sorted((_class(rrset), dns.rdatatype.to_text(rrset.rdtype)) for rrset in update.prerequisite)
    # The TLSA RRset exactly as read (class IN, value-dependent), the TXT RRset must not exist (class NONE).
    assert kinds == [(dns.rdataclass.IN, "TLSA"), (dns.rdataclass.NONE, "TXT")]
    assert all(rrset.ttl == 0 for rrset in update.prerequisite)
    assert result["all_served"] and result["servers"][0]["ok"]
    again = _dns.apply(params(rrsets=rrsets, servers=["192.0.2.1"]), check_mode=False)
    assert again["changed"] is False and len(fake.updates) == 1


def test_states_present_and_absent(fake):
    fake.data["192.0.2.1"][(dns.name.from_text("caa", ZONE), dns.rdatatype.CAA)] = [
        60, {dns.rdata.from_text("IN", "CAA", '0 issue "ca.example"')}]
    present = [{"name": "caa", "type": "CAA", "values": ['0 issue "other.example"'], "state": "present", "ttl": 60}]
    result = _dns.apply(params(rrsets=present, servers=["192.0.2.1"]), check_mode=False)
    assert result["removed"] == [] and result["added"] == ['caa.example.org. 60 IN CAA 0 issue "other.example"']
    assert len(fake.data["192.0.2.1"][(dns.name.from_text("caa", ZONE), dns.rdatatype.CAA)][1]) == 2
    absent = [{"name": "_25._tcp.mail", "type": "TLSA", "state": "absent"}]
    result = _dns.apply(params(rrsets=absent, servers=["192.0.2.1"]), check_mode=False)
    assert result["removed"] == [f"_25._tcp.mail.example.org. 60 IN TLSA 3 1 1 {D1}"]
    assert (dns.name.from_text("_25._tcp.mail", ZONE), dns.rdatatype.TLSA) not in fake.data["192.0.2.1"]


def test_a_ttl_change_replaces_the_rrset(fake):
    rrsets = [{"name": "_25._tcp.mail", "type": "TLSA", "values": [f"3 1 1 {D1}"], "ttl": 300, "state": "exact"}]
    result = _dns.apply(params(rrsets=rrsets, servers=["192.0.2.1"]), check_mode=False)
    assert result["changed"] and result["added"] == [f"_25._tcp.mail.example.org. 300 IN TLSA 3 1 1 {D1}"]
    assert fake.data["192.0.2.1"][(dns.name.from_text("_25._tcp.mail", ZONE), dns.rdatatype.TLSA)][0] == 300


def test_a_concurrent_change_fails_the_prerequisite(fake):
    conn = _dns.connection(params())
    wanted = _dns.parse_wanted(conn.zone, params()["rrsets"])
    changes = _dns.plan(wanted, _dns.read_primary(conn.client, conn.primary, conn.zone, wanted))
    fake.data["192.0.2.1"][(dns.name.from_text("_25._tcp.mail", ZONE), dns.rdatatype.TLSA)][1].add(
        dns.rdata.from_text("IN", "TLSA", "3 1 1 " + "ee" * 32))
    with pytest.raises(_dns.PrerequisiteFailed, match="changed between the read and the update"):
        _dns.send_update(conn.client, conn.primary, conn.zone, _dns.build_update(conn.zone, changes, conn.client.tsig))
    assert fake.serial["192.0.2.1"] == 1


def test_wrong_secret_names_the_key(fake):
    fake.secret_ok = False
    with pytest.raises(_dns.TSIGRefused, match=r"TSIG key 'mail-update' \(hmac-sha256\).*tsig_secret does not match"):
        _dns.apply(params(), check_mode=True)


def test_not_authoritative(fake):
    with pytest.raises(_dns.NotAuthoritative, match="is not authoritative for the zone example.com."):
        _dns.apply(params(zone="example.com", rrsets=[{"name": "x", "type": "A", "values": ["192.0.2.9"]}]), check_mode=True)


def test_unreachable_server(fake):
    fake.down.add("192.0.2.1")
    with pytest.raises(_dns.Unreachable, match="did not answer within 2 s"):
        _dns.apply(params(), check_mode=True)
    with pytest.raises(_dns.Unreachable, match="cannot be reached"):
        _dns.apply(params(server="192.0.2.77"), check_mode=True)


def test_ns_set_checked_and_a_lagging_secondary_is_named(fake):
    clock = Clock()
    result = _dns.apply(params(wait_timeout=5), check_mode=False, clock=clock, sleep=clock.sleep)
    assert [s["server"] for s in result["servers"]] == ["ns1.example.org", "ns2.example.org"]
    assert result["all_served"] is False and result["waited"] == 5.0
    assert result["servers"][1]["missing"] == ["_25._tcp.mail.example.org. TLSA"] and result["servers"][1]["serial"] == 1
    assert "ns2.example.org (192.0.2.2, serial 1) lacks _25._tcp.mail.example.org. TLSA" in result["missing_summary"]
    fake.copy("192.0.2.1", "192.0.2.2")
    again = _dns.apply(params(wait_timeout=5), check_mode=False, clock=clock, sleep=clock.sleep)
    assert again["changed"] is False and again["all_served"] and again["waited"] == 0.0


# ------------------------------------------------------------------------------------------------
# Ledger and gate
# ------------------------------------------------------------------------------------------------
def _gate_params(tmp_path, **extra):
    base = params(name="mail.example.org", ports=[25], digests=[D2], ttl=20, force=False,
                  served_since_path=str(tmp_path / "served-since.json"))
    base.update(extra)
    return base


def test_gate_closed_while_a_server_lacks_the_record_then_counts_2xttl(fake, tmp_path):
    clock = Clock()
    _dns.apply(params(servers=["192.0.2.1"]), check_mode=False)  # D2 on ns1 only
    verdict = _dns.gate(_gate_params(tmp_path), check_mode=False, now=clock)
    assert verdict["ready"] is False
    assert "is not served by ns2.example.org (192.0.2.2)" in verdict["message"]
    assert f"_25._tcp.mail.example.org. IN TLSA 3 1 1 {D2}" in verdict["message"]
    fake.copy("192.0.2.1", "192.0.2.2")
    verdict = _dns.gate(_gate_params(tmp_path), check_mode=False, now=clock)
    # The servers serve the RRset with TTL 60, more than the ttl option's 20: 2xTTL is 120 s.
    assert verdict["ready"] is False and verdict["left"] == 120 and "2xTTL = 120 s, 120 s left" in verdict["message"]
    clock.now += 15
    verdict = _dns.gate(_gate_params(tmp_path), check_mode=False, now=clock)
    assert verdict["left"] == 105 and "105 s left" in verdict["message"]
    ledger = json.loads((tmp_path / "served-since.json").read_text())["first_served_everywhere"]
    assert ledger == {f"_25._tcp.mail.example.org. IN TLSA 3 1 1 {D2}": 1000.0}
    # The bounded wait opens the gate without anybody sleeping for real.
    verdict = _dns.gate(_gate_params(tmp_path, wait_timeout=200), check_mode=False, now=clock,
                        clock=clock, sleep=clock.sleep)
    assert verdict["ready"] is True and verdict["waited"] == 105.0


def _first_seen_everywhere(fake, tmp_path, clock) -> None:
    """D1 and D2 published on both servers, and seen there by the gate at ``clock``."""
    _dns.apply(params(), check_mode=False)
    fake.copy("192.0.2.1", "192.0.2.2")
    _dns.gate(_gate_params(tmp_path), check_mode=False, now=clock)


def test_a_record_that_disappears_starts_again(fake, tmp_path):
    clock = Clock()
    _first_seen_everywhere(fake, tmp_path, clock)
    clock.now += 100
    fake.add_server("192.0.2.2", [f"_25._tcp.mail 60 IN TLSA 3 1 1 {D1}"])  # the secondary lost it
    verdict = _dns.gate(_gate_params(tmp_path), check_mode=False, now=clock)
    assert not verdict["ready"]
    fake.copy("192.0.2.1", "192.0.2.2")
    verdict = _dns.gate(_gate_params(tmp_path), check_mode=False, now=clock)
    assert verdict["left"] == 120


def test_gate_check_mode_writes_no_ledger_and_force_passes(fake, tmp_path):
    _dns.apply(params(), check_mode=False)
    verdict = _dns.gate(_gate_params(tmp_path, force=True), check_mode=True)
    assert not (tmp_path / "served-since.json").exists()
    assert verdict["ready"] is False and verdict["forced"] is True


REPLACED = {"name": "mail.example.org", "key_type": "rsa", "path": "/etc/postmaster-tls/mail.example.org/rsa/privkey.pem",
            "reason": "regenerate=always"}


def test_a_served_key_replaced_in_place_is_refused_without_asking_dns(fake, tmp_path):
    fake.down.update(fake.data)  # DNS is not asked: a key made in this run cannot have been published
    verdict = _dns.gate(_gate_params(tmp_path, digests=[], replacing=[REPLACED], wait_timeout=300), check_mode=False)
    assert verdict["ready"] is False and verdict["forced"] is False and verdict["waited"] == 0.0
    message = verdict["message"]
    assert message.startswith("Key replacement refused: this run would replace the served rsa key "
                              "/etc/postmaster-tls/mail.example.org/rsa/privkey.pem in place (regenerate=always)")
    assert "DANE senders would defer mail to mail.example.org" in message
    assert "certificate_rollover=prepare, then certificate_rollover=switch" in message
    assert "certificate_rollover_force=true" in message
    assert verdict["replacing"] == [REPLACED] and verdict["servers"] == []
    assert not (tmp_path / "served-since.json").exists()


def test_force_lets_a_replacement_through(fake, tmp_path):
    verdict = _dns.gate(_gate_params(tmp_path, digests=[], replacing=[REPLACED], force=True), check_mode=False)
    assert verdict["ready"] is False and verdict["forced"] is True and "Key replacement refused" in verdict["message"]


def test_a_switch_that_also_replaces_a_key_names_both(fake, tmp_path):
    _dns.apply(params(servers=["192.0.2.1"]), check_mode=False)  # D2 on ns1 only
    verdict = _dns.gate(_gate_params(tmp_path, replacing=[REPLACED]), check_mode=False)
    assert verdict["ready"] is False
    assert "certificate_rollover=switch refused: " in verdict["message"] and "is not served by ns2" in verdict["message"]
    assert "Key replacement refused: " in verdict["message"]


def test_a_switch_whose_records_are_served_long_enough_but_replaces_a_key_stays_closed(fake, tmp_path):
    clock = Clock()
    _first_seen_everywhere(fake, tmp_path, clock)
    clock.now += 200
    assert _dns.gate(_gate_params(tmp_path), check_mode=False, now=clock)["ready"] is True
    verdict = _dns.gate(_gate_params(tmp_path, replacing=[REPLACED]), check_mode=False, now=clock)
    assert verdict["ready"] is False and "switch refused" not in verdict["message"]


@pytest.mark.parametrize("replacing, message", [
    ([{"key_type": "rsa"}], r"replacing\[1\]: expected a dictionary with path"),
    ("rsa", "replacing: expected a list"),
    ([{"path": "/k\n", "reason": "x"}], r"replacing\[1\].path: .* control character"),
])
def test_bad_replacing_entries(fake, tmp_path, replacing, message):
    with pytest.raises(_dns.DNSError, match=message):
        _dns.gate(_gate_params(tmp_path, digests=[], replacing=replacing), check_mode=False)


@pytest.mark.parametrize("extra, message", [
    ({"digests": ["abc"]}, "is not a SHA-256 digest"),
    ({"digests": []}, "no key to look for"),
    ({"name": "mail.example.com"}, "is not inside the zone"),
    ({"ports": [0]}, "is not a port number"),
])
def test_gate_bad_input(fake, tmp_path, extra, message):
    with pytest.raises(_dns.DNSError, match=message):
        _dns.gate(_gate_params(tmp_path, **extra), check_mode=False)


def test_a_ledger_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "served-since.json"
    path.write_text("{not json")
    with pytest.raises(_dns.DNSError, match="cannot be read as the JSON ledger"):
        _dns.Ledger(str(path)).read()


@pytest.mark.parametrize("extra, message", [
    ({"timeout": 0.0}, "timeout"), ({"wait_timeout": -1}, "wait_timeout"), ({"wait_interval": 0.01}, "wait_interval"),
    ({"server": None, "servers": None}, "give server"), ({"zone": "."}, "the root zone is not managed"),
    ({"port": 70000}, "port: 70000"),
])
def test_bad_connection_options(extra, message):
    with pytest.raises(_dns.DNSError, match=message):
        _dns.connection(params(**extra))
