# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Revocation status from CRL files and distribution points (served by a local HTTP server), and bad CRLs."""

from __future__ import annotations

import datetime
import http.server
import socket
import threading

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crl, _x509

DAY = datetime.timedelta(days=1)


@pytest.fixture
def cas(pki):
    key = pki.key("status-ca")
    cert = _certificate.issue_ca(key, subject=_certificate.ca_subject("Status CA"), valid_days=3650, path_length=0, now=pki.now)
    other_key = pki.key("status-other")
    other = _certificate.issue_ca(other_key, subject=_certificate.ca_subject("Other Status CA"), valid_days=3650, path_length=0, now=pki.now)
    return {"cert": cert, "key": key, "other": other, "other_key": other_key}


def _leaf(pki, cas, label, *, cdp=()):
    """A leaf as postmaster.tls.certificate issues it from the local CA, naming ``cdp`` as its distribution points."""
    return _certificate.issue_leaf(pki.csr(pki.key(label)), signing_key=cas["key"], issuer_cert=cas["cert"], valid_days=90,
                                   now=pki.now, crl_distribution_points=list(cdp) or None)


def _crl_of(cas, pki, *, revoked=(), which="cert", this_update=None, next_update=None):
    issuer, key = (cas["cert"], cas["key"]) if which == "cert" else (cas["other"], cas["other_key"])
    return _crl.build_crl(issuer_cert=issuer, issuer_key=key, revoked=[(s, pki.now, r) for s, r in revoked], number=1,
                          this_update=this_update or pki.now - datetime.timedelta(minutes=5), next_update=next_update or pki.now + 7 * DAY)


class _Server:
    """An HTTP server on 127.0.0.1 serving ``body`` (settable: the URL goes into a certificate before the
    CRL listing that certificate exists), or accepting connections and never answering (``silent``)."""

    def __init__(self, body: bytes = b"", *, silent: bool = False, status: int = 200) -> None:
        self.hits = 0
        self.body = body
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                server.hits += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *_args):
                pass

        if silent:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.sock.listen(1)  # accepts the connection (kernel backlog), never answers
            self.port = self.sock.getsockname()[1]
            self.httpd = None
        else:
            self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            self.port = self.httpd.server_address[1]
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/crl.der"

    def close(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        else:
            self.sock.close()


@pytest.fixture
def serve():
    servers = []

    def start(*args, **kwargs) -> _Server:
        servers.append(_Server(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# ---------------------------------------------------------------------------------------------
# From files
# ---------------------------------------------------------------------------------------------
def test_status_from_a_file(pki, cas):
    revoked, good = _leaf(pki, cas, "s-revoked"), _leaf(pki, cas, "s-good")
    crl = _crl_of(cas, pki, revoked=[(revoked.serial_number, "keyCompromise")])
    checker = _crl.RevocationChecker([("crl.pem", crl)], fetch_crls=False, timeout=1)
    status = checker.status(revoked, [cas["cert"]])
    assert status["status"] == "revoked" and status["reason"] == "keyCompromise" and status["source"] == "crl.pem"
    assert _crl.finding(status).startswith(f"certificate {_x509.serial_hex(revoked.serial_number)} is revoked (keyCompromise, since ")
    assert checker.status(good, [cas["cert"]])["status"] == "good"
    assert _crl.finding(checker.status(good, [cas["cert"]])) is None
    checker.check_unused(["CN=Status CA"])  # used: no error


def test_a_file_crl_of_another_ca_is_reported_as_bad_input(pki, cas):
    leaf = _leaf(pki, cas, "s-leaf")
    checker = _crl.RevocationChecker([("other.pem", _crl_of(cas, pki, which="other"))], fetch_crls=False, timeout=1)
    assert checker.status(leaf, [cas["cert"]])["status"] == "not_checked"
    with pytest.raises(_crl.CRLError, match=r"crl_path: other.pem is from 'CN=Other Status CA', but no checked certificate was "
                                            r"issued by that CA \(they come from 'CN=Status CA'\)"):
        checker.check_unused(["CN=Status CA"])


def test_a_forged_crl_with_the_issuers_name_is_an_error(pki, cas):
    impostor_key = pki.key("s-impostor")
    impostor = _certificate.issue_ca(impostor_key, subject=cas["cert"].subject, valid_days=100, path_length=0, now=pki.now)
    forged = _crl.build_crl(issuer_cert=impostor, issuer_key=impostor_key, revoked=[], number=1, this_update=pki.now,
                            next_update=pki.now + DAY)
    checker = _crl.RevocationChecker([("forged.pem", forged)], fetch_crls=False, timeout=1)
    with pytest.raises(_crl.CRLError, match="its signature does not verify with the key of the CA 'CN=Status CA'"):
        checker.status(_leaf(pki, cas, "s-leaf"), [cas["cert"]])


def test_an_expired_crl_file_is_an_error(pki, cas):
    expired = _crl_of(cas, pki, this_update=pki.now - 10 * DAY, next_update=pki.now - DAY)
    with pytest.raises(_crl.CRLError, match=r"crl.pem expired on .* \(its nextUpdate\); the CA must sign a new one"):
        _crl.RevocationChecker([("crl.pem", expired)], fetch_crls=False, timeout=1)


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(_crl.CRLError, match="is not a readable CRL"):
        _crl.RevocationChecker.from_paths([str(bad)], fetch_crls=False, timeout=1)
    with pytest.raises(_crl.CRLError, match="does not exist"):
        _crl.RevocationChecker.from_paths([str(tmp_path / "none.pem")], fetch_crls=False, timeout=1)


def test_self_signed_and_unknown_issuer(pki, cas):
    own = pki.cert("mail.example.org", pki.key("s-own"))
    checker = _crl.RevocationChecker([("crl.pem", _crl_of(cas, pki))], fetch_crls=False, timeout=1)
    assert checker.status(own, [])["status"] == "not_applicable"
    unknown = checker.status(_leaf(pki, cas, "s-leaf"), [])
    assert unknown["status"] == "unknown" and "is not known here" in unknown["errors"][0]


# ---------------------------------------------------------------------------------------------
# From the distribution point
# ---------------------------------------------------------------------------------------------
def test_fetched_from_the_distribution_point_once(pki, cas, serve):
    server = serve()
    leaf = _leaf(pki, cas, "s-fetch", cdp=[server.url])
    other = _leaf(pki, cas, "s-fetch-other", cdp=[server.url])
    server.body = _crl.crl_der(_crl_of(cas, pki, revoked=[(leaf.serial_number, "cessationOfOperation")]))
    assert _crl.distribution_points(leaf) == [server.url]
    checker = _crl.RevocationChecker([], fetch_crls=True, timeout=5)
    status = checker.status(leaf, [cas["cert"]])
    assert status["status"] == "revoked" and status["reason"] == "cessationOfOperation" and status["source"] == server.url
    assert status["fetch_seconds"] is not None and status["errors"] == []
    assert checker.status(other, [cas["cert"]])["status"] == "good"
    assert server.hits == 1  # one fetch for both certificates


def test_fetch_off_or_no_distribution_point(pki, cas):
    leaf = _leaf(pki, cas, "s-nocdp")
    assert _crl.RevocationChecker([], fetch_crls=True, timeout=1).status(leaf, [cas["cert"]])["status"] == "not_checked"


def test_an_unreachable_distribution_point_is_reported(pki, cas, closed_port):
    url = f"http://127.0.0.1:{closed_port}/crl.der"
    leaf = _leaf(pki, cas, "s-dead", cdp=[url])
    status = _crl.RevocationChecker([], fetch_crls=True, timeout=2).status(leaf, [cas["cert"]])
    assert status["status"] == "unknown"
    assert status["errors"] == [f"CRL distribution point {url}: connection refused (nothing listens there)"]


def test_a_silent_distribution_point_is_given_up_after_the_timeout(pki, cas, serve):
    server = serve(silent=True)
    leaf = _leaf(pki, cas, "s-silent", cdp=[server.url])
    status = _crl.RevocationChecker([], fetch_crls=True, timeout=0.5).status(leaf, [cas["cert"]])
    assert status["status"] == "unknown"
    assert status["errors"] == [f"CRL distribution point {server.url}: no complete answer within 0.5 s"]


def test_bad_answers_from_the_distribution_point(pki, cas, serve):
    not_found = serve(b"gone", status=404)
    garbage = serve(b"<html>not a CRL</html>")
    other = serve(_crl.crl_der(_crl_of(cas, pki, which="other")))
    expired = serve(_crl.crl_der(_crl_of(cas, pki, this_update=pki.now - 9 * DAY, next_update=pki.now - DAY)))
    urls = [not_found.url, garbage.url, other.url, expired.url]
    leaf = _leaf(pki, cas, "s-bad", cdp=urls)
    status = _crl.RevocationChecker([], fetch_crls=True, timeout=5).status(leaf, [cas["cert"]])
    assert status["status"] == "unknown"
    errors = status["errors"]
    assert errors[0] == f"CRL distribution point {not_found.url}: HTTP 404 Not Found"
    assert "is not a readable CRL" in errors[1]
    assert "was issued by 'CN=Other Status CA'" in errors[2]
    assert "expired on" in errors[3]


def test_the_second_distribution_point_answers_when_the_first_is_dead(pki, cas, serve, closed_port):
    dead = f"http://127.0.0.1:{closed_port}/crl.der"
    live = serve()
    leaf = _leaf(pki, cas, "s-two", cdp=[dead, live.url])
    live.body = _crl.crl_der(_crl_of(cas, pki, revoked=[(leaf.serial_number, "keyCompromise")]))
    status = _crl.RevocationChecker([], fetch_crls=True, timeout=5).status(leaf, [cas["cert"]])
    assert status["status"] == "revoked" and status["source"] == live.url
    assert status["errors"] == [f"CRL distribution point {dead}: connection refused (nothing listens there)"]


# ---------------------------------------------------------------------------------------------
# Small parts
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "serial"), [("4f:2a:0c", 0x4F2A0C), ("0x4f2a0c", 0x4F2A0C), ("5188108", 5188108), (77, 77)])
def test_parse_serial(value, serial):
    assert _crl.parse_serial(value) == serial


@pytest.mark.parametrize(("url", "message"), [
    ("https://crl.example.org/ca.crl", "is not an http:// URL"),
    ("crl.example.org/ca.crl", "is not an http:// URL"),
    ("http://crl.example.org/a b", "spaces or control characters"),
    ("http://crl.example.org/\n", "spaces or control characters"),
])
def test_distribution_point_urls_are_checked(url, message):
    with pytest.raises(_crl.CRLError, match=message):
        _crl.check_distribution_point(url, option="crl_distribution_points")
    assert _crl.check_distribution_point("http://crl.example.org/ca.crl", option="x") == "http://crl.example.org/ca.crl"
