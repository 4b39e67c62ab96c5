# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The private key backend: option validation, reading every PEM flavour, and the regenerate policy."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _keys

PASSPHRASE = "Correct-Horse-Battery-9"


def pem(key, fmt=serialization.PrivateFormat.PKCS8, passphrase: str | None = None) -> bytes:
    enc = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


# ---------------------------------------------------------------------------------------------
# KeySpec
# ---------------------------------------------------------------------------------------------
def test_spec_defaults():
    assert _keys.KeySpec.from_options(type="rsa") == _keys.KeySpec("rsa", 2048, None)
    assert _keys.KeySpec.from_options(type="ecdsa") == _keys.KeySpec("ecdsa", None, "secp256r1")
    assert _keys.KeySpec.from_options(type="ed25519") == _keys.KeySpec("ed25519", None, None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"type": "rsa", "size": 1024}, "size=1024 is too small"),
        ({"type": "rsa", "size": 32768}, "larger than 16384"),
        ({"type": "rsa", "curve": "secp256r1"}, "curve=secp256r1 applies to type=ecdsa only"),
        ({"type": "ecdsa", "size": 4096}, "size=4096 applies to type=rsa only"),
        ({"type": "ecdsa", "curve": "secp521r1"}, "curve 'secp521r1' is not supported"),
        ({"type": "ed25519", "curve": "secp384r1"}, "curve=secp384r1 applies to type=ecdsa only"),
        ({"type": "ed25519", "size": 256}, "Ed25519 keys have a fixed size"),
        ({"type": "dsa"}, "type 'dsa' is not supported"),
    ],
)
def test_spec_refuses_bad_combinations(options, message):
    with pytest.raises(_keys.KeyOptionError, match=message):
        _keys.KeySpec.from_options(**options)


def test_spec_matches_by_type_and_strength(rsa_key, ec_key):
    assert _keys.KeySpec("rsa", 2048).matches(rsa_key)
    assert not _keys.KeySpec("rsa", 3072).matches(rsa_key)
    assert not _keys.KeySpec("ecdsa", curve="secp256r1").matches(rsa_key)
    assert _keys.KeySpec("ecdsa", curve="secp256r1").matches(ec_key)
    assert not _keys.KeySpec("ecdsa", curve="secp384r1").matches(ec_key)
    assert _keys.KeySpec("ed25519").matches(ed25519.Ed25519PrivateKey.generate())


@pytest.mark.parametrize("spec", [_keys.KeySpec("ecdsa", curve="secp384r1"), _keys.KeySpec("ed25519")])
def test_spec_generates_what_it_describes(spec):
    key = spec.generate()
    assert spec.matches(key)
    facts = _keys.key_facts(key)
    assert facts["type"] == spec.type
    assert facts["key_size"] == spec.facts()["key_size"]


def test_key_facts_hold_no_key_material(rsa_key):
    facts = _keys.key_facts(rsa_key)
    assert facts["spki_sha256"] == _crypto.spki_sha256(rsa_key.public_key())
    assert facts["key_size"] == 2048
    body = pem(rsa_key).decode().splitlines()[1:-1]
    assert not any(line in repr(facts) for line in body)


# ---------------------------------------------------------------------------------------------
# Serialisation and reading every flavour
# ---------------------------------------------------------------------------------------------
def test_serialize_is_pkcs8_and_encrypted_with_passphrase(ec_key):
    plain = _keys.serialize(ec_key, passphrase=None)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    secret = _keys.serialize(ec_key, passphrase=PASSPHRASE)
    assert secret.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    again = serialization.load_pem_private_key(secret, password=PASSPHRASE.encode())
    assert _crypto.same_public_key(again.public_key(), ec_key.public_key())


EC_PARAMETERS = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"


@pytest.mark.parametrize("flavour", ["pkcs8", "traditional", "traditional-encrypted", "pkcs8-encrypted", "sec1-with-params", "der"])
def test_read_key_accepts_every_flavour(flavour, rsa_key, ec_key):
    passphrase = PASSPHRASE if "encrypted" in flavour else None
    if flavour == "pkcs8":
        data, key = pem(rsa_key), rsa_key
    elif flavour == "traditional":
        data, key = pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL), rsa_key
    elif flavour == "traditional-encrypted":
        data, key = pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL, PASSPHRASE), rsa_key
    elif flavour == "pkcs8-encrypted":
        data, key = pem(ec_key, passphrase=PASSPHRASE), ec_key
    elif flavour == "sec1-with-params":
        # `openssl ecparam -genkey` writes an EC PARAMETERS block before the key.
        data, key = EC_PARAMETERS + pem(ec_key, serialization.PrivateFormat.TraditionalOpenSSL), ec_key
    else:
        data = ec_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        key = ec_key
    found = _crypto.read_key(data, passphrase=passphrase, source="k.pem")
    assert found.readable
    assert found.encrypted is bool(passphrase)
    assert _crypto.same_public_key(found.key.public_key(), key.public_key())


def test_read_key_reports_problems_without_raising(rsa_key):
    assert _crypto.read_key(None, passphrase=None, source="k.pem").status == "absent"
    empty = _crypto.read_key(b"  \n", passphrase=None, source="k.pem")
    assert (empty.status, empty.problem) == ("unreadable", "k.pem is empty")
    corrupt = _crypto.read_key(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", passphrase=None, source="k.pem")
    assert corrupt.status == "unreadable"
    assert "corrupt" in corrupt.problem
    assert not corrupt.passphrase_problem
    encrypted = pem(rsa_key, passphrase=PASSPHRASE)
    locked = _crypto.read_key(encrypted, passphrase=None, source="k.pem")
    assert locked.status == "unreadable"
    assert locked.passphrase_problem
    assert "no passphrase was given" in locked.problem
    wrong = _crypto.read_key(encrypted, passphrase="Not-The-One-1", source="k.pem", passphrase_option="privatekey_passphrase")
    assert wrong.status == "unreadable"
    assert wrong.passphrase_problem
    assert "wrong privatekey_passphrase" in wrong.problem
    assert "Not-The-One-1" not in wrong.problem


def test_read_key_with_passphrase_on_plain_key_is_readable_but_not_encrypted(rsa_key):
    found = _crypto.read_key(pem(rsa_key), passphrase=PASSPHRASE, source="k.pem")
    assert found.readable
    assert found.encrypted is False


# ---------------------------------------------------------------------------------------------
# The regenerate policy
# ---------------------------------------------------------------------------------------------
RSA2048 = _keys.KeySpec("rsa", 2048)
P256 = _keys.KeySpec("ecdsa", curve="secp256r1")


def _existing(kind: str, rsa_key):
    if kind == "absent":
        return _crypto.ExistingKey("absent")
    if kind == "unreadable":
        return _crypto.ExistingKey("unreadable", problem="k.pem is corrupt, truncated or not a private key")
    return _crypto.ExistingKey("readable", key=rsa_key)


# (existing state, asked spec) -> outcome per policy: an action, or "error:<text in the message>".
POLICY_TABLE = {
    ("absent", "match"): dict(never="create", fail="create", partial_idempotence="create", full_idempotence="create", always="create"),
    ("readable", "match"): dict(never="keep", fail="keep", partial_idempotence="keep", full_idempotence="keep", always="regenerate"),
    ("readable", "mismatch"): dict(never="keep", fail="error:regenerate=partial_idempotence", partial_idempotence="regenerate",
                                   full_idempotence="regenerate", always="regenerate"),
    ("unreadable", "match"): dict(never="error:regenerate=full_idempotence", fail="error:regenerate=full_idempotence",
                                  partial_idempotence="error:regenerate=full_idempotence", full_idempotence="regenerate",
                                  always="regenerate"),
}


@pytest.mark.parametrize("policy", _keys.POLICIES)
@pytest.mark.parametrize("case", sorted(POLICY_TABLE))
def test_decide_follows_the_policy_table(case, policy, rsa_key):
    state, fit = case
    spec = RSA2048 if fit == "match" else P256
    expected = POLICY_TABLE[case][policy]
    existing = _existing(state, rsa_key)
    if expected.startswith("error:"):
        with pytest.raises(_keys.KeyPolicyError) as caught:
            _keys.decide(existing, spec, passphrase=None, policy=policy, path="k.pem")
        message = str(caught.value)
        assert expected[len("error:"):] in message
        assert "left unchanged" in message
        assert "TLSA" in message
    else:
        assert _keys.decide(existing, spec, passphrase=None, policy=policy, path="k.pem").action == expected


def test_mismatch_message_names_what_was_found_and_asked(rsa_key):
    with pytest.raises(_keys.KeyPolicyError) as caught:
        _keys.decide(_existing("readable", rsa_key), P256, passphrase=None, policy="fail", path="/k.pem")
    assert "the key in /k.pem is RSA 2048-bit, but ECDSA secp256r1 was asked" in str(caught.value)


def test_never_warns_about_a_mismatch(rsa_key):
    plan = _keys.decide(_existing("readable", rsa_key), P256, passphrase=None, policy="never", path="k.pem")
    assert plan.action == "keep"
    assert "regenerate=never" in plan.warnings[0]


@pytest.mark.parametrize(("policy", "action"), [("fail", "reprotect"), ("partial_idempotence", "reprotect"), ("never", "keep")])
def test_passphrase_on_a_plain_matching_key_rewrites_the_same_key(policy, action, rsa_key):
    existing = _crypto.ExistingKey("readable", key=rsa_key, encrypted=False)
    assert _keys.decide(existing, RSA2048, passphrase=PASSPHRASE, policy=policy, path="k.pem").action == action


def test_wrong_passphrase_message_says_how_to_fix_it(rsa_key):
    existing = _crypto.read_key(pem(rsa_key, passphrase=PASSPHRASE), passphrase="Not-The-One-1", source="k.pem")
    with pytest.raises(_keys.KeyPolicyError) as caught:
        _keys.decide(existing, RSA2048, passphrase="Not-The-One-1", policy="fail", path="k.pem")
    assert "give the right passphrase" in str(caught.value)
    assert "regenerate=full_idempotence" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Request validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mode": "0644"}, "lets every user read"),
        ({"mode": "u=rw"}, "not an octal mode"),
        ({"cipher": "auto"}, "cipher is set but passphrase is not"),
        ({"cipher": "des3", "passphrase": PASSPHRASE}, "cipher=des3 is not supported"),
        ({"regenerate": "sometimes"}, "regenerate=sometimes is not a policy"),
    ],
)
def test_request_refuses_bad_options(params, message):
    with pytest.raises(_keys.KeyOptionError, match=message):
        _keys.KeyRequest.from_params({"path": "/k.pem", "type": "rsa", **params})


def test_request_defaults():
    request = _keys.KeyRequest.from_params({"path": "/k.pem"})
    assert request.spec == RSA2048
    assert request.mode == 0o600
    assert request.regenerate == "fail"
