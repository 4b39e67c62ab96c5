# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Known vectors for the DANE TLSA, MTA-STS and TLS-RPT filters.

TLSA digests are checked against openssl itself, the way the issue states it:
``openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum``.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.postmaster.tls.plugins.filter import tls_records as f

# A fixed certificate with its digests, computed once with openssl 3.0 (see the module docstring):
#   ... | openssl pkey -pubin -outform DER | sha256sum        -> VECTOR_311
#   openssl x509 -outform DER | sha256sum                    -> VECTOR_301
#   ... | openssl pkey -pubin -outform DER | sha512sum        -> VECTOR_312
VECTOR_PEM = """-----BEGIN CERTIFICATE-----
MIIBpTCCAUqgAwIBAgIUXQAAnLr360KX9fMvxFhVJIg41jowCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwObXgudmVjdG9yLnRlc3QwIBcNMjYxMTI4MTUzMzQwWhgPMjEy
NjExMDQxNTMzNDBaMBkxFzAVBgNVBAMMDm14LnZlY3Rvci50ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEzOY+oMGg2gJW/Uu9S5Qlxzjx+Dd7HACR01ZOcfxu
ycBsYPugJBBpmQeViuUJ2wfgj6is14Nio531uB4YdpuRNaNuMGwwHQYDVR0OBBYE
FH6YmYLikA97WExaPCLw6jIAlQRKMB8GA1UdIwQYMBaAFH6YmYLikA97WExaPCLw
6jIAlQRKMA8GA1UdEwEB/wQFMAMBAf8wGQYDVR0RBBIwEIIObXgudmVjdG9yLnRl
c3QwCgYIKoZIzj0EAwIDSQAwRgIhAM65cgrtdBkh9AFxC1m/sG5uArPUnV+Gvsgi
inqoR6TpAiEAge+vnfLMjfcFtuFt9+CEMr2C4lOs52/XyTlNUY+K5nc=
-----END CERTIFICATE-----
"""
VECTOR_311 = "e0b1101fa0c19257c49b4948ad61c96f4d1d2e38b104a74a383460ef00b7cec3"
VECTOR_301 = "41971010176ccfc4eecd8e8dd28d0af36d1538b9f59426e00c6eaeaf5f226456"
VECTOR_312 = ("9bc35af15e09628863fb56e0ea2efcb44bd9755bf6ebcd500b400344a736b74b"
              "1353ff90892ab6d1785a301fb2d2b6eca441953bb46bdd1e6bca453f4e26e50a")


def _self_signed(key, cn="mail.example.org") -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _openssl_spki_sha256(pem: str) -> str:
    """The issue's reference pipeline, run for real."""
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", "openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum"],
        input=pem, capture_output=True, text=True, check=True,
    )
    return out.stdout.split()[0]


@pytest.fixture(scope="module", params=["rsa", "ecdsa"])
def keypair(request):
    if request.param == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1())


# ------------------------------------------------------------------------------------------------
# TLSA
# ------------------------------------------------------------------------------------------------
def test_fixed_vector_311_301_312():
    assert f.tlsa_rdata(VECTOR_PEM) == f"3 1 1 {VECTOR_311}"
    assert f.tlsa_rdata(VECTOR_PEM, selector=0) == f"3 0 1 {VECTOR_301}"
    assert f.tlsa_rdata(VECTOR_PEM, matching_type=2) == f"3 1 2 {VECTOR_312}"


def test_fixed_vector_matches_openssl_today():
    assert _openssl_spki_sha256(VECTOR_PEM) == VECTOR_311


def test_311_digest_equals_the_openssl_pipeline(keypair):
    pem = _self_signed(keypair)
    assert f.tlsa_rdata(pem) == f"3 1 1 {_openssl_spki_sha256(pem)}"


def test_public_key_and_csr_give_the_same_record_as_the_certificate(keypair):
    pem = _self_signed(keypair)
    public_pem = keypair.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.org")]))
           .sign(keypair, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    expected = f.tlsa_rdata(pem)
    assert f.tlsa_rdata(public_pem) == expected
    assert f.tlsa_rdata(csr) == expected


def test_full_data_matching_type_0_is_the_der_in_hex(keypair):
    pem = _self_signed(keypair)
    der = keypair.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert f.tlsa_rdata(pem, matching_type=0) == f"3 1 0 {der.hex()}"


def test_digest_and_module_result_inputs():
    assert f.tlsa_rdata(VECTOR_311.upper()) == f"3 1 1 {VECTOR_311}"
    colons = ":".join(VECTOR_311[i:i + 2] for i in range(0, 64, 2))
    assert f.tlsa_rdata(colons) == f"3 1 1 {VECTOR_311}"
    assert f.tlsa_rdata({"spki_sha256": VECTOR_311, "fingerprint_sha256": colons}) == f"3 1 1 {VECTOR_311}"
    assert f.tlsa_rdata({"fingerprint_sha256": VECTOR_301}, selector=0) == f"3 0 1 {VECTOR_301}"
    assert f.tlsa_rdata(VECTOR_PEM, usage=2) == f"2 1 1 {VECTOR_311}"


@pytest.mark.parametrize("data,kwargs,message", [
    ("-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n", {}, "private keys do not belong in templates"),
    ("-----BEGIN EC PRIVATE KEY-----\nMII\n-----END EC PRIVATE KEY-----\n", {}, "is a private key"),
    ("abcd", {}, "neither PEM"),
    (VECTOR_311, {"matching_type": 2}, "neither PEM"),
    ({"subject": "x"}, {}, "needs a spki_sha256 key"),
    ({"spki_sha256": VECTOR_311}, {"matching_type": 2}, "needs a spki_sha256 or fingerprint_sha256 key"),
    (42, {}, "must be PEM text"),
    (VECTOR_PEM, {"usage": 4}, "usage must be one of 0, 1, 2, 3"),
    (VECTOR_PEM, {"selector": 2}, "selector must be one of 0, 1"),
    (VECTOR_PEM, {"matching_type": "x"}, "matching_type must be one of 0, 1, 2"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", {"selector": 0}, "needs a certificate"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", {}, "the public key does not parse"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", {}, "corrupt or truncated"),
])
def test_bad_tlsa_input(data, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.tlsa_rdata(data, **kwargs)


def test_records_for_ports_with_ttl():
    lines = f.tlsa_records(VECTOR_PEM, "MX.Example.ORG.", ports=[25, 465, 587], ttl=3600)
    assert lines == [
        f"_25._tcp.mx.example.org. 3600 IN TLSA 3 1 1 {VECTOR_311}",
        f"_465._tcp.mx.example.org. 3600 IN TLSA 3 1 1 {VECTOR_311}",
        f"_587._tcp.mx.example.org. 3600 IN TLSA 3 1 1 {VECTOR_311}",
    ]
    assert f.tlsa_records(VECTOR_PEM, "mx.example.org") == [f"_25._tcp.mx.example.org. IN TLSA 3 1 1 {VECTOR_311}"]


def test_rollover_set_current_and_next_side_by_side(keypair):
    current = _self_signed(keypair)
    nxt = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    lines = f.tlsa_records([current, nxt, current], "mx.example.org", ports=[25, 587])
    current_digest = _openssl_spki_sha256(current)
    next_digest = f.tlsa_rdata(nxt).split()[-1]
    assert current_digest != next_digest
    assert lines == [
        f"_25._tcp.mx.example.org. IN TLSA 3 1 1 {current_digest}",
        f"_25._tcp.mx.example.org. IN TLSA 3 1 1 {next_digest}",
        f"_587._tcp.mx.example.org. IN TLSA 3 1 1 {current_digest}",
        f"_587._tcp.mx.example.org. IN TLSA 3 1 1 {next_digest}",
    ]


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "bad_name.example"}, "is not a valid host name"),
    ({"name": "mx.example.org", "ports": []}, "at least one port"),
    ({"name": "mx.example.org", "ports": [0]}, "is not a TCP port number"),
    ({"name": "mx.example.org", "ports": ["smtp"]}, "is not a TCP port number"),
    ({"name": "mx.example.org", "ttl": "soon"}, "ttl must be a whole number"),
    ({"name": "mx.example.org", "ttl": -1}, "out of range"),
    ({"name": "mx.example.org", "protocol": "quic"}, "protocol must be"),
])
def test_bad_record_arguments(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.tlsa_records(VECTOR_PEM, **kwargs)


def test_empty_rollover_list():
    with pytest.raises(AnsibleFilterError, match="at least one certificate"):
        f.tlsa_records([], "mx.example.org")


# ------------------------------------------------------------------------------------------------
# MTA-STS
# ------------------------------------------------------------------------------------------------
POLICY = "version: STSv1\nmode: enforce\nmx: mail.example.org\nmx: *.example.net\nmax_age: 86400\n"


def test_policy_text():
    text = f.mta_sts_policy(["Mail.Example.org.", "*.example.net", "mail.example.org"], mode="enforce", max_age=86400)
    assert text == POLICY
    assert f.mta_sts_policy("mail.example.org") == "version: STSv1\nmode: testing\nmx: mail.example.org\nmax_age: 604800\n"
    assert f.mta_sts_policy([], mode="none") == "version: STSv1\nmode: none\nmax_age: 604800\n"
    assert f.mta_sts_policy("mx.example.org", newline="crlf").endswith("max_age: 604800\r\n")


def test_id_is_stable_for_the_same_policy():
    first = f.mta_sts_id(POLICY)
    assert first == f.mta_sts_id(str(POLICY))
    assert first == f.mta_sts_id(f.mta_sts_policy(["mail.example.org", "*.example.net"], mode="enforce", max_age=86400))
    assert re.fullmatch(r"[0-9a-f]{32}", first)


@pytest.mark.parametrize("changed", [
    POLICY.replace("mode: enforce", "mode: testing"),
    POLICY.replace("max_age: 86400", "max_age: 86401"),
    POLICY.replace("mx: *.example.net\n", ""),
    POLICY + "mx: backup.example.org\n",
    POLICY.replace("\n", "\r\n"),
])
def test_id_changes_when_a_line_changes(changed):
    assert f.mta_sts_id(changed) != f.mta_sts_id(POLICY)


def test_mta_sts_record():
    assert f.mta_sts_record(POLICY, "Example.org", ttl=300) == (
        f'_mta-sts.example.org. 300 IN TXT "v=STSv1; id={f.mta_sts_id(POLICY)}"')


@pytest.mark.parametrize("call,message", [
    (lambda: f.mta_sts_policy("mx.example.org", mode="strict"), "mode must be one of none, testing, enforce"),
    (lambda: f.mta_sts_policy([], mode="enforce"), "needs at least one mx"),
    (lambda: f.mta_sts_policy("mx.example.org", max_age=31557601), "at most one year"),
    (lambda: f.mta_sts_policy("mx.example.org", max_age="week"), "max_age must be a whole number"),
    (lambda: f.mta_sts_policy("mx.*.example.org"), "is not a valid host name"),
    (lambda: f.mta_sts_policy("*.org"), "a wildcard needs at least two labels"),
    (lambda: f.mta_sts_policy("mx.example.org", newline="cr"), "newline must be lf or crlf"),
    (lambda: f.mta_sts_id(""), "needs the policy text"),
    (lambda: f.mta_sts_id(["x"]), "needs the policy text"),
    (lambda: f.mta_sts_record(POLICY, "-bad-.example"), "is not a valid host name"),
])
def test_bad_mta_sts_input(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


# ------------------------------------------------------------------------------------------------
# TLS-RPT
# ------------------------------------------------------------------------------------------------
def test_tls_rpt_record():
    assert f.tls_rpt_record("tls-reports@example.org", "example.org") == (
        '_smtp._tls.example.org. IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@example.org"')
    assert f.tls_rpt_record(["mailto:a@Example.org", "https://reports.example.net/tlsrpt", "a@example.org"],
                            "example.org", ttl=3600) == (
        '_smtp._tls.example.org. 3600 IN TXT '
        '"v=TLSRPTv1; rua=mailto:a@example.org,https://reports.example.net/tlsrpt"')


def test_tls_rpt_encodes_separators_inside_uris():
    line = f.tls_rpt_record("odd,name!x;y@example.org", "example.org")
    assert "rua=mailto:odd%2Cname%21x%3By@example.org" in line


def test_long_txt_is_split_into_255_byte_strings():
    addresses = [f"reports-{i:03d}-{'x' * 40}@example.org" for i in range(8)]
    line = f.tls_rpt_record(addresses, "example.org")
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
    assert len(strings) > 1
    assert all(len(s.encode()) <= 255 for s in strings)
    assert "".join(strings).startswith("v=TLSRPTv1; rua=mailto:reports-000")


@pytest.mark.parametrize("rua,message", [
    ([], "at least one reporting address"),
    ("not-an-address", "neither a mail address nor an https:// URL"),
    ("user@bad_domain", "is not a valid host name"),
    ([None], "must be mail addresses or https URLs"),
])
def test_bad_tls_rpt_input(rua, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.tls_rpt_record(rua, "example.org")


def test_filter_names():
    assert sorted(f.FilterModule().filters()) == [
        "mta_sts_id", "mta_sts_policy", "mta_sts_record", "tls_rpt_record", "tlsa_rdata", "tlsa_records"]
