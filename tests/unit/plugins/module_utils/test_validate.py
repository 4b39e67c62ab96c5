# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_validate: the control-character rule over every option, and the per-option checks."""

from __future__ import annotations

import re
import subprocess
import warnings

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh

from ansible_collections.postmaster.tls.plugins.module_utils import _validate

SPEC = {
    "name": {"type": "str"},
    "content": {"type": "str"},
    "passphrase": {"type": "str", "no_log": True},
    "extra": {"type": "dict"},
    "paths": {"type": "list", "elements": "path"},
    "endpoints": {"type": "list", "elements": "dict", "options": {"host": {"type": "str"}, "port": {"type": "int"}}},
}
RULES = _validate.Rules(multiline=("content",), checks={"endpoints[].host": _validate.host, "paths[]": _validate.absolute_path})


def refused(params: dict, rules: _validate.Rules = RULES) -> str:
    with pytest.raises(_validate.InputError) as caught:
        _validate.check_params(params, SPEC, rules)
    return str(caught.value)


@pytest.mark.parametrize("char,name", [
    ("\r", "CR"), ("\n", "LF"), ("\x00", "NUL"), ("\t", "TAB"), ("\x7f", "DEL"), ("\x1b", "ESC"), ("\x85", "NEL"),
    ("\u2028", "LINE SEPARATOR"), ("\u2029", "PARAGRAPH SEPARATOR"), ("\x01", "U+0001"), ("\x9b", "U+009B"),
])
def test_every_control_character_is_refused_and_named(char, name):
    message = refused({"name": f"a{char}b"})
    assert message.startswith(f"name: {'a' + char + 'b'!r} contains the control character(s) {name}; no control characters")


def test_values_are_found_wherever_they_are():
    assert refused({"extra": {"smtpd_banner": "x\r\nEHLO"}}).startswith("extra.smtpd_banner: 'x\\r\\nEHLO' contains")
    assert refused({"extra": {"bad\nkey": "x"}}).startswith("extra key: 'bad\\nkey' contains the control character(s) LF")
    assert refused({"extra": {"list": ["ok", "b\x00d"]}}).startswith("extra.list[2]: 'b\\x00d' contains the control character(s) NUL")
    assert refused({"paths": ["/ok", "/b\td"]}).startswith("paths[2]: '/b\\td' contains the control character(s) TAB")
    assert refused({"endpoints": [{"host": "ok.example"}, {"host": "x\r"}]}).startswith("endpoints[2].host: 'x\\r' contains")


def test_multiline_options_take_line_breaks_but_not_other_controls():
    _validate.check_params({"content": "-----BEGIN X-----\r\n\tAAAA\n-----END X-----\n"}, SPEC, RULES)
    message = refused({"content": "-----BEGIN X-----\n\x00\n"})
    assert "contains the control character(s) NUL; line breaks and tabs are allowed here, other control characters" in message
    # The same text in an option not declared multi-line is refused.
    assert refused({"name": "a\nb"}).startswith("name: 'a\\nb' contains the control character(s) LF")


def test_secrets_are_never_shown():
    message = refused({"passphrase": "hunter2\n"})
    assert "hunter2" not in message and message.startswith("passphrase: (value hidden: the option is a secret) contains")
    message = refused({"extra": {"ssl_key_password": "hunter2\n"}})
    assert "hunter2" not in message and "extra.ssl_key_password: (value hidden" in message


def test_per_option_checks_run_after_the_control_rule():
    assert refused({"endpoints": [{"host": "-v"}]}) == "endpoints[1].host: '-v' is neither a DNS name nor an IP address"
    assert refused({"paths": ["relative"]}).startswith("paths[1]: 'relative' is not an absolute path")
    _validate.check_params({"endpoints": [{"host": "mail.example.org"}, {"host": "::1"}], "paths": ["/a"]}, SPEC, RULES)


def test_long_values_are_shortened():
    message = refused({"name": "x" * 500 + "\n"})
    assert len(message) < 400 and "..." in message


@pytest.mark.parametrize("value,ok", [
    ("mail.example.org", True), ("mail.example.org.", True), ("xn--bcher-kva.example", True), ("a" * 63 + ".example", True),
    ("a" * 64 + ".example", False), ("-mail.example", False), ("mail..example", False), ("mail example", False),
    ("*.example.org", False), ("", False), ("mail_x.example", False), ("ex\u00e4mple.org", False),
])
def test_dns_names(value, ok):
    assert _validate.is_dns_name(value) is ok


def test_wildcards_only_in_front():
    assert _validate.is_dns_name("*.example.org", wildcard=True)
    assert not _validate.is_dns_name("a.*.example.org", wildcard=True)
    _validate.name_or_address("required_names[1]", "192.0.2.1")


@pytest.mark.parametrize("value", ["mail.example.org", "[192.0.2.1]", "[IPv6:2001:db8::1]", "[ipv6:::1]"])
def test_ehlo_names_accepted(value):
    _validate.ehlo_name("ehlo_name", value)


@pytest.mark.parametrize("value", ["[2001:db8::1]", "[IPv6:192.0.2.1]", "192.0.2.1]", "a b", "-v", "[]"])
def test_ehlo_names_refused(value):
    with pytest.raises(_validate.InputError, match="is not an EHLO name"):
        _validate.ehlo_name("ehlo_name", value)


@pytest.mark.parametrize("value,message", [
    ("/etc/a,b.pem", "contains a comma; Postfix would read it as more than one path"),
    ("/etc/a b.pem", "contains a space; Postfix would read it as more than one path"),
    ("/etc/$x.pem", "contains a '$'; Postfix would read it as a parameter reference"),
    ("etc/a.pem", "is not an absolute path"),
])
def test_postfix_list_paths(value, message):
    with pytest.raises(_validate.InputError) as caught:
        _validate.postfix_list_path("chain_files[1]", value)
    # The message names the path as given, not a piece of it.
    assert str(caught.value).startswith(f"chain_files[1]: {value!r} ") and message in str(caught.value)


def test_numbers():
    _validate.at_least(0)("min_days_remaining", 0)
    with pytest.raises(_validate.InputError, match="min_days_remaining: -1 is below the minimum 0"):
        _validate.at_least(0)("min_days_remaining", -1)
    with pytest.raises(_validate.InputError, match="timeout: 0 must be a positive number"):
        _validate.positive("timeout", 0)


# ------------------------------------------------------------------------------------------------
# Cipher strings
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", "HIGH:!aNULL:!MD5", "DEFAULT:@SECLEVEL=0",
    "aNULL:-aNULL:HIGH:@STRENGTH", "kEECDH+aECDSA+AESGCM", "TLSv1.2", "HIGH, !aNULL", "HIGH:-v",
])
def test_cipher_lists_accepted(value):
    _validate.cipher_list("tls_high_cipherlist", value)


@pytest.mark.parametrize("value,problem", [
    ("-v", "OpenSSL selects no cipher from it"),
    ("NOPE-CIPHER", "OpenSSL selects no cipher from it"),
    ("HIGH;id", "it contains ';'"),
    ("HIGH:--", "'--' is not a cipher name, alias or operator"),
    ("HIGH:@SECLEVEL=9", "'@SECLEVEL=9' is not a cipher name"),
    ("", "it is empty"),
])
def test_cipher_lists_refused(value, problem):
    with pytest.raises(_validate.InputError) as caught:
        _validate.cipher_list("tls_high_cipherlist", value)
    assert str(caught.value).startswith(f"tls_high_cipherlist: {value!r} is not an OpenSSL cipher list: {problem}")


def test_openssl_agrees_and_is_never_given_the_list_as_an_option():
    """The outside witness: openssl ciphers, with the list after "--", refuses what the check refuses."""
    for value in ("-v", "NOPE-CIPHER"):
        run = subprocess.run(["openssl", "ciphers", "--", value], capture_output=True, text=True, check=False)
        assert run.returncode != 0 and _validate.openssl_cipher_problem(value)
    run = subprocess.run(["openssl", "ciphers", "--", "HIGH:!aNULL"], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and _validate.openssl_cipher_problem("HIGH:!aNULL") is None


# ------------------------------------------------------------------------------------------------
# Files of one kind
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dh_pem():
    # A fixed, well-known 2048-bit group (RFC 7919 ffdhe2048): no slow parameter generation in a unit test.
    p = int(
        "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FBCC939DCE249B3EF97D2FE363630C75D8"
        "F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0856365553DED1AF3B557135E7F57C935984F0C70E0E68B77E2A689DAF3EFE872"
        "1DF158A136ADE73530ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4AE56EDE76372BB19"
        "0B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005"
        "C58EF1837D1683B2C6F34A26C1B2EFFA886B423861285C97FFFFFFFFFFFFFFFF", 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography deprecates finite-field DH
        params = dh.DHParameterNumbers(p, 2).parameters()
        # With q known (an RFC 7919 group) cryptography writes X9.42 DH PARAMETERS; OpenSSL reads both labels.
        return params.parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)


def test_dh_parameters(tmp_path, dh_pem, pki):
    good = tmp_path / "dh.pem"
    good.write_bytes(dh_pem)
    _validate.dh_parameters_file("dh_path", str(good))
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$y$j9T$secret-hash:19000:0:99999:7:::\n")
    with pytest.raises(_validate.InputError) as caught:
        _validate.dh_parameters_file("dh_path", str(shadow))
    message = str(caught.value)
    assert message.startswith(f"dh_path: {shadow} is not a file of PEM Diffie-Hellman parameters (it holds no PEM block")
    assert "secret-hash" not in message  # a file's content is never quoted
    cert = tmp_path / "cert.pem"
    cert.write_bytes(pki.pem(pki.cert("x", pki.key())))
    with pytest.raises(_validate.InputError, match=re.escape("(it holds PEM block(s) 'CERTIFICATE'")):
        _validate.dh_parameters_file("dh_path", str(cert))
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----\n")
    with pytest.raises(_validate.InputError, match="holds a DH PARAMETERS block that does not parse"):
        _validate.dh_parameters_file("dh_path", str(broken))
    with pytest.raises(_validate.InputError, match="cannot read"):
        _validate.dh_parameters_file("dh_path", str(tmp_path / "missing.pem"))


def test_small_dh_parameters_are_refused(tmp_path):
    prime = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3"
                "CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF", 16)  # RFC 2409 group 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = dh.DHParameterNumbers(prime, 2).parameters().parameter_bytes(serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)
    assert text.startswith(b"-----BEGIN DH PARAMETERS-----")
    path = tmp_path / "dh768.pem"
    path.write_bytes(text)
    with pytest.raises(_validate.InputError, match="have 768 bits, fewer than 2048"):
        _validate.dh_parameters_file("dh_path", str(path))


def test_ca_certificates(tmp_path, pki):
    root_key = pki.key("root")
    root = pki.cert("Root", root_key, ca=True)
    leaf = pki.cert("leaf.example", pki.key("leaf"), issuer=root, issuer_key=root_key)
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki.pem([root, root]))
    assert _validate.ca_certificates_file("client_ca.path", str(bundle)) == 2
    with_key = tmp_path / "with-key.pem"
    with_key.write_bytes(pki.pem([root, root_key]))
    with pytest.raises(_validate.InputError, match=re.escape("is not a file of PEM CA certificates (it holds PEM block(s) 'PRIVATE KEY')")):
        _validate.ca_certificates_file("client_ca.path", str(with_key))
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(pki.pem(leaf))
    with pytest.raises(_validate.InputError, match=re.escape("certificate 1 in") + ".*" + re.escape("is not a CA certificate")):
        _validate.ca_certificates_file("client_ca.path", str(leaf_file))
    shadow = tmp_path / "shadow"
    shadow.write_text("root:secret-hash:19000::::::\n")
    with pytest.raises(_validate.InputError) as caught:
        _validate.ca_certificates_file("client_ca.path", str(shadow))
    assert "(it holds no PEM block)" in str(caught.value) and "secret-hash" not in str(caught.value)
    crl = tmp_path / "crl.pem"
    crl.write_bytes(pki.pem(root) + b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(_validate.InputError, match=re.escape("(it holds PEM block(s) 'X509 CRL')")):
        _validate.ca_certificates_file("client_ca.path", str(crl))
    assert _validate.ca_certificates_file("client_ca.path", str(crl), crls=True) == 1
