# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_postfix's SASL decisions (sasl_type=auto, the backend check) and $name values, against FakePostfix and a
small Dovecot auth server on a UNIX socket. Real Postfix and Dovecot: the Molecule scenarios sasl and badinput."""

from __future__ import annotations

import os
import socket

import pytest
from local_server import LocalServer

from ansible_collections.postmaster.tls.plugins.module_utils import _postfix, _sasl
from ansible_collections.postmaster.tls.tests.unit.plugins.module_utils.test_postfix import FakePostfix, host, make_tools, snapshot
from ansible_collections.postmaster.tls.tests.unit.plugins.module_utils.test_postfix import _modules  # noqa: F401 pylint: disable=unused-import
from ansible_collections.postmaster.tls.tests.unit.plugins.module_utils.test_postfix import cyrus_installed  # noqa: F401 pylint: disable=unused-import


class AuthServer(LocalServer):
    """Dovecot's auth service on a UNIX socket, as far as the handshake goes: waits for the client's VERSION (as 2.4
    does), then sends VERSION, one MECH line per mechanism, and DONE. Connections are served one after the other."""

    def __init__(self, path: str, mechanisms: list[str]) -> None:
        self.mechanisms = mechanisms
        self.connections = 0
        super().__init__(backlog=8, threaded=False, path=path)

    def handle(self, conn: socket.socket) -> None:
        self.connections += 1
        with conn:
            data = b""
            while b"CPID" not in data:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
            lines = ["VERSION\t1\t2"] + [f"MECH\t{m}\tplaintext" for m in self.mechanisms] + ["SPID\t1", "CUID\t1", "DONE"]
            conn.sendall("".join(line + "\n" for line in lines).encode())


@pytest.fixture
def postfix(tmp_path) -> FakePostfix:
    return FakePostfix(str(tmp_path / "etc-postfix"))


@pytest.fixture
def short_dir():
    """AF_UNIX paths are limited to about 100 bytes: pytest's tmp_path can be longer."""
    import tempfile
    directory = tempfile.mkdtemp(prefix="pm-sasl-", dir="/tmp")
    yield directory
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    os.rmdir(directory)


def run(fake: FakePostfix, tmp_path, *, check_mode: bool = False, doveconf: bool = False, **options) -> _postfix.Outcome:
    tools = make_tools(fake)
    tools.doveconf = "/usr/bin/doveconf" if doveconf else None
    request = _postfix.Request(config_dir=fake.config_dir, **options)
    return _postfix.run(host(fake, tmp_path, check_mode=check_mode), tools, request)


def master_cf(fake: FakePostfix) -> str:
    with open(os.path.join(fake.config_dir, "master.cf")) as handle:
        return handle.read()


# ---------------------------------------------------------------------------------------------------
# sasl_type=auto
# ---------------------------------------------------------------------------------------------------
def test_auto_without_dovecot_keeps_postfix_default_and_checks_cyrus(postfix, tmp_path):
    outcome = run(postfix, tmp_path)
    assert "smtpd_sasl_type" not in master_cf(postfix)
    assert outcome.result()["sasl"] == [
        {"service": "submission/inet", "type": "cyrus", "path": "smtpd", "status": "installed", "mechanisms": []},
        {"service": "submissions/inet", "type": "cyrus", "path": "smtpd", "status": "installed", "mechanisms": []},
    ]


def test_auto_with_dovecot_refuses_before_writing_when_no_listener_exists(postfix, tmp_path):
    before = snapshot(postfix.config_dir)
    with pytest.raises(_postfix.PostfixError) as caught:
        run(postfix, tmp_path, doveconf=True)
    message = str(caught.value)
    assert "submission/inet has SASL on (smtpd_sasl_auth_enable=yes) but Dovecot's auth socket /var/spool/postfix/private/auth " \
           "does not exist and Dovecot's configuration does not declare it" in message
    assert "submissions/inet has SASL on" in message
    # The options that fix it, by name.
    for option in ("sasl_type=dovecot", "postfix_auth", "submission=absent and submissions=absent", "sasl_handled_elsewhere=true",
                   "libsasl2-modules", "In the roles: postfix_sasl_type, postfix_sasl_path, dovecot_postfix_auth"):
        assert option in message
    assert message.endswith("Nothing was changed")
    assert snapshot(postfix.config_dir) == before
    assert not any(argv[1:3] == ["-e", "smtpd_tls_auth_only=yes"] for argv in postfix.calls if argv[0].endswith("postconf"))


def test_check_mode_warns_instead_of_failing(postfix, tmp_path):
    outcome = run(postfix, tmp_path, check_mode=True, doveconf=True)
    assert outcome.changed
    assert any("does not exist and Dovecot's configuration does not declare it" in warning for warning in outcome.warnings)


def test_auto_with_a_declared_listener_wires_dovecot_on_both_services(postfix, tmp_path):
    postfix.dovecot_listeners = ["/var/spool/postfix/private/auth"]
    outcome = run(postfix, tmp_path, doveconf=True)
    text = master_cf(postfix)
    for service in ("submission", "submissions"):
        line = next(line for line in text.splitlines() if line.startswith(f"{service} "))
        assert "-o smtpd_sasl_type=dovecot" in line and "-o smtpd_sasl_path=private/auth" in line
    assert [fact["status"] for fact in outcome.result()["sasl"]] == ["declared", "declared"]
    assert run(postfix, tmp_path, doveconf=True).changed is False


def test_auto_keeps_an_explicit_main_cf_choice(postfix, tmp_path):
    with open(os.path.join(postfix.config_dir, "main.cf"), "a") as handle:
        handle.write("smtpd_sasl_type = cyrus\n")
    outcome = run(postfix, tmp_path, doveconf=True)
    assert "smtpd_sasl_type" not in master_cf(postfix)
    assert outcome.result()["sasl"][0]["type"] == "cyrus"


def test_auto_keeps_service_options_and_an_existing_service_backend(postfix, tmp_path):
    run(postfix, tmp_path, doveconf=True, service_options={"smtpd_sasl_type": "cyrus"})
    assert "-o smtpd_sasl_type=cyrus" in master_cf(postfix)
    # The -o cyrus now on the services is an explicit choice too: auto does not replace it with Dovecot.
    outcome = run(postfix, tmp_path, doveconf=True)
    assert not outcome.changed
    assert "-o smtpd_sasl_type=cyrus" in master_cf(postfix)


# ---------------------------------------------------------------------------------------------------
# The backend check
# ---------------------------------------------------------------------------------------------------
def test_a_dovecot_socket_that_offers_mechanisms_passes(postfix, tmp_path, short_dir):
    server = AuthServer(os.path.join(short_dir, "auth"), ["PLAIN", "LOGIN"])
    try:
        outcome = run(postfix, tmp_path, sasl_type="dovecot", sasl_path=server.path)
    finally:
        server.close()
    assert outcome.result()["sasl"][0] == {"service": "submission/inet", "type": "dovecot", "path": server.path,
                                           "status": "answers", "mechanisms": ["PLAIN", "LOGIN"]}
    assert f"-o smtpd_sasl_path={server.path}" in master_cf(postfix)


def test_a_dovecot_socket_without_mechanisms_is_refused(postfix, tmp_path, short_dir):
    server = AuthServer(os.path.join(short_dir, "auth"), [])
    before = snapshot(postfix.config_dir)
    try:
        with pytest.raises(_postfix.PostfixError, match="offers no mechanism"):
            run(postfix, tmp_path, sasl_type="dovecot", sasl_path=server.path)
    finally:
        server.close()
    assert snapshot(postfix.config_dir) == before


def test_a_socket_nobody_answers_on_is_refused(postfix, tmp_path, short_dir):
    path = os.path.join(short_dir, "auth")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # the file stays, nothing listens: Dovecot stopped
    with pytest.raises(_postfix.PostfixError, match=f"Dovecot's auth service: nothing answers at {path}"):
        run(postfix, tmp_path, sasl_type="dovecot", sasl_path=path)


def test_cyrus_without_modules_is_refused_and_a_no_change_run_only_warns(postfix, tmp_path, monkeypatch):
    run(postfix, tmp_path)  # deployed while the Cyrus modules were there
    monkeypatch.setattr(_sasl, "cyrus_plugins", lambda: [])
    again = run(postfix, tmp_path)
    assert not again.changed
    assert any("no Cyrus PLAIN or LOGIN mechanism is installed" in warning for warning in again.warnings)
    with pytest.raises(_postfix.PostfixError, match="no Cyrus PLAIN or LOGIN mechanism is installed"):
        run(postfix, tmp_path, profile="modern")


def test_handled_elsewhere_skips_the_check(postfix, tmp_path):
    outcome = run(postfix, tmp_path, doveconf=True, sasl_type="dovecot", sasl_handled_elsewhere=True)
    assert outcome.warnings == [] or not any("SASL" in warning for warning in outcome.warnings)
    assert [fact["status"] for fact in outcome.result()["sasl"]] == ["unchecked", "unchecked"]


def test_no_check_without_sasl_or_without_the_services(postfix, tmp_path, monkeypatch):
    monkeypatch.setattr(_sasl, "cyrus_plugins", lambda: [])
    assert run(postfix, tmp_path, service_options={"smtpd_sasl_auth_enable": "no"}).result()["sasl"] == []
    assert run(postfix, tmp_path, submission="absent", submissions="unmanaged").result()["sasl"] == []


def test_a_sasl_type_postfix_lacks_is_refused(postfix, tmp_path):
    with pytest.raises(_postfix.PostfixError, match=r"smtpd_sasl_type=xsasl is not a SASL type this Postfix offers \(postconf -a lists cyrus, dovecot\)"):
        run(postfix, tmp_path, service_options={"smtpd_sasl_type": "xsasl"})


# ---------------------------------------------------------------------------------------------------
# $name values
# ---------------------------------------------------------------------------------------------------
def test_references_lists_every_form():
    assert _postfix.references("$a ${b} $(c) ${d?{x}} ${e:y} $a") == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("options,message", [
    ({"extra": {"smtpd_tls_security_level": "$no_such_parameter"}},
     "extra: smtpd_tls_security_level = '$no_such_parameter' refers to $no_such_parameter, which this Postfix does not define"),
    ({"extra": {"my_level": "bogus", "smtpd_tls_security_level": "${my_level}"}},
     "extra (smtpd_tls_security_level = '${my_level}' expands to 'bogus'): smtpd_tls_security_level = 'bogus' is not a server TLS level"),
    ({"extra": {"my_ciphers": "-v", "tls_high_cipherlist": "$my_ciphers"}},
     "expands to '-v'): tls_high_cipherlist = '-v' is not an OpenSSL cipher list"),
    ({"service_options": {"smtpd_tls_security_level": "$nope"}},
     "service_options for submission/inet: smtpd_tls_security_level = '$nope' refers to $nope"),
    ({"extra": {"empty_value": ""}, "service_options": {"smtpd_tls_security_level": "$empty_value"}},
     "expands to ''): smtpd_tls_security_level = '' is not a server TLS level"),
])
def test_references_must_be_defined_and_expand_to_a_good_value(postfix, tmp_path, options, message):
    before = snapshot(postfix.config_dir)
    for check_mode in (True, False):
        with pytest.raises(_postfix.PostfixError) as caught:
            run(postfix, tmp_path, check_mode=check_mode, **options)
        assert message in str(caught.value)
    assert snapshot(postfix.config_dir) == before


def test_a_reference_to_a_defined_parameter_is_fine(postfix, tmp_path):
    outcome = run(postfix, tmp_path, extra={"my_level": "encrypt", "smtpd_tls_security_level": "$my_level"})
    assert outcome.changed
    assert postfix.main(postfix.config_dir)["smtpd_tls_security_level"] == "$my_level"


def test_each_entry_and_socket_is_asked_once_per_run(postfix, tmp_path, short_dir):
    """Cost: a run reads each master.cf entry once (resolve, check and plan share it) and asks a shared socket once."""
    server = AuthServer(os.path.join(short_dir, "auth"), ["PLAIN"])
    try:
        postfix.calls.clear()
        run(postfix, tmp_path, doveconf=True, sasl_path=server.path)
        live_reads = [argv[-1] for argv in postfix.calls
                      if argv[0].endswith("postconf") and argv[1:3] == ["-c", postfix.config_dir] and argv[3:4] == ["-M"]]
        assert sorted(live_reads) == ["smtp/inet", "submission/inet", "submissions/inet"]
        assert server.connections == 1
    finally:
        server.close()
