# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for _postfix: value semantics, the profile mapping, chain-file checks, planning, and a
whole run against a small in-memory Postfix (FakePostfix). The real Postfix 3.7 and 3.10 are
exercised by the Molecule scenario extensions/molecule/postfix."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ansible_collections.postmaster.tls.plugins.module_utils import _fileio, _postfix, _profiles, _sasl, _service, _x509

DEBIAN_MAIN_CF = """\
# See /usr/share/postfix/main.cf.dist for a commented, more complete version
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no

# TLS parameters
smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem
smtpd_tls_key_file=/etc/ssl/private/ssl-cert-snakeoil.key
smtpd_tls_security_level=may

smtp_tls_CApath=/etc/ssl/certs
smtp_tls_security_level=may
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache
myhostname = mail.example.test
"""
DEBIAN_MASTER_CF = """\
# Postfix master process configuration file.
smtp      inet  n       -       y       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
relay     unix  -       -       y       -       -       smtp -o syslog_name=postfix/$service_name
"""
KNOWN_UNKNOWN = re.compile(r"bogus")


class FakePostfix:
    """Just enough of postconf, postfix check, postmap and openssl ciphers for the module's logic.

    main.cf is ``name = value`` lines (comments kept); master.cf has one entry per line. Parameters
    whose name contains "bogus" are unknown to this Postfix (postconf -n warns), and
    ``inet_protocols = bogus`` makes postfix check fail as the real one does: silently unless it
    runs on a terminal (under ``script``).
    """

    def __init__(self, config_dir: str, *, map_types=("hash", "btree", "cdb")) -> None:
        self.config_dir = config_dir
        self.calls: list[list[str]] = []
        self.map_types = map_types
        self.running = True
        self.dovecot_listeners: list[str] = []
        self.defaults = {"default_database_type": "hash", "smtpd_sasl_type": "cyrus", "smtpd_sasl_path": "smtpd",
                         "queue_directory": "/var/spool/postfix", "smtpd_tls_mandatory_protocols": ">=TLSv1",
                         "data_directory": "/var/lib/postfix", "smtpd_sasl_auth_enable": "no"}
        os.makedirs(config_dir, exist_ok=True)
        with open(os.path.join(config_dir, "main.cf"), "w") as handle:
            handle.write(DEBIAN_MAIN_CF)
        with open(os.path.join(config_dir, "master.cf"), "w") as handle:
            handle.write(DEBIAN_MASTER_CF)

    # -- the files --------------------------------------------------------------------------------
    @staticmethod
    def _lines(directory: str, name: str) -> list[str]:
        with open(os.path.join(directory, name)) as handle:
            return handle.read().splitlines()

    @staticmethod
    def _write(directory: str, name: str, lines: list[str]) -> None:
        with open(os.path.join(directory, name), "w") as handle:
            handle.write("".join(line + "\n" for line in lines))

    def main(self, directory: str) -> dict[str, str]:
        out = {}
        for line in self._lines(directory, "main.cf"):
            if line.strip() and not line.startswith("#"):
                name, _sep, value = line.partition("=")
                out[name.strip()] = value.strip()
        return out

    def _entry_index(self, lines: list[str], key: str) -> int | None:
        name, service_type = key.split("/")[:2]
        for index, line in enumerate(lines):
            parts = line.split()
            if parts[:2] == [name, service_type] and not line.startswith("#"):
                return index
        return None

    # -- commands ---------------------------------------------------------------------------------
    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        tool = os.path.basename(argv[0])
        if tool == "postconf":
            return self.postconf(argv[1:])
        if tool == "postfix":
            return self.postfix(argv[1:])
        if tool == "script":
            assert argv[1] == "-qec" and argv[3] == "/dev/null", argv
            inner = shlex.split(argv[2])
            assert os.path.basename(inner[0]) == "postfix", inner
            rc, out, err = self.postfix(inner[1:], tty=True)
            return rc, (out + err).replace("\n", "\r\n"), ""
        if tool == "postmap":
            return self.postmap(argv[1:])
        if tool == "doveconf":
            assert argv[1:] == ["-n", "service/auth"], argv
            listeners = "".join(f"  unix_listener {path} {{\n    mode = 0660\n  }}\n" for path in self.dovecot_listeners)
            return 0, f"service auth {{\n{listeners}}}\n", ""
        if tool == "openssl":
            assert argv[1:3] == ["ciphers", "--"], "a cipher list is never an option of openssl ciphers"
            return (1, "", "Error in cipher list\n") if "NOPE" in argv[-1] else (0, "ECDHE-RSA-AES128-GCM-SHA256\n", "")
        raise AssertionError(f"unexpected command {argv}")

    def postconf(self, args: list[str]) -> tuple[int, str, str]:
        directory = self.config_dir
        if args[:1] == ["-c"]:
            directory = args[1]
            args = args[2:]
        if args == ["-m"]:
            return 0, "".join(f"{t}\n" for t in self.map_types), ""
        if args == ["-a"]:
            return 0, "cyrus\ndovecot\n", ""
        if args[0] == "-n" and len(args) > 1:
            params = self.main(directory)
            return 0, "".join(f"{n} = {params[n]}\n" for n in args[1:] if n in params), ""
        if args[0] == "-x" or args[:2] == ["-P", "-x"]:
            return self.expand(directory, args)
        if args == ["-n"]:
            params = self.main(directory)
            warnings = "".join(f"postconf: warning: {directory}/main.cf: unused parameter: {n}={v}\n"
                               for n, v in params.items() if KNOWN_UNKNOWN.search(n))
            for line in self._lines(directory, "master.cf"):
                for name, value in re.findall(r"-o (\S+?)=(\S+)", line):
                    if KNOWN_UNKNOWN.search(name):
                        warnings += f"postconf: warning: {directory}/master.cf: unused parameter: {name}={value}\n"
            return 0, "".join(f"{n} = {v}\n" for n, v in sorted(params.items())), warnings
        if args[0] == "-e":
            params = self._lines(directory, "main.cf")
            for arg in args[1:]:
                name, _sep, value = arg.partition("=")
                index = next((i for i, line in enumerate(params) if line.partition("=")[0].strip() == name), None)
                if index is None:
                    params.append(f"{name} = {value}")
                else:
                    params[index] = f"{name} = {value}"
            self._write(directory, "main.cf", params)
            return 0, "", ""
        if args[0] == "-X":
            params = [line for line in self._lines(directory, "main.cf") if line.partition("=")[0].strip() not in args[1:]]
            self._write(directory, "main.cf", params)
            return 0, "", ""
        if args[0] in ("-M", "-Mf"):
            lines = self._lines(directory, "master.cf")
            if "=" in args[1]:
                key, _sep, entry = args[1].partition("=")
                index = self._entry_index(lines, key)
                if index is None:
                    lines.append(entry)
                else:
                    lines[index] = entry
                self._write(directory, "master.cf", lines)
                return 0, "", ""
            index = self._entry_index(lines, args[1])
            if index is None:
                return 0, "", f"postconf: warning: unmatched request: \"{args[1]}\"\n"
            if args[0] == "-Mf":
                return 0, lines[index].replace(" -o ", "\n    -o ") + "\n", ""
            return 0, lines[index] + "\n", ""
        if args[0] == "-MX":
            lines = self._lines(directory, "master.cf")
            index = self._entry_index(lines, args[1])
            if index is not None:
                del lines[index]
            self._write(directory, "master.cf", lines)
            return 0, "", ""
        if args[0] in ("-P", "-PX"):
            lines = self._lines(directory, "master.cf")
            for arg in args[1:]:
                name_part, _sep, value = arg.partition("=")
                if re.search(r"\s", value):
                    return 1, "", "postconf: fatal: -Pe does not accept whitespace in parameter value\n"
                service, service_type, param = name_part.split("/")
                index = self._entry_index(lines, f"{service}/{service_type}")
                assert index is not None, arg
                line = re.sub(rf" -o {re.escape(param)}=\S+", "", lines[index])
                if args[0] == "-P":
                    line += f" -o {param}={value}"
                lines[index] = line
            self._write(directory, "master.cf", lines)
            return 0, "", ""
        defaults = args[0] == "-d"
        names = args[1:] if defaults else args
        source = self.defaults if defaults else {**self.defaults, **self.main(directory)}
        return 0, "".join(f"{n} = {source[n]}\n" for n in names if n in source), ""

    def expand(self, directory: str, args: list[str]) -> tuple[int, str, str]:
        """postconf -x NAME... and postconf -P -x SERVICE/TYPE/NAME...: $name expanded, undefined names warned about."""
        params = {**self.defaults, **self.main(directory)}
        warnings: list[str] = []

        def value_of(text: str, depth: int = 0) -> str:
            def one(match: re.Match) -> str:
                name = match.group(1) or match.group(2)
                if name not in params:
                    warnings.append(f"postconf: warning: {directory}/main.cf: undefined parameter: {name}\n")
                    return ""
                return value_of(params[name], depth + 1) if depth < 10 else params[name]
            return re.sub(r"\$\{?([A-Za-z0-9_]+)\}?|\$\(([A-Za-z0-9_]+)\)", one, text)

        out = ""
        if args[0] == "-x":
            for name in args[1:]:
                if name in params:
                    out += f"{name} = {value_of(params[name])}\n"
        else:
            lines = self._lines(directory, "master.cf")
            for key in args[2:]:
                service, service_type, name = key.split("/")
                index = self._entry_index(lines, f"{service}/{service_type}")
                found = re.search(rf" -o {re.escape(name)}=(\S+)", lines[index]) if index is not None else None
                if found:
                    out += f"{key} = {value_of(found.group(1))}\n"
        return 0, out, "".join(warnings)

    def postfix(self, args: list[str], *, tty: bool = False) -> tuple[int, str, str]:
        if args[0] == "-c" and args[2] == "status":
            # postfix status: rc 0 while the master runs, 1 with "the Postfix mail system is not running".
            return (0, "", "") if self.running else (1, "", "postfix/postfix-script: the Postfix mail system is not running\n")
        assert args[0] == "-c" and args[2] == "check", args
        if self.main(args[1]).get("inet_protocols") == "bogus":
            return 1, "", 'postfix: fatal: unknown inet_protocols value "bogus" in "bogus"\n' if tty else ""
        return 0, "", ""

    def postmap(self, args: list[str]) -> tuple[int, str, str]:
        if args[:2] == ["-F", "-q"]:
            key, spec = args[2], args[3]
            map_type, _sep, path = spec.partition(":")
            try:
                with open(path + _postfix.SNI_MAP_SUFFIXES[map_type]) as handle:
                    table = json.load(handle)
            except FileNotFoundError:
                return 1, "", "postmap: fatal: open database: No such file or directory\n"
            return (0, table[key] + "\n", "") if key in table else (1, "", "")
        assert args[0] == "-F", args
        map_type, _sep, path = args[1].partition(":")
        table = {}
        with open(path) as handle:
            for line in handle:
                if line.strip() and not line.startswith("#"):
                    name, files = line.split(None, 1)
                    table[name] = "".join(open(f.strip()).read() for f in files.split(","))
        with open(path + _postfix.SNI_MAP_SUFFIXES[map_type], "w") as handle:
            json.dump(table, handle)
        return 0, "", ""


class FakeHost(_service.ModuleHost):
    """A real AnsibleModule for the writes; FakePostfix for the commands; candidates under the test's directory."""

    def __init__(self, module, fake: FakePostfix, tmpdir: str) -> None:
        super().__init__(module)
        self.run = fake
        self.tmpdir = tmpdir


@pytest.fixture(autouse=True)
def _modules(ansible_module):
    """``run()`` below makes a module per run (check mode or not) with this factory."""
    MODULES.append(ansible_module)
    yield
    MODULES.pop()


MODULES: list = []


@pytest.fixture(autouse=True)
def cyrus_installed(monkeypatch):
    """The fake host has the Cyrus PLAIN/LOGIN modules (Postfix's default SASL backend), whatever the test machine has."""
    monkeypatch.setattr(_sasl, "cyrus_plugins", lambda: ["/usr/lib/x86_64-linux-gnu/sasl2/libplain.so.2"])


@pytest.fixture
def postfix(tmp_path) -> FakePostfix:
    return FakePostfix(str(tmp_path / "etc-postfix"))


def make_tools(fake: FakePostfix, *, script: str | None = "/usr/bin/script") -> _postfix.Tools:
    return _postfix.Tools(run=fake, postconf="/usr/sbin/postconf", postfix="/usr/sbin/postfix", postmap="/usr/sbin/postmap",
                          openssl="/usr/bin/openssl", script=script)


def combined(pki, name: str, kind: str, common_name: str = "mail.example.test", **kwargs) -> str:
    key = pki.key(f"{name}-{kind}", kind=kind)
    cert = pki.cert(common_name, key, sans=[common_name], **kwargs)
    path = pki.write(f"{name}/{kind}/combined.pem", [key, cert])
    os.chmod(path, 0o600)
    return path


def snapshot(directory: str) -> dict[str, bytes]:
    return {name: open(os.path.join(directory, name), "rb").read() for name in ("main.cf", "master.cf")}


def host(fake: FakePostfix, tmp_path, *, check_mode: bool = False) -> FakeHost:
    return FakeHost(MODULES[-1](check_mode=check_mode), fake, str(tmp_path))


def run(fake: FakePostfix, tmp_path, *, check_mode: bool = False, **options) -> _postfix.Outcome:
    request = _postfix.Request(config_dir=fake.config_dir, **options)
    return _postfix.run(host(fake, tmp_path, check_mode=check_mode), make_tools(fake), request)


# ---------------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,current,desired,same", [
    ("smtpd_tls_chain_files", "/a.pem, /b.pem", "/a.pem /b.pem", True),
    ("smtpd_tls_chain_files", "/a.pem,\n    /b.pem", "/a.pem, /b.pem", True),
    ("smtpd_tls_chain_files", "/b.pem, /a.pem", "/a.pem, /b.pem", False),  # order is the chain order
    ("smtpd_tls_protocols", "!SSLv2, !SSLv3", "!SSLv3 !SSLv2", True),  # a set
    ("smtpd_tls_protocols", ">=TLSv1.2", ">=TLSv1.3", False),
    ("smtpd_tls_auth_only", "YES", "yes", True),
    ("tls_high_cipherlist", "A:B", "A B", True),
    ("tls_high_cipherlist", "A:B", "B:A", False),
    ("smtpd_banner", "$myhostname  ESMTP", "$myhostname ESMTP", True),
    ("smtpd_banner", "a, b", "a b", False),  # not a list: commas are text
    ("mynetworks", "127.0.0.0/8 [::1]/128", "127.0.0.0/8, [::1]/128", True),
    ("smtpd_tls_cert_file", None, None, True),
    ("smtpd_tls_cert_file", "/x", None, False),
])
def test_values_are_compared_by_meaning(name, current, desired, same):
    assert _postfix.same_value(name, current, desired) is same


@pytest.mark.parametrize("value", [">=TLSv1.2", "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", "TLSv1.2 TLSv1.3", "<=TLSv1.3", "$other", ""])
def test_valid_protocol_lists_pass(value):
    _postfix.check_value("smtpd_tls_protocols", value, where="extra")


@pytest.mark.parametrize("value,bad", [(">=TLSv1.2, SSLv9", "SSLv9"), ("TLSv1.4", "TLSv1.4"), (">=SSLv2", ">=SSLv2"), ("tlsv1.2", "tlsv1.2")])
def test_bogus_protocol_names_are_refused_before_postfix_disables_tls(value, bad):
    with pytest.raises(_postfix.PostfixError, match=rf"unknown protocol name\(s\) '{re.escape(bad)}'; Postfix would disable TLS"):
        _postfix.check_value("lmtp_tls_mandatory_protocols", value, where="extra")


@pytest.mark.parametrize("name,value,message", [
    ("smtpd_tls_ciphers", "strong", "is not a cipher grade"),
    ("smtpd_tls_security_level", "dane", "is not a server TLS level"),
    ("smtp_tls_security_level", "maybe", "is not a client TLS level"),
    ("smtpd_tls_loglevel", "9", "is not a TLS log level"),
    ("smtpd_tls_auth_only", "true", "is not a Postfix boolean"),
    ("smtpd_tls_auth_only", "yes\nsmtpd_x = 1", "contains the control character(s) LF"),
    ("smtpd_tls_loglevel", "1\x00", "contains the control character(s) NUL"),
    ("tls_high_cipherlist", "-v", "is not an OpenSSL cipher list: OpenSSL selects no cipher from it"),
    ("tls_high_cipherlist", "HIGH;rm", "is not an OpenSSL cipher list: it contains ';'"),
    ("tls_medium_cipherlist", "HIGH:!aNULL:--", "'--' is not a cipher name, alias or operator"),
    ("smtpd_tls_exclude_ciphers", "aNULL, RC4 MD5 {x", "is not a list of OpenSSL cipher names"),
    ("smtpd-tls", "1", "is not a Postfix parameter name"),
])
def test_typed_values_are_checked(name, value, message):
    with pytest.raises(_postfix.PostfixError, match=re.escape(message)):
        _postfix.check_value(name, value, where="extra")


def test_service_values_cannot_hold_whitespace():
    with pytest.raises(_postfix.PostfixError, match="contains whitespace, which a master.cf -o value cannot hold"):
        _postfix.check_service_value("smtpd_client_restrictions", "permit_sasl_authenticated, reject", service="submission")
    _postfix.check_service_value("smtpd_client_restrictions", "permit_sasl_authenticated,reject", service="submission")


def test_yaml_values_are_rendered_for_postfix():
    assert _postfix.render_value("smtpd_tls_auth_only", True) == "yes"
    assert _postfix.render_value("x", False) == "no"
    assert _postfix.render_value("smtpd_tls_loglevel", 2) == "2"
    assert _postfix.render_value("mynetworks", ["127.0.0.0/8", "[::1]/128"]) == "127.0.0.0/8, [::1]/128"
    assert _postfix.render_value("smtpd_client_restrictions", ["permit_sasl_authenticated", "reject"], for_service=True) == \
        "permit_sasl_authenticated,reject"
    assert _postfix.render_value("x", None) is None


# ---------------------------------------------------------------------------------------------------
# Profile mapping
# ---------------------------------------------------------------------------------------------------
def test_intermediate_profile_parameters():
    params = _postfix.profile_parameters(_profiles.get_profile("intermediate"))
    assert params["smtpd_tls_protocols"] == ">=TLSv1.2"
    assert params["smtpd_tls_mandatory_protocols"] == ">=TLSv1.2"
    assert params["smtpd_tls_mandatory_ciphers"] == "high"
    assert params["tls_high_cipherlist"] == _profiles.get_profile("intermediate").cipher_list
    assert params["tls_preempt_cipherlist"] == "no"
    assert params["tls_eecdh_auto_curves"] == "X25519 prime256v1 secp384r1"
    assert params["smtpd_tls_auth_only"] == "yes"
    assert params["smtp_tls_protocols"] == ">=TLSv1"
    assert params["smtp_tls_mandatory_protocols"] == ">=TLSv1.2"
    assert "smtp_dns_support_level" not in params


def test_modern_keeps_port_25_at_tls12_and_the_library_cipher_list():
    params = _postfix.profile_parameters(_profiles.get_profile("modern"))
    assert params["smtpd_tls_mandatory_protocols"] == ">=TLSv1.3"
    assert params["smtpd_tls_protocols"] == ">=TLSv1.2"
    assert params["tls_high_cipherlist"] is None
    explicit = _postfix.profile_parameters(_profiles.get_profile("modern"), opportunistic_min_protocol="TLSv1.3")
    assert explicit["smtpd_tls_protocols"] == ">=TLSv1.3"


def test_legacy_allows_tls10_and_prefers_server_ciphers():
    params = _postfix.profile_parameters(_profiles.get_profile("legacy"))
    assert params["smtpd_tls_protocols"] == ">=TLSv1"
    assert params["smtpd_tls_mandatory_protocols"] == ">=TLSv1"
    assert params["tls_preempt_cipherlist"] == "yes"
    assert params["tls_high_cipherlist"].endswith("@SECLEVEL=0")


@pytest.mark.parametrize("level", ["dane", "dane-only"])
def test_dane_turns_on_dnssec_lookups(level):
    params = _postfix.profile_parameters(_profiles.get_profile("intermediate"), client_security_level=level)
    assert params["smtp_tls_security_level"] == level
    assert params["smtp_dns_support_level"] == "dnssec"


def test_session_cache_off_removes_both_caches_and_options_pass_through():
    params = _postfix.profile_parameters(_profiles.get_profile("intermediate"), session_cache=False, log_level=2, received_header=False,
                                         client_min_protocol="TLSv1.2", client_mandatory_min_protocol="TLSv1.3")
    assert params["smtpd_tls_session_cache_database"] is None
    assert params["smtp_tls_session_cache_database"] is None
    assert params["smtpd_tls_loglevel"] == params["smtp_tls_loglevel"] == "2"
    assert params["smtpd_tls_received_header"] == "no"
    assert params["smtp_tls_protocols"] == ">=TLSv1.2"
    assert params["smtp_tls_mandatory_protocols"] == ">=TLSv1.3"


def test_chain_files_replace_the_legacy_certificate_parameters():
    desired = _postfix.desired_state(_postfix.Request(chain_files=["/etc/a/combined.pem", "/etc/b/combined.pem"]))
    assert desired.parameters["smtpd_tls_chain_files"] == "/etc/a/combined.pem, /etc/b/combined.pem"
    for legacy in _postfix.LEGACY_CERT_PARAMETERS:
        assert desired.parameters[legacy] is None
    assert "smtpd_tls_chain_files" not in _postfix.desired_state(_postfix.Request()).parameters


def test_extra_replaces_modelled_values_and_is_checked():
    desired = _postfix.desired_state(_postfix.Request(extra={"smtpd_tls_protocols": "!SSLv2, !SSLv3, !TLSv1", "tls_ssl_options": "NO_RENEGOTIATION",
                                                             "smtpd_tls_session_cache_database": None}))
    assert desired.parameters["smtpd_tls_protocols"] == "!SSLv2, !SSLv3, !TLSv1"
    assert desired.parameters["tls_ssl_options"] == "NO_RENEGOTIATION"
    assert desired.parameters["smtpd_tls_session_cache_database"] is None
    with pytest.raises(_postfix.PostfixError, match="extra: smtpd_tls_mandatory_protocols"):
        _postfix.desired_state(_postfix.Request(extra={"smtpd_tls_mandatory_protocols": "TLSv9"}))


def test_empty_chain_files_and_unknown_profiles_are_refused():
    with pytest.raises(_postfix.PostfixError, match="chain_files is empty"):
        _postfix.desired_state(_postfix.Request(chain_files=[]))
    with pytest.raises(_profiles.UnknownProfileError, match="choose one of modern, intermediate, legacy"):
        _postfix.desired_state(_postfix.Request(profile="paranoid"))


def test_service_options_extend_and_remove_overrides():
    desired = _postfix.desired_state(_postfix.Request(service_options={"smtpd_sasl_type": "dovecot", "smtpd_tls_auth_only": None},
                                                      submissions="unmanaged"))
    assert [spec.key for spec in desired.services] == ["submission/inet"]
    overrides = desired.services[0].overrides
    assert overrides["smtpd_sasl_type"] == "dovecot"
    assert overrides["smtpd_tls_auth_only"] is None
    assert overrides["smtpd_tls_security_level"] == "encrypt"


@pytest.mark.parametrize("sni,message", [
    ({"mail_example": ["/a.pem"]}, "is not a DNS name"),
    ({"mail.example.org": ["relative.pem"]}, "must be an absolute path"),
    ({"mail.example.org": ["/a b.pem"]}, "must be an absolute path"),
    ({"mail.example.org": []}, "needs a list of chain files"),
    ({"Mail.Example.org": ["/a.pem"], "mail.example.org.": ["/b.pem"]}, "is listed twice"),
])
def test_bad_sni_maps_are_refused(sni, message):
    with pytest.raises(_postfix.PostfixError, match=message):
        _postfix.desired_state(_postfix.Request(sni_maps=sni))


def test_sni_names_are_normalised():
    sni = {"Mail.Example.ORG": "/a.pem, /b.pem", ".example.net": ["/c.pem"]}
    desired = _postfix.desired_state(_postfix.Request(config_dir="/etc/postfix", sni_maps=sni))
    assert desired.sni == {"mail.example.org": ["/a.pem", "/b.pem"], ".example.net": ["/c.pem"]}
    assert desired.parameters["tls_server_sni_maps"] == "hash:/etc/postfix/tls_server_sni_map"


# ---------------------------------------------------------------------------------------------------
# Chain files
# ---------------------------------------------------------------------------------------------------
def test_rsa_and_ecdsa_chain_files_are_described(pki):
    rsa_file = combined(pki, "mail", "rsa")
    ec_file = combined(pki, "mail", "ec")
    facts = _postfix.inspect_chain_files([rsa_file, ec_file], label="chain_files")
    assert [entry["key_type"] for entry in facts.entries] == ["rsa", "ecdsa"]
    assert facts.entries[0]["dns_names"] == ["mail.example.test"] and facts.entries[0]["path"] == rsa_file
    assert set(facts.entries[0]) == {"path", "key_path", "chain_length", *_x509.FACT_KEYS}
    assert re.fullmatch(r"([0-9a-f]{2}:){31}[0-9a-f]{2}", facts.entries[0]["fingerprint_sha256"])
    assert facts.warnings == []
    assert "PRIVATE" not in json.dumps(facts.entries)


def test_key_and_chain_may_be_in_consecutive_files(pki):
    key = pki.key("split", kind="ec")
    key_file = pki.write("split/key.pem", key)
    os.chmod(key_file, 0o600)
    cert_file = pki.write("split/cert.pem", pki.cert("mail.example.test", key))
    assert len(_postfix.inspect_chain_files([key_file, cert_file], label="chain_files").entries) == 1


def test_intermediates_in_order_give_no_warning_and_reversed_ones_do(pki):
    _root, intermediate, leaf, leaf_key, _int_key = pki.chain(leaf_names=["mail.example.test"])
    good = pki.write("chain/good.pem", [leaf_key, leaf, intermediate])
    os.chmod(good, 0o600)
    facts = _postfix.inspect_chain_files([good], label="chain_files")
    assert facts.entries[0]["chain_length"] == 2 and facts.warnings == []
    other = pki.cert("Unrelated CA", pki.key("unrelated"), ca=True)
    bad = pki.write("chain/bad.pem", [leaf_key, leaf, other])
    os.chmod(bad, 0o600)
    assert "is not signed by the next certificate" in _postfix.inspect_chain_files([bad], label="chain_files").warnings[0]


@pytest.mark.parametrize("case,message", [
    ("cert_first", "starts with a certificate; Postfix needs each private key immediately before its certificate"),
    ("mismatch", "does not match the certificate that follows it"),
    ("two_rsa", "two RSA keys"),
    ("key_only", "is not followed by its certificate"),
    ("encrypted", "is passphrase-protected; Postfix cannot read encrypted keys"),
    ("csr", "holds a 'CERTIFICATE REQUEST' PEM object"),
    ("empty", "holds no PEM objects"),
    ("relative", "must be an absolute path without $variables"),
])
def test_broken_chain_files_are_refused(pki, case, message):
    key = pki.key("broken-rsa", kind="rsa")
    cert = pki.cert("mail.example.test", key)
    if case == "cert_first":
        paths = [pki.write("b/f.pem", [cert, key])]
    elif case == "mismatch":
        paths = [pki.write("b/f.pem", [pki.key("other-rsa", kind="rsa"), cert])]
    elif case == "two_rsa":
        paths = [pki.write("b/f.pem", [key, cert]), combined(pki, "second", "rsa")]
    elif case == "key_only":
        paths = [pki.write("b/f.pem", [key])]
    elif case == "encrypted":
        encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"secret"))
        paths = [pki.write("b/f.pem", [encrypted, cert])]
    elif case == "csr":
        paths = [pki.write("b/f.pem", [key, cert, pki.csr(key).public_bytes(serialization.Encoding.PEM)])]
    elif case == "empty":
        paths = [pki.write("b/f.pem", b"not pem\n")]
    else:
        paths = ["relative/combined.pem"]
    with pytest.raises(_postfix.PostfixError, match=re.escape(message)):
        _postfix.inspect_chain_files(paths, label="chain_files")


def test_missing_chain_file_is_its_own_error(tmp_path):
    with pytest.raises(_postfix.MissingFileError, match="does not exist; install the certificate first"):
        _postfix.inspect_chain_files([str(tmp_path / "none.pem")], label="chain_files")


def test_world_readable_key_files_warn(pki):
    key = pki.key("warn-ec")
    path = pki.write("w/combined.pem", [key, pki.cert("mail.example.test", key)])
    os.chmod(path, 0o644)
    warnings = _postfix.inspect_chain_files([path], label="chain_files").warnings
    assert any("world-readable (mode 0644)" in w for w in warnings)


def test_certificates_clients_refuse_are_refused(pki):
    """Expired, weak or SHA-1: Postfix would serve them and clients would refuse them."""
    key = pki.key("refuse-ec")
    expired = pki.write("r/expired.pem", [key, pki.cert("mail.example.test", key, not_before=pki.now.replace(year=pki.now.year - 2),
                                                        not_after=pki.now.replace(year=pki.now.year - 1))])
    with pytest.raises(_postfix.PostfixError, match="refused by the validity check: .* it expired on"):
        _postfix.inspect_chain_files([expired], label="chain_files")
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak = pki.write("r/weak.pem", [weak_key, pki.cert("mail.example.test", weak_key)])
    with pytest.raises(_postfix.PostfixError, match="refused by the key strength check: .* 1024 bits"):
        _postfix.inspect_chain_files([weak], label="chain_files")


# ---------------------------------------------------------------------------------------------------
# master.cf entries and planning
# ---------------------------------------------------------------------------------------------------
def test_service_entries_parse_every_override_form():
    entry = _postfix.ServiceEntry.parse("submission inet n - y - - smtpd -v -o syslog_name=postfix/submission "
                                        "-osmtpd_sasl_auth_enable=yes -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }")
    assert entry.fields == ("submission", "inet", "n", "-", "y", "-", "-", "smtpd")
    assert entry.overrides == {"syslog_name": "postfix/submission", "smtpd_sasl_auth_enable": "yes",
                               "smtpd_client_restrictions": "permit_sasl_authenticated, reject"}
    assert entry.other_args == ["-v"]
    assert _postfix.ServiceEntry.parse(entry.render()) == entry
    with pytest.raises(_postfix.PostfixError, match="cannot parse master.cf entry"):
        _postfix.ServiceEntry.parse("submission inet n")


def test_parameters_are_planned_by_meaning():
    result = _postfix.Plan()
    current = {"smtpd_tls_protocols": "!SSLv2 !SSLv3", "smtpd_tls_auth_only": "YES", "smtpd_tls_cert_file": "/x.pem",
               "smtpd_tls_loglevel": "0"}
    desired = {"smtpd_tls_protocols": "!SSLv3, !SSLv2", "smtpd_tls_auth_only": "yes", "smtpd_tls_cert_file": None,
               "smtpd_tls_key_file": None, "smtpd_tls_loglevel": "1", "smtpd_tls_received_header": "yes"}
    _postfix.plan_parameters(current, desired, result)
    assert result.set_args == ["smtpd_tls_loglevel=1", "smtpd_tls_received_header=yes"]
    assert result.remove_args == ["smtpd_tls_cert_file"]
    assert result.parameter_changes["smtpd_tls_received_header"] == {"before": None, "after": "yes"}


def test_a_new_service_copies_the_smtp_columns():
    result = _postfix.Plan()
    template = _postfix.ServiceEntry.parse("smtp inet n - y - - smtpd")
    spec = _postfix.ServiceSpec(name="submission", state="present", overrides={"syslog_name": "postfix/submission", "x": None})
    _postfix.plan_service(spec, None, template, result)
    assert result.service_commands == [["-M", "submission/inet=submission inet n - y - - smtpd -o syslog_name=postfix/submission"]]


def test_an_existing_service_gets_only_the_differing_overrides():
    result = _postfix.Plan()
    current = _postfix.ServiceEntry.parse("submission inet n - - - - smtpd -o syslog_name=postfix/submission "
                                          "-o smtpd_tls_security_level=may -o milter_macro_daemon_name=ORIGINATING -o old=1")
    spec = _postfix.ServiceSpec(name="submission", state="present",
                                overrides={"syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt", "old": None})
    _postfix.plan_service(spec, current, None, result)
    assert result.service_commands == [["-P", "submission/inet/smtpd_tls_security_level=encrypt"], ["-PX", "submission/inet/old"]]


def test_absent_services_are_removed_and_foreign_commands_replaced():
    result = _postfix.Plan()
    current = _postfix.ServiceEntry.parse("submissions inet n - y - - smtpd -o smtpd_tls_wrappermode=yes")
    _postfix.plan_service(_postfix.ServiceSpec(name="submissions", state="absent", overrides={}), current, None, result)
    assert result.service_commands == [["-MX", "submissions/inet"]]
    result = _postfix.Plan()
    odd = _postfix.ServiceEntry.parse("submission inet n - y - - proxymap -o syslog_name=x")
    _postfix.plan_service(_postfix.ServiceSpec(name="submission", state="present", overrides={"syslog_name": "x"}), odd, None, result)
    assert result.service_commands == [["-M", "submission/inet=submission inet n - y - - smtpd -o syslog_name=x"]]


# ---------------------------------------------------------------------------------------------------
# Whole runs against FakePostfix
# ---------------------------------------------------------------------------------------------------
def test_first_run_changes_second_run_does_not(postfix, tmp_path, pki):
    chain = [combined(pki, "mail", "rsa"), combined(pki, "mail", "ec")]
    first = run(postfix, tmp_path, chain_files=chain)
    assert first.changed
    main = postfix.main(postfix.config_dir)
    assert main["smtpd_tls_chain_files"] == ", ".join(chain)
    assert "smtpd_tls_cert_file" not in main and "smtpd_tls_key_file" not in main
    assert main["smtpd_tls_protocols"] == ">=TLSv1.2"
    # Every -e argument is one argv element NAME=VALUE, never quoted by hand.
    set_calls = [call for call in postfix.calls if "-e" in call]
    assert all(len(call) == 5 and call[-1].count("=") >= 1 and not call[-1].startswith(("'", '"')) for call in set_calls)
    assert ["/usr/sbin/postconf", "-c", first.candidate.directory, "-e", f"smtpd_tls_chain_files={', '.join(chain)}"] in postfix.calls
    master = open(os.path.join(postfix.config_dir, "master.cf")).read()
    assert "submission inet n - y - - smtpd -o syslog_name=postfix/submission -o smtpd_tls_security_level=encrypt" in master
    assert "submissions inet n - y - - smtpd -o syslog_name=postfix/submissions -o smtpd_tls_wrappermode=yes" in master
    assert "relay     unix  -       -       y       -       -       smtp -o syslog_name=postfix/$service_name" in master
    assert not os.path.exists(first.candidate.directory)

    postfix.calls.clear()
    second = run(postfix, tmp_path, chain_files=chain)
    assert not second.changed
    assert second.result()["commands"] == []
    assert not any("-e" in call or "check" in call for call in postfix.calls)


def test_check_mode_predicts_exactly_and_writes_nothing(postfix, tmp_path, pki):
    chain = [combined(pki, "mail", "rsa")]
    before = snapshot(postfix.config_dir)
    predicted = run(postfix, tmp_path, check_mode=True, chain_files=chain)
    assert snapshot(postfix.config_dir) == before
    assert predicted.changed
    applied = run(postfix, tmp_path, chain_files=chain)
    assert predicted.result()["changes"] == applied.result()["changes"]
    assert predicted.result()["commands"] == applied.result()["commands"]
    diff = applied.diff()
    assert [d["before_header"] for d in diff] == [os.path.join(postfix.config_dir, "main.cf"), os.path.join(postfix.config_dir, "master.cf")]
    assert diff[0]["before"] == before["main.cf"].decode()
    assert diff[0]["after"] == open(os.path.join(postfix.config_dir, "main.cf")).read()
    assert "PRIVATE KEY" not in json.dumps(applied.result()) + json.dumps(diff)
    assert not run(postfix, tmp_path, check_mode=True, chain_files=chain).changed


def test_missing_chain_file_is_predicted_in_check_mode_and_fails_for_real(postfix, tmp_path):
    missing = str(tmp_path / "later" / "combined.pem")
    predicted = run(postfix, tmp_path, check_mode=True, chain_files=[missing])
    assert predicted.changed
    assert any("check mode: assuming an earlier task creates it" in w for w in predicted.warnings)
    before = snapshot(postfix.config_dir)
    with pytest.raises(_postfix.MissingFileError, match="does not exist"):
        run(postfix, tmp_path, chain_files=[missing])
    assert snapshot(postfix.config_dir) == before


@pytest.mark.parametrize("options,message", [
    ({"extra": {"smtpd_tls_bogus_setting": "yes"}}, "Postfix does not know the parameter(s) smtpd_tls_bogus_setting"),
    ({"service_options": {"smtpd_bogus_flag": "yes"}}, "Postfix does not know the parameter(s) smtpd_bogus_flag"),
    ({"extra": {"inet_protocols": "bogus"}}, 'postfix check refused the new configuration: postfix: fatal: unknown inet_protocols value "bogus"'),
    ({"extra": {"tls_high_cipherlist": "NOPE-CIPHER"}}, "is not an OpenSSL cipher list: OpenSSL selects no cipher from it"),
    ({"extra": {"smtpd_tls_protocols": "TLSv9"}}, "unknown protocol name(s) 'TLSv9'"),
])
def test_refused_configurations_change_nothing(postfix, tmp_path, options, message):
    before = snapshot(postfix.config_dir)
    with pytest.raises(_postfix.PostfixError) as caught:
        run(postfix, tmp_path, **options)
    assert message in str(caught.value)
    assert snapshot(postfix.config_dir) == before
    assert [name for name in os.listdir(tmp_path) if name.startswith("postmaster-postfix-")] == []
    # Messages name the real directory, not the private candidate copy.
    assert "postmaster-postfix-" not in str(caught.value)


def test_failed_install_restores_both_files_exactly(postfix, tmp_path, pki, monkeypatch):
    before = snapshot(postfix.config_dir)
    real_write = _fileio.atomic_write

    def failing_write(module, path, content, **kwargs):
        if path.endswith("master.cf"):
            raise _fileio.FileIOError(f"cannot write {path}: disk full")
        return real_write(module, path, content, **kwargs)

    monkeypatch.setattr(_fileio, "atomic_write", failing_write)
    with pytest.raises(_fileio.FileIOError, match="disk full"):
        run(postfix, tmp_path, chain_files=[combined(pki, "mail", "rsa")])
    assert snapshot(postfix.config_dir) == before


def test_backup_keeps_the_previous_files(postfix, tmp_path, pki):
    before = snapshot(postfix.config_dir)
    outcome = run(postfix, tmp_path, chain_files=[combined(pki, "mail", "rsa")], backup=True)
    assert sorted(outcome.backup_files) == ["main_cf", "master_cf"]
    assert open(outcome.backup_files["main_cf"], "rb").read() == before["main.cf"]


def test_modes_of_main_cf_are_kept(postfix, tmp_path, pki):
    path = os.path.join(postfix.config_dir, "main.cf")
    os.chmod(path, 0o640)
    run(postfix, tmp_path, chain_files=[combined(pki, "mail", "rsa")])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_services_can_be_removed_and_left_alone(postfix, tmp_path):
    run(postfix, tmp_path)
    outcome = run(postfix, tmp_path, submissions="absent", submission="unmanaged")
    assert outcome.changed
    master = open(os.path.join(postfix.config_dir, "master.cf")).read()
    assert "submissions inet" not in master
    assert "submission inet" in master
    assert list(outcome.result()["changes"]["services"]) == ["submissions/inet"]


def test_sni_table_is_built_private_kept_and_rebuilt_after_renewal(postfix, tmp_path, pki):
    default = combined(pki, "mail", "rsa")
    other = combined(pki, "other", "rsa", common_name="other.example.test")
    sni = {"other.example.test": [other], "mail.example.test": [default]}
    map_path = os.path.join(postfix.config_dir, "tls_server_sni_map")
    first = run(postfix, tmp_path, chain_files=[default], sni_maps=sni, sni_map_type="hash")
    assert first.changed and first.plan.sni_rebuild
    assert postfix.main(postfix.config_dir)["tls_server_sni_maps"] == f"hash:{map_path}"
    assert stat.S_IMODE(os.stat(map_path + ".db").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(map_path).st_mode) == 0o600
    assert open(map_path).read().splitlines()[1:] == [f"mail.example.test {default}", f"other.example.test {other}"]
    assert [name for name in os.listdir(postfix.config_dir) if name.startswith(".")] == []

    assert not run(postfix, tmp_path, chain_files=[default], sni_maps=sni, sni_map_type="hash").changed

    # A renewal rewrites other's combined file: same source text, new content in the table.
    key = pki.key("other-renewed", kind="rsa")
    with open(other, "wb") as handle:
        handle.write(pki.pem([key, pki.cert("other.example.test", key, sans=["other.example.test"])]))
    renewed = run(postfix, tmp_path, chain_files=[default], sni_maps=sni, sni_map_type="hash")
    assert renewed.changed and not renewed.plan.config_changed
    assert renewed.plan.sni_reasons == [f"the table entry for other.example.test does not hold the current content of {other}"]

    gone = run(postfix, tmp_path, chain_files=[default], sni_maps={}, sni_map_type="hash")
    assert gone.changed
    assert "tls_server_sni_maps" not in postfix.main(postfix.config_dir)
    assert not os.path.exists(map_path) and not os.path.exists(map_path + ".db")


def test_sni_map_type_defaults_to_postfix_and_must_be_available(postfix, tmp_path, pki):
    default = combined(pki, "mail", "rsa")
    outcome = run(postfix, tmp_path, sni_maps={"mail.example.test": [default]})
    assert outcome.request.sni_map_type == "hash"
    with pytest.raises(_postfix.PostfixError, match="this Postfix has no 'lmdb' tables"):
        run(postfix, tmp_path, sni_maps={"mail.example.test": [default]}, sni_map_type="lmdb")


def test_sni_certificate_for_another_name_warns(postfix, tmp_path, pki):
    wrong = combined(pki, "mail", "rsa")
    outcome = run(postfix, tmp_path, sni_maps={"other.example.test": [wrong]}, check_mode=True)
    assert any("not other.example.test" in warning for warning in outcome.warnings)


def test_result_reports_the_profile_and_services(postfix, tmp_path):
    result = run(postfix, tmp_path, profile="modern", client_security_level="dane").result()
    assert result["profile"]["min_protocol"] == "TLSv1.3"
    assert result["profile"]["opportunistic_min_protocol"] == "TLSv1.2"
    assert result["parameters"]["smtp_dns_support_level"] == "dnssec"
    assert result["services"]["submission/inet"]["options"]["smtpd_tls_security_level"] == "encrypt"
    # Not set before: the change also shows the default Postfix used until now.
    assert result["changes"]["parameters"]["smtpd_tls_mandatory_protocols"] == {"before": None, "after": ">=TLSv1.3", "default": ">=TLSv1"}
    assert any(command == "postconf -e 'smtpd_tls_mandatory_protocols=>=TLSv1.3'" for command in result["commands"])


def test_postfix_check_message_needs_a_terminal(postfix, tmp_path):
    """postfix(1) prints nothing without a terminal; the module asks again under script(1)."""
    request = _postfix.Request(config_dir=postfix.config_dir, extra={"inet_protocols": "bogus"})
    with pytest.raises(_postfix.PostfixCommandError) as caught:
        _postfix.run(host(postfix, tmp_path, check_mode=True), make_tools(postfix, script=None), request)
    assert str(caught.value) == "postfix check refused the new configuration: exit status 1; Postfix logged the reason to the mail log"
    # The command names the private candidate copy it ran on (removed since); the message does not.
    assert caught.value.cmd[:2] == ["/usr/sbin/postfix", "-c"] and caught.value.cmd[3] == "check"
    assert "postmaster-postfix-" in caught.value.cmd[2] and not os.path.exists(caught.value.cmd[2])
    postfix.calls.clear()
    with pytest.raises(_postfix.PostfixCommandError, match='postfix: fatal: unknown inet_protocols value "bogus" in "bogus"$'):
        run(postfix, tmp_path, check_mode=True, extra={"inet_protocols": "bogus"})
    assert [call[0] for call in postfix.calls if "check" in call[-1] or call[0].endswith("script")][-2:] == ["/usr/sbin/postfix", "/usr/bin/script"]


def test_running_asks_postfix_status_for_the_config_dir(postfix):
    tools = make_tools(postfix)
    assert tools.running(postfix.config_dir) is True
    assert postfix.calls[-1] == ["/usr/sbin/postfix", "-c", postfix.config_dir, "status"]
    postfix.running = False
    assert tools.running(postfix.config_dir) is False
    assert _postfix.Tools(run=postfix, postconf="/usr/sbin/postconf").running(postfix.config_dir) is None
