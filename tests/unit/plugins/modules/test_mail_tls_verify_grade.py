# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.mail_tls_verify with grade=true through main(): the grades next to the usual report,
grade_fail_on, and bad grading options. The grading itself: test_tlsgrade.py and the Molecule scenario
``grade``."""

from __future__ import annotations

import socketserver
import ssl
import threading

import pytest

from ansible_collections.postmaster.tls.plugins.modules import mail_tls_verify


class _SMTPS(socketserver.BaseRequestHandler):
    """Implicit-TLS SMTP: greeting, EHLO answered with AUTH, anything else ends the session."""

    context: ssl.SSLContext

    def handle(self) -> None:
        try:
            with self.context.wrap_socket(self.request, server_side=True) as tls:
                tls.settimeout(5)
                tls.sendall(b"220 mail.example.org ESMTP\r\n")
                line = tls.recv(1024)
                while line and not line.upper().startswith(b"QUIT"):
                    tls.sendall(b"250-mail.example.org\r\n250 AUTH PLAIN\r\n")
                    line = tls.recv(1024)
        except (OSError, ValueError):
            pass


@pytest.fixture
def smtps(pki):
    """(port, root_path) of an implicit-TLS SMTP server with an RSA 2048 leaf (phase out on internet.nl)."""
    root, intermediate, leaf, leaf_key, _int_key = pki.chain(leaf_key=pki.key("leaf", "rsa", 2048),
                                                             leaf_names=("mail.example.org",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.write("fullchain.pem", [leaf, intermediate]), pki.write("privkey.pem", leaf_key))
    context.set_ciphers("ECDHE+AESGCM")
    handler = type("Handler", (_SMTPS,), {"context": context})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], pki.write("root.pem", root)
    server.shutdown()
    server.server_close()


def test_grades_come_with_the_report(run_module, smtps):
    port, root = smtps
    args = {"endpoints": [{"port": port, "protocol": "smtps"}], "server_name": "mail.example.org", "ca_path": root,
            "grade": True}
    result = run_module(mail_tls_verify.main, args)
    assert result.get("failed") is not True, result.get("msg")
    [graded] = result["grades"]
    assert graded["endpoint"] == f"127.0.0.1:{port}/smtps"
    assert graded["verdict"] == "would pass"
    assert graded["phase_out"] == ["cert_pubkey"] or "cert_pubkey" in graded["phase_out"]
    assert graded["subtests"]["cert_trust"]["verdict"] == "good"  # the verifier's chain check, with ca_path
    assert graded["subtests"]["cert_hostmatch"]["verdict"] == "good"
    assert result["grade_summary"] == [graded["summary"]]
    assert result["endpoints"][0]["ok"] is True
    # The verifier made no version handshakes of its own: its protocol findings are the grader's hellos'.
    assert result["endpoints"][0]["accepted_protocols"] == graded["subtests"]["tls_version"]["accepted"]
    assert result["endpoints"][0]["accepted_protocols"] == ["TLSv1.2", "TLSv1.3"]
    assert result["endpoints"][0]["protocols"]["TLSv1"] == "refused"

    # phase out fails the task only when asked to.
    failing = run_module(mail_tls_verify.main, dict(args, grade_fail_on=["phase out"]))
    assert failing["failed"] is True
    assert f"127.0.0.1:{port}/smtps: internet.nl grade would pass (phase out: " in failing["msg"]
    assert failing["grades"][0]["verdict"] == "would pass"


def test_without_grade_there_are_no_grades(run_module, smtps):
    port, root = smtps
    result = run_module(mail_tls_verify.main, {"endpoints": [{"port": port, "protocol": "smtps"}], "ca_path": root,
                                               "server_name": "mail.example.org"})
    assert "grades" not in result and "grade_summary" not in result


@pytest.mark.parametrize("args,message", [
    ({"grade": True, "grade_timeout": 0}, "grade_timeout: 0.0 must be a positive number"),
    ({"grade": True, "tlsa_records": ["3 1"]}, "tlsa_records[1]: '3 1' is not 'usage selector matching-type hex'"),
    ({"grade": True, "tlsa_records": ["3 1 1 00", "_x._tcp.mx. IN TLSA 3 1 1 00"]},
     "tlsa_records[2]: '_x._tcp.mx. IN TLSA 3 1 1 00' does not start with _PORT._tcp"),
    ({"grade": True, "grade_fail_on": ["bad"]}, "value of grade_fail_on must be one or more of"),
])
def test_bad_grading_options_fail_before_connecting(run_module, args, message):
    result = run_module(mail_tls_verify.main, dict(args, all_ports=True))
    assert result["failed"] is True
    assert message in result["msg"]
    assert "grades" not in result


def test_grading_findings_judge_the_versions(run_module, smtps):
    """With grade on, the version verdicts come from the grader's hellos and are still judged against
    min_protocol."""
    port, root = smtps
    result = run_module(mail_tls_verify.main, {"endpoints": [{"port": port, "protocol": "smtps"}], "ca_path": root,
                                               "server_name": "mail.example.org", "grade": True,
                                               "min_protocol": "TLSv1.3"})
    assert result["failed"] is True
    [endpoint] = result["endpoints"]
    assert endpoint["ok"] is False
    assert any("accepts TLSv1.2 (below min_protocol TLSv1.3)" in failure for failure in endpoint["failures"])


def test_dane_is_judged_against_the_installed_keys_unless_records_are_given(run_module, smtps, pki, tmp_path):
    port, root = smtps
    live = tmp_path / "layout" / "mail.example.org" / "rsa" / "live"
    live.mkdir(parents=True)
    (live / "cert.pem").write_bytes((pki.dir / "fullchain.pem").read_bytes())  # the leaf first, as installed
    args = {"endpoints": [{"port": port, "protocol": "smtps"}], "server_name": "mail.example.org", "ca_path": root,
            "grade": True, "expect_installed": True, "base_dir": str(tmp_path / "layout")}
    result = run_module(mail_tls_verify.main, args)
    assert result.get("failed") is not True, result.get("msg")
    dane = result["grades"][0]["subtests"]["dane_valid"]
    spki = result["endpoints"][0]["spki_sha256"].replace(":", "").lower()
    assert dane["verdict"] == "good", dane
    assert dane["records"] == [f"3 1 1 {spki}"]

    # Records given are the ones judged (here: none matches the served key).
    given = run_module(mail_tls_verify.main, dict(args, tlsa_records=["3 1 1 " + "00" * 32], grade_fail_on=["insufficient"]))
    assert given["grades"][0]["subtests"]["dane_valid"]["verdict"] == "insufficient"
    assert given["failed"] is True and "dane_valid" in given["msg"]


def test_informational_subtests_fail_through_the_checks_not_through_grade_fail_on(run_module, smtps):
    """cert_hostmatch (like cert_trust) is informational on internet.nl's mail test: with check_hostname off, a name
    mismatch is reported in the grade and fails nothing; with it on, the verifier's own check fails the port."""
    port, root = smtps
    args = {"endpoints": [{"port": port, "protocol": "smtps"}], "server_name": "other.example.org", "ca_path": root,
            "grade": True, "grade_fail_on": ["insufficient"], "check_hostname": False}
    relaxed = run_module(mail_tls_verify.main, args)
    assert relaxed.get("failed") is not True, relaxed.get("msg")
    [graded] = relaxed["grades"]
    assert graded["subtests"]["cert_hostmatch"]["verdict"] == "insufficient"
    assert graded["insufficient"] == ["cert_hostmatch"] and graded["verdict"] == "would pass"

    strict = run_module(mail_tls_verify.main, dict(args, check_hostname=True))
    assert strict["failed"] is True
    assert strict["endpoints"][0]["failures"] == ["certificate does not cover other.example.org (it is for mail.example.org)"]
