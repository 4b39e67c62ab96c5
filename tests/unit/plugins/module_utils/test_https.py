# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The careful HTTPS client against a real TLS server on 127.0.0.1 (threads, the test's own certificates)."""

from __future__ import annotations

import http.server
import ssl
import threading

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _https

NAMES = ["mta-sts.example.org", "autodiscover.example.org"]


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    seen: list = []

    def _answer(self):
        Handler.seen.append((self.command, self.path, self.headers.get("Host")))
        status, headers, body = Handler.routes.get(self.path, (404, {"Content-Type": "text/html"}, b"no"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._answer()

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer()

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up after the handshake (name mismatch) is part of the test


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import PKI

    pki = PKI(tmp_path_factory.mktemp("https"))
    root_key, leaf_key = pki.key("https-root"), pki.key("https-leaf")
    root = pki.cert("HTTPS Test Root", root_key, ca=True, days=3650)
    leaf = pki.cert(NAMES[0], leaf_key, issuer=root, issuer_key=root_key, sans=NAMES, eku=["serverAuth"])
    other_root = pki.cert("Other Root", pki.key("other-root"), ca=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.write("leaf.pem", leaf), pki.write("leaf.key", leaf_key))
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield {"port": httpd.server_address[1], "root": pki.write("root.pem", root), "other": pki.write("other.pem", other_root)}
    httpd.shutdown()


def client(ca: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(ca)
    return context


def fetch(server, host, path, **kwargs):
    ca = kwargs.pop("ca", server["root"])
    return _https.fetch(host, path, context=client(ca), address="127.0.0.1", port=server["port"], timeout=5, **kwargs)


def test_get_with_verified_chain_and_name(server):
    Handler.routes["/.well-known/mta-sts.txt"] = (200, {"Content-Type": "text/plain"}, b"version: STSv1\r\n")
    response = fetch(server, "mta-sts.example.org", "/.well-known/mta-sts.txt")
    assert (response.status, response.media_type, response.body, response.error) == (200, "text/plain", b"version: STSv1\r\n", None)
    assert response.names == NAMES and response.tls_version in ("TLSv1.2", "TLSv1.3")
    assert Handler.seen[-1] == ("GET", "/.well-known/mta-sts.txt", f"mta-sts.example.org:{server['port']}")
    assert _https.describe(response)["length"] == 16


def test_post_sends_the_body(server):
    Handler.routes["/autodiscover/autodiscover.xml"] = (200, {"Content-Type": "application/xml; charset=utf-8"}, b"<x/>")
    response = fetch(server, "autodiscover.example.org", "/autodiscover/autodiscover.xml", method="POST", body=b"<r/>",
                     content_type="text/xml")
    assert (response.status, response.media_type, response.body) == (200, "application/xml", b"<x/>")
    assert Handler.seen[-1][0] == "POST"


def test_a_redirect_is_reported_and_not_followed(server):
    Handler.routes["/moved"] = (301, {"Location": "https://elsewhere.example.org/"}, b"")
    before = len(Handler.seen)
    response = fetch(server, "mta-sts.example.org", "/moved")
    assert (response.status, response.location) == (301, "https://elsewhere.example.org/")
    assert len(Handler.seen) == before + 1


def test_a_certificate_for_other_names_stops_before_the_request(server):
    before = len(Handler.seen)
    response = fetch(server, "autoconfig.example.org", "/x")
    assert response.error == "the certificate is for mta-sts.example.org, autodiscover.example.org, not autoconfig.example.org"
    assert response.status is None and len(Handler.seen) == before


def test_an_untrusted_chain(server):
    response = fetch(server, "mta-sts.example.org", "/x", ca=server["other"])
    assert response.error.startswith("the certificate does not verify: ")
    assert response.status is None


def test_nothing_listening(closed_port):
    response = _https.fetch("mta-sts.example.org", "/", context=client_default(), address="127.0.0.1", port=closed_port, timeout=3)
    assert response.error.startswith(f"cannot connect to 127.0.0.1 port {closed_port}")


def client_default() -> ssl.SSLContext:
    return ssl.create_default_context()
