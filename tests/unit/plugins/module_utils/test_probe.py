# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe against small in-process mail servers on 127.0.0.1 (real sockets, real TLS, no network).

The servers speak just enough SMTP, IMAP and POP3 for a client's STARTTLS dialogue and can be told to
misbehave (AUTH before STARTTLS, no STARTTLS, silence, data after the STARTTLS answer, legacy TLS).
The real Postfix and Dovecot are covered by the Molecule scenario ``verify``.
"""

from __future__ import annotations

import datetime
import hashlib
import socket
import ssl
import threading
import time
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.postmaster.tls.plugins.module_utils import _probe, _x509

NOW = datetime.datetime.now(datetime.timezone.utc)


# ------------------------------------------------------------------------------------------------
# A small PKI: root -> intermediate -> leaf for mail.example.test
# ------------------------------------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject_cn, key, issuer_cn, issuer_key, *, ca, names=(), days=90, not_before=None):
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject_cn))
        .issuer_name(_name(issuer_cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class PKI:
    def __init__(self, directory, *, leaf_days=90, names=("mail.example.test", "smtp.example.test")):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _issue("Test Root CA", self.root_key, "Test Root CA", self.root_key, ca=True, days=3650)
        self.int_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = _issue("Test Issuing CA", self.int_key, "Test Root CA", self.root_key, ca=True, days=1000)
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = _issue(names[0], self.leaf_key, "Test Issuing CA", self.int_key, ca=False, names=names,
                           days=leaf_days)
        self.root_path = directory / "root.pem"
        self.root_path.write_bytes(_pem(self.root))
        self.leaf_path = directory / "cert.pem"
        self.leaf_path.write_bytes(_pem(self.leaf))
        self.fullchain_path = directory / "fullchain.pem"
        self.fullchain_path.write_bytes(_pem(self.leaf) + _pem(self.intermediate))
        self.key_path = directory / "privkey.pem"
        self.key_path.write_bytes(self.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    @property
    def fingerprint(self) -> str:
        return self.leaf.fingerprint(hashes.SHA256()).hex()

    @property
    def spki_sha256(self) -> str:
        der = self.leaf.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI(tmp_path_factory.mktemp("pki"))


# ------------------------------------------------------------------------------------------------
# The fake mail server
# ------------------------------------------------------------------------------------------------
VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
            "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def server_context(certfile, keyfile, *, low="TLSv1.2", high="TLSv1.3") -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = VERSIONS[low]
        context.maximum_version = VERSIONS[high]
    if low in ("TLSv1", "TLSv1.1"):
        context.set_ciphers("ALL:@SECLEVEL=0")
    context.load_cert_chain(str(certfile), str(keyfile))
    return context


class FakeMailServer:
    """One protocol on one port; every connection handled in its own thread."""

    def __init__(self, protocol, context, *, starttls=True, auth_before=False, silent=False, inject=False, auth_after=True,
                 die_on_tls_ehlo=False):
        self.auth_after = auth_after
        # Postfix with SASL on and no SASL backend: smtpd exits on the first EHLO inside TLS.
        self.die_on_tls_ehlo = die_on_tls_ehlo
        self.protocol = protocol
        self.context = context
        self.offer_starttls = starttls
        self.auth_before = auth_before
        self.silent = silent
        self.inject = inject
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.peers: list[str] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopped.set()
        self.listener.close()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, peer = self.listener.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(10)
        try:
            if self.silent:
                conn.recv(1)
                return
            implicit = self.protocol.endswith("s")
            if implicit:
                conn = self.context.wrap_socket(conn, server_side=True)
            getattr(self, f"_{self.protocol.rstrip('s') if self.protocol != 'smtps' else 'smtp'}")(conn, implicit)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            conn.close()

    @staticmethod
    def _line(conn) -> str:
        data = b""
        while not data.endswith(b"\n"):
            byte = conn.recv(1)
            if not byte:
                raise OSError("closed")
            data += byte
        return data.decode().strip()

    def _smtp(self, conn, tls):
        conn.sendall(b"220 fake.example.test ESMTP\r\n")
        while True:
            words = self._line(conn).split()
            verb = words[0].upper() if words else ""
            if verb == "EHLO":
                if tls and self.die_on_tls_ehlo:
                    return
                lines = ["fake.example.test"]
                if self.offer_starttls and not tls:
                    lines.append("STARTTLS")
                if (tls and self.auth_after) or self.auth_before:
                    lines.append("AUTH PLAIN LOGIN")
                lines.append("8BITMIME")
                text = "".join(f"250-{line}\r\n" for line in lines[:-1]) + f"250 {lines[-1]}\r\n"
                conn.sendall(text.encode())
            elif verb == "STARTTLS" and self.offer_starttls and not tls:
                conn.sendall(b"220 2.0.0 Ready to start TLS\r\n" + (b"250 injected\r\n" if self.inject else b""))
                conn = self.context.wrap_socket(conn, server_side=True)
                tls = True
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"502 no\r\n")

    def _imap(self, conn, tls):
        conn.sendall(b"* OK fake ready\r\n")
        while True:
            words = self._line(conn).split()
            tag, verb = words[0], words[1].upper()
            if verb == "CAPABILITY":
                caps = ["IMAP4rev1"]
                if self.offer_starttls and not tls:
                    caps.append("STARTTLS")
                if tls or self.auth_before:
                    caps.append("AUTH=PLAIN")
                else:
                    caps.append("LOGINDISABLED")
                conn.sendall(f"* CAPABILITY {' '.join(caps)}\r\n{tag} OK done\r\n".encode())
            elif verb == "STARTTLS" and self.offer_starttls and not tls:
                conn.sendall(f"{tag} OK Begin TLS negotiation now.\r\n".encode())
                conn = self.context.wrap_socket(conn, server_side=True)
                tls = True
            elif verb == "LOGOUT":
                conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
                return
            else:
                conn.sendall(f"{tag} BAD no\r\n".encode())

    def _pop3(self, conn, tls):
        conn.sendall(b"+OK fake ready\r\n")
        while True:
            verb = self._line(conn).upper()
            if verb == "CAPA":
                caps = ["TOP", "UIDL"]
                if self.offer_starttls and not tls:
                    caps.append("STLS")
                if tls or self.auth_before:
                    caps += ["USER", "SASL PLAIN"]
                conn.sendall(("+OK\r\n" + "".join(f"{c}\r\n" for c in caps) + ".\r\n").encode())
            elif verb == "STLS" and self.offer_starttls and not tls:
                conn.sendall(b"+OK Begin TLS negotiation now.\r\n")
                conn = self.context.wrap_socket(conn, server_side=True)
                tls = True
            elif verb == "QUIT":
                conn.sendall(b"+OK bye\r\n")
                return
            else:
                conn.sendall(b"-ERR no\r\n")


@pytest.fixture
def serve(pki):
    servers = []

    def start(protocol, *, low="TLSv1.2", high="TLSv1.3", certfile=None, keyfile=None, **kwargs):
        context = server_context(certfile or pki.fullchain_path, keyfile or pki.key_path, low=low, high=high)
        server = FakeMailServer(protocol, context, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def check(server_or_endpoints, *, pki=None, settings=None, **expect):
    if isinstance(server_or_endpoints, FakeMailServer):
        endpoints = [_probe.Endpoint("127.0.0.1", server_or_endpoints.port, server_or_endpoints.protocol,
                                     "mail.example.test")]
    else:
        endpoints = server_or_endpoints
    settings = settings or _probe.Settings(timeout=5, ca_path=str(pki.root_path) if pki else None)
    return _probe.verify(endpoints, settings, _probe.Expectations(**expect))


# ------------------------------------------------------------------------------------------------
# A good server, every protocol
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["smtp", "smtps", "imap", "imaps", "pop3", "pop3s"])
def test_good_server_is_green_on_every_protocol(serve, pki, protocol):
    server = serve(protocol)
    [report] = check(server, pki=pki, min_protocol="TLSv1.2", min_days_remaining=14,
                     required_names=("mail.example.test", "smtp.example.test"),
                     fingerprints=frozenset({pki.fingerprint}), fingerprint_sources=("cert.pem",))
    assert report.failures == []
    assert report.ok is True
    assert report.reachable is True
    assert report.tls_version == "TLSv1.3"
    assert report.cipher
    assert report.facts["fingerprint_sha256"].replace(":", "") == pki.fingerprint
    assert report.facts["spki_sha256"] == pki.spki_sha256
    assert report.facts["subject"] == "CN=mail.example.test"
    assert report.facts["issuer"] == "CN=Test Issuing CA"
    assert report.names == ["mail.example.test", "smtp.example.test"]
    assert report.chain_valid is True and report.chain_error is None
    assert report.chain_source == "served"
    assert [c["subject"] for c in report.chain] == ["CN=mail.example.test", "CN=Test Issuing CA"]
    assert report.chain_order_ok is True
    assert report.trust_path == ["CN=mail.example.test", "CN=Test Issuing CA", "CN=Test Root CA"]
    assert report.hostname_matches is True
    assert report.matches_expected is True
    assert 88 <= report.facts["days_remaining"] <= 90
    assert report.protocols == {"TLSv1": "refused", "TLSv1.1": "refused", "TLSv1.2": "accepted", "TLSv1.3": "accepted"}
    assert report.accepted_protocols == ["TLSv1.2", "TLSv1.3"]
    assert report.legacy_protocols_accepted == []
    assert report.protocol_details["TLSv1.3"].endswith("(main connection)")  # seen, not probed again
    if protocol in ("smtp", "imap", "pop3"):
        assert report.starttls_offered is True
        assert report.auth_before_tls == []
    else:
        assert report.starttls_offered is None
    assert report.auth_after_tls  # the server offers login inside TLS
    assert (report.facts["key_type"], report.facts["key_curve"], report.facts["key_size"]) == ("ecdsa", "secp256r1", 256)
    returned = report.to_dict()
    assert {"names", "key", "signature_hash", "facts", "leaf"}.isdisjoint(returned)
    assert all(returned[key] == report.facts[key] for key in _x509.FACT_KEYS)
    assert returned["dns_names"] == ["mail.example.test", "smtp.example.test"]
    assert returned["chain"][1]["is_ca"] is True and set(returned["chain"][0]) == set(_x509.FACT_KEYS)
    assert report.facts["self_signed"] is False
    assert _probe.summary_line(report).startswith(f"OK   127.0.0.1:{server.port}/{protocol}: TLSv1.3 ")


def test_loopback_probes_come_from_another_loopback_address(serve, pki):
    server = serve("imap")
    [report] = check(server, pki=pki)
    assert report.peer_address == "127.0.0.1"
    assert report.source_address == "127.0.0.2"
    assert set(server.peers) == {"127.0.0.2"}


def test_explicit_source_address_is_used(serve, pki):
    server = serve("smtp")
    settings = _probe.Settings(timeout=5, ca_path=str(pki.root_path), source_address="127.0.0.3", probe_protocols=False)
    [report] = check(server, settings=settings)
    assert report.source_address == "127.0.0.3"
    assert set(server.peers) == {"127.0.0.3"}
    assert report.protocols == {}


# ------------------------------------------------------------------------------------------------
# Findings
# ------------------------------------------------------------------------------------------------
def test_legacy_protocols_accepted_are_reported_and_fail_min_protocol(serve, pki):
    server = serve("smtp", low="TLSv1", high="TLSv1.3")
    [report] = check(server, pki=pki, min_protocol="TLSv1.2")
    assert report.protocols["TLSv1"] == "accepted", report.protocol_details
    assert report.protocols["TLSv1.1"] == "accepted", report.protocol_details
    assert report.legacy_protocols_accepted == ["TLSv1", "TLSv1.1"]
    assert report.accepted_protocols == ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    assert "accepts TLSv1, TLSv1.1 (below min_protocol TLSv1.2)" in report.failures
    assert report.ok is False


def test_min_protocol_tls13_fails_a_tls12_server(serve, pki):
    server = serve("imaps", low="TLSv1.2", high="TLSv1.2")
    [report] = check(server, pki=pki, min_protocol="TLSv1.3")
    assert report.tls_version == "TLSv1.2"
    assert report.accepted_protocols == ["TLSv1.2"]
    assert report.protocols["TLSv1.3"] == "refused"
    assert "accepts TLSv1.2 (below min_protocol TLSv1.3)" in report.failures
    assert any(f.startswith("negotiates TLSv1.2") for f in report.failures)


def test_server_that_only_speaks_tls10_is_still_described(serve, pki):
    server = serve("pop3s", low="TLSv1", high="TLSv1")
    [report] = check(server, pki=pki, min_protocol="TLSv1.2")
    assert report.accepted_protocols == ["TLSv1"]
    assert report.tls_version == "TLSv1"
    assert report.facts["fingerprint_sha256"].replace(":", "") == pki.fingerprint
    assert report.chain_valid is None
    assert any("default TLS client" in note for note in report.notes)
    assert "accepts TLSv1 (below min_protocol TLSv1.2)" in report.failures


@pytest.mark.parametrize("protocol,offered", [
    ("smtp", ["PLAIN", "LOGIN"]),
    ("imap", ["LOGIN", "AUTH=PLAIN"]),
    ("pop3", ["USER", "SASL PLAIN"]),
])
def test_auth_before_starttls_fails(serve, pki, protocol, offered):
    server = serve(protocol, auth_before=True)
    [report] = check(server, pki=pki)
    assert report.auth_before_tls == offered
    assert f"offers authentication before TLS: {', '.join(offered)}" in report.failures
    # The caller may decide this is acceptable.
    [relaxed] = check(server, pki=pki, forbid_plaintext_auth=False)
    assert relaxed.ok is True


def test_auth_hint_when_connecting_from_the_servers_own_address(serve, pki):
    server = serve("imap", auth_before=True)
    settings = _probe.Settings(timeout=5, ca_path=str(pki.root_path), source_address="127.0.0.1", probe_protocols=False)
    [report] = check(server, settings=settings)
    assert any("set source_address" in failure for failure in report.failures)


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
def test_missing_starttls_fails_without_protocol_probes(serve, pki, protocol):
    server = serve(protocol, starttls=False)
    [report] = check(server, pki=pki)
    assert report.starttls_offered is False
    assert report.tls_version is None
    assert report.failures == ["STARTTLS is not offered"]
    assert report.protocols == {}
    assert report.accepted_protocols == []


def test_untrusted_chain_still_reports_the_certificate(serve, pki, tmp_path):
    other = PKI(tmp_path)
    server = serve("smtp")
    [report] = check(server, settings=_probe.Settings(timeout=5, ca_path=str(other.root_path)))
    assert report.chain_valid is False
    assert "unable to get local issuer certificate" in report.chain_error
    assert report.facts["fingerprint_sha256"].replace(":", "") == pki.fingerprint
    assert report.trust_path == []
    assert any(f.startswith("chain does not verify against the trust anchors") for f in report.failures)
    [relaxed] = check(server, settings=_probe.Settings(timeout=5, ca_path=str(other.root_path)), validate_chain=False)
    assert relaxed.ok is True


def test_self_signed_snakeoil_is_named(serve, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue("vm", key, "vm", key, ca=False, names=("vm",), days=3650)
    (tmp_path / "snakeoil.pem").write_bytes(_pem(cert))
    (tmp_path / "snakeoil.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = serve("smtp", certfile=tmp_path / "snakeoil.pem", keyfile=tmp_path / "snakeoil.key")
    snakeoil = _probe.snakeoil_fingerprint(str(tmp_path / "snakeoil.pem"))
    [report] = check(server, settings=_probe.Settings(timeout=5), snakeoil_fingerprint=snakeoil)
    assert report.facts["self_signed"] is True
    assert report.snakeoil is True
    assert report.chain_error == "self-signed certificate"
    assert report.hostname_matches is False
    assert "serves the stock snake-oil certificate" in report.failures
    assert "certificate does not cover mail.example.test (it is for vm)" in report.failures
    assert "name MISMATCH" in _probe.summary_line(report)


def test_missing_snakeoil_file_means_unknown():
    assert _probe.snakeoil_fingerprint("/nonexistent/snakeoil.pem") is None


def test_hostname_and_required_names(serve, pki):
    server = serve("imaps")
    endpoint = _probe.Endpoint("127.0.0.1", server.port, "imaps", "imap.other.test")
    [report] = check([endpoint], pki=pki, required_names=("mail.example.test", "pop.example.test"))
    assert report.hostname_matches is False
    assert "certificate does not cover imap.other.test (it is for mail.example.test, smtp.example.test)" in report.failures
    assert "certificate lacks required names: pop.example.test" in report.failures
    [relaxed] = check([endpoint], pki=pki, check_hostname=False)
    assert relaxed.ok is True


def test_address_without_server_name_is_checked_as_an_address(serve, pki):
    server = serve("smtps")
    [report] = check([_probe.Endpoint("127.0.0.1", server.port, "smtps")], pki=pki)
    assert report.hostname_matches is False
    assert any("does not cover 127.0.0.1" in f for f in report.failures)


def test_expected_fingerprint_mismatch(serve, pki):
    server = serve("pop3")
    [report] = check(server, pki=pki, fingerprints=frozenset({"00" * 32}), fingerprint_sources=("00:00:...",))
    assert report.matches_expected is False
    assert any(f.startswith("served certificate ") and "is not the expected one" in f for f in report.failures)


def test_expiry_below_minimum(serve, tmp_path):
    short = PKI(tmp_path, leaf_days=5)
    server = serve("smtp", certfile=short.fullchain_path, keyfile=short.key_path)
    [report] = check(server, settings=_probe.Settings(timeout=5, ca_path=str(short.root_path)), min_days_remaining=14)
    assert report.facts["days_remaining"] in (4, 5)
    assert f"certificate expires in {report.facts["days_remaining"]} days (minimum 14)" in report.failures


def test_data_after_starttls_answer_is_an_error(serve, pki):
    server = serve("smtp", inject=True)
    [report] = check(server, pki=pki)
    assert report.tls_version is None
    assert report.error == "the server sent data after agreeing to start TLS"
    assert report.error in report.failures


# ------------------------------------------------------------------------------------------------
# Dead and silent ports do not stall the rest
# ------------------------------------------------------------------------------------------------
def test_dead_and_silent_ports_are_bounded(serve, pki, closed_port):
    good = serve("imap")
    silent = serve("smtp", silent=True)
    dead = closed_port
    endpoints = [
        _probe.Endpoint("127.0.0.1", good.port, "imap", "mail.example.test"),
        _probe.Endpoint("127.0.0.1", silent.port, "smtp", "mail.example.test"),
        _probe.Endpoint("127.0.0.1", dead, "pop3", "mail.example.test"),
    ]
    started = time.monotonic()
    reports = check(endpoints, settings=_probe.Settings(timeout=1.5, ca_path=str(pki.root_path)))
    elapsed = time.monotonic() - started
    # The silent port costs one timeout; the good port's probes run meanwhile.
    assert elapsed < 4, elapsed
    by_port = {r.port: r for r in reports}
    assert by_port[good.port].ok is True
    assert by_port[silent.port].reachable is True
    assert by_port[silent.port].failures == ["no complete answer within 1.5 s"]
    assert by_port[silent.port].protocols == {}  # no probes for a port that never reached TLS
    assert by_port[dead].reachable is False
    assert by_port[dead].failures == ["unreachable: connection refused (nothing listens on this port)"]
    assert by_port[dead].protocols == {}
    assert _probe.summary_line(by_port[dead]).startswith("FAIL ")


def test_unresolvable_host():
    [report] = check([_probe.Endpoint("name.invalid", 25, "smtp")], settings=_probe.Settings(timeout=2))
    assert report.reachable is False
    assert report.failures[0].startswith("unreachable: cannot resolve name.invalid")


# ------------------------------------------------------------------------------------------------
# Client limits are reported, not mistaken for server answers
# ------------------------------------------------------------------------------------------------
def test_leaf_only_python_is_reported(serve, pki, monkeypatch):
    monkeypatch.setattr(_probe, "_served_chain", lambda tls: None)
    server = serve("smtp")
    [report] = check(server, pki=pki)
    assert report.chain_source == "leaf_only"
    assert len(report.chain) == 1
    assert report.chain_order_ok is None
    assert report.chain_valid is True  # OpenSSL's verdict does not depend on reading the chain
    assert any("only the leaf is described" in note for note in report.notes)


def test_version_this_client_cannot_offer_is_untested(serve, pki):
    server = serve("smtp")
    settings = _probe.Settings(timeout=5, ca_path=str(pki.root_path))
    contexts = _probe.Contexts(settings)
    contexts.pinned["TLSv1"] = "this client's OpenSSL cannot offer TLSv1 (test)"
    [report] = _probe.verify([_probe.Endpoint("127.0.0.1", server.port, "smtp", "mail.example.test")],
                             settings, _probe.Expectations(min_protocol="TLSv1.2"), contexts=contexts)
    assert report.protocols["TLSv1"] == "untested"
    assert report.ok is True
    assert any(note.startswith("could not test whether TLSv1 is refused") for note in report.notes)


def test_client_side_handshake_reasons_are_untested():
    error = ssl.SSLError(1, "no protocols available")
    error.reason = "NO_PROTOCOLS_AVAILABLE"
    assert _probe._classify_handshake_error(error)[0] == "untested"
    alert = ssl.SSLError(1, "alert")
    alert.reason = "TLSV1_ALERT_PROTOCOL_VERSION"
    assert _probe._classify_handshake_error(alert) == ("refused", "TLSV1_ALERT_PROTOCOL_VERSION")
    assert _probe._classify_handshake_error(ConnectionResetError("reset"))[0] == "refused"


def test_client_facts():
    facts = _probe.client_facts()
    assert facts["served_chain"] == "available"
    assert "TLSv1.2" in facts["versions"]


# ------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------
def test_all_ports_order_and_deduplication():
    endpoints = _probe.build_endpoints(
        endpoints=[{"port": 25}, {"port": 2525, "protocol": "smtp", "host": "10.0.0.1"}, {"protocol": "imaps", "host": "h"}],
        all_ports=True, host="127.0.0.1", server_name="mail.example.test")
    assert [e.label for e in endpoints] == [
        "127.0.0.1:25/smtp", "127.0.0.1:587/smtp", "127.0.0.1:465/smtps", "127.0.0.1:143/imap",
        "127.0.0.1:993/imaps", "127.0.0.1:110/pop3", "127.0.0.1:995/pop3s", "10.0.0.1:2525/smtp", "h:993/imaps",
    ]
    assert {e.server_name for e in endpoints} == {"mail.example.test"}
    assert _probe.Endpoint("::1", 25, "smtp").label == "[::1]:25/smtp"


@pytest.mark.parametrize("items,message", [
    ([{"port": 2525}], "port 2525 is not a standard mail port; set protocol"),
    ([{"port": 70000, "protocol": "smtp"}], "port 70000 is out of range"),
    ([{"port": 25, "protocol": "gopher"}], "protocol 'gopher' is unknown"),
    ([], "no endpoints to check"),
])
def test_bad_endpoints(items, message):
    with pytest.raises(_probe.ProbeError, match=message):
        _probe.build_endpoints(endpoints=items, all_ports=False, host="127.0.0.1", server_name=None)


@pytest.mark.parametrize("value", [
    "AB:CD:" * 15 + "AB:CD",
    "sha256 Fingerprint=" + "AB:CD:" * 15 + "AB:CD",
    "SHA256:" + "abcd" * 16,
    "abcd" * 16,
])
def test_fingerprint_formats(value):
    assert _probe.normalize_fingerprint(value) == "abcd" * 16


# ------------------------------------------------------------------------------------------------
# Submission: AUTH after TLS is part of the service
# ------------------------------------------------------------------------------------------------
def submission_endpoint(server, *, submission=True):
    return [_probe.Endpoint("127.0.0.1", server.port, server.protocol, "mail.example.test", submission=submission)]


@pytest.mark.parametrize("protocol", ["smtp", "smtps"])
def test_submission_without_auth_after_tls_fails(serve, pki, protocol):
    server = serve(protocol, auth_after=False)
    [report] = check(submission_endpoint(server), pki=pki)
    assert report.submission is True and report.auth_after_tls == [] and report.after_tls_error is None
    assert report.failures == ["submission port offers no AUTH mechanism after TLS, so mail clients cannot log in "
                               "(enable SASL with a working backend, such as Dovecot's auth socket)"]
    # The same port as an MX (not submission), or with the check off, is fine.
    assert check(submission_endpoint(server, submission=False), pki=pki)[0].failures == []
    assert check(submission_endpoint(server), pki=pki, require_submission_auth=False)[0].failures == []


@pytest.mark.parametrize("protocol", ["smtp", "smtps"])
def test_submission_that_drops_the_connection_after_ehlo_inside_tls_fails(serve, pki, protocol):
    server = serve(protocol, die_on_tls_ehlo=True)
    [report] = check(submission_endpoint(server), pki=pki)
    assert report.tls_version == "TLSv1.3" and report.auth_after_tls is None
    assert report.after_tls_error
    assert len(report.failures) == 1
    assert report.failures[0].startswith("submission port: the server dropped the dialogue after EHLO inside TLS (")
    assert "no SASL authentication mechanisms" in report.failures[0]
    assert _probe.summary_line(report).startswith("FAIL ")


def test_submission_ports_are_known_and_can_be_marked():
    endpoints = _probe.build_endpoints(endpoints=[{"port": 2587, "protocol": "smtp", "submission": True},
                                                  {"port": 587, "host": "h", "submission": False}, {"port": 25, "host": "h"}],
                                       all_ports=True, host="127.0.0.1", server_name=None)
    assert {e.label: e.submission for e in endpoints} == {
        "127.0.0.1:25/smtp": False, "127.0.0.1:587/smtp": True, "127.0.0.1:465/smtps": True, "127.0.0.1:143/imap": False,
        "127.0.0.1:993/imaps": False, "127.0.0.1:110/pop3": False, "127.0.0.1:995/pop3s": False,
        "127.0.0.1:2587/smtp": True, "h:587/smtp": False, "h:25/smtp": False,
    }
    with pytest.raises(_probe.ProbeError, match="endpoints\\[1\\]: submission=true needs protocol smtp or smtps"):
        _probe.build_endpoints(endpoints=[{"port": 993, "submission": True}], all_ports=False, host="h", server_name=None)


def test_bad_fingerprint():
    with pytest.raises(_probe.ProbeError, match="is not a SHA-256 fingerprint"):
        _probe.normalize_fingerprint("abc")


def test_expected_certificate_files(pki, tmp_path):
    found, notes = _probe.load_expected_fingerprints([str(pki.fullchain_path)], check_mode=False)
    fingerprints, sources = _probe.expected_from_files(found)
    assert fingerprints == {pki.fingerprint}
    # The failure message names each file with its fingerprint: "served X is not the expected one (path FP)".
    assert sources == [f"{pki.fullchain_path} {found[str(pki.fullchain_path)]}"]
    assert found[str(pki.fullchain_path)].replace(":", "") == pki.fingerprint
    assert notes == []
    missing = str(tmp_path / "nope.pem")
    found, notes = _probe.load_expected_fingerprints([missing], check_mode=True)
    assert found == {} and "does not exist yet (check mode" in notes[0]
    with pytest.raises(_probe.ProbeError, match="does not exist; install the certificate first"):
        _probe.load_expected_fingerprints([missing], check_mode=False)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(_probe.ProbeError, match="no PEM certificate found"):
        _probe.load_expected_fingerprints([str(garbage)], check_mode=False)


def test_trust_anchor_default_is_the_bundle_file_not_the_hashed_directory():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    source = _probe.load_trust_anchors(context, None)
    assert source != "/etc/ssl/certs"
    with pytest.raises(_probe.ProbeError, match="cannot load trust anchors from /nonexistent"):
        _probe.load_trust_anchors(context, "/nonexistent/ca.pem")


def test_a_served_key_below_the_floors_is_a_failure():
    """The key floors of every module (RSA 2048, EC P-256) hold for what a port serves too."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaf = _issue("mail.example.test", weak, "mail.example.test", weak, ca=False, names=("mail.example.test",))
    report = _probe.EndpointReport(endpoint="127.0.0.1:25/smtp", host="127.0.0.1", port=25, protocol="smtp", server_name=None,
                                   reachable=True, tls_version="TLSv1.3")
    _probe._fill_certificate(report, _probe._Session(leaf_der=leaf.public_bytes(serialization.Encoding.DER)), _probe.Expectations())
    _probe._judge(report, _probe.Expectations(check_hostname=False))
    assert "serves a certificate with an RSA key of 1024 bits, fewer than 2048, which clients refuse" in report.failures
    assert report.to_dict()["key_size"] == 1024 and report.to_dict()["key_type"] == "rsa"


def test_judging_again_with_the_graders_versions_keeps_the_inspect_hooks_failures():
    """With grading, the report is judged again with the grader's version findings: a revoked certificate that the
    inspect hook (mail_tls_verify's revocation check) found must still fail the endpoint afterwards."""
    report = _probe.EndpointReport(endpoint="127.0.0.1:993/imaps", host="127.0.0.1", port=993, protocol="imaps",
                                   server_name="mail.example.org", reachable=True, tls_version="TLSv1.3",
                                   chain_valid=True, hostname_matches=True)
    report.inspect_failures = ["served certificate 4f:2a is revoked (keyCompromise, since 2026-12-01T10:00:00Z)"]
    report.failures = ["an old verdict that judging again replaces", *report.inspect_failures]
    expectations = _probe.Expectations(validate_chain=False, check_hostname=False)
    _probe.judge_with_protocols(report, {"TLSv1.2": ("accepted", "x"), "TLSv1.3": ("accepted", "y")}, expectations)
    assert report.failures == report.inspect_failures and report.ok is False
    assert "inspect_failures" not in report.to_dict()


def test_version_findings_of_the_grader_are_judged_sslv3_too():
    """With grading, the version verdicts come from the grader's hand-built hellos, which reach SSLv3."""
    verdicts = {"SSLv3": ("accepted", "SSLv3 TLS_RSA_WITH_AES_128_CBC_SHA"), "TLSv1": ("accepted", "TLSv1 x"),
                "TLSv1.1": ("refused", "handshake_failure"), "TLSv1.2": ("accepted", "TLSv1.2 y"),
                "TLSv1.3": ("error", "no answer in time")}

    def judged(expectations):
        report = _probe.EndpointReport(endpoint="127.0.0.1:25/smtp", host="127.0.0.1", port=25, protocol="smtp",
                                       server_name=None, reachable=True, tls_version="TLSv1.2")
        _probe.judge_with_protocols(report, verdicts, expectations)
        return report

    report = judged(_probe.Expectations(check_hostname=False, min_protocol="TLSv1.2"))
    assert report.accepted_protocols == ["TLSv1", "TLSv1.2"] and "SSLv3" not in report.protocols
    assert report.failures == ["accepts TLSv1 (below min_protocol TLSv1.2)", "accepts SSLv3 (below min_protocol TLSv1.2)"]
    assert report.ok is False
    assert judged(_probe.Expectations(check_hostname=False, min_protocol=None)).failures == []
    # No answer on any version: nothing to judge them by, and the report says so.
    silent = _probe.EndpointReport(endpoint="127.0.0.1:25/smtp", host="127.0.0.1", port=25, protocol="smtp",
                                   server_name=None, reachable=True, tls_version="TLSv1.3")
    _probe.judge_with_protocols(silent, {}, _probe.Expectations(check_hostname=False))
    assert silent.notes == ["the TLS versions are unknown: the version probes got no answer"] and silent.protocols == {}
