# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One HTTPS request the way a careful client makes it: verified chain, checked name, no redirects followed.

A floor module (standard library and ``_crypto``). The caller brings the verifying ``SSLContext``
(so its trust anchors are the caller's); the host name is checked here against the leaf with RFC 6125
rules, and the request is not sent when it does not match, as a browser or an MTA-STS sender would
refuse. A 3xx answer is reported with its ``Location``, never followed (RFC 8461 3.3 forbids it for
MTA-STS). ``address`` connects somewhere else than the name resolves to (like ``curl --resolve``) while
SNI, the name check and the ``Host`` header keep the name.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import typing as t
from dataclasses import dataclass, field

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509

MAX_BODY = 1 << 20
USER_AGENT = "postmaster.tls (mail_discovery_verify)"


@dataclass
class Response:
    url: str
    method: str
    status: int | None = None
    content_type: str | None = None
    location: str | None = None
    body: bytes = b""
    error: str | None = None
    tls_version: str | None = None
    names: list[str] = field(default_factory=list)
    peer_address: str | None = None

    @property
    def media_type(self) -> str | None:
        """The content type without parameters (``text/plain; charset=utf-8`` -> ``text/plain``)."""
        if self.content_type is None:
            return None
        return self.content_type.split(";", 1)[0].strip().lower()


def fetch(host: str, path: str, *, context: ssl.SSLContext, address: str | None = None, port: int = 443,
          method: str = "GET", body: bytes | None = None, content_type: str | None = None,
          timeout: float = 10.0) -> Response:
    """GET or POST ``https://host[:port]path``; never raises for what the server does (see ``error``)."""
    url = f"https://{host}{'' if port == 443 else f':{port}'}{path}"
    response = Response(url=url, method=method)
    try:
        raw = socket.create_connection((address or host, port), timeout=timeout)
    except OSError as exc:
        response.error = f"cannot connect to {address or host} port {port}: {getattr(exc, 'strerror', None) or exc}"
        return response
    try:
        try:
            tls = context.wrap_socket(raw, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            response.error = f"the certificate does not verify: {exc.verify_message or exc}"
            return response
        except (ssl.SSLError, OSError) as exc:
            response.error = f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}"
            return response
        response.peer_address = str(tls.getpeername()[0])
        response.tls_version = tls.version()
        der = tls.getpeercert(binary_form=True)
        if der is None:
            response.error = "the server sent no certificate"
            tls.close()
            return response
        leaf = x509.load_der_x509_certificate(der)
        response.names = _crypto.dns_names(leaf)
        if not _crypto.covers(leaf, host):
            response.error = f"the certificate is for {', '.join(response.names) or 'no DNS name'}, not {host}"
            tls.close()
            return response
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.sock = tls
        headers = {"Host": host if port == 443 else f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*",
                   "Connection": "close"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            response.status = answer.status
            response.content_type = answer.getheader("Content-Type")
            response.location = answer.getheader("Location")
            response.body = answer.read(MAX_BODY + 1)
            if len(response.body) > MAX_BODY:
                response.error = f"the answer is larger than {MAX_BODY} bytes"
        except (http.client.HTTPException, OSError) as exc:
            response.error = f"the HTTP exchange failed: {exc}"
        finally:
            connection.close()
    finally:
        raw.close()
    return response


def describe(response: Response) -> dict[str, t.Any]:
    """A small, printable view (the body as its length and SHA-256 is the caller's business)."""
    return {"url": response.url, "method": response.method, "status": response.status, "content_type": response.content_type,
            "location": response.location, "error": response.error, "tls_version": response.tls_version,
            "names": response.names, "peer_address": response.peer_address, "length": len(response.body)}
