# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.dovecot_tls run in-process against a configuration tree in a temporary directory.

``dovecot`` and ``doveconf`` are replaced by a small fake that reads the same files (through the
module's own scanner): enough to exercise check mode, idempotence, conflicts, Dovecot refusing the
candidate and the rollback after a refused live configuration. The real Dovecot 2.3 and 2.4 answer in
the Molecule scenario extensions/molecule/dovecot.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _dovecot, _layout, _x509
from ansible_collections.postmaster.tls.plugins.modules import dovecot_tls

KNOWN = {
    "ssl", "ssl_cert", "ssl_key", "ssl_alt_cert", "ssl_alt_key", "ssl_min_protocol", "ssl_cipher_list",
    "ssl_prefer_server_ciphers", "ssl_curve_list", "disable_plaintext_auth", "ssl_dh", "ssl_ca", "ssl_options",
    "ssl_server_cert_file", "ssl_server_key_file", "ssl_server_alt_cert_file", "ssl_server_alt_key_file",
    "ssl_server_prefer_ciphers", "auth_allow_cleartext", "ssl_server_dh_file", "ssl_client_ca_dir",
    "dovecot_config_version", "dovecot_storage_version", "protocols", "ssl_server_key_password", "mode", "user", "group",
    "ssl_client_ca_file",
}


class FakeDovecot:
    """``dovecot --version`` and the doveconf calls the module makes, answered from the files."""

    def __init__(self, series: str, real_conf: str) -> None:
        self.version = "2.3.19.1 (9b53102964)" if series == "2.3" else "2.4.1-4 (7d8c0e5759)"
        self.real_conf = real_conf
        self.fail_live_check = False
        self.calls: list[list[str]] = []

    def __call__(self, argv, **_kwargs):
        argv = list(argv)
        self.calls.append(argv)
        if argv[1:] == ["--version"]:
            return 0, self.version + "\n", ""
        conf = argv[argv.index("-c") + 1]
        rest = argv[argv.index("-c") + 2:]
        if rest == ["-h", "default_internal_user", "default_login_user"]:
            return 0, "dovecot\ndovenull\n", ""
        if rest[-2:] == ["-h", "ssl"]:
            return self.check(conf, read_files="-x" in rest)
        filters = [rest[i + 1] for i, arg in enumerate(rest) if arg == "-f"]
        names = [arg for i, arg in enumerate(rest) if arg != "-f" and (i == 0 or rest[i - 1] != "-f")]
        return 0, self.query(conf, filters, names), ""

    def check(self, conf: str, *, read_files: bool):
        if self.fail_live_check and conf == self.real_conf:
            return 89, "", "doveconf: Fatal: live configuration refused (test)\n"
        for item in _dovecot.scan_config(conf).assignments:
            if item.name not in KNOWN:
                return 89, "", f"doveconf: Fatal: Error in configuration file {item.path} line {item.first_line}: Unknown setting: {item.name}\n"
            path = item.value[1:] if item.value.startswith("<") else item.value if item.name.endswith("_file") else ""
            if read_files and path and not os.path.exists(path):
                return 89, "", f"doveconf: Fatal: {item.name}: open({path}) failed: No such file or directory\n"
        return 0, "required\n", ""

    @staticmethod
    def query(conf: str, filters: list[str], names: list[str]) -> str:
        wanted = [("local_name" if key == "lname" else key, value) for key, value in (f.split("=", 1) for f in filters)]
        values: dict[str, str] = {}
        for item in _dovecot.scan_config(conf).assignments:  # file order: later wins, filters after globals
            if not item.section:
                values.setdefault(item.name, "")
                values[item.name] = item.value
        for item in _dovecot.scan_config(conf).assignments:
            if item.section and all(part in wanted for part in item.section):
                values[item.name] = item.value
        out = []
        for name in names:
            flat = name.replace("/", "_")
            value = values.get(flat, "")
            if "/" in name:
                group, _sep, inner = name.partition("/")
                out.append(f"{group} {{\n  {inner} = {value}\n}}")
            else:
                out.append(f"{name} = {value}")
        return "\n".join(out) + "\n"


@pytest.fixture(autouse=True)
def postfix_user(monkeypatch):
    """Whether this fake host has Postfix's user (postfix_auth=auto looks), whatever the test machine has:
    ``postfix_user.add("postfix")`` gives it one."""
    users: set[str] = set()
    real = _dovecot.pwd.getpwnam

    def getpwnam(name):
        if name == "postfix":
            if name not in users:
                raise KeyError(name)
            return real("root")
        return real(name)

    monkeypatch.setattr(_dovecot.pwd, "getpwnam", getpwnam)
    return users


@pytest.fixture
def tree(tmp_path, pki):
    """A Debian-like /etc/dovecot in tmp, a certificate pair (RSA + ECDSA) and an SNI pair."""
    etc = tmp_path / "etc" / "dovecot"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "dovecot.conf").write_text("!include conf.d/*.conf\n!include_try local.conf\n")

    def pair(label, kind, name="mail.example.org"):
        key = pki.key(label, kind=kind)
        cert_path = pki.write(f"pki/{label}/fullchain.pem", pki.cert(name, key, sans=[name]))
        key_path = pki.write(f"pki/{label}/privkey.pem", key)
        os.chmod(key_path, 0o600)
        return cert_path, key_path

    rsa_cert, rsa_key = pair("dv-rsa", "rsa")
    ec_cert, ec_key = pair("dv-ec", "ec")
    sni_cert, sni_key = pair("dv-sni", "ec", "imap.example.org")
    snakeoil, _snakeoil_key = pair("dv-snakeoil", "rsa", "localhost")
    # Like Debian's 10-ssl.conf; Dovecot opens it with -x even though the drop-in overrides it.
    (etc / "conf.d" / "10-ssl.conf").write_text(f"ssl = yes\nssl_cert = <{snakeoil}\n")

    class Tree:
        conf = str(etc / "dovecot.conf")
        dropin = str(etc / "conf.d" / "99-postmaster-tls.conf")
        local = str(etc / "local.conf")
        args = {
            "cert_path": rsa_cert, "key_path": rsa_key, "alt_cert_path": ec_cert, "alt_key_path": ec_key,
            "local_names": [{"name": "imap.example.org", "cert_path": sni_cert, "key_path": sni_key}],
            "config_path": str(etc / "dovecot.conf"), "dropin_path": str(etc / "conf.d" / "99-postmaster-tls.conf"),
            # The default flag is under /run on this machine; the tests that need one give their own.
            "reload_flag": "",
        }

        @staticmethod
        def snapshot() -> dict[str, bytes]:
            out = {}
            for root, _dirs, files in os.walk(etc):
                for name in files:
                    path = os.path.join(root, name)
                    out[path] = open(path, "rb").read()
            return out

    return Tree


@pytest.fixture
def dovecot(monkeypatch, tree):
    """Install a fake for the given series: ``fake = dovecot("2.4")``."""

    def install(series: str) -> FakeDovecot:
        fake = FakeDovecot(series, tree.conf)
        monkeypatch.setattr(AnsibleModule, "run_command", lambda self, argv, **kw: fake(argv, **kw))
        monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: f"/usr/bin/{name}")
        return fake

    return install


@pytest.mark.parametrize("series", ["2.3", "2.4"])
def test_check_mode_then_apply_then_idempotent(run_module, tree, dovecot, series):
    dovecot(series)
    predicted = run_module(dovecot_tls.main, tree.args, check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["changed_files"] == [tree.dropin]
    assert not os.path.exists(tree.dropin)
    assert predicted["diff"][0]["before"] == "" and "ssl = required" in predicted["diff"][0]["after"]

    applied = run_module(dovecot_tls.main, tree.args)
    assert applied["changed"] is True
    assert {key: applied[key] for key in ("settings", "changed_files", "conflicts")} == {
        key: predicted[key] for key in ("settings", "changed_files", "conflicts")}
    text = open(tree.dropin).read()
    assert text == predicted["diff"][0]["after"]
    assert oct(os.stat(tree.dropin).st_mode & 0o777) == "0o644"
    assert applied["dovecot_series"] == series
    if series == "2.3":
        assert f"ssl_cert = <{tree.args['cert_path']}\n" in text and "disable_plaintext_auth = yes\n" in text
    else:
        assert f"ssl_server_cert_file = {tree.args['cert_path']}\n" in text and "auth_allow_cleartext = no\n" in text
    assert applied["effective"]["ssl"] == "required" and applied["effective"]["ssl_min_protocol"] == "TLSv1.2"
    assert [c["key_type"] for c in applied["certificates"]] == ["rsa", "ecdsa", "ecdsa"]
    # One fact vocabulary: the certificate file is `path` (was cert_path), the names `dns_names`.
    assert applied["certificates"][0]["path"] == tree.args["cert_path"] and "cert_path" not in applied["certificates"][0]
    assert set(applied["certificates"][0]) == {"label", "path", "key_path", "chain_length", *_x509.FACT_KEYS}
    assert "PRIVATE KEY" not in json.dumps(applied)

    assert run_module(dovecot_tls.main, tree.args)["changed"] is False
    assert run_module(dovecot_tls.main, tree.args, check_mode=True)["changed"] is False


def test_profile_change_is_a_change(run_module, tree, dovecot):
    dovecot("2.4")
    run_module(dovecot_tls.main, tree.args)
    result = run_module(dovecot_tls.main, {**tree.args, "profile": "modern"}, diff=True)
    assert result["changed"] is True and result["settings"]["ssl_min_protocol"] == "TLSv1.3"
    assert "-ssl_cipher_list" not in result["diff"][0]["before"]
    assert "ssl_cipher_list" not in open(tree.dropin).read()


def test_conflicts_are_commented_out_and_shown(run_module, tree, dovecot):
    dovecot("2.3")
    original = "# admin\nssl_min_protocol = TLSv1\nprotocol pop3 {\n  ssl_cert = </old.pem\n}\n"
    open(tree.local, "w").write(original)
    result = run_module(dovecot_tls.main, {**tree.args, "backup": True}, diff=True)
    assert result["changed"] is True
    assert sorted(result["changed_files"]) == sorted([tree.dropin, tree.local])
    assert [(c["path"], c["line"], c["setting"], c["action"]) for c in result["conflicts"]] == [
        (tree.local, 2, "ssl_min_protocol", "commented out"), (tree.local, 4, "ssl_cert", "commented out")]
    assert any("commented out settings" in w for w in result["warnings"])
    local = open(tree.local).read()
    assert "#[postmaster.tls] overridden by conf.d/99-postmaster-tls.conf: ssl_min_protocol = TLSv1\n" in local
    diffs = {d["after_header"]: d for d in result["diff"]}
    assert diffs[tree.local]["before"] == original and diffs[tree.local]["after"] == local
    # A backup of the changed local.conf; the drop-in was new, so it has none.
    assert list(result["backup_files"]) == [tree.local]
    assert open(result["backup_files"][tree.local]).read() == original
    again = run_module(dovecot_tls.main, tree.args)
    assert again["changed"] is False and again["conflicts"] == []


def test_conflicts_fail_changes_nothing(run_module, tree, dovecot):
    dovecot("2.4")
    open(tree.local, "w").write("ssl_min_protocol = TLSv1\n")
    before = tree.snapshot()
    result = run_module(dovecot_tls.main, {**tree.args, "conflicts": "fail"})
    assert result["failed"] and "would override the drop-in" in result["msg"] and "local.conf line 1" in result["msg"]
    assert tree.snapshot() == before


def test_conflicts_warn_leaves_them_and_says_so(run_module, tree, dovecot):
    dovecot("2.4")
    open(tree.local, "w").write("ssl_min_protocol = TLSv1\n")
    result = run_module(dovecot_tls.main, {**tree.args, "conflicts": "warn"})
    assert result["changed"] is True and result["changed_files"] == [tree.dropin]
    assert open(tree.local).read() == "ssl_min_protocol = TLSv1\n"
    assert result["effective"]["ssl_min_protocol"] == "TLSv1"
    assert any("does not take effect everywhere" in w for w in result["warnings"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: {**a, "key_path": a["alt_key_path"]}, "does not match the certificate"),
        (lambda a: {**a, "cert_path": "/nonexistent/postmaster-tls/cert.pem"}, "does not exist; create it first"),
        (lambda a: {**a, "alt_cert_path": a["cert_path"], "alt_key_path": a["key_path"]}, "same key type"),
        (lambda a: {**a, "extra": {"ssl_min_protocol": "TLSv1"}}, "is set by this module"),
        (lambda a: {**a, "profile": "strongest"}, "must be one of: modern, intermediate, legacy"),
        (lambda a: {**a, "alt_key_path": None}, "alt_cert_path and alt_key_path go together"),
        (lambda a: {**a, "local_names": [{**a["local_names"][0], "alt_cert_path": a["alt_cert_path"]}]},
         "parameters are required together: alt_cert_path, alt_key_path found in local_names"),
    ],
)
def test_bad_input_fails_before_anything_changes(run_module, tree, dovecot, change, message):
    dovecot("2.4")
    run_module(dovecot_tls.main, tree.args)
    before = tree.snapshot()
    result = run_module(dovecot_tls.main, change(tree.args))
    assert result["failed"] and message in result["msg"], result["msg"]
    assert tree.snapshot() == before


def test_dovecot_refusing_the_candidate_changes_nothing(run_module, tree, dovecot):
    dovecot("2.3")
    open(tree.local, "w").write("ssl_min_protocol = TLSv1\n")
    before = tree.snapshot()
    result = run_module(dovecot_tls.main, {**tree.args, "extra": {"ssl_bogus": 1}})
    assert result["failed"] and result["rc"] == 89
    # Dovecot's own message, with the real path instead of the temporary candidate's.
    assert f"Error in configuration file {tree.dropin} line" in result["msg"]
    assert "Unknown setting: ssl_bogus" in result["stderr"] and "nothing was changed" in result["msg"]
    assert result["cmd"][:3] == ["/usr/bin/doveconf", "-c", tree.conf]
    assert tree.snapshot() == before


def test_refused_live_configuration_is_rolled_back(run_module, tree, dovecot):
    fake = dovecot("2.4")
    run_module(dovecot_tls.main, tree.args)
    open(tree.local, "w").write("ssl_min_protocol = TLSv1\n")
    before = tree.snapshot()
    fake.fail_live_check = True
    result = run_module(dovecot_tls.main, {**tree.args, "profile": "modern"})
    assert result["failed"] and "the previous files were restored" in result["msg"]
    assert "live configuration refused (test)" in result["msg"]
    assert tree.snapshot() == before


def test_missing_files_in_check_mode_predict_the_change(run_module, tree, dovecot):
    fake = dovecot("2.4")
    args = {**tree.args, "cert_path": "/nonexistent/postmaster-tls/cert.pem", "dh_path": "/nonexistent/dh.pem"}
    result = run_module(dovecot_tls.main, args, check_mode=True)
    assert result["changed"] is True
    assert any("check mode predicts" in w and "cert.pem" in w for w in result["warnings"])
    assert any("dh.pem" in w for w in result["warnings"])
    # The candidate was parsed without -x (the files cannot be opened yet).
    checks = [call for call in fake.calls if call[-2:] == ["-h", "ssl"]]
    assert checks and "-x" not in checks[0]
    failed = run_module(dovecot_tls.main, {**tree.args, "dh_path": "/nonexistent/dh.pem"})
    assert failed["failed"] and "/nonexistent/dh.pem does not exist" in failed["msg"]


def test_key_readable_by_everyone(run_module, tree, dovecot):
    dovecot("2.4")
    os.chmod(tree.args["key_path"], 0o644)
    try:
        refused = run_module(dovecot_tls.main, tree.args)
        assert refused["failed"] and "is readable by everyone" in refused["msg"] and "key_permissions=warn" in refused["msg"]
        assert not os.path.exists(tree.dropin)
        warned = run_module(dovecot_tls.main, {**tree.args, "key_permissions": "warn"})
        assert warned["changed"] is True and any("readable by everyone" in w for w in warned["warnings"])
    finally:
        os.chmod(tree.args["key_path"], 0o600)


def test_dropin_must_be_inside_and_included(run_module, tree, dovecot, tmp_path):
    dovecot("2.4")
    outside = run_module(dovecot_tls.main, {**tree.args, "dropin_path": str(tmp_path / "elsewhere.conf")})
    assert outside["failed"] and "must be inside" in outside["msg"]
    open(tree.conf, "w").write("ssl = yes\n")
    not_read = run_module(dovecot_tls.main, tree.args)
    assert not_read["failed"] and "does not include" in not_read["msg"]
    assert not os.path.exists(tree.dropin)


def test_no_dovecot_configuration(run_module, tree, dovecot):
    dovecot("2.4")
    result = run_module(dovecot_tls.main, {**tree.args, "config_path": "/nonexistent/dovecot.conf",
                                           "dropin_path": "/nonexistent/conf.d/99-postmaster-tls.conf"})
    assert result["failed"] and "no /nonexistent/dovecot.conf" in result["msg"] and "install it first" in result["msg"]


def test_dropin_symlink_is_replaced_not_written_through(run_module, tree, dovecot, tmp_path):
    dovecot("2.4")
    target = tmp_path / "outside.conf"
    target.write_text("ssl = yes\n")
    os.symlink(target, tree.dropin)
    result = run_module(dovecot_tls.main, tree.args)
    assert result["changed"] is True
    assert target.read_text() == "ssl = yes\n"
    assert not os.path.islink(tree.dropin) and "ssl = required" in open(tree.dropin).read()


def test_local_name_conflict_in_another_file(run_module, tree, dovecot):
    dovecot("2.3")
    other = tree.args["alt_cert_path"]
    open(tree.local, "w").write(textwrap.dedent(f"""\
        local_name imap.example.org {{
          ssl_cert = <{other}
        }}
        local_name other.example.org {{
          ssl_cert = <{other}
        }}
        """))
    result = run_module(dovecot_tls.main, tree.args)
    assert [(c["line"], c["section"]) for c in result["conflicts"]] == [(2, "local_name imap.example.org")]
    lines = open(tree.local).read().splitlines()
    assert lines[1].startswith("#[postmaster.tls] overridden by") and lines[4] == f"  ssl_cert = <{other}"


def test_dovecot_not_installed(run_module, tree, monkeypatch):
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: None)
    predicted = run_module(dovecot_tls.main, tree.args, check_mode=True)
    assert predicted["changed"] is True and predicted["changed_files"] == [tree.dropin]
    assert any("Dovecot is not installed" in w for w in predicted["warnings"])
    failed = run_module(dovecot_tls.main, tree.args)
    assert failed["failed"] and "install it first" in failed["msg"]
    assert not os.path.exists(tree.dropin)


def test_hint_when_24_version_settings_are_missing(run_module, tree, dovecot, monkeypatch):
    fake = dovecot("2.4")
    check = fake.check

    def no_version(conf, *, read_files):
        rc, out, err = check(conf, read_files=read_files)
        if conf != tree.conf:
            return 89, "", f"doveconf: Fatal: Error in configuration file {conf} line 1: The first setting must be dovecot_config_version\n"
        return rc, out, err

    monkeypatch.setattr(fake, "check", no_version)
    result = run_module(dovecot_tls.main, tree.args)
    assert result["failed"] and "The first setting must be dovecot_config_version" in result["msg"]
    assert "Debian 13's shipped dovecot.conf has them" in result["msg"]
    assert f"configuration file {tree.conf} line 1" in result["msg"]


def test_diff_masks_secrets_of_edited_files(run_module, tree, dovecot):
    dovecot("2.4")
    open(tree.local, "w").write("ssl_server_key_password = hunter2\nssl_min_protocol = TLSv1\n")
    result = run_module(dovecot_tls.main, tree.args, diff=True)
    assert result["changed"] is True
    assert "hunter2" not in json.dumps(result)
    assert "hunter2" in open(tree.local).read()  # only the report is masked, never the file


def test_reload_flag_is_raised_before_a_file_changes_and_reported(run_module, tree, dovecot, tmp_path):
    dovecot("2.3")
    flag = str(tmp_path / "run" / "dovecot.reload")
    check = run_module(dovecot_tls.main, dict(tree.args, reload_flag=flag), check_mode=True)
    assert check["changed"] and check["reload_pending"] is True and not os.path.exists(flag)
    applied = run_module(dovecot_tls.main, dict(tree.args, reload_flag=flag))
    assert applied["changed"] and applied["reload_pending"] is True and os.path.exists(flag)
    pending = run_module(dovecot_tls.main, dict(tree.args, reload_flag=flag))
    assert not pending["changed"] and pending["reload_pending"] is True
    os.unlink(flag)  # the role's handler, after a successful reload
    assert run_module(dovecot_tls.main, dict(tree.args, reload_flag=flag))["reload_pending"] is False
    unflagged = run_module(dovecot_tls.main, tree.args)  # reload_flag "" raises none
    assert unflagged["reload_pending"] is False and unflagged["reload_flag"] is None
    assert applied["reload_flag"] == flag
    # The handler's check runs doveconf by the path the module found, whatever the become method's PATH.
    assert applied["check_command"] == ["/usr/bin/doveconf", "-c", tree.conf, "-x", "-h", "ssl"]
    layout = run_module(dovecot_tls.main, dict(tree.args, reload_flag=None), check_mode=True)
    assert layout["reload_flag"] == _layout.reload_flag("dovecot")


# ---------------------------------------------------------------------------------------------
# Issue 22: the listener for Postfix's SASL, files of the wrong kind, values Dovecot would misread
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("series", ["2.3", "2.4"])
def test_postfix_auth_listener(run_module, tree, dovecot, postfix_user, tmp_path, series):
    dovecot(series)
    socket_path = str(tmp_path / "spool" / "private" / "auth")
    args = {**tree.args, "postfix_auth_path": socket_path}
    # auto: no Postfix on this host (no postfix user, no queue directory): no listener.
    result = run_module(dovecot_tls.main, args)
    assert result["postfix_auth"] is None and "service auth" not in open(tree.dropin).read()
    # present without Postfix: refused, nothing written.
    before = tree.snapshot()
    refused = run_module(dovecot_tls.main, {**args, "postfix_auth": "present"})
    assert refused["failed"] and "postfix_auth=present, but the user postfix and the directory" in refused["msg"]
    assert tree.snapshot() == before
    # Postfix installed: auto adds the listener, the same text for 2.3 and 2.4; then nothing changes.
    postfix_user.add("postfix")
    os.makedirs(os.path.dirname(socket_path))
    added = run_module(dovecot_tls.main, args, diff=True)
    assert added["changed"] and added["postfix_auth"] == socket_path
    assert f"service auth {{\n  unix_listener {socket_path} {{\n    mode = 0660\n    user = postfix\n    group = postfix\n  }}\n}}\n" \
        in open(tree.dropin).read()
    assert run_module(dovecot_tls.main, args)["changed"] is False
    removed = run_module(dovecot_tls.main, {**args, "postfix_auth": "absent"})
    assert removed["changed"] and removed["postfix_auth"] is None and "service auth" not in open(tree.dropin).read()


def shadow_like(tmp_path) -> str:
    path = tmp_path / "shadow"
    path.write_text("root:$y$j9T$secret-hash:19000:0:99999:7:::\n")
    return str(path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda a, shadow, leaf: {**a, "dh_path": shadow}, "dh_path: {shadow} is not a file of PEM Diffie-Hellman parameters"),
    (lambda a, shadow, leaf: {**a, "client_ca": {"path": shadow}}, "client_ca.path: {shadow} is not a file of PEM CA certificates"),
    (lambda a, shadow, leaf: {**a, "client_ca": {"path": leaf, "require_crl": False}}, "is not a CA certificate"),
    (lambda a, shadow, leaf: {**a, "extra": {"ssl_server_dh_file": shadow}}, "extra: ssl_server_dh_file is set by this module from its option dh_path"),
    (lambda a, shadow, leaf: {**a, "extra": {"ssl_client_ca_file": leaf}}, "extra: ssl_client_ca_file: certificate 1 in"),
    (lambda a, shadow, leaf: {**a, "extra": {"ssl_options": "no_compression\\"}},
     "extra: ssl_options = 'no_compression\\\\' cannot be written as a Dovecot setting: it ends in a backslash"),
    (lambda a, shadow, leaf: {**a, "extra": {"ssl_options": "no_compression # x"}}, "holds '#', which starts a comment"),
    (lambda a, shadow, leaf: {**a, "extra": {"ssl_options": '"no_compression'}}, "quote that does not close"),
    (lambda a, shadow, leaf: {**a, "extra": {"ssl_options": "no_compression {"}}, "braces do not pair up"),
    (lambda a, shadow, leaf: {**a, "extra": {"ssl_options\n": "x"}}, "extra key: 'ssl_options\\n' contains the control character(s) LF"),
    (lambda a, shadow, leaf: {**a, "cert_path": a["cert_path"] + "\x00"}, "cert_path: '"),
    (lambda a, shadow, leaf: {**a, "local_names": [{**a["local_names"][0], "name": "imap.example.org\r\nssl = no"}]},
     "local_names[1].name: 'imap.example.org\\r\\nssl = no' contains the control character(s) CR, LF"),
])
def test_values_that_would_reach_the_dropin_wrongly_are_refused(run_module, tree, dovecot, pki, tmp_path, change, message):
    dovecot("2.4")
    run_module(dovecot_tls.main, tree.args)
    shadow = shadow_like(tmp_path)
    leaf = pki.write("leaf-only.pem", pki.cert("leaf.example", pki.key("leaf-only")))
    before = tree.snapshot()
    result = run_module(dovecot_tls.main, change(tree.args, shadow, leaf))
    assert result.get("failed"), result
    assert message.format(shadow=shadow) in result["msg"], result["msg"]
    assert "secret-hash" not in result.text
    assert tree.snapshot() == before
