# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The grader and its wire layer against in-process TLS servers (Python's ssl, i.e. real OpenSSL) on
127.0.0.1, and the classification table. Real Postfix and Dovecot, with sslyze and testssl.sh as
oracles, are the Molecule scenario ``grade``.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from local_server import LocalServer

from ansible_collections.postmaster.tls.plugins.module_utils import _tlsgrade, _tlswire


# ------------------------------------------------------------------------------------------------
# In-process servers
# ------------------------------------------------------------------------------------------------
class Server(LocalServer):
    """A TLS server (implicit TLS) that finishes handshakes it can and drops everything else; with ``raw``
    it answers every connection with those bytes instead."""

    def __init__(self, context: ssl.SSLContext, raw: bytes | None = None) -> None:
        self.context = context
        self.raw = raw
        super().__init__(backlog=64)

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            if self.raw is not None:
                conn.sendall(self.raw)
                return
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ValueError):
            pass
        finally:
            conn.close()


def server_context(pki, *, kind: str = "rsa", size: int = 2048, ciphers: str | None = None,
                   server_order: bool = True, max_version: ssl.TLSVersion | None = None) -> tuple[ssl.SSLContext, bytes]:
    root, intermediate, leaf, leaf_key, _int_key = pki.chain(leaf_key=pki.key("leaf", kind, size),
                                                             leaf_names=("mail.example.test",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.write("fullchain.pem", [leaf, intermediate]), pki.write("privkey.pem", leaf_key))
    if ciphers:
        context.set_ciphers(ciphers)
    if not server_order:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if max_version:
        context.maximum_version = max_version
    return context, leaf.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def serve():
    servers = []

    def make(context, raw=None):
        server = Server(context, raw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def grade_one(server: Server, *, records=(), facts=None, budget=60.0, port=465, all_groups=False) -> dict:
    target = _tlsgrade.Target(label=f"127.0.0.1:{server.port}/smtps", port=port, server_name="mail.example.test",
                              open=server.open, facts=facts or {"chain_valid": True, "hostname_matches": True})
    return _tlsgrade.grade([target], tlsa_records=_tlsgrade.parse_tlsa(records), timeout=5, budget=budget, workers=8,
                           all_groups=all_groups)[0]


# ------------------------------------------------------------------------------------------------
# The wire layer
# ------------------------------------------------------------------------------------------------
def test_ffdhe_primes_follow_rfc7919():
    # RFC 7919 Appendix A.1: ffdhe2048 ends in ...886B4238 61285C97 FFFFFFFF FFFFFFFF.
    prime = _tlswire.ffdhe_prime(2048)
    assert prime.bit_length() == 2048
    assert f"{prime:x}".endswith("886b423861285c97ffffffffffffffff")
    assert f"{prime:x}".startswith("ffffffffffffffffadf85458a2bb4a9a")
    assert _tlswire.identify_dh_group(prime, 2) == "ffdhe2048"
    assert _tlswire.identify_dh_group(_tlswire.ffdhe_prime(3072), 2) == "ffdhe3072"
    assert _tlswire.identify_dh_group(prime, 5) is None
    assert _tlswire.identify_dh_group(prime - 2, 2) is None


def test_client_hello_for_tls13_carries_versions_key_share_and_sni():
    record = _tlswire.client_hello(_tlswire.Hello("TLSv1.3", _tlswire.TLS13_SUITES, server_name="mail.example.test"))
    kind, version, length = struct.unpack("!BHH", record[:5])
    assert (kind, version, length) == (22, 0x0301, len(record) - 5)
    assert record[5] == 1  # ClientHello
    assert b"mail.example.test" in record
    assert struct.pack("!HH", _tlswire.EXT_SUPPORTED_VERSIONS, 3) + b"\x02\x03\x04" in record
    assert struct.pack("!H", 29) + struct.pack("!H", 32) in record  # an X25519 key share of 32 bytes


def test_suite_table_knows_kinds():
    assert _tlswire.suite(0xC02F).name == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    assert _tlswire.suite(0xC02F).key_exchange == "ECDHE"
    assert _tlswire.suite(0xC02F).authentication == "RSA"
    assert _tlswire.suite(0x009E).key_exchange == "DHE"
    assert _tlswire.suite(0x002F).forward_secret is False
    assert _tlswire.suite(0x1302).tls13
    assert _tlswire.suite(0xFEFE).name == "UNKNOWN_0xFEFE"


def test_read_flight_sees_the_clear_part_of_a_tls12_handshake(pki, serve):
    context, leaf = server_context(pki)
    server = serve(context)
    sock = server.open()
    try:
        flight = _tlswire.exchange(sock, _tlswire.Hello("TLSv1.2", _tlswire.TLS12_SUITES), timeout=5)
    finally:
        sock.close()
    assert flight.accepted and flight.version == "TLSv1.2" and flight.done
    assert flight.certificates[0] == leaf
    assert flight.key_exchange.kind == "ECDHE" and flight.key_exchange.group == "x25519"
    assert _tlswire.EXT_RENEGOTIATION_INFO in flight.extensions
    assert _tlswire.EXT_EXTENDED_MASTER_SECRET in flight.extensions


def test_read_flight_reports_refusals_and_non_tls(pki, serve):
    context, _leaf = server_context(pki)
    sock = serve(context).open()
    try:
        flight = _tlswire.exchange(sock, _tlswire.Hello("SSLv3", _tlswire.TLS12_SUITES), timeout=5)
    finally:
        sock.close()
    assert not flight.accepted and flight.refusal.startswith(("alert", "connection closed"))
    sock = serve(None, raw=b"220 mail.example.test ESMTP\r\n").open()
    try:
        with pytest.raises(_tlswire.WireError, match="not a TLS record"):
            _tlswire.exchange(sock, _tlswire.Hello("TLSv1.2", _tlswire.TLS12_SUITES), timeout=5)
    finally:
        sock.close()


def test_server_key_exchange_names_rfc7919_and_custom_groups():
    def dhe(prime: int) -> _tlswire.Flight:
        flight = _tlswire.Flight(version="TLSv1.2", suite=0x009E)
        size = (prime.bit_length() + 7) // 8
        body = (struct.pack("!H", size) + prime.to_bytes(size, "big") + b"\x00\x01\x02" + b"\x00\x01\x05"
                + struct.pack("!H", 0x0401) + b"\x00\x00")
        _tlswire.parse_server_key_exchange(body, flight)
        return flight

    named = dhe(_tlswire.ffdhe_prime(2048)).key_exchange
    assert (named.group, named.dh_bits, named.signature_scheme) == ("ffdhe2048", 2048, 0x0401)
    custom = dhe(_tlswire.ffdhe_prime(2048) - 2).key_exchange
    assert custom.group is None and custom.dh_bits == 2048
    assert _tlsgrade.group_class(custom.group) == _tlsgrade.INSUFFICIENT


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("TLS_AES_256_GCM_SHA384", "good"),
    ("TLS_AES_128_GCM_SHA256", "sufficient"),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "sufficient"),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "phase out"),
    ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "phase out"),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "insufficient"),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", "insufficient"),
    ("TLS_AES_128_CCM_8_SHA256", "insufficient"),
])
def test_cipher_classes_follow_internet_nl(name, expected):
    assert _tlsgrade.cipher_class(name) == expected


def test_group_classes_follow_internet_nl():
    assert _tlsgrade.group_class("x25519") == "good"
    assert _tlsgrade.group_class("secp224r1") == "phase out"
    assert _tlsgrade.group_class("ffdhe3072") == "phase out"
    assert _tlsgrade.group_class("ffdhe2048") == "insufficient"
    assert _tlsgrade.group_class(None) == "insufficient"


@pytest.mark.parametrize("text, message", [
    ("3 1 1", "is not 'usage selector matching-type hex'"),
    ("4 1 1 abcd", "usage above 3"),
    ("3 1 1 xyz", "not hex"),
    ("_smtp._tcp.mx.example. IN TLSA 3 1 1 ab", "does not start with _PORT._tcp"),
    ("_25._tcp.mx.example. IN A 192.0.2.1", "is not a TLSA record line"),
])
def test_bad_tlsa_records_are_refused_with_the_fix(text, message):
    with pytest.raises(_tlsgrade.GradeError, match=message):
        _tlsgrade.parse_tlsa([text])


def test_tlsa_records_with_and_without_owner():
    parsed = _tlsgrade.parse_tlsa(["3 1 1 AB:CD".replace(":", ""), "_25._tcp.mx.example. 3600 IN TLSA 2 0 1 ef01"])
    assert parsed[0] == _tlsgrade.TLSARecord(3, 1, 1, "abcd", None)
    assert parsed[1] == _tlsgrade.TLSARecord(2, 0, 1, "ef01", 25)


# ------------------------------------------------------------------------------------------------
# Grading whole endpoints
# ------------------------------------------------------------------------------------------------
def test_a_modern_server_would_pass_with_rsa2048_as_phase_out(pki, serve):
    context, leaf = server_context(pki, ciphers="ECDHE+AESGCM:ECDHE+CHACHA20")
    server = serve(context)
    spki = hashlib.sha256(pki.key("leaf", "rsa", 2048).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    graded = grade_one(server, records=[f"3 1 1 {spki}"])
    sub = graded["subtests"]
    assert graded["verdict"] == "would pass", graded["summary"]
    assert sub["tls_version"]["accepted"] == ["TLSv1.2", "TLSv1.3"]
    assert sub["tls_version"]["verdict"] == "sufficient"
    assert sub["tls_ciphers"]["verdict"] in ("sufficient", "good")
    assert sub["fs_params"]["verdict"] == "good"
    assert sub["cert_pubkey"]["verdict"] == "phase out"
    assert sub["cert_signature"]["verdict"] == "good"
    assert sub["tls_compression"]["verdict"] == "good"
    assert sub["renegotiation_secure"]["verdict"] == "good"
    assert sub["extended_master_secret"]["verdict"] == "good"
    assert sub["dane_valid"]["verdict"] == "good"
    assert graded["phase_out"] and "cert_pubkey" in graded["phase_out"]
    assert graded["insufficient"] == []
    assert graded["summary"].startswith("WOULD PASS")


def test_every_accepted_group_is_listed_only_when_asked_and_changes_no_verdict(pki, serve):
    context, _leaf = server_context(pki, ciphers="ECDHE+AESGCM")
    server = serve(context)
    quick = grade_one(server)
    full = grade_one(server, all_groups=True)
    assert quick["subtests"]["fs_params"]["supported"] == {}
    supported = full["subtests"]["fs_params"]["supported"]
    # OpenSSL's server defaults: x25519 and the NIST curves on TLS 1.2, the same and the ffdhe groups on TLS 1.3.
    assert {"x25519", "secp256r1", "secp384r1"} <= {g["group"] for g in supported["tls12_curves"]}
    assert {"x25519", "secp256r1", "ffdhe2048"} <= {g["group"] for g in supported["tls13"]}
    assert {"group": "ffdhe2048", "class": "insufficient"} in supported["tls13"]
    # The verdicts are on what a current client gets, the same either way; the full list costs connections.
    assert {k: v["verdict"] for k, v in quick["subtests"].items()} == {k: v["verdict"] for k, v in full["subtests"].items()}
    assert quick["subtests"]["fs_params"]["negotiated"] == full["subtests"]["fs_params"]["negotiated"]
    assert quick["subtests"]["tls_ciphers"]["accepted"] == full["subtests"]["tls_ciphers"]["accepted"]
    assert quick["connections"] < full["connections"]


def test_cbc_suites_in_client_order_would_fail(pki, serve):
    context, _leaf = server_context(pki, ciphers="ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA",
                                    server_order=False, max_version=ssl.TLSVersion.TLSv1_2)
    graded = grade_one(serve(context), records=["3 1 1 " + "00" * 32])
    sub = graded["subtests"]
    assert graded["verdict"] == "would fail"
    assert sub["tls_ciphers"]["verdict"] == "insufficient"
    names = [entry["name"] for entry in sub["tls_ciphers"]["accepted"]["TLSv1.2"]]
    assert set(names) == {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                          "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"}
    assert sub["tls_cipher_order"]["verdict"] == "insufficient"
    assert sub["tls_cipher_order"]["server_enforces_order"] is False
    assert sub["tls_cipher_order"]["violation"] == ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
                                                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
    assert sub["dane_valid"]["verdict"] == "insufficient"
    assert sub["zero_rtt"]["verdict"] == "not applicable"
    assert "tls_ciphers" in graded["insufficient"] and graded["reasons"]


def test_tls13_only_reads_the_chain_through_ssl(pki, serve):
    context, _leaf = server_context(pki, kind="ec", size=256)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    graded = grade_one(serve(context))
    sub = graded["subtests"]
    assert sub["tls_version"]["verdict"] == "good"
    assert sub["tls_cipher_order"]["verdict"] == "not applicable"
    assert sub["renegotiation_secure"]["verdict"] == "not applicable"
    assert sub["extended_master_secret"]["verdict"] == "not applicable"
    assert sub["cert_pubkey"]["verdict"] == "good"  # P-256
    assert sub["dane_valid"]["verdict"] == "not applicable"
    assert graded["verdict"] == "would pass"


def test_informational_subtests_do_not_fail_the_port(pki, serve):
    context, _leaf = server_context(pki, ciphers="ECDHE+AESGCM")
    graded = grade_one(serve(context), facts={"chain_valid": False, "chain_error": "self-signed certificate",
                                              "hostname_matches": False, "names": ["other.example"]})
    assert graded["subtests"]["cert_trust"]["verdict"] == "insufficient"
    assert graded["subtests"]["cert_hostmatch"]["verdict"] == "insufficient"
    assert graded["verdict"] == "would pass"
    assert set(graded["insufficient"]) == {"cert_trust", "cert_hostmatch"}
    assert len(graded["informational"]) == 2


def test_unreachable_port_would_fail(pki):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()

    def refused() -> socket.socket:
        return socket.create_connection(("127.0.0.1", port), timeout=2)

    target = _tlsgrade.Target(label=f"127.0.0.1:{port}/smtps", port=port, server_name=None, open=refused)
    graded = _tlsgrade.grade([target], tlsa_records=[], timeout=2, budget=10, workers=4)[0]
    assert graded["verdict"] == "would fail"
    assert graded["subtests"]["starttls_exists"]["verdict"] == "insufficient"
    assert "refused" in graded["subtests"]["starttls_exists"]["detail"].lower()


def test_time_budget_bounds_the_grading(pki, serve):
    context, _leaf = server_context(pki)
    graded = grade_one(serve(context), budget=0.0001)
    assert any("time budget" in item for item in graded["not_tested"])


def test_a_silent_port_is_not_graded_rather_than_failed():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # accepts connections (the kernel does) and never says a word
    port = listener.getsockname()[1]
    try:
        target = _tlsgrade.Target(label=f"127.0.0.1:{port}/smtps", port=port, server_name=None,
                                  open=lambda: socket.create_connection(("127.0.0.1", port), timeout=1))
        graded = _tlsgrade.grade([target], tlsa_records=[], timeout=0.5, budget=10, workers=8)[0]
    finally:
        listener.close()
    assert graded["verdict"] == "not graded"
    assert graded["subtests"]["starttls_exists"]["verdict"] == "not tested"
    assert "no answer in time" in graded["summary"]
    assert any(item.startswith("TLSv1.2: no answer in time") for item in graded["not_tested"])
