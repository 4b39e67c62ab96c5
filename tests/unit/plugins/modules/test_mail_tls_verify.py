# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.mail_tls_verify through main(): options, failing vs report_only, check mode.

A tiny implicit-TLS IMAP server on 127.0.0.1 stands in for Dovecot; the protocol details are covered
in tests/unit/plugins/module_utils/test_probe.py and against the real servers in Molecule.
"""

from __future__ import annotations

import ssl

import pytest
from local_server import LocalServer

from ansible_collections.postmaster.tls.plugins.modules import mail_tls_verify


@pytest.fixture
def imaps(pki):
    """(port, root_path, leaf) of an IMAPS server serving leaf + intermediate."""
    root, intermediate, leaf, leaf_key, _int_key = pki.chain(leaf_names=("mail.example.org",))
    chain = pki.write("fullchain.pem", [leaf, intermediate])
    key = pki.write("privkey.pem", leaf_key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)

    def serve(conn):
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(5)
                tls.sendall(b"* OK ready\r\n")
                buffer = b""
                while True:
                    data = tls.recv(1024)
                    if not data:
                        return
                    buffer += data
                    while b"\r\n" in buffer:
                        line, buffer = buffer.split(b"\r\n", 1)
                        tag, verb = line.split()[:2]
                        if verb.upper() == b"CAPABILITY":
                            tls.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK\r\n")
                        else:
                            tls.sendall(b"* BYE\r\n" + tag + b" OK\r\n")
                            return
        except (OSError, ValueError):
            pass

    server = LocalServer(handler=serve)
    yield server.port, pki.write("root.pem", root), leaf, pki.write("cert.pem", leaf)
    server.close()


def test_green_endpoint(run_module, imaps):
    port, root, leaf, cert_path = imaps
    result = run_module(mail_tls_verify.main, {
        "endpoints": [{"port": port, "protocol": "imaps"}],
        "server_name": "mail.example.org",
        "ca_path": root,
        "expected_certificate_path": [cert_path],
        "required_names": ["mail.example.org"],
    })
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is False
    assert result["failed_endpoints"] == []
    [endpoint] = result["endpoints"]
    assert endpoint["ok"] is True
    assert endpoint["matches_expected"] is True
    assert endpoint["chain_valid"] is True
    assert endpoint["accepted_protocols"] == ["TLSv1.2", "TLSv1.3"]
    assert endpoint["auth_after_tls"] == ["LOGIN", "AUTH=PLAIN"]
    assert result["summary"][0].startswith(f"OK   127.0.0.1:{port}/imaps: TLSv1.3")
    assert result["trust_anchors"] == root
    assert result["msg"] == "1 of 1 endpoints meet every expectation"
    assert result["elapsed"] >= 0


def test_failures_fail_the_task_with_a_per_endpoint_list(run_module, imaps, closed_port):
    port, root, _leaf, _cert_path = imaps
    dead = closed_port
    args = {
        "endpoints": [{"port": port, "protocol": "imaps"}, {"port": dead, "protocol": "smtp"}],
        "server_name": "other.example.org",
        "ca_path": root,
        "expected_fingerprint": ["00" * 32],
    }
    result = run_module(mail_tls_verify.main, args)
    assert result["failed"] is True
    assert result["msg"].startswith("2 of 2 endpoints failed verification: ")
    assert f"127.0.0.1:{port}/imaps: certificate does not cover other.example.org" in result["msg"]
    assert f"127.0.0.1:{dead}/smtp: unreachable: connection refused" in result["msg"]
    assert [item["endpoint"] for item in result["failed_endpoints"]] == [f"127.0.0.1:{port}/imaps", f"127.0.0.1:{dead}/smtp"]
    assert [(item["port"], item["protocol"]) for item in result["failed_endpoints"]] == [(port, "imaps"), (dead, "smtp")]
    assert len(result["endpoints"]) == 2  # the full report comes back with the failure
    # The same findings, reported without failing.
    reported = run_module(mail_tls_verify.main, dict(args, report_only=True))
    assert reported.get("failed") is not True
    assert reported["failed_endpoints"] == result["failed_endpoints"]
    # ... with the same per-endpoint message, for a task that decides later (the verify role's assert).
    assert reported["msg"] == result["msg"]


def test_check_mode_runs_the_same_checks(run_module, imaps, tmp_path):
    port, root, _leaf, _cert_path = imaps
    missing = str(tmp_path / "not-yet" / "cert.pem")
    args = {"endpoints": [{"port": port, "protocol": "imaps"}], "server_name": "mail.example.org", "ca_path": root,
            "expected_certificate_path": [missing]}
    checked = run_module(mail_tls_verify.main, args, check_mode=True)
    assert checked.get("failed") is not True, checked.get("msg")
    assert checked["changed"] is False
    assert checked["endpoints"][0]["ok"] is True
    assert any("does not exist yet (check mode" in w for w in checked["warnings"])
    real = run_module(mail_tls_verify.main, args)
    assert real["failed"] is True
    assert real["msg"] == f"expected_certificate_path {missing} does not exist; install the certificate first or fix the path"


@pytest.mark.parametrize("args,message", [
    ({"all_ports": False}, "no endpoints to check; set all_ports=true or list endpoints"),
    ({"endpoints": [{"port": 2525}]}, "endpoints[1]: port 2525 is not a standard mail port; set protocol"),
    ({"all_ports": True, "expected_fingerprint": ["xyz"]}, "expected_fingerprint 'xyz' is not a SHA-256 fingerprint"),
    ({"all_ports": True, "timeout": 0}, "timeout must be a positive number of seconds"),
    ({"all_ports": True, "workers": 0}, "workers must be 1 or more"),
    ({"all_ports": True, "ca_path": "/nonexistent/ca.pem"}, "cannot load trust anchors from /nonexistent/ca.pem"),
    # Control characters never reach a protocol line (the CR/LF case once ran an injected SMTP command).
    ({"all_ports": True, "ehlo_name": "client.example\r\nMAIL FROM:<x@example.org>"},
     "ehlo_name: 'client.example\\r\\nMAIL FROM:<x@example.org>' contains the control character(s) CR, LF; no control characters"),
    ({"all_ports": True, "host": "127.0.0.1\x00"}, "host: '127.0.0.1\\x00' contains the control character(s) NUL"),
    ({"endpoints": [{"port": 25, "server_name": "mail\u2028example.org"}]},
     "endpoints[1].server_name: 'mail\\u2028example.org' contains the control character(s) LINE SEPARATOR"),
    ({"all_ports": True, "ehlo_name": "-v"}, "ehlo_name: '-v' is not an EHLO name; give a domain"),
    ({"all_ports": True, "ehlo_name": "[300.1.1.1]"}, "ehlo_name: '[300.1.1.1]' is not an EHLO name"),
    ({"all_ports": True, "host": "mail example.org"}, "host: 'mail example.org' is neither a DNS name nor an IP address"),
    ({"all_ports": True, "source_address": "localhost"}, "source_address: 'localhost' is not an IP address"),
    ({"all_ports": True, "required_names": ["mail.example.org", "*.*.example.org"]},
     "required_names[2]: '*.*.example.org' is neither a DNS name (a wildcard only as '*.' in front) nor an IP address"),
    ({"all_ports": True, "expected_certificate_path": ["relative/cert.pem"]},
     "expected_certificate_path[1]: 'relative/cert.pem' is not an absolute path"),
    ({"endpoints": [{"port": 993, "submission": True}]}, "endpoints[1]: submission=true needs protocol smtp or smtps"),
    ({"all_ports": True, "min_days_remaining": -1}, "min_days_remaining: -1 is below the minimum 0"),
])
def test_bad_options_fail_before_connecting(run_module, args, message):
    result = run_module(mail_tls_verify.main, args)
    assert result["failed"] is True
    assert result["msg"].startswith(message)


def install(tmp_path, cert_path, *, name="mail.example.org", key_type="rsa"):
    """Put a certificate where the certificate role installs it, under a layout root in tmp_path."""
    live = tmp_path / "layout" / name / key_type / "live"
    live.mkdir(parents=True, exist_ok=True)
    (live / "cert.pem").write_bytes(open(cert_path, "rb").read())
    return str(live / "cert.pem")


def test_expect_installed_finds_the_installed_certificates_and_their_local_ca(run_module, imaps, tmp_path):
    port, root, _leaf, cert_path = imaps
    installed = install(tmp_path, cert_path)
    (tmp_path / "layout" / "ca.pem").write_bytes(open(root, "rb").read())
    result = run_module(mail_tls_verify.main, {
        "endpoints": [{"port": port, "protocol": "imaps"}], "server_name": "mail.example.org",
        "expect_installed": True, "base_dir": str(tmp_path / "layout"),
    })
    assert result.get("failed") is not True, result.get("msg")
    assert result["endpoints"][0]["matches_expected"] is True
    # No ca_path given: the local CA certificate installed with them is the trust anchor.
    assert result["trust_anchors"] == str(tmp_path / "layout" / "ca.pem")
    [found] = result["installed_certificates"]
    assert found["path"] == installed and found["fingerprint_sha256"] == result["endpoints"][0]["fingerprint_sha256"]


def test_a_port_that_serves_anything_but_the_installed_certificate_fails_naming_both(run_module, imaps, tmp_path, pki):
    port, root, _leaf, _cert_path = imaps
    renewed = pki.write("renewed.pem", pki.cert("mail.example.org", pki.key("renewed")))
    installed = install(tmp_path, renewed, key_type="ecdsa")
    result = run_module(mail_tls_verify.main, {
        "endpoints": [{"port": port, "protocol": "imaps"}], "server_name": "mail.example.org", "ca_path": root,
        "expect_installed": True, "base_dir": str(tmp_path / "layout"),
    })
    assert result["failed"] is True
    served = result["endpoints"][0]["fingerprint_sha256"]
    [found] = result["installed_certificates"]
    assert served != found["fingerprint_sha256"]
    assert (f"127.0.0.1:{port}/imaps: served certificate {served} is not the expected one "
            f"({installed} {found['fingerprint_sha256']})") in result["msg"]


def test_expect_installed_with_nothing_installed_warns_and_does_not_compare(run_module, imaps, tmp_path):
    port, root, _leaf, _cert_path = imaps
    result = run_module(mail_tls_verify.main, {
        "endpoints": [{"port": port, "protocol": "imaps"}], "server_name": "mail.example.org", "ca_path": root,
        "expect_installed": True, "base_dir": str(tmp_path / "nothing"),
    })
    assert result.get("failed") is not True, result.get("msg")
    assert result["endpoints"][0]["matches_expected"] is None and result["installed_certificates"] == []
    assert any("no certificate is installed under" in w for w in result["warnings"])
