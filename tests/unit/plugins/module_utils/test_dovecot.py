# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_dovecot: versions, rendering for 2.3 and 2.4, reading configuration trees, conflicts, doveconf
output, key permissions and certificate/key checks. The real Dovecot runs in the Molecule scenario."""

from __future__ import annotations

import os
import re
import stat
import textwrap

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.postmaster.tls.plugins.module_utils import _dovecot, _layout, _profiles

# Where the certificate role installs them (the one layout).
CERT = _layout.key_paths("mail", "rsa").live("fullchain")
KEY = _layout.key_paths("mail", "rsa").key
ALT_CERT = _layout.key_paths("mail", "ecdsa").live("fullchain")
ALT_KEY = _layout.key_paths("mail", "ecdsa").key


def request(**overrides) -> _dovecot.TLSRequest:
    values = {
        "main": _dovecot.CertKeyPair(CERT, KEY),
        "alt": _dovecot.CertKeyPair(ALT_CERT, ALT_KEY),
        "profile": _profiles.get_profile("intermediate"),
    }
    values.update(overrides)
    return _dovecot.TLSRequest(**values)


# ---------------------------------------------------------------------------------------------
# Versions and names
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("output", "text", "series", "is_24"),
    [
        ("2.3.19.1 (9b53102964)\n", "2.3.19.1", "2.3", False),
        ("2.4.1-4 (7d8c0e5759)\n", "2.4.1-4", "2.4", True),
        ("2.5.0 (abc)", "2.5.0", "2.5", True),
    ],
)
def test_parse_version(output, text, series, is_24):
    version = _dovecot.parse_version(output)
    assert (version.text, version.series, version.is_24) == (text, series, is_24)
    assert _dovecot.names_for(version) is (_dovecot.NAMES_24 if is_24 else _dovecot.NAMES_23)


@pytest.mark.parametrize(("output", "message"), [("", "cannot read the Dovecot version"), ("2.2.36 (x)", "too old")])
def test_parse_version_refuses(output, message):
    with pytest.raises(_dovecot.DovecotError, match=message):
        _dovecot.parse_version(output)


def test_query_names_follow_the_series():
    assert _dovecot.NAMES_24.query_name("ssl_server_cert_file") == "ssl_server/cert_file"
    assert _dovecot.NAMES_24.query_name("ssl_min_protocol") == "ssl_min_protocol"
    assert _dovecot.NAMES_24.query_name("auth_ssl_require_client_cert") == "auth_ssl_require_client_cert"
    assert _dovecot.NAMES_23.query_name("ssl_cert") == "ssl_cert"
    assert _dovecot.NAMES_23.file_value("/x") == "</x" and _dovecot.NAMES_24.file_value("/x") == "/x"


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------
def test_render_23_intermediate_with_alt_and_sni():
    req = request(local_names=(_dovecot.LocalName("imap.example.org", _dovecot.CertKeyPair("/s/c.pem", "/s/k.pem")),))
    text = _dovecot.render_dropin(req, _dovecot.NAMES_23)
    body = text.split("\n\n", 1)[1]
    assert body == textwrap.dedent(f"""\
        ssl = required
        ssl_cert = <{CERT}
        ssl_key = <{KEY}
        ssl_alt_cert = <{ALT_CERT}
        ssl_alt_key = <{ALT_KEY}
        ssl_min_protocol = TLSv1.2
        ssl_cipher_list = {_profiles.PROFILES["intermediate"].cipher_list}
        ssl_prefer_server_ciphers = no
        ssl_curve_list = X25519:prime256v1:secp384r1
        disable_plaintext_auth = yes

        local_name imap.example.org {{
          ssl_cert = </s/c.pem
          ssl_key = </s/k.pem
          ssl_alt_cert =
          ssl_alt_key =
        }}
        """)
    assert text.startswith("# Managed by postmaster.tls")
    assert "Dovecot 2.3 setting names. TLS profile intermediate" in text


def test_render_24_uses_24_names_and_plain_paths():
    req = request(extra=(("ssl_options", "no_ticket"),))
    text = _dovecot.render_dropin(req, _dovecot.NAMES_24)
    assert f"ssl_server_cert_file = {CERT}\n" in text
    assert f"ssl_server_key_file = {KEY}\n" in text
    assert f"ssl_server_alt_cert_file = {ALT_CERT}\n" in text
    assert "ssl_server_prefer_ciphers = client\n" in text
    assert "auth_allow_cleartext = no\n" in text
    assert "<" not in text
    assert "ssl_cert" not in text and "disable_plaintext_auth" not in text
    assert text.endswith("# Extra settings passed through unchanged (option extra).\nssl_options = no_ticket\n")


def test_render_is_deterministic():
    assert _dovecot.render_dropin(request(), _dovecot.NAMES_24) == _dovecot.render_dropin(request(), _dovecot.NAMES_24)


def test_modern_profile_leaves_the_cipher_list_alone_and_legacy_prefers_server_order():
    modern = dict(_dovecot.global_settings(request(profile=_profiles.get_profile("modern")), _dovecot.NAMES_24))
    assert modern["ssl_min_protocol"] == "TLSv1.3" and "ssl_cipher_list" not in modern
    legacy = dict(_dovecot.global_settings(request(profile=_profiles.get_profile("legacy")), _dovecot.NAMES_23))
    assert legacy["ssl_min_protocol"] == "TLSv1" and legacy["ssl_prefer_server_ciphers"] == "yes"
    assert legacy["ssl_cipher_list"].endswith("@SECLEVEL=0")
    legacy24 = dict(_dovecot.global_settings(request(profile=_profiles.get_profile("legacy")), _dovecot.NAMES_24))
    assert legacy24["ssl_server_prefer_ciphers"] == "server"


def test_without_alternative_the_alt_settings_are_emptied():
    settings = dict(_dovecot.global_settings(request(alt=None), _dovecot.NAMES_23))
    assert settings["ssl_alt_cert"] == "" and settings["ssl_alt_key"] == ""
    assert "ssl_alt_cert =\n" in _dovecot.render_dropin(request(alt=None), _dovecot.NAMES_23)


def test_client_ca_and_dh_by_series():
    req = request(client_ca=_dovecot.ClientCA("/etc/ca.pem", require_cert=True, require_crl=False), dh_path="/etc/dh.pem")
    s23 = dict(_dovecot.global_settings(req, _dovecot.NAMES_23))
    assert (s23["ssl_ca"], s23["ssl_verify_client_cert"], s23["auth_ssl_require_client_cert"], s23["ssl_require_crl"]) == (
        "</etc/ca.pem", "yes", "yes", "no")
    assert s23["ssl_dh"] == "</etc/dh.pem"
    s24 = dict(_dovecot.global_settings(req, _dovecot.NAMES_24))
    assert (s24["ssl_server_ca_file"], s24["ssl_server_request_client_cert"], s24["ssl_server_require_crl"]) == (
        "/etc/ca.pem", "yes", "no")
    assert s24["ssl_server_dh_file"] == "/etc/dh.pem"
    assert "ssl_ca" not in dict(_dovecot.global_settings(request(), _dovecot.NAMES_23))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"main": _dovecot.CertKeyPair("relative/cert.pem", KEY)}, "cannot be written into a Dovecot setting"),
        ({"main": _dovecot.CertKeyPair("/etc/my cert.pem", KEY)}, "no spaces"),
        ({"main": _dovecot.CertKeyPair("/etc/%{user}.pem", KEY)}, "'%'"),
        ({"local_names": (_dovecot.LocalName("bad name", _dovecot.CertKeyPair(CERT, KEY)),)}, "is not a host name"),
        ({"local_names": (_dovecot.LocalName("a.example", _dovecot.CertKeyPair(CERT, KEY)),
                          _dovecot.LocalName("A.example", _dovecot.CertKeyPair(CERT, KEY)))}, "listed twice"),
        ({"extra": (("ssl_min_protocol", "TLSv1"),)}, "set by this module"),
        ({"extra": (("Bad-Name", "x"),)}, "is not a Dovecot setting name"),
        ({"extra": (("ssl_options", "a\nb"),)}, "spans several lines"),
        ({"extra": (("ssl_server_key_password", "x"),)}, "is a secret"),
    ],
)
def test_validate_request_refuses(overrides, message):
    with pytest.raises(_dovecot.DovecotError, match=message):
        _dovecot.validate_request(request(**overrides), _dovecot.NAMES_23)


def test_validate_request_accepts_wildcards():
    req = request(local_names=(_dovecot.LocalName("*.example.org", _dovecot.CertKeyPair(CERT, KEY)),))
    _dovecot.validate_request(req, _dovecot.NAMES_24)


@pytest.mark.parametrize(("value", "text"), [(True, "yes"), (False, "no"), (3, "3"), (["a", "b"], "a b"), (None, "")])
def test_extra_values(value, text):
    assert _dovecot.extra_value(value) == text


# ---------------------------------------------------------------------------------------------
# Reading configuration trees
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "stripped"),
    [
        ("ssl = yes # comment", "ssl = yes "),
        ('x = "a # b" # c', 'x = "a # b" '),
        (r'x = "a \" # b" # c', r'x = "a \" # b" '),
        ("# all comment", ""),
        ("plain", "plain"),
    ],
)
def test_strip_comment(line, stripped):
    assert _dovecot._strip_comment(line) == stripped


def test_logical_lines_join_continuations():
    lines = list(_dovecot._logical_lines("a = 1\nb = x \\\n  y\nc = 3\n"))
    assert lines == [(1, 1, "a = 1"), (2, 3, "b = x    y"), (4, 4, "c = 3")]


def write_tree(root, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return str(root / "dovecot.conf")


TREE = {
    "dovecot.conf": """\
        !include_try /nonexistent/protocols.d/*.protocol
        !include conf.d/*.conf
        !include_try local.conf
        """,
    "conf.d/10-ssl.conf": """\
        ssl = yes
        ssl_cert = </etc/dovecot/private/dovecot.pem
        """,
    "conf.d/10-master.conf": """\
        service imap-login {
          inet_listener imaps {
            port = 993
            ssl = yes
          }
        }
        protocol imap {
          ssl_min_protocol = TLSv1
        }
        local_name other.example.org {
          ssl_cert = </etc/other.pem
        }
        local_name imap.example.org {
          ssl_cert = </etc/before.pem
        }
        """,
    "conf.d/99-postmaster-tls.conf": """\
        ssl = required
        ssl_cert = </new.pem
        local_name imap.example.org {
          ssl_cert = </sni.pem
        }
        """,
    "local.conf": """\
        # admin
        ssl_min_protocol = TLSv1.1 # old phones
        ssl_server {
          cert_file = /later.pem
        }
        local_name imap.example.org {
          ssl_cert = </after.pem
        }
        """,
}


def test_scan_reads_includes_in_order_and_flattens_24_groups(tmp_path):
    conf = write_tree(tmp_path, TREE)
    scan = _dovecot.scan_config(conf)
    assert [os.path.basename(f) for f in scan.files] == [
        "dovecot.conf", "10-master.conf", "10-ssl.conf", "99-postmaster-tls.conf", "local.conf"]
    names = [(a.name, a.section) for a in scan.assignments if os.path.basename(a.path) == "local.conf"]
    assert names == [("ssl_min_protocol", ()), ("ssl_server_cert_file", ()),
                     ("ssl_cert", (("local_name", "imap.example.org"),))]
    listener = [a for a in scan.assignments if a.section and a.section[0][0] == "service" and a.name == "ssl"]
    assert listener and listener[0].value == "yes"


def test_find_conflicts(tmp_path):
    conf = write_tree(tmp_path, TREE)
    scan = _dovecot.scan_config(conf)
    dropin = str(tmp_path / "conf.d/99-postmaster-tls.conf")
    managed = ["ssl", "ssl_cert", "ssl_min_protocol", "ssl_server_cert_file"]
    conflicts = _dovecot.find_conflicts(scan, dropin=dropin, managed=managed, names=_dovecot.NAMES_23,
                                        local_names=["imap.example.org"])
    found = {(os.path.basename(c.path), c.first_line, c.setting) for c in conflicts}
    assert found == {
        ("10-master.conf", 8, "ssl_min_protocol"),  # protocol filter: wins for IMAP wherever it is
        ("local.conf", 2, "ssl_min_protocol"),  # top level, read after the drop-in
        ("local.conf", 4, "ssl_server_cert_file"),  # 2.4 group spelling of a managed name
        ("local.conf", 7, "ssl_cert"),  # our SNI name, read after our block
    }
    # Not conflicts: 10-ssl.conf (read before), the listener's own `ssl = yes`, SNI for a name we do
    # not manage, and our SNI name's block read before the drop-in.
    described = [c.describe() for c in conflicts]
    assert any("inside 'protocol imap'" in text for text in described)


def test_missing_mandatory_include_is_an_error(tmp_path):
    conf = write_tree(tmp_path, {"dovecot.conf": "!include /nonexistent/file.conf\n"})
    with pytest.raises(_dovecot.DovecotError, match="does not exist"):
        _dovecot.scan_config(conf)


def test_include_loop_is_an_error(tmp_path):
    conf = write_tree(tmp_path, {"dovecot.conf": "!include dovecot.conf\n"})
    with pytest.raises(_dovecot.DovecotError, match="nested more than"):
        _dovecot.scan_config(conf)


def test_comment_out_marks_every_physical_line_once():
    text = "a = 1\nssl_min_protocol = \\\n  TLSv1\nb = 2\n"
    conflict = _dovecot.Conflict(path="/x", first_line=2, last_line=3, setting="ssl_min_protocol", value="TLSv1",
                                 section="", reason="r")
    out = _dovecot.comment_out(text, [conflict], dropin_name="conf.d/99-postmaster-tls.conf")
    marker = "#[postmaster.tls] overridden by conf.d/99-postmaster-tls.conf: "
    assert out == f"a = 1\n{marker}ssl_min_protocol = \\\n{marker}  TLSv1\nb = 2\n"
    assert _dovecot.comment_out(out, [conflict], dropin_name="conf.d/99-postmaster-tls.conf") == out


def test_copy_config_dir_points_absolute_includes_at_the_copy(tmp_path):
    real = tmp_path / "etc"
    write_tree(real, {"dovecot.conf": f"!include {real}/conf.d/*.conf\n!include_try \"{real}/local.conf\"\n",
                      "conf.d/10-a.conf": "ssl = yes\n"})
    os.symlink("/nonexistent/target", real / "dangling")
    copy = tmp_path / "copy"
    _dovecot._copy_config_dir(str(real), str(copy))
    text = (copy / "dovecot.conf").read_text()
    assert f"!include {copy}/conf.d/*.conf\n" in text and f'!include_try "{copy}/local.conf"' in text
    assert (real / "dovecot.conf").read_text().startswith(f"!include {real}/")
    assert os.path.islink(copy / "dangling")


# ---------------------------------------------------------------------------------------------
# doveconf
# ---------------------------------------------------------------------------------------------
def test_parse_doveconf_output_both_series():
    out = textwrap.dedent("""\
        ssl_server {
          cert_file = /a.pem
        }
        ssl_server {
          prefer_ciphers = client
        }
        ssl_min_protocol = TLSv1.2
        protocols = " imap pop3"
        """) + "ssl_alt_cert = \n"
    assert _dovecot.parse_doveconf_output(out) == {
        "ssl_server/cert_file": "/a.pem", "ssl_server/prefer_ciphers": "client", "ssl_min_protocol": "TLSv1.2",
        "protocols": " imap pop3", "ssl_alt_cert": ""}


class FakeRunner:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.answers(argv)


def test_doveconf_query_uses_series_names_and_filters():
    runner = FakeRunner(lambda argv: (0, "ssl_server {\n  cert_file = /c.pem\n}\nssl = required\n", ""))
    values = _dovecot.Doveconf(runner).query("/etc/dovecot/dovecot.conf", _dovecot.NAMES_24,
                                             ["ssl_server_cert_file", "ssl", "ssl_min_protocol"],
                                             filters=["local_name=imap.example.org"])
    assert values == {"ssl_server_cert_file": "/c.pem", "ssl": "required", "ssl_min_protocol": ""}
    assert runner.calls == [["doveconf", "-c", "/etc/dovecot/dovecot.conf", "-f", "local_name=imap.example.org",
                             "ssl_server/cert_file", "ssl", "ssl_min_protocol"]]


def test_doveconf_query_failure_carries_dovecots_message():
    runner = FakeRunner(lambda argv: (89, "", "doveconf: Fatal: Unknown setting: x\n"))
    with pytest.raises(_dovecot.DovecotCommandError, match="Unknown setting: x") as info:
        _dovecot.Doveconf(runner).query("/c", _dovecot.NAMES_23, ["x"])
    assert info.value.rc == 89


def test_doveconf_check_never_prints_file_contents_and_checks_every_value():
    runner = FakeRunner(lambda argv: (0, "ssl_key_password = secret\n" if "-n" in argv else "required\n", ""))
    argv, rc, out, _err = _dovecot.Doveconf(runner).check("/c", read_files=True)
    # -x (open the files) only where one value is printed; -n (check every value) never with -x, its output dropped.
    assert runner.calls == [["doveconf", "-c", "/c", "-x", "-h", "ssl"], ["doveconf", "-c", "/c", "-n"]]
    assert argv == ["doveconf", "-c", "/c", "-n"] and rc == 0 and out == ""
    runner.calls.clear()
    _dovecot.Doveconf(runner).check("/c", read_files=False)
    assert runner.calls == [["doveconf", "-c", "/c", "-h", "ssl"], ["doveconf", "-c", "/c", "-n"]]


def test_doveconf_check_reports_a_value_only_the_full_check_refuses():
    refusal = "doveconf: Fatal: Error in configuration file /c: ssl_options: unknown flag: 'bogus_option'\n"
    runner = FakeRunner(lambda argv: (89, "", refusal) if "-n" in argv else (0, "required\n", ""))
    argv, rc, out, err = _dovecot.Doveconf(runner).check("/c", read_files=True)
    assert (argv, rc, out, err) == (["doveconf", "-c", "/c", "-n"], 89, "", refusal)
    # A parse error stops at the first run.
    runner = FakeRunner(lambda argv: (89, "", "doveconf: Fatal: Unknown setting: x\n"))
    argv, rc, _out, _err = _dovecot.Doveconf(runner).check("/c", read_files=True)
    assert argv == ["doveconf", "-c", "/c", "-x", "-h", "ssl"] and rc == 89 and len(runner.calls) == 1


def test_expected_contexts_cover_protocols_and_local_names():
    req = request(local_names=(_dovecot.LocalName("*.example.org", _dovecot.CertKeyPair("/w.pem", "/w.key")),))
    contexts = _dovecot.expected_contexts(req, _dovecot.NAMES_23)
    labels = [label for label, _filters, _expected in contexts]
    assert labels == ["global", "protocol imap", "protocol pop3", "protocol submission", "local_name *.example.org"]
    _label, filters, expected = contexts[-1]
    assert filters == ["lname=postmaster-tls-probe.example.org"]
    assert expected["ssl_cert"] == "</w.pem" and expected["ssl_alt_cert"] == "" and expected["ssl"] == "required"


def test_effective_mismatches_name_context_and_values():
    def answers(argv):
        if "protocol=pop3" in argv:
            return 0, "ssl_min_protocol = TLSv1\n", ""
        return 0, "ssl_min_protocol = TLSv1.2\n", ""

    req = request()
    doveconf = _dovecot.Doveconf(FakeRunner(answers))
    global_values, mismatches = _dovecot.effective_mismatches(doveconf, "/c", req, _dovecot.NAMES_23)
    assert global_values["ssl_min_protocol"] == "TLSv1.2"
    pop3 = [m for m in mismatches if m.context == "protocol pop3" and m.setting == "ssl_min_protocol"]
    assert pop3 and pop3[0].describe() == "protocol pop3: ssl_min_protocol is 'TLSv1', expected 'TLSv1.2'"
    assert not [m for m in mismatches if m.context == "global" and m.setting == "ssl_min_protocol"]


def test_detect_version_failure():
    with pytest.raises(_dovecot.DovecotCommandError, match="dovecot --version"):
        _dovecot.detect_version(FakeRunner(lambda argv: (1, "", "not found")))


# ---------------------------------------------------------------------------------------------
# Certificates, keys and permissions
# ---------------------------------------------------------------------------------------------
def pair_files(pki, label="leaf", kind="rsa", key_label=None):
    key = pki.key(label, kind=kind)
    cert = pki.cert("mail.example.org", key, sans=["mail.example.org"])
    cert_path = pki.write(f"{label}/fullchain.pem", cert)
    key_path = pki.write(f"{label}/privkey.pem", pki.key(key_label, kind=kind) if key_label else key)
    os.chmod(key_path, 0o600)
    return _dovecot.CertKeyPair(cert_path, key_path)


def test_inspect_pair_facts(pki):
    warnings = []
    facts = _dovecot.inspect_pair("certificate", pair_files(pki), check_mode=False, warnings=warnings)
    assert facts["key_type"] == "rsa" and facts["key_size"] == 2048
    assert facts["dns_names"] == ["mail.example.org"] and facts["subject"] == "CN=mail.example.org"
    assert facts["not_after"].endswith("Z") and len(facts["spki_sha256"]) == 64
    assert warnings == []


def test_inspect_pair_mismatch(pki):
    pair = pair_files(pki, label="mm", kind="ec", key_label="other")
    with pytest.raises(_dovecot.DovecotError, match="does not match the certificate"):
        _dovecot.inspect_pair("certificate", pair, check_mode=False, warnings=[])


def test_inspect_pair_missing_file_fails_a_real_run_and_warns_in_check_mode(pki, tmp_path):
    pair = _dovecot.CertKeyPair(str(tmp_path / "missing.pem"), str(tmp_path / "missing.key"))
    with pytest.raises(_dovecot.DovecotError, match="does not exist; create it first"):
        _dovecot.inspect_pair("certificate", pair, check_mode=False, warnings=[])
    warnings = []
    assert _dovecot.inspect_pair("certificate", pair, check_mode=True, warnings=warnings) is None
    assert "check mode predicts the change" in warnings[0]


def test_inspect_pair_encrypted_key(pki):
    key = pki.key("enc", kind="ec")
    cert_path = pki.write("enc/cert.pem", pki.cert("mail.example.org", key))
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"secret"))
    key_path = pki.write("enc/key.pem", encrypted)
    with pytest.raises(_dovecot.DovecotError, match="is encrypted") as info:
        _dovecot.inspect_pair("certificate", _dovecot.CertKeyPair(cert_path, key_path), check_mode=False, warnings=[])
    assert "secret" not in str(info.value)


def test_inspect_pair_not_a_certificate(pki):
    pair = pair_files(pki, label="junk")
    open(pair.cert_path, "wb").write(b"junk\n")
    with pytest.raises(_dovecot.DovecotError, match="no PEM certificate found"):
        _dovecot.inspect_pair("certificate", pair, check_mode=False, warnings=[])


@pytest.mark.parametrize("when, message", [
    ("expired", "refused by the validity check: leaf certificate 'CN=mail.example.org'"),
    ("future", "(not yet valid)"),
])
def test_inspect_pair_refuses_certificates_clients_refuse(pki, when, message):
    import datetime

    key = pki.key("old", kind="ec")
    if when == "expired":
        window = {"not_before": pki.now - datetime.timedelta(days=10), "not_after": pki.now - datetime.timedelta(days=2)}
    else:
        window = {"not_before": pki.now + datetime.timedelta(days=2), "not_after": pki.now + datetime.timedelta(days=90)}
    cert = pki.cert("mail.example.org", key, **window)
    pair = _dovecot.CertKeyPair(pki.write("old/c.pem", cert), pki.write("old/k.pem", key))
    with pytest.raises(_dovecot.DovecotError, match=re.escape(message)) as info:
        _dovecot.inspect_pair("certificate", pair, check_mode=False, warnings=[])
    assert str(info.value).startswith(f"certificate: {pair.cert_path}: ")


def test_alternative_must_have_the_other_key_type():
    main = {"label": "certificate", "key_type": "rsa", "path": "/a"}
    _dovecot.check_alt_types(main, {"label": "alternative certificate", "key_type": "ecdsa", "path": "/b"})
    with pytest.raises(_dovecot.DovecotError, match=r"same key type \(RSA\)"):
        _dovecot.check_alt_types(main, {"label": "alternative certificate", "key_type": "rsa", "path": "/b"})
    _dovecot.check_alt_types(None, {"label": "x", "key_type": "rsa", "path": "/b"})


def key_file(tmp_path, mode: int) -> str:
    path = tmp_path / "privkey.pem"
    path.write_text("not read\n")
    os.chmod(path, mode)
    return str(path)


def test_key_permissions_private_file_is_fine(tmp_path):
    path = key_file(tmp_path, 0o600)
    others = [_dovecot.Account("dovecot", uid=os.getuid() + 1, gid=os.getgid() + 1)]
    assert _dovecot.key_permission_problems(path, unprivileged=others, allowed_group="ssl-cert") == []


def test_key_permissions_world_readable(tmp_path):
    path = key_file(tmp_path, 0o644)
    problems = _dovecot.key_permission_problems(path, unprivileged=[], allowed_group=None,
                                                group_lookup=lambda gid: ("ssl-cert", []))
    assert any("readable by everyone (mode 0644)" in p for p in problems)


def test_key_permissions_owned_by_dovecot(tmp_path):
    path = key_file(tmp_path, 0o600)
    dovecot = _dovecot.Account("dovecot", uid=os.getuid(), gid=os.getgid() + 1)
    problems = _dovecot.key_permission_problems(path, unprivileged=[dovecot], allowed_group="ssl-cert")
    assert problems == [f"{path} is owned by Dovecot's unprivileged user dovecot"]


def test_key_permissions_group(tmp_path):
    path = key_file(tmp_path, 0o640)
    stranger = _dovecot.Account("dovecot", uid=os.getuid() + 1, gid=os.getgid() + 1)
    # The configured group may read it, as long as Dovecot's users are not in it.
    assert _dovecot.key_permission_problems(path, unprivileged=[stranger], allowed_group="ssl-cert",
                                            group_lookup=lambda gid: ("ssl-cert", [])) == []
    problems = _dovecot.key_permission_problems(path, unprivileged=[stranger], allowed_group="ssl-cert",
                                                group_lookup=lambda gid: ("staff", []))
    assert problems == [f"{path} is readable by group staff (mode 0640); only group ssl-cert may read it"]
    problems = _dovecot.key_permission_problems(path, unprivileged=[stranger], allowed_group="ssl-cert",
                                                group_lookup=lambda gid: ("ssl-cert", ["dovecot"]))
    assert problems == [f"{path} is readable by group ssl-cert, which Dovecot's unprivileged user dovecot belongs to"]
    primary = _dovecot.Account("dovenull", uid=os.getuid() + 1, gid=os.stat(path).st_gid)
    problems = _dovecot.key_permission_problems(path, unprivileged=[primary], allowed_group="ssl-cert",
                                                group_lookup=lambda gid: ("ssl-cert", []))
    assert "dovenull belongs to" in problems[0]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_lookup_accounts_skips_unknown_users():
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    accounts = _dovecot.lookup_accounts([me, "", "no-such-user-postmaster-tls"])
    assert [a.name for a in accounts] == [me] and accounts[0].uid == os.getuid()


def test_mask_secrets_in_diffs():
    text = ("ssl_min_protocol = TLSv1\n"
            "#[postmaster.tls] overridden by conf.d/99-postmaster-tls.conf: ssl_key_password = hunter2\n"
            "  ssl_server_key_password = \"s3cret\"\r\n"
            "passdb {\n  args = scheme=CRYPT\n}\n")
    masked = _dovecot.mask_secrets(text)
    assert "hunter2" not in masked and "s3cret" not in masked
    assert "ssl_key_password = ********\n" in masked and "  ssl_server_key_password = ********\r\n" in masked
    assert masked.startswith("ssl_min_protocol = TLSv1\n") and masked.endswith("passdb {\n  args = scheme=CRYPT\n}\n")


class _RunOnly:
    """A Host that only answers commands (master_running reads the pid file itself)."""

    check_mode = False

    def __init__(self, answers):
        self.run = FakeRunner(answers)


def test_master_running_follows_the_pid_file_under_base_dir(tmp_path):
    host = _RunOnly(lambda argv: (0, f"{tmp_path}\n", ""))
    assert _dovecot.master_running(host, "doveconf", "/etc/dovecot/dovecot.conf") is False  # no pid file
    assert host.run.calls == [["doveconf", "-c", "/etc/dovecot/dovecot.conf", "-h", "base_dir"]]
    (tmp_path / "master.pid").write_text(f"{os.getpid()}\n")
    assert _dovecot.master_running(host, "doveconf", "/etc/dovecot/dovecot.conf") is True
    (tmp_path / "master.pid").write_text("not a pid\n")
    assert _dovecot.master_running(host, "doveconf", "/etc/dovecot/dovecot.conf") is False


def test_master_running_of_a_dead_process_is_false(tmp_path):
    # A pid far above pid_max on Linux: no such process.
    (tmp_path / "master.pid").write_text("4194999\n")
    host = _RunOnly(lambda argv: (0, f"{tmp_path}\n", ""))
    assert _dovecot.master_running(host, "doveconf", "/c") is False


def test_master_running_is_unknown_when_doveconf_fails():
    host = _RunOnly(lambda argv: (89, "", "doveconf: Fatal: Error in configuration file\n"))
    assert _dovecot.master_running(host, "doveconf", "/c") is None


# ---------------------------------------------------------------------------------------------
# Values Dovecot would read as something else; file settings; the listener for Postfix
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "problem"), [
    ("no_compression\\", "ends in a backslash, which joins the next line"),
    ("no_compression \\  ", "ends in a backslash"),
    ("HIGH#x", "holds '#', which starts a comment"),
    ('"HIGH', 'opens a " quote that does not close'),
    ('"a" b"', 'opens a " quote that does not close'),
    ('"ends in escape\\"', 'opens a " quote that does not close'),
    ("it's", "holds a quote character inside an unquoted value"),
    ("HIGH {", "braces do not pair up"),
    ("HIGH }", "braces do not pair up"),
    ("%{user", "braces do not pair up"),
    ("a\x00b", "control character(s) NUL"),
    ("a\tb", "control character(s) TAB"),
])
def test_values_dovecot_would_misread(value, problem):
    assert problem in _dovecot.value_problem(value)
    with pytest.raises(_dovecot.DovecotError, match=re.escape(f"extra: ssl_options = {value!r} cannot be written as a Dovecot setting")):
        _dovecot.validate_request(request(extra=(("ssl_options", value),)), _dovecot.NAMES_24)


@pytest.mark.parametrize("value", ["no_compression", "$mail_plugins quota", "%{user | lower}", '"a # b"', '"say \\"hi\\""', "", "<x>"])
def test_values_dovecot_reads_as_written(value):
    assert _dovecot.value_problem(value) is None


@pytest.mark.parametrize(("names", "setting", "option"), [
    (_dovecot.NAMES_23, "ssl_dh", "dh_path"), (_dovecot.NAMES_24, "ssl_server_dh_file", "dh_path"),
    (_dovecot.NAMES_23, "ssl_ca", "client_ca"), (_dovecot.NAMES_24, "ssl_server_ca_file", "client_ca"),
    (_dovecot.NAMES_24, "auth_ssl_require_client_cert", "client_ca.require_cert"), (_dovecot.NAMES_23, "ssl", "ssl"),
    (_dovecot.NAMES_24, "ssl_cipher_list", "profile"),
])
def test_modelled_settings_only_through_their_option(names, setting, option):
    """Not only the settings this request writes: a DH or CA file given through extra would skip its content check."""
    with pytest.raises(_dovecot.DovecotError, match=re.escape(f"extra: {setting} is set by this module from its option {option}")):
        _dovecot.validate_request(request(extra=((setting, "/etc/shadow"),)), names)


def test_file_settings_in_extra(tmp_path, pki):
    with pytest.raises(_dovecot.DovecotError, match="is not a file path Dovecot can be given"):
        _dovecot.validate_request(request(extra=(("ssl_client_ca_dir", "/etc/ssl/my certs"),)), _dovecot.NAMES_24)
    with pytest.raises(_dovecot.DovecotError, match="is not a file path Dovecot can be given"):
        _dovecot.validate_request(request(extra=(("ssl_client_cert", "<relative.pem"),)), _dovecot.NAMES_23)
    not_ca = pki.write("leaf.pem", pki.cert("leaf.example", pki.key()))
    with pytest.raises(_dovecot.DovecotError, match=re.escape(f"extra: ssl_client_ca_file: certificate 1 in {not_ca}")):
        _dovecot.validate_request(request(extra=(("ssl_client_ca_file", not_ca),)), _dovecot.NAMES_24)
    root = pki.write("root.pem", pki.cert("Root", pki.key("root"), ca=True))
    _dovecot.validate_request(request(extra=(("ssl_client_ca_file", root),)), _dovecot.NAMES_24)


def test_dh_and_ca_files_must_hold_what_the_option_means(tmp_path, pki):
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$y$secret-hash:19000:0:99999:7:::\n")
    with pytest.raises(_dovecot.DovecotError) as caught:
        _dovecot.check_file_contents(request(dh_path=str(shadow)))
    assert str(caught.value).startswith(f"dh_path: {shadow} is not a file of PEM Diffie-Hellman parameters")
    assert "secret-hash" not in str(caught.value)
    with pytest.raises(_dovecot.DovecotError, match=re.escape(f"client_ca.path: {shadow} is not a file of PEM CA certificates and their CRLs")):
        _dovecot.check_file_contents(request(client_ca=_dovecot.ClientCA(path=str(shadow))))
    root = pki.write("root.pem", pki.cert("Root", pki.key("root"), ca=True))
    _dovecot.check_file_contents(request(client_ca=_dovecot.ClientCA(path=root, require_crl=False)))
    _dovecot.check_file_contents(request(dh_path=str(tmp_path / "missing.pem")))  # missing: the caller decides


@pytest.mark.parametrize("names", [_dovecot.NAMES_23, _dovecot.NAMES_24])
def test_the_postfix_listener_is_rendered_the_same_for_both_series(names):
    text = _dovecot.render_dropin(request(postfix_auth_path="/var/spool/postfix/private/auth"), names)
    assert text.endswith("\n# Postfix authenticates submission clients (SMTP AUTH on 587 and 465) here (option postfix_auth).\n"
                         "service auth {\n  unix_listener /var/spool/postfix/private/auth {\n    mode = 0660\n    user = postfix\n"
                         "    group = postfix\n  }\n}\n")
    assert "service auth" not in _dovecot.render_dropin(request(), names)
    with pytest.raises(_dovecot.DovecotError, match="postfix_auth_path '/var/spool/postfix/private/a uth' cannot be written"):
        _dovecot.validate_request(request(postfix_auth_path="/var/spool/postfix/private/a uth"), names)


def test_resolve_postfix_auth(tmp_path, monkeypatch):
    socket_path = str(tmp_path / "private" / "auth")
    users = set()

    def getpwnam(name):
        if name not in users:
            raise KeyError(name)
        return None

    monkeypatch.setattr(_dovecot.pwd, "getpwnam", getpwnam)
    assert _dovecot.resolve_postfix_auth("auto", socket_path) is None
    with pytest.raises(_dovecot.DovecotError, match=re.escape(f"postfix_auth=present, but the user postfix and the directory {tmp_path}/private "
                                                              "does not exist (is Postfix installed here?)")):
        _dovecot.resolve_postfix_auth("present", socket_path)
    users.add("postfix")
    (tmp_path / "private").mkdir()
    assert _dovecot.resolve_postfix_auth("auto", socket_path) == socket_path
    assert _dovecot.resolve_postfix_auth("present", socket_path) == socket_path
    assert _dovecot.resolve_postfix_auth("absent", socket_path) is None
