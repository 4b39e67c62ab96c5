# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one rendering of what a mail domain advertises: names, SRV, autoconfig, Autodiscover, MTA-STS."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _discovery as d

AD = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
ADR = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def domain(**entry):
    entry.setdefault("name", "example.org")
    return d.build_domain(entry, defaults={"mail_host": "mail.example.org", "ttl": 3600})


# ------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    ("Example.ORG.", "example.org"),
    ("  mail.example.org ", "mail.example.org"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
])
def test_names_are_normalised(value, expected):
    assert d.hostname(value, what="x") == expected


@pytest.mark.parametrize("value,message", [
    ("exa mple..test", "is not a valid host name"),
    ("-bad.example.org", "is not a valid host name"),
    ("mail.example.org\n", "contains a control character"),
    ("mail\x00.example.org", "contains a control character"),
    ("", "must be a host name"),
    (None, "must be a host name"),
    ("a" * 64 + ".org", "is not a valid host name"),
])
def test_bad_names_are_refused(value, message):
    with pytest.raises(d.DiscoveryError, match=message):
        d.hostname(value, what="domains[1].name")


def test_a_mail_domain_needs_two_labels():
    with pytest.raises(d.DiscoveryError, match="single label"):
        d.build_domain({"name": "localhost"}, defaults={"mail_host": "mail.example.org"})


def test_addresses_and_names_for_connect_options():
    assert d.is_address_or_name("127.0.0.1") and d.is_address_or_name("::1") and d.is_address_or_name("mail.example.org")
    assert not d.is_address_or_name("-v") and not d.is_address_or_name("a b") and not d.is_address_or_name("x\n")


# ------------------------------------------------------------------------------------------------
# One domain: defaults and refusals
# ------------------------------------------------------------------------------------------------
def test_defaults():
    dom = domain()
    assert dom.services == d.SERVICE_NAMES
    assert dom.mx == ["mail.example.org"]
    assert (dom.mta_sts_mode, dom.mta_sts_max_age, dom.username) == ("testing", 604800, "%EMAILADDRESS%")
    assert dom.web_names() == ["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"]


@pytest.mark.parametrize("entry,message", [
    ({"services": ["imaps", "smtp"]}, "'smtp' is not a mail client service"),
    ({"services": []}, "services is empty"),
    ({"services": "imaps"}, "must be a list"),
    ({"mta_sts_mode": "strict"}, "is not a mode"),
    ({"mta_sts_max_age": 31557601}, "from 0 to 31557600"),
    ({"mta_sts_max_age": True}, "from 0 to 31557600"),
    ({"mx": ["*.org"]}, "a wildcard needs at least two labels"),
    ({"mx": [], "mta_sts_mode": "enforce"}, "needs at least one mx"),
    ({"username": "%USER%"}, "use %EMAILADDRESS%"),
    ({"display_name": "Example\r\nInjected: yes"}, "control character"),
    ({"service_hosts": {"imaps": "bad host"}}, "service_hosts.imaps 'bad host' is not a valid host name"),
    ({"service_hosts": {"smtp": "mail.example.org"}}, "'smtp' is not a mail client service"),
    ({"ttl": "soon"}, "ttl must be a whole number"),
])
def test_bad_entries(entry, message):
    with pytest.raises(d.DiscoveryError, match=message):
        domain(**entry)


def test_missing_mail_host_names_the_fix():
    with pytest.raises(d.DiscoveryError, match=r"domains\[1\] \(example.org\): no mail_host"):
        d.build_domain({"name": "example.org"})


def test_duplicates_after_normalisation_and_empty_lists():
    with pytest.raises(d.DiscoveryError, match="example.org is listed twice"):
        d.build_domains([{"name": "example.org"}, {"name": "EXAMPLE.org."}], defaults={"mail_host": "m.example.org"})
    with pytest.raises(d.DiscoveryError, match="domains is empty"):
        d.build_domains([], defaults={"mail_host": "m.example.org"})


def test_module_params_feed_defaults():
    params = {"domains": [{"name": "Example.ORG.", "mx": None}], "mail_host": "MX.example.org", "mx": None,
              "services": ["imaps"], "mta_sts_mode": "enforce", "mta_sts_max_age": 86400, "username": "%EMAILLOCALPART%",
              "ttl": 300}
    dom = d.domains_from_params(params)[0]
    assert (dom.name, dom.mail_host, dom.services, dom.mx) == ("example.org", "mx.example.org", ("imaps",), ["mx.example.org"])
    assert (dom.mta_sts_mode, dom.mta_sts_max_age, dom.ttl) == ("enforce", 86400, 300)


# ------------------------------------------------------------------------------------------------
# SRV
# ------------------------------------------------------------------------------------------------
def test_srv_records_prefer_implicit_tls_and_say_dot_for_services_not_offered():
    lines = d.srv_records(domain(services=["submissions", "submission", "imaps", "imap"],
                                 service_hosts={"imaps": "IMAP.example.org"}))
    assert lines == [
        "_submissions._tcp.example.org. 3600 IN SRV 0 1 465 mail.example.org.",
        "_submission._tcp.example.org. 3600 IN SRV 10 1 587 mail.example.org.",
        "_imaps._tcp.example.org. 3600 IN SRV 0 1 993 imap.example.org.",
        "_imap._tcp.example.org. 3600 IN SRV 10 1 143 mail.example.org.",
        "_pop3s._tcp.example.org. 3600 IN SRV 0 0 0 .",
        "_pop3._tcp.example.org. 3600 IN SRV 0 0 0 .",
    ]


def test_srv_without_ttl():
    dom = d.build_domain({"name": "example.org"}, defaults={"mail_host": "mail.example.org", "ttl": None})
    assert d.srv_records(dom)[0] == "_submissions._tcp.example.org. IN SRV 0 1 465 mail.example.org."


# ------------------------------------------------------------------------------------------------
# MTA-STS
# ------------------------------------------------------------------------------------------------
def test_policy_has_crlf_lines_and_its_id_follows_the_text():
    testing = d.policy_text(domain(mx=["mail.example.org", "*.mx.example.org"]))
    assert testing == "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmx: *.mx.example.org\r\nmax_age: 604800\r\n"
    enforce = d.policy_text(domain(mx=["mail.example.org", "*.mx.example.org"], mta_sts_mode="enforce"))
    assert d.mta_sts_id(testing) == hashlib.sha256(testing.encode()).hexdigest()[:32]
    assert d.mta_sts_id(testing) != d.mta_sts_id(enforce)
    assert d.mta_sts_id(testing) == d.mta_sts_id(testing.encode())
    assert d.mta_sts_id(testing).isalnum() and len(d.mta_sts_id(testing)) == 32


def test_removal_policy_is_mode_none_with_a_new_id():
    dom = domain(mta_sts_mode="none", mx=[])
    text = d.policy_text(dom)
    assert text == "version: STSv1\r\nmode: none\r\nmax_age: 604800\r\n"
    assert d.render(dom)["mta_sts_id"] != d.render(domain())["mta_sts_id"]
    assert d.advertised_endpoints(dom) == [e for e in d.advertised_endpoints(dom) if e["service"] != "mx"]


def test_txt_record_and_its_parsing():
    policy = d.policy_text(domain())
    record = d.mta_sts_record(policy, "Example.ORG.", ttl=300)
    assert record == f'_mta-sts.example.org. 300 IN TXT "v=STSv1; id={d.mta_sts_id(policy)}"'
    assert d.parse_mta_sts_txt(f"v=STSv1; id={d.mta_sts_id(policy)}") == d.mta_sts_id(policy)
    assert d.parse_mta_sts_txt("v=spf1 -all") is None
    assert d.parse_mta_sts_txt("v=STSv1;") is None


def test_policy_parsing_and_mx_matching():
    fields = d.parse_mta_sts_policy("version: STSv1\r\nmode: enforce\r\nmx: a.example.org\r\nmx: *.b.example.org\r\nmax_age: 5\r\n")
    assert fields == {"version": "STSv1", "mode": "enforce", "mx": ["a.example.org", "*.b.example.org"], "max_age": "5"}
    assert d.mx_matches("*.b.example.org", "mx1.b.example.org")
    assert not d.mx_matches("*.b.example.org", "x.mx1.b.example.org")
    assert not d.mx_matches("*.b.example.org", "b.example.org")
    assert d.mx_matches("A.example.org.", "a.example.org")


def test_no_policy_when_mta_sts_is_off():
    rendered = d.render(domain(mta_sts=False))
    assert rendered["mta_sts_policy"] is None and rendered["mta_sts_record"] is None and rendered["mta_sts_id"] is None
    assert "mta-sts.example.org" not in rendered["web_names"]
    served = [site["server_name"] for site in d.documents(domain(mta_sts=False))]
    assert served == ["autoconfig.example.org", "autodiscover.example.org"]


# ------------------------------------------------------------------------------------------------
# autoconfig and Autodiscover
# ------------------------------------------------------------------------------------------------
def test_autoconfig_lists_implicit_tls_first_and_never_plain():
    root = ET.fromstring(d.autoconfig_xml(domain(display_name="Example & Co <mail>", username="%EMAILLOCALPART%")))
    assert root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider.get("id") == "example.org" and provider.findtext("displayName") == "Example & Co <mail>"
    incoming = [(s.get("type"), int(s.findtext("port")), s.findtext("socketType")) for s in provider.findall("incomingServer")]
    outgoing = [(s.get("type"), int(s.findtext("port")), s.findtext("socketType")) for s in provider.findall("outgoingServer")]
    assert incoming == [("imap", 993, "SSL"), ("imap", 143, "STARTTLS"), ("pop3", 995, "SSL"), ("pop3", 110, "STARTTLS")]
    assert outgoing == [("smtp", 465, "SSL"), ("smtp", 587, "STARTTLS")]
    assert {s.findtext("username") for s in provider} - {None} == {"%EMAILLOCALPART%"}
    assert {s.findtext("authentication") for s in provider} - {None} == {"password-cleartext"}


def test_autoconfig_with_starttls_only():
    root = ET.fromstring(d.autoconfig_xml(domain(services=["submission", "imap"])))
    servers = [(s.tag, s.findtext("socketType")) for s in root.find("emailProvider") if s.tag.endswith("Server")]
    assert servers == [("incomingServer", "STARTTLS"), ("outgoingServer", "STARTTLS")]


def test_autodiscover_names_the_preferred_server_with_encryption():
    root = ET.fromstring(d.autodiscover_xml(domain(services=["submission", "imaps", "imap", "pop3"])))
    account = root.find(f"{ADR}Response/{ADR}Account")
    protocols = [(p.findtext(f"{ADR}Type"), int(p.findtext(f"{ADR}Port")), p.findtext(f"{ADR}Encryption"))
                 for p in account.findall(f"{ADR}Protocol")]
    assert root.tag == f"{AD}Autodiscover"
    assert protocols == [("IMAP", 993, "SSL"), ("POP3", 110, "TLS"), ("SMTP", 587, "TLS")]
    assert account.findtext(f"{ADR}Action") == "settings"


def test_autodiscover_request_is_xml():
    root = ET.fromstring(d.autodiscover_request("a&b@example.org"))
    assert root.find(".//{http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006}EMailAddress").text \
        == "a&b@example.org"


def test_documents_for_the_web_server():
    sites = d.documents(domain())
    assert [s["server_name"] for s in sites] == ["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"]
    assert sites[0]["documents"] == [{"path": "/.well-known/mta-sts.txt", "content": d.policy_text(domain()),
                                      "content_type": "text/plain", "methods": ["GET"]}]
    assert [doc["path"] for doc in sites[1]["documents"]] == ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"]
    assert sites[2]["documents"][0]["methods"] == ["GET", "POST"] and sites[2]["documents"][0]["case_insensitive"]


def test_advertised_endpoints_include_every_mx_but_wildcards():
    endpoints = d.advertised_endpoints(domain(services=["imaps"], mx=["mail.example.org", "mx2.example.org", "*.pool.example.org"]))
    assert [(e["host"], e["port"], e["protocol"]) for e in endpoints] == [
        ("mail.example.org", 993, "imaps"), ("mail.example.org", 25, "smtp"), ("mx2.example.org", 25, "smtp")]


# ------------------------------------------------------------------------------------------------
# Judging what is served
# ------------------------------------------------------------------------------------------------
def judge(**kwargs):
    values = {"expected": b"x", "content_type": "text/plain", "status": 200, "media_type": "text/plain", "location": None,
              "body": b"x", "error": None}
    values.update(kwargs)
    return d.document_failures(**values)


def test_document_judgement():
    assert judge() == []
    assert judge(error="the certificate does not verify: x") == ["the certificate does not verify: x"]
    assert judge(status=301, location="https://example.org/") == [
        "redirects (301 to https://example.org/); the file must be served from this URL itself"]
    assert judge(status=404) == ["answers 404 instead of 200"]
    assert judge(media_type="text/html") == ["is served as text/html, not text/plain"]
    assert judge(body=b"y")[0].startswith("serves other content than published")


def test_policy_id_judgement():
    policy = d.policy_text(domain()).encode()
    assert d.policy_id_failures(policy, txt_id=d.mta_sts_id(policy), txt_source="dns") == []
    changed = policy.replace(b"604800", b"86400")
    assert "changed without a new id" in d.policy_id_failures(changed, txt_id=d.mta_sts_id(policy), txt_source="dns")[0]
    assert d.policy_id_failures(policy, txt_id=None, txt_source="dns") == ["no v=STSv1 TXT record with an id (dns)"]
    assert d.policy_id_failures(b" ", txt_id="x", txt_source="dns") == ["the policy is empty"]
