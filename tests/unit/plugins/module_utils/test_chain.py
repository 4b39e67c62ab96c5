# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Chain ordering, trust anchors and every install check of certificate_install."""

from __future__ import annotations

import datetime
import os
import random
import shutil
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.postmaster.tls.plugins.module_utils import _chain, _crypto, _pathcheck, _x509
from ansible_collections.postmaster.tls.tests.unit.conftest import key_usage_of


def run_openssl(argv):
    """The module's run_command, for the openssl validator: an argv list, LC_ALL=C."""
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}, check=False)
    return done.returncode, done.stdout, done.stderr


def openssl_validator():
    return _pathcheck.PathValidator("openssl", run=run_openssl, openssl=lambda: shutil.which("openssl"))


# Both validators where this host has both: cryptography.x509.verification and openssl verify.
VALIDATORS = ["openssl"] + (["cryptography"] if _pathcheck.cryptography_verifier() is not None else [])


def validator_for(choice):
    return openssl_validator() if choice == "openssl" else _pathcheck.PathValidator("cryptography")


def _anchors(*certs, source="anchors.pem"):
    return _chain.AnchorIndex(certs, source=source)


def _check(pki, leaf, candidates, key, anchors, **kwargs):
    options = {"include_root": False, "required_names": [], "min_days_remaining": 14, "now": pki.now,
               "validator": _pathcheck.PathValidator("auto", run=run_openssl, openssl=lambda: shutil.which("openssl"))}
    options.update(kwargs)
    return _chain.check_install(leaf=leaf, candidates=candidates, private_key=key, key_source="key.pem", anchors=anchors, **options)


def _refusal(pki, leaf, candidates, key, anchors, **kwargs) -> _chain.InstallCheckError:
    with pytest.raises(_chain.InstallCheckError) as caught:
        _check(pki, leaf, candidates, key, anchors, **kwargs)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Ordering
# ---------------------------------------------------------------------------------------------
def test_shuffled_chain_with_extra_and_duplicate_comes_out_ordered(pki):
    root = pki.cert("Root CA", pki.key("root"), ca=True, days=3650)
    int1 = pki.cert("Intermediate 1", pki.key("int1"), issuer=root, issuer_key=pki.key("root"), ca=True)
    int2 = pki.cert("Intermediate 2", pki.key("int2"), issuer=int1, issuer_key=pki.key("int1"), ca=True)
    leaf = pki.cert("mail.example.org", pki.key("leaf"), issuer=int2, issuer_key=pki.key("int2"), sans=["mail.example.org"])
    extra = pki.cert("Unrelated CA", pki.key("unrelated"), ca=True)
    given = [int1, extra, root, int2, int1, leaf]
    random.Random(4).shuffle(given)

    checked = _check(pki, leaf, given, pki.key("leaf"), _anchors(root))

    assert checked.chain == [int2, int1]
    assert checked.anchor == root
    reasons = sorted(d.reason for d in checked.dropped)
    assert reasons == ["duplicate", "duplicate", "not part of the leaf's chain", "the root stays out (include_root=false)"]


def test_include_root_appends_the_anchor_even_from_the_trust_store(pki):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    checked = _check(pki, leaf, [intermediate], leaf_key, _anchors(root), include_root=True)
    assert checked.chain == [intermediate, root]


def test_leaf_issued_by_the_anchor_has_an_empty_chain(pki):
    root = pki.cert("Local CA", pki.key("root"), ca=True, days=3650)
    leaf = pki.cert("mail.example.org", pki.key("leaf"), issuer=root, issuer_key=pki.key("root"), sans=["mail.example.org"])
    checked = _check(pki, leaf, [], pki.key("leaf"), _anchors(root))
    assert checked.chain == []
    assert checked.anchor == root


def test_self_signed_leaf_is_its_own_anchor(pki):
    leaf = pki.cert("mail.example.org", pki.key("leaf"), sans=["mail.example.org"])
    checked = _check(pki, leaf, [], pki.key("leaf"), _anchors(leaf))
    assert checked.chain == [] and checked.anchor == leaf


def test_a_re_issued_root_with_the_same_key_counts_as_the_anchor(pki):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    same_root_again = pki.cert("Test Root CA", pki.key("Test-root"), ca=True, days=3000)
    checked = _check(pki, leaf, [intermediate, root], leaf_key, _anchors(same_root_again))
    assert checked.chain == [intermediate]


# ---------------------------------------------------------------------------------------------
# Refusals: each names the check and the certificate concerned
# ---------------------------------------------------------------------------------------------
def test_key_mismatch(pki):
    root, intermediate, leaf, _leaf_key, _int_key = pki.chain()
    error = _refusal(pki, leaf, [intermediate], pki.key("someone-else"), _anchors(root))
    assert error.check == "key match"
    assert "'CN=mail.example.org'" in str(error) and "key.pem" in str(error)


def test_impostor_intermediate_does_not_link(pki):
    root, _intermediate, leaf, leaf_key, _int_key = pki.chain()
    impostor = pki.cert("Test Intermediate CA", pki.key("impostor"), issuer=root, issuer_key=pki.key("Test-root"), ca=True)
    error = _refusal(pki, leaf, [impostor], leaf_key, _anchors(root))
    assert error.check == "chain linking"
    assert "leaf certificate 'CN=mail.example.org'" in str(error)
    assert "CN=Test Intermediate CA" in str(error)


def test_unrelated_chain_does_not_link(pki):
    root, _intermediate, leaf, leaf_key, _int_key = pki.chain()
    unrelated = pki.cert("Unrelated CA", pki.key("unrelated"), ca=True)
    error = _refusal(pki, leaf, [unrelated], leaf_key, _anchors(root))
    assert error.check == "chain linking"
    assert "CN=Test Intermediate CA" in str(error)


def test_chain_that_reaches_no_anchor(pki):
    _root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    other_root = pki.cert("Other Root", pki.key("other-root"), ca=True)
    error = _refusal(pki, leaf, [intermediate], leaf_key, _anchors(other_root))
    assert error.check == "trust anchor"
    assert "intermediate certificate 'CN=Test Intermediate CA'" in str(error)
    assert "CN=Test Root CA" in str(error)


def test_root_given_but_not_trusted(pki):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    other_root = pki.cert("Other Root", pki.key("other-root"), ca=True)
    error = _refusal(pki, leaf, [intermediate, root], leaf_key, _anchors(other_root))
    assert error.check == "trust anchor"
    assert "root certificate 'CN=Test Root CA'" in str(error)


def test_missing_intermediate(pki):
    root, _intermediate, leaf, leaf_key, _int_key = pki.chain()
    error = _refusal(pki, leaf, [], leaf_key, _anchors(root))
    assert error.check == "trust anchor"
    assert "leaf certificate 'CN=mail.example.org'" in str(error)


def test_self_signed_leaf_not_in_anchors(pki):
    leaf = pki.cert("mail.example.org", pki.key("leaf"), sans=["mail.example.org"])
    error = _refusal(pki, leaf, [], pki.key("leaf"), _anchors(pki.cert("Other", pki.key("other"), ca=True)))
    assert error.check == "trust anchor" and "self-signed" in str(error)


@pytest.mark.parametrize("when", ["expired", "not yet valid"])
def test_leaf_outside_its_validity(pki, when):
    root, intermediate, _leaf, leaf_key, int_key = pki.chain()
    if when == "expired":
        window = {"not_before": pki.now - datetime.timedelta(days=30), "not_after": pki.now - datetime.timedelta(days=1)}
    else:
        window = {"not_before": pki.now + datetime.timedelta(days=2), "not_after": pki.now + datetime.timedelta(days=90)}
    leaf = pki.cert("mail.example.org", leaf_key, issuer=intermediate, issuer_key=int_key, sans=["mail.example.org"], **window)
    error = _refusal(pki, leaf, [intermediate], leaf_key, _anchors(root))
    assert error.check == "validity"
    assert "leaf certificate 'CN=mail.example.org'" in str(error)
    assert ("expired" if when == "expired" else "not yet valid") in str(error)


def test_expired_intermediate(pki):
    root = pki.cert("Root CA", pki.key("root"), ca=True, days=3650)
    old = pki.cert("Old Intermediate", pki.key("int1"), issuer=root, issuer_key=pki.key("root"), ca=True,
                   not_before=pki.now - datetime.timedelta(days=400), not_after=pki.now - datetime.timedelta(days=1))
    leaf = pki.cert("mail.example.org", pki.key("leaf"), issuer=old, issuer_key=pki.key("int1"), sans=["mail.example.org"])
    error = _refusal(pki, leaf, [old], pki.key("leaf"), _anchors(root))
    assert error.check == "validity" and "intermediate certificate 'CN=Old Intermediate'" in str(error)


def test_too_few_days_remaining(pki):
    root, intermediate, _leaf, leaf_key, int_key = pki.chain()
    leaf = pki.cert("mail.example.org", leaf_key, issuer=intermediate, issuer_key=int_key, sans=["mail.example.org"], days=10)
    error = _refusal(pki, leaf, [intermediate], leaf_key, _anchors(root), min_days_remaining=14)
    assert error.check == "days remaining" and "min_days_remaining=14" in str(error)
    assert _check(pki, leaf, [intermediate], leaf_key, _anchors(root), min_days_remaining=5).leaf == leaf


@pytest.mark.parametrize(
    ("name", "covered"),
    [("mail.example.org", True), ("MAIL.Example.org.", True), ("a.b.example.org", False), ("example.org", False),
     ("mail.example.net", False)],
)
def test_wildcard_names_follow_rfc_6125(pki, name, covered):
    root, intermediate, _leaf, leaf_key, int_key = pki.chain()
    leaf = pki.cert("*.example.org", leaf_key, issuer=intermediate, issuer_key=int_key, sans=["*.example.org"])
    if covered:
        assert _check(pki, leaf, [intermediate], leaf_key, _anchors(root), required_names=[name])
    else:
        error = _refusal(pki, leaf, [intermediate], leaf_key, _anchors(root), required_names=[name])
        assert error.check == "names" and name in str(error) and "'CN=*.example.org'" in str(error)


def test_rsa_1024_leaf(pki):
    root, intermediate, _leaf, _key, int_key = pki.chain()
    weak_key = pki.key("weak", kind="rsa", size=1024)
    leaf = pki.cert("mail.example.org", weak_key, issuer=intermediate, issuer_key=int_key, sans=["mail.example.org"])
    error = _refusal(pki, leaf, [intermediate], weak_key, _anchors(root))
    assert error.check == "key strength" and "1024 bits" in str(error)


@pytest.mark.parametrize("hash_name", ["sha1", "md5"])
def test_weak_signature_on_the_leaf(pki, hash_name):
    root_key = pki.key("rsa-root", kind="rsa")
    int_key = pki.key("rsa-int", kind="rsa")
    root = pki.cert("RSA Root", root_key, ca=True, days=3650)
    intermediate = pki.cert("RSA Intermediate", int_key, issuer=root, issuer_key=root_key, ca=True)
    leaf = pki.weaken(pki.cert("mail.example.org", pki.key("leaf"), issuer=intermediate, issuer_key=int_key, sans=["mail.example.org"]),
                      int_key, hash_name)
    assert _crypto.signature_hash_name(leaf) == hash_name
    error = _refusal(pki, leaf, [intermediate], pki.key("leaf"), _anchors(root))
    assert error.check == "signature algorithm" and hash_name.upper() in str(error)
    assert "leaf certificate 'CN=mail.example.org'" in str(error)


def test_md5_signed_intermediate(pki):
    root_key = pki.key("rsa-root", kind="rsa")
    int_key = pki.key("rsa-int", kind="rsa")
    root = pki.cert("RSA Root", root_key, ca=True, days=3650)
    intermediate = pki.weaken(pki.cert("Weak Intermediate", int_key, issuer=root, issuer_key=root_key, ca=True), root_key, "md5")
    leaf = pki.cert("mail.example.org", pki.key("leaf"), issuer=intermediate, issuer_key=int_key, sans=["mail.example.org"])
    error = _refusal(pki, leaf, [intermediate], pki.key("leaf"), _anchors(root))
    assert error.check == "signature algorithm" and "intermediate certificate 'CN=Weak Intermediate'" in str(error)


def test_sha1_self_signature_of_a_root_does_not_matter(pki):
    root_key = pki.key("rsa-root", kind="rsa")
    root = pki.weaken(pki.cert("Old Root", root_key, ca=True, days=3650), root_key, "sha1")
    leaf = pki.cert("mail.example.org", pki.key("leaf"), issuer=root, issuer_key=root_key, sans=["mail.example.org"])
    assert _check(pki, leaf, [root], pki.key("leaf"), _anchors(root)).chain == []


@pytest.mark.parametrize(("eku", "allowed"), [(["clientAuth"], False), (["serverAuth", "clientAuth"], True), (None, True)])
def test_extended_key_usage(pki, eku, allowed):
    root, intermediate, _leaf, leaf_key, int_key = pki.chain()
    leaf = pki.cert("mail.example.org", leaf_key, issuer=intermediate, issuer_key=int_key, sans=["mail.example.org"], eku=eku)
    if allowed:
        assert _check(pki, leaf, [intermediate], leaf_key, _anchors(root))
    else:
        error = _refusal(pki, leaf, [intermediate], leaf_key, _anchors(root))
        assert error.check == "extended key usage" and "clientAuth" in str(error)


def test_intermediate_that_is_not_a_ca(pki):
    root = pki.cert("Root CA", pki.key("root"), ca=True, days=3650)
    not_ca = pki.cert("Not A CA", pki.key("int1"), issuer=root, issuer_key=pki.key("root"), ca=False)
    leaf = pki.cert("mail.example.org", pki.key("leaf"), issuer=not_ca, issuer_key=pki.key("int1"), sans=["mail.example.org"])
    error = _refusal(pki, leaf, [not_ca], pki.key("leaf"), _anchors(root))
    assert error.check == "CA constraints" and "'CN=Not A CA'" in str(error)


def test_message_says_nothing_was_written(pki):
    root, intermediate, leaf, _key, _int_key = pki.chain()
    assert "nothing was written" in str(_refusal(pki, leaf, [intermediate], pki.key("other"), _anchors(root)))


# ---------------------------------------------------------------------------------------------
# Trust stores
# ---------------------------------------------------------------------------------------------
def test_default_trust_store_is_found(monkeypatch, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("")
    paths = ssl.DefaultVerifyPaths(str(bundle), None, "NO_SUCH_ENV", str(tmp_path / "nope"), "NO_SUCH_ENV_DIR", str(tmp_path / "nope"))
    monkeypatch.setattr(_x509.ssl, "get_default_verify_paths", lambda: paths)
    assert _chain.default_trust_store() == str(bundle)


def test_default_trust_store_falls_back_to_well_known_paths(monkeypatch, tmp_path):
    bundle = tmp_path / "ca-certificates.crt"
    bundle.write_text("")
    paths = ssl.DefaultVerifyPaths(None, None, "NO_SUCH_ENV", str(tmp_path / "nope"), "NO_SUCH_ENV_DIR", str(tmp_path / "nope"))
    monkeypatch.setattr(_x509.ssl, "get_default_verify_paths", lambda: paths)
    monkeypatch.setattr(_x509, "SYSTEM_CA_BUNDLES", (str(tmp_path / "missing.crt"), str(bundle)))
    assert _chain.default_trust_store() == str(bundle)


def test_no_trust_store_at_all(monkeypatch, tmp_path):
    paths = ssl.DefaultVerifyPaths(None, None, "NO_SUCH_ENV", str(tmp_path / "nope"), "NO_SUCH_ENV_DIR", str(tmp_path / "nope"))
    monkeypatch.setattr(_x509.ssl, "get_default_verify_paths", lambda: paths)
    monkeypatch.setattr(_chain.ssl, "get_default_verify_paths", lambda: paths)
    monkeypatch.setattr(_x509, "SYSTEM_CA_BUNDLES", ())
    monkeypatch.setattr(_chain.os.path, "isdir", lambda _p: False)
    with pytest.raises(_chain.ChainError, match="trust_anchors_path"):
        _chain.default_trust_store()


def test_trust_anchors_from_a_file_and_a_directory(pki):
    root_a = pki.cert("Root A", pki.key("a"), ca=True)
    root_b = pki.cert("Root B", pki.key("b"), ca=True)
    bundle = pki.write("bundle.pem", [root_a, root_b])
    pki.write("dir/a.pem", root_a)
    pki.write("dir/b.crt", root_b)
    (pki.dir / "dir" / "README").write_text("not a certificate")
    assert len(_chain.load_trust_anchors(bundle)) == 2
    assert len(_chain.load_trust_anchors(str(pki.dir / "dir"))) == 2
    with pytest.raises(_chain.ChainError, match="does not exist"):
        _chain.load_trust_anchors(str(pki.dir / "missing.pem"))


# ---------------------------------------------------------------------------------------------
# Files: content and "same by meaning"
# ---------------------------------------------------------------------------------------------
def test_file_contents_order(pki):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    checked = _check(pki, leaf, [intermediate], leaf_key, _anchors(root))
    key_block = pki.pem(leaf_key)
    files = _chain.file_contents(checked, key_block)
    assert files["cert.pem"] == pki.pem(leaf)
    assert files["chain.pem"] == pki.pem(intermediate)
    assert files["fullchain.pem"] == pki.pem([leaf, intermediate])
    assert files["combined.pem"] == key_block + pki.pem([leaf, intermediate])


def test_same_certificates_ignores_whitespace_but_not_order(pki):
    root, intermediate, leaf, _key, _int_key = pki.chain()
    wanted = pki.pem([leaf, intermediate])
    spaced = b"leaf below\n\n" + pki.pem(leaf).replace(b"\n", b"\r\n") + b"\n\n" + pki.pem(intermediate)
    assert _chain.same_certificates(spaced, wanted)
    assert not _chain.same_certificates(pki.pem([intermediate, leaf]), wanted)
    assert not _chain.same_certificates(pki.pem([leaf, intermediate, root]), wanted)
    assert not _chain.same_certificates(None, wanted)


def test_same_combined_compares_the_key_by_value(pki):
    rsa_key = pki.key("rsa-leaf", kind="rsa")
    root = pki.cert("Root", pki.key("root"), ca=True)
    leaf = pki.cert("mail.example.org", rsa_key, issuer=root, issuer_key=pki.key("root"))
    pkcs8 = pki.pem(rsa_key)
    pkcs1 = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    wanted = pkcs8 + pki.pem(leaf)
    assert _chain.same_combined(pkcs1 + pki.pem(leaf), wanted, private_key=rsa_key, passphrase=None)
    assert not _chain.same_combined(pki.pem(leaf) + pkcs8, wanted, private_key=rsa_key, passphrase=None)
    other = pki.pem(pki.key("other-rsa", kind="rsa"))
    assert not _chain.same_combined(other + pki.pem(leaf), wanted, private_key=rsa_key, passphrase=None)


def test_private_key_block_from_der(pki):
    key = pki.key("leaf")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    block = _chain.private_key_block(der, key)
    assert block.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_summaries_never_show_key_material(pki):
    key = pki.key("leaf")
    leaf = pki.cert("mail.example.org", key)
    lines = _chain.summarize_file(pki.pem(key) + pki.pem(leaf))
    text = "\n".join(lines)
    assert "spki_sha256" in text and "CN=mail.example.org" in text
    assert "BEGIN" not in text and pki.pem(key).decode().splitlines()[1] not in text


def test_an_expired_cross_signed_root_in_the_chain_is_not_followed(pki):
    """Like ISRG Root X1 cross-signed by the expired DST Root CA X3: stop at the trusted root."""
    old_root = pki.cert("Old Root", pki.key("old-root"), ca=True,
                        not_before=pki.now - datetime.timedelta(days=4000), not_after=pki.now - datetime.timedelta(days=10))
    root = pki.cert("New Root", pki.key("root"), ca=True, days=3650)
    cross = pki.cert("New Root", pki.key("root"), issuer=old_root, issuer_key=pki.key("old-root"), ca=True,
                     not_before=pki.now - datetime.timedelta(days=1000), not_after=pki.now - datetime.timedelta(days=10))
    intermediate = pki.cert("Intermediate", pki.key("int1"), issuer=root, issuer_key=pki.key("root"), ca=True)
    leaf = pki.cert("mail.example.org", pki.key("leaf"), issuer=intermediate, issuer_key=pki.key("int1"), sans=["mail.example.org"])
    checked = _check(pki, leaf, [intermediate, cross], pki.key("leaf"), _anchors(root))
    assert checked.chain == [intermediate] and checked.anchor == root
    assert [d.reason for d in checked.dropped] == ["the root stays out (include_root=false)"]


# ---------------------------------------------------------------------------------------------
# RFC 5280 path validation (issue 22): what the named checks do not cover, refused by a maintained
# validator - cryptography.x509.verification where this host's cryptography has it, and openssl verify
# -purpose sslserver (Debian 12's path), both tried here
# ---------------------------------------------------------------------------------------------
def _bad_chain(pki, case):
    """(root, chain given, leaf, leaf key) of a chain that TLS clients refuse for one reason only."""
    root = pki.cert("Bad Root CA", pki.key("bad-root"), ca=True, days=3650)
    leaf_key = pki.key("bad-leaf")
    if case == "path length":
        # A CA with pathLenConstraint 0 followed by another CA.
        int0 = pki.cert("Bad Intermediate 0", pki.key("bad-int0"), issuer=root, issuer_key=pki.key("bad-root"), ca=True, path_length=0)
        int1 = pki.cert("Bad Intermediate 1", pki.key("bad-int1"), issuer=int0, issuer_key=pki.key("bad-int0"), ca=True)
        leaf = pki.cert("mail.example.org", leaf_key, issuer=int1, issuer_key=pki.key("bad-int1"), sans=["mail.example.org"])
        return root, [int1, int0], leaf, leaf_key
    if case == "name constraints":
        constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.net")], excluded_subtrees=None)
        issuer = pki.cert("Bad Constrained CA", pki.key("bad-int0"), issuer=root, issuer_key=pki.key("bad-root"), ca=True,
                          name_constraints=constraints)
        leaf = pki.cert("mail.example.org", leaf_key, issuer=issuer, issuer_key=pki.key("bad-int0"), sans=["mail.example.org"])
        return root, [issuer], leaf, leaf_key
    issuer = pki.cert("Bad Intermediate", pki.key("bad-int0"), issuer=root, issuer_key=pki.key("bad-root"), ca=True)
    if case == "key usage":
        # keyUsage without digitalSignature and keyEncipherment (nonRepudiation and dataEncipherment only).
        usage = key_usage_of(content_commitment=True, data_encipherment=True)
        leaf = pki.cert("mail.example.org", leaf_key, issuer=issuer, issuer_key=pki.key("bad-int0"), sans=["mail.example.org"], usage=usage)
    else:  # an unhandled critical extension
        leaf = pki.cert("mail.example.org", leaf_key, issuer=issuer, issuer_key=pki.key("bad-int0"), sans=["mail.example.org"],
                        critical_oid="1.3.6.1.4.1.55555.7")
    return root, [issuer], leaf, leaf_key


@pytest.mark.parametrize("choice", VALIDATORS)
@pytest.mark.parametrize(("case", "check", "says"), [
    ("path length", "path validation", "path length"),
    ("name constraints", "path validation", ""),
    ("key usage", "key usage", "neither digitalSignature nor keyEncipherment"),
    ("critical extension", "path validation", "critical extension"),
])
def test_chains_clients_refuse_are_refused_by_both_validators(pki, choice, case, check, says):
    root, chain, leaf, leaf_key = _bad_chain(pki, case)
    validator = validator_for(choice)
    error = _refusal(pki, leaf, chain, leaf_key, _anchors(root), required_names=["mail.example.org"], validator=validator)
    assert error.check == check
    assert says in str(error) and "nothing was written" in str(error)
    if check == "path validation":
        assert ("openssl verify -purpose sslserver" if choice == "openssl" else "cryptography") in str(error)


@pytest.mark.parametrize("choice", VALIDATORS)
def test_the_validators_refuse_the_bad_chains_themselves(pki, choice):
    """Not only the named checks: each validator on its own refuses every one of the four chains."""
    validator = validator_for(choice)
    for case in ("path length", "name constraints", "critical extension") + (("key usage",) if choice == "openssl" else ()):
        root, chain, leaf, _key = _bad_chain(pki, case)
        path = chain if case != "path length" else chain  # leaf first, as build_chain orders it
        with pytest.raises(_x509.CheckError) as caught:
            validator.validate(leaf, path, root, now=pki.now, required_names=["mail.example.org"])
        assert caught.value.check == "path validation", case


@pytest.mark.parametrize("choice", VALIDATORS)
def test_good_chains_pass_both_validators(pki, choice):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    checked = _check(pki, leaf, [intermediate], leaf_key, _anchors(root), validator=validator_for(choice))
    assert checked.chain == [intermediate]
    self_signed = pki.cert("mail.example.org", pki.key("leaf"), sans=["mail.example.org"])
    assert _check(pki, self_signed, [], pki.key("leaf"), _anchors(self_signed), validator=validator_for(choice)).anchor == self_signed


def test_the_openssl_validator_names_the_certificate_at_the_failing_depth(pki):
    root, chain, leaf, leaf_key = _bad_chain(pki, "path length")
    error = _refusal(pki, leaf, chain, leaf_key, _anchors(root), validator=openssl_validator())
    assert "'CN=Bad Intermediate 0'" in error.concerned and "error 25 at depth 2" in str(error)


def test_the_openssl_validator_checks_at_the_same_instant(pki):
    """-attime: a chain valid at the checks' `now` passes even when the clock has moved on."""
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    later = pki.now + datetime.timedelta(days=60)
    assert _check(pki, leaf, [intermediate], leaf_key, _anchors(root), now=later, validator=openssl_validator(),
                  min_days_remaining=1).leaf == leaf


def test_the_openssl_validator_without_openssl_says_what_to_install(pki):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    validator = _pathcheck.PathValidator("openssl")
    with pytest.raises(_pathcheck.PathCheckError, match="install the openssl package"):
        _check(pki, leaf, [intermediate], leaf_key, _anchors(root), validator=validator)


def test_a_failing_openssl_run_is_not_a_verdict(pki):
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    validator = _pathcheck.PathValidator("openssl", run=lambda argv: (1, "", "verify: Unknown option: -no-CAstore\n"),
                                         openssl=lambda: "/usr/bin/openssl")
    with pytest.raises(_pathcheck.PathCheckError, match="could not check the chain .*Unknown option"):
        _check(pki, leaf, [intermediate], leaf_key, _anchors(root), validator=validator)


def test_the_openssl_validator_argv(pki):
    """An argv list with `--` before the leaf's path, the anchor alone as CAfile, no default trust store."""
    root, intermediate, leaf, leaf_key, _int_key = pki.chain()
    seen = []

    def run(argv):
        seen.append(argv)
        return run_openssl(argv)

    validator = _pathcheck.PathValidator("openssl", run=run, openssl=lambda: shutil.which("openssl"))
    _check(pki, leaf, [intermediate], leaf_key, _anchors(root), validator=validator)
    argv = seen[0]
    assert argv[1:4] == ["verify", "-purpose", "sslserver"] and argv[-2] == "--"
    assert {"-partial_chain", "-no-CApath", "-no-CAstore", "-attime", "-CAfile", "-untrusted"} <= set(argv)
    assert not os.path.exists(os.path.dirname(argv[-1]))  # the private temporary files are gone


def test_a_validator_the_host_lacks_is_refused(monkeypatch):
    monkeypatch.setattr(_pathcheck, "cryptography_verifier", lambda: None)
    with pytest.raises(_pathcheck.PathCheckError, match="has no x509 verification"):
        _pathcheck.PathValidator("cryptography")
    assert _pathcheck.PathValidator("auto").name == "openssl"
    with pytest.raises(_pathcheck.PathCheckError, match="is not a validator"):
        _pathcheck.PathValidator("gnutls")


@pytest.mark.parametrize(("names", "expected"), [([], "mail.example.org"), (["SMTP.example.org."], "smtp.example.org")])
def test_the_cryptography_validator_checks_a_name_the_leaf_is_for(pki, names, expected):
    leaf = pki.cert("x", pki.key("leaf"), sans=["mail.example.org", "smtp.example.org"])
    assert _pathcheck.subject_names(leaf, names)[0] == expected
    wildcard = pki.cert("*.example.org", pki.key("leaf"), sans=["*.example.org"])
    assert _pathcheck.subject_names(wildcard, []) == ["postmaster-tls-probe.example.org"]
    assert _pathcheck.subject_names(pki.cert("cn-only", pki.key("leaf")), []) == []


def test_a_p192_leaf_is_below_the_key_floor(pki):
    from cryptography.hazmat.primitives.asymmetric import ec

    root, intermediate, _leaf, _key, int_key = pki.chain()
    weak = ec.generate_private_key(ec.SECP192R1())
    leaf = pki.cert("mail.example.org", weak, issuer=intermediate, issuer_key=int_key, sans=["mail.example.org"])
    error = _refusal(pki, leaf, [intermediate], weak, _anchors(root))
    assert error.check == "key strength" and "secp192r1" in str(error) and "P-256" in str(error)


@pytest.mark.parametrize(("text", "reason"), [
    # cryptography 43 (Debian 13) prints Rust's debug form; 44 and newer a sentence: both read the same.
    ('validation failed: CandidatesExhausted(Other("path length constraint violated"))',
     "candidates exhausted: path length constraint violated"),
    ('validation failed: CandidatesExhausted(ExtensionError { oid: ObjectIdentifier { oid: 1.3.6.1.4.1.55555.7 }, '
     'reason: "certificate contains unaccounted-for critical extensions" })',
     "candidates exhausted: invalid extension 1.3.6.1.4.1.55555.7: certificate contains unaccounted-for critical extensions"),
    ('validation failed: Other("leaf certificate has no matching subjectAltName")', "leaf certificate has no matching subjectAltName"),
    ("validation failed: candidates exhausted: path length constraint violated", "candidates exhausted: path length constraint violated"),
])
def test_the_cryptography_validators_reason_reads_the_same_on_every_version(text, reason):
    assert _pathcheck._reason(text) == reason
