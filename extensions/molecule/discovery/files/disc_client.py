#!/usr/bin/env python3
# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Clients written to the standards, for the discovery scenario: each finds the servers on its own and
must end up on verified TLS. They run in the scenario's client container, resolve through its BIND
server, trust only the test CA, and print one JSON report (exit 0 when every step passed).

usage:
  disc_client.py autoconfig DOMAIN ADDRESS PASSWORD CAFILE
      Thunderbird's autoconfig draft: fetch https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=ADDRESS
      (verified, no redirect), take the first IMAP incomingServer and the first SMTP outgoingServer, connect
      with their socketType (SSL = implicit TLS, STARTTLS; anything else is refused), verify chain and name,
      log in.
  disc_client.py srv DOMAIN ADDRESS PASSWORD CAFILE
      RFC 6186/8314: _imaps/_imap and _submissions/_submission SRV records together, lowest priority first
      (target "." means not offered), connect, verify, log in.
  disc_client.py sender DOMAIN CAFILE
      An RFC 8461 sender: _mta-sts TXT record, the policy over HTTPS (certificate verified for
      mta-sts.DOMAIN, no redirects, text/plain), its id compared with the TXT id (this collection derives the
      id from the policy text, so a policy changed without a new id shows here), every MX matched to an mx:
      line, and each MX's certificate verified on port 25 after STARTTLS.
"""

from __future__ import annotations

import hashlib
import imaplib
import json
import smtplib
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import dns.exception
import dns.resolver

TIMEOUT = 20


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """RFC 8461 3.3 (and a careful autoconfig client): a redirect is an error, never followed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def https_get(url: str, context: ssl.SSLContext) -> tuple[int, str, bytes]:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect())
    try:
        with opener.open(url, timeout=TIMEOUT) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", "") if exc.headers else "", b""


def tls_facts(sock: ssl.SSLSocket) -> dict:
    cert = sock.getpeercert()
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    return {"tls_version": sock.version(), "cert_names": names}


def imap_login(host: str, port: int, socket_type: str, user: str, password: str, context: ssl.SSLContext) -> dict:
    if socket_type == "SSL":
        client = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=TIMEOUT)
    elif socket_type == "STARTTLS":
        client = imaplib.IMAP4(host, port, timeout=TIMEOUT)
        client.starttls(ssl_context=context)
    else:
        raise RuntimeError(f"refusing socketType {socket_type!r}: not TLS")
    facts = tls_facts(client.sock)
    status, _data = client.login(user, password)
    client.logout()
    return {**facts, "login": status}


def smtp_login(host: str, port: int, socket_type: str, user: str, password: str, context: ssl.SSLContext) -> dict:
    if socket_type == "SSL":
        client = smtplib.SMTP_SSL(host, port, context=context, timeout=TIMEOUT, local_hostname="client.example.test")
    elif socket_type == "STARTTLS":
        client = smtplib.SMTP(host, port, timeout=TIMEOUT, local_hostname="client.example.test")
        client.starttls(context=context)
    else:
        raise RuntimeError(f"refusing socketType {socket_type!r}: not TLS")
    facts = tls_facts(client.sock)
    client.ehlo()
    code, _text = client.login(user, password)
    client.quit()
    return {**facts, "login": code}


def substitute(template: str, address: str) -> str:
    local, _sep, domain = address.partition("@")
    return template.replace("%EMAILADDRESS%", address).replace("%EMAILLOCALPART%", local).replace("%EMAILDOMAIN%", domain)


def autoconfig(domain: str, address: str, password: str, context: ssl.SSLContext) -> dict:
    url = f"https://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={urllib.parse.quote(address)}"
    status, content_type, body = https_get(url, context)
    report: dict = {"url": url, "status": status, "content_type": content_type}
    if status != 200:
        raise RuntimeError(f"{url} answered {status}")
    provider = ET.fromstring(body).find("emailProvider")
    incoming = next(s for s in provider.findall("incomingServer") if s.get("type") == "imap")
    outgoing = next(s for s in provider.findall("outgoingServer") if s.get("type") == "smtp")
    for key, server, login in (("imap", incoming, imap_login), ("smtp", outgoing, smtp_login)):
        host, port = server.findtext("hostname"), int(server.findtext("port"))
        socket_type = server.findtext("socketType")
        user = substitute(server.findtext("username"), address)
        report[key] = {"host": host, "port": port, "socketType": socket_type, "user": user,
                       **login(host, port, socket_type, user, password, context)}
    return report


def srv_choice(resolver: dns.resolver.Resolver, domain: str, implicit: str, starttls: str) -> dict:
    """RFC 6186 3.4 / RFC 8314 5.1: both services' records together, lowest priority first."""
    candidates = []
    for service, socket_type in ((implicit, "SSL"), (starttls, "STARTTLS")):
        for record in resolver.resolve(f"_{service}._tcp.{domain}", "SRV"):
            target = record.target.to_text().rstrip(".")
            if target:  # "." = not offered
                candidates.append((record.priority, -record.weight, service, socket_type, target, record.port))
    if not candidates:
        raise RuntimeError(f"no {implicit}/{starttls} service for {domain}")
    priority, _weight, service, socket_type, host, port = sorted(candidates)[0]
    return {"service": service, "priority": priority, "host": host, "port": port, "socketType": socket_type}


def srv(domain: str, address: str, password: str, context: ssl.SSLContext) -> dict:
    resolver = dns.resolver.Resolver()
    resolver.lifetime = TIMEOUT
    local = address.partition("@")[0]
    imap = srv_choice(resolver, domain, "imaps", "imap")
    smtp = srv_choice(resolver, domain, "submissions", "submission")
    imap.update(imap_login(imap["host"], imap["port"], imap["socketType"], local, password, context))
    smtp.update(smtp_login(smtp["host"], smtp["port"], smtp["socketType"], local, password, context))
    return {"imap": imap, "smtp": smtp}


def mx_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        head, _sep, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def sender(domain: str, context: ssl.SSLContext) -> dict:
    resolver = dns.resolver.Resolver()
    resolver.lifetime = TIMEOUT
    texts = [b"".join(r.strings).decode() for r in resolver.resolve(f"_mta-sts.{domain}", "TXT")]
    sts = [text for text in texts if text.replace(" ", "").startswith("v=STSv1;")]
    if len(sts) != 1:
        raise RuntimeError(f"_mta-sts.{domain} has {len(sts)} STSv1 records")
    txt_id = dict(part.strip().split("=", 1) for part in sts[0].split(";") if "=" in part)["id"]
    url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    report: dict = {"txt_id": txt_id, "url": url}
    try:
        status, content_type, body = https_get(url, context)
    except urllib.error.URLError as exc:
        raise RuntimeError(f"policy fetch failed: {exc.reason}") from None
    report.update(status=status, content_type=content_type)
    if status != 200:
        raise RuntimeError(f"{url} answered {status} (redirects are not followed)")
    if content_type.split(";")[0].strip() != "text/plain":
        raise RuntimeError(f"{url} is {content_type}, not text/plain")
    text = body.decode()
    if not all(line.endswith("\r") for line in text.split("\n")[:-1]):
        raise RuntimeError("policy lines do not end in CRLF")
    fields: dict = {"mx": []}
    for line in text.splitlines():
        key, _sep, value = line.partition(":")
        if key.strip() == "mx":
            fields["mx"].append(value.strip())
        elif key.strip():
            fields[key.strip()] = value.strip()
    report["policy"] = fields
    policy_id = hashlib.sha256(body).hexdigest()[:32]
    report["policy_id"] = policy_id
    if fields.get("version") != "STSv1":
        raise RuntimeError("policy version is not STSv1")
    if policy_id != txt_id:
        raise RuntimeError(f"the policy text has id {policy_id}, the TXT record says {txt_id}: changed without a new id")
    report["mx"] = []
    for record in sorted(resolver.resolve(domain, "MX"), key=lambda r: r.preference):
        host = record.exchange.to_text().rstrip(".")
        if not any(mx_matches(pattern, host) for pattern in fields["mx"]):
            raise RuntimeError(f"MX {host} matches no mx: line of the policy")
        client = smtplib.SMTP(host, 25, timeout=TIMEOUT, local_hostname="client.example.test")
        client.ehlo()
        client.starttls(context=context)  # verifies the chain and the MX name
        report["mx"].append({"host": host, **tls_facts(client.sock)})
        client.quit()
    return report


def main(argv: list[str]) -> int:
    mode = argv[1]
    context = ssl.create_default_context(cafile=argv[-1])  # chain and host name verified, TLS 1.2+
    try:
        if mode == "autoconfig":
            report = autoconfig(argv[2], argv[3], argv[4], context)
        elif mode == "srv":
            report = srv(argv[2], argv[3], argv[4], context)
        elif mode == "sender":
            report = sender(argv[2], context)
        else:
            raise SystemExit(__doc__)
        report["ok"] = True
    except (RuntimeError, OSError, ssl.SSLError, imaplib.IMAP4.error, smtplib.SMTPException, dns.exception.DNSException,
            ET.ParseError, StopIteration, KeyError) as exc:
        report = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"}
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
