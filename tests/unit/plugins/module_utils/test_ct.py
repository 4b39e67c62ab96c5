# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Embedded SCTs: parsing, offline signature checks against a log list, the browser policy counts.

The tests act as a CT log: a test log key signs SCTs (RFC 6962 3.2) over the precertificate of a
leaf, the SCT list is embedded in the final certificate, and the collection's code must find the
SCTs, verify them against a log list JSON that names the test log, and refuse altered ones. The
encoders below (SCT list, log list) are the test's own, written from RFC 6962 3.3 and the public
log list format; the code under test only decodes.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _ct

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# A test CT log
# ---------------------------------------------------------------------------------------------
class TestLog:
    """A CT log of the tests' own: a key, its id, and SCTs it signs."""

    __test__ = False  # not a test class for pytest

    def __init__(self, key, description: str, operator: str) -> None:
        self.key = key
        self.key_der = _crypto.public_key_der(key.public_key())
        self.log_id = hashlib.sha256(self.key_der).digest()
        self.description = description
        self.operator = operator

    def entry(self) -> dict:
        return {"description": self.description, "log_id": base64.b64encode(self.log_id).decode(),
                "key": base64.b64encode(self.key_der).decode(), "url": "https://ct.example.test/", "mmd": 86400,
                "state": {"usable": {"timestamp": "2024-01-01T00:00:00Z"}}}

    def sct(self, *, tbs: bytes, issuer: x509.Certificate, timestamp_ms: int) -> bytes:
        """A serialized v1 SCT (RFC 6962 3.2) over the precertificate ``tbs`` of ``issuer``."""
        data = _ct.precert_signed_data(timestamp=timestamp_ms, issuer_key_hash=_ct.issuer_key_hash(issuer),
                                       tbs_precertificate=tbs)
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            signature, sig_alg = self.key.sign(data, ec.ECDSA(hashes.SHA256())), 3
        else:
            signature, sig_alg = self.key.sign(data, padding.PKCS1v15(), hashes.SHA256()), 1
        return (bytes([0]) + self.log_id + struct.pack(">Q", timestamp_ms) + struct.pack(">H", 0)
                + bytes([4, sig_alg]) + struct.pack(">H", len(signature)) + signature)


def log_list(*logs: TestLog) -> bytes:
    operators: dict[str, list] = {}
    for log in logs:
        operators.setdefault(log.operator, []).append(log.entry())
    return json.dumps({"version": "test", "log_list_timestamp": "2026-01-01T00:00:00Z",
                       "operators": [{"name": name, "email": ["ct@example.test"], "logs": entries, "tiled_logs": []}
                                     for name, entries in operators.items()]}).encode()


def _der_octet_string(data: bytes) -> bytes:
    length = len(data)
    if length < 0x80:
        head = bytes([length])
    else:
        raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return b"\x04" + head + data


def sct_list_extension(serialized: list[bytes]) -> x509.UnrecognizedExtension:
    """The X.509 extension carrying a TLS-encoded SignedCertificateTimestampList (RFC 6962 3.3)."""
    body = b"".join(struct.pack(">H", len(s)) + s for s in serialized)
    tls_list = struct.pack(">H", len(body)) + body
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(_ct.SCT_LIST_OID), _der_octet_string(tls_list))


@pytest.fixture(scope="module")
def world():
    """A public-looking root and intermediate, two test logs of two operators, one unknown log."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    int_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Test Public Root", root_key.public_key(), "Test Public Root", root_key, ca=True, days=3650)
    intermediate = _cert("Test Public Issuing CA", int_key.public_key(), "Test Public Root", root_key, ca=True, days=1000)
    logs = [TestLog(ec.generate_private_key(ec.SECP256R1()), "Test Log A", "Operator One"),
            TestLog(ec.generate_private_key(ec.SECP256R1()), "Test Log B", "Operator Two"),
            TestLog(ec.generate_private_key(ec.SECP256R1()), "Test Log C", "Operator Two")]
    stranger = TestLog(ec.generate_private_key(ec.SECP256R1()), "Unlisted Log", "Operator Three")
    return {"root": root, "int": intermediate, "int_key": int_key, "logs": logs, "stranger": stranger,
            "log_list": _ct.load_log_list(log_list(*logs), source="test log list")}


def _cert(cn, public_key, issuer_cn, signer, *, ca=False, days=90, serial=None, not_before=None, extra=()):
    """``days`` may be a timedelta for an exact lifetime."""
    start = not_before or NOW - datetime.timedelta(minutes=5)
    lifetime = days if isinstance(days, datetime.timedelta) else datetime.timedelta(days=days)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(signer, hashes.SHA256())


def logged_leaf(world, *, logs, days=90, tamper=False):
    """A leaf from the intermediate with SCTs from ``logs`` embedded, as a CA does it: the
    precertificate's TBS is what the logs sign, then the final certificate carries their SCTs."""
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    precert = _cert("mail.example.org", key.public_key(), "Test Public Issuing CA", world["int_key"], days=days, serial=serial)
    stamp = int(NOW.timestamp() * 1000) + 123
    scts = [log.sct(tbs=precert.tbs_certificate_bytes, issuer=world["int"], timestamp_ms=stamp + i) for i, log in enumerate(logs)]
    if tamper:
        scts[0] = scts[0][:-1] + bytes([scts[0][-1] ^ 0x01])
    leaf = _cert("mail.example.org", key.public_key(), "Test Public Issuing CA", world["int_key"], days=days, serial=serial,
                 not_before=_crypto.not_valid_before(precert), extra=[sct_list_extension(scts)])
    # The final certificate minus its SCT list is exactly what the logs saw.
    assert leaf.tbs_precertificate_bytes == precert.tbs_certificate_bytes
    return leaf


def roots_of(*certs):
    return _ct.PublicRoots(lambda: list(certs))


# ---------------------------------------------------------------------------------------------
# Parsing and signatures
# ---------------------------------------------------------------------------------------------
def test_scts_are_parsed_with_log_id_and_timestamp(world):
    leaf = logged_leaf(world, logs=world["logs"][:2])
    scts = _ct.embedded_scts(leaf)
    assert [sct.log_id for sct in scts] == [log.log_id for log in world["logs"][:2]]
    assert _ct.timestamp_ms(scts[0]) == int(NOW.timestamp() * 1000) + 123
    report = _ct.report(leaf, issuer=world["int"], scope="public", logs=world["log_list"])
    assert report["count"] == 2
    assert [entry["log"] for entry in report["scts"]] == ["Test Log A", "Test Log B"]
    assert report["scts"][0]["log_id"] == base64.b64encode(world["logs"][0].log_id).decode()
    assert report["scts"][0]["timestamp"].endswith(".123Z")


def test_valid_signatures_make_a_compliant_short_lived_certificate(world):
    leaf = logged_leaf(world, logs=world["logs"][:2], days=90)
    report = _ct.report(leaf, issuer=world["int"], scope="public", logs=world["log_list"])
    assert [entry["signature"] for entry in report["scts"]] == ["valid", "valid"]
    assert report["required"] == 2 and report["policy"] == "compliant" and report["findings"] == []


def test_a_tampered_signature_is_found(world):
    leaf = logged_leaf(world, logs=world["logs"][:2], tamper=True)
    report = _ct.report(leaf, issuer=world["int"], scope="public", logs=world["log_list"])
    assert [entry["signature"] for entry in report["scts"]] == ["invalid", "valid"]
    assert report["policy"] == "insufficient"
    assert any("does not verify" in finding for finding in report["findings"])
    assert any("carries 1 embedded SCT(s)" in finding for finding in report["findings"])


def test_an_sct_of_another_certificate_does_not_verify(world):
    """A valid SCT moved onto a certificate the log never saw (another serial) must not verify."""
    leaf = logged_leaf(world, logs=world["logs"][:1])
    sct = _ct.embedded_scts(leaf)[0]
    other = logged_leaf(world, logs=world["logs"][:1])
    assert _ct.verify_sct(sct, cert=leaf, issuer=world["int"], key=world["logs"][0].key.public_key())
    assert not _ct.verify_sct(sct, cert=other, issuer=world["int"], key=world["logs"][0].key.public_key())
    # The issuer key hash is part of what is signed: another issuer does not verify either.
    assert not _ct.verify_sct(sct, cert=leaf, issuer=world["root"], key=world["logs"][0].key.public_key())


def test_an_unknown_log_is_a_finding(world):
    leaf = logged_leaf(world, logs=[world["logs"][0], world["stranger"]])
    report = _ct.report(leaf, issuer=world["int"], scope="public", logs=world["log_list"])
    assert [entry["signature"] for entry in report["scts"]] == ["valid", "unknown_log"]
    assert report["scts"][1]["log"] is None
    assert any("which the log list does not know" in finding for finding in report["findings"])
    assert report["policy"] == "insufficient"


def test_without_a_log_list_scts_are_counted_not_checked(world):
    leaf = logged_leaf(world, logs=world["logs"][:2], tamper=True)
    report = _ct.report(leaf, issuer=world["int"], scope="public", logs=None)
    assert [entry["signature"] for entry in report["scts"]] == ["not_checked", "not_checked"]
    assert report["log_list_checked"] is False and report["policy"] == "compliant"


def test_policy_counts_by_lifetime(world):
    assert _ct.required_scts(logged_leaf(world, logs=world["logs"][:1], days=47)) == 2
    # The policies count notBefore through notAfter inclusive, a remainder as one more day: a
    # certificate whose notAfter is 180 days after its notBefore is 181 days long.
    just_180 = logged_leaf(world, logs=world["logs"][:1], days=180 * DAY - datetime.timedelta(seconds=1))
    assert (_ct.lifetime_days(just_180), _ct.required_scts(just_180)) == (180, 2)
    over_180 = logged_leaf(world, logs=world["logs"][:1], days=180 * DAY)
    assert (_ct.lifetime_days(over_180), _ct.required_scts(over_180)) == (181, 3)
    long_leaf = logged_leaf(world, logs=world["logs"][:2], days=398)
    assert _ct.required_scts(long_leaf) == 3
    report = _ct.report(long_leaf, issuer=world["int"], scope="public", logs=world["log_list"])
    assert report["policy"] == "insufficient"
    assert report["findings"] == ["carries 2 embedded SCT(s) from distinct logs with valid signatures; Chrome and Apple ask "
                                  "for 3 for a certificate of 399 days"]
    compliant = logged_leaf(world, logs=world["logs"], days=398)
    assert _ct.report(compliant, issuer=world["int"], scope="public", logs=world["log_list"])["policy"] == "compliant"


def test_two_operators_are_needed(world):
    leaf = logged_leaf(world, logs=world["logs"][1:3])  # both logs of Operator Two
    report = _ct.report(leaf, issuer=world["int"], scope="public", logs=world["log_list"])
    assert report["findings"] == ["its SCTs come from 1 log operator(s); Chrome asks for at least 2"]


def test_private_and_self_signed_certificates_need_no_scts(world, pki):
    ca_key = pki.key("ct-private-ca")
    ca = _cert("Mail Local CA", ca_key.public_key(), "Mail Local CA", ca_key, ca=True, days=3650)
    leaf = _cert("mail.example.org", pki.key("ct-leaf").public_key(), "Mail Local CA", ca_key)
    scope, issuer = _ct.trust_scope(leaf, candidates=[ca], roots=roots_of(world["root"]))
    assert (scope, issuer) == ("private", ca)
    report = _ct.report(leaf, issuer=issuer, scope=scope, logs=world["log_list"])
    assert report["count"] == 0 and report["policy"] == "not_applicable" and report["findings"] == []
    assert "private CA" in report["note"]
    own = _cert("mail.example.org", ca_key.public_key(), "mail.example.org", ca_key)
    assert _ct.trust_scope(own, candidates=[], roots=roots_of(world["root"]))[0] == "self-signed"


def test_trust_scope_walks_to_the_public_roots(world):
    leaf = logged_leaf(world, logs=world["logs"][:2])
    assert _ct.trust_scope(leaf, candidates=[world["int"]], roots=roots_of(world["root"])) == ("public", world["int"])
    # Without the intermediate the issuer is not known: nothing is claimed.
    assert _ct.trust_scope(leaf, candidates=[], roots=roots_of(world["root"])) == ("unknown", None)
    # The same chain under a root that is not in the trust store is private.
    assert _ct.trust_scope(leaf, candidates=[world["int"], world["root"]], roots=roots_of())[0] == "private"


def test_a_public_leaf_without_scts_is_a_finding(world):
    leaf = _cert("mail.example.org", ec.generate_private_key(ec.SECP256R1()).public_key(), "Test Public Issuing CA", world["int_key"])
    report = _ct.report(leaf, issuer=world["int"], scope="public", logs=None)
    assert report["count"] == 0 and report["required"] == 2 and report["policy"] == "insufficient"


# ---------------------------------------------------------------------------------------------
# The log list
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "is not JSON"),
    (b"[]", "has no 'operators' list"),
    (b'{"operators": []}', "lists no logs"),
    (b'{"operators": [{"name": "x", "logs": [{"log_id": "AAAA"}]}]}', "needs 'log_id' and 'key'"),
    (b'{"operators": [{"name": "x", "logs": [{"log_id": "%%%", "key": "AAAA"}]}]}', "must be base64"),
    (b'{"operators": [{"name": "x", "logs": [{"log_id": "AAAA", "key": "AAAA"}]}]}', "not a DER SubjectPublicKeyInfo"),
])
def test_a_log_list_that_does_not_parse_is_refused(content, message):
    with pytest.raises(_ct.CTError, match=message):
        _ct.load_log_list(content, source="bad.json")


def test_a_log_id_that_is_not_the_key_hash_is_refused(world):
    entry = world["logs"][0].entry()
    entry["log_id"] = base64.b64encode(world["logs"][1].log_id).decode()
    with pytest.raises(_ct.CTError, match="is not the SHA-256 of 'key'"):
        _ct.load_log_list(json.dumps({"operators": [{"name": "x", "logs": [entry]}]}).encode(), source="edited.json")


def test_a_missing_log_list_file_names_the_option(tmp_path):
    with pytest.raises(_ct.CTError, match="ct_log_list_path .* does not exist"):
        _ct.load_log_list_file(str(tmp_path / "none.json"))
