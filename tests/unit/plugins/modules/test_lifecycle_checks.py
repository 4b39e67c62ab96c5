# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Revocation and certificate transparency in certificate_info and mail_tls_verify, run through main().

A local CA issues a leaf that names a CRL distribution point; a tiny implicit-TLS IMAP server serves
it on 127.0.0.1 and a tiny HTTP server serves the CRL. The real servers, nginx and openssl are the
Molecule scenario ``revoke``'s business.
"""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading

import pytest
from local_server import LocalServer

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crl, _x509
from ansible_collections.postmaster.tls.plugins.modules import certificate_info, mail_tls_verify

DAY = datetime.timedelta(days=1)


class _CRLServer(http.server.HTTPServer):
    body = b""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def crl_server():
    server = _CRLServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def pki_files(pki, crl_server):
    key = pki.key("lc-ca")
    ca = _certificate.issue_ca(key, subject=_certificate.ca_subject("Lifecycle CA"), valid_days=3650, path_length=0, now=pki.now)
    url = f"http://127.0.0.1:{crl_server.server_address[1]}/crl.der"
    leaf_key = pki.key("lc-leaf")
    leaf = _certificate.issue_leaf(pki.csr(leaf_key), signing_key=key, issuer_cert=ca, valid_days=90, now=pki.now,
                                   crl_distribution_points=[url])
    other_key = pki.key("lc-other")
    other = _certificate.issue_ca(other_key, subject=_certificate.ca_subject("Other Lifecycle CA"), valid_days=3650, path_length=0,
                                  now=pki.now)
    return {"ca": ca, "key": key, "leaf": leaf, "url": url, "other": other, "other_key": other_key,
            "ca_path": pki.write("ca.pem", ca), "cert_path": pki.write("cert.pem", leaf),
            "chain_path": pki.write("fullchain.pem", [leaf, ca]), "key_path": pki.write("privkey.pem", leaf_key)}


def _crl_file(pki, files, name, *, revoked=(), which="ca", this_update=None, next_update=None):
    issuer, key = (files["ca"], files["key"]) if which == "ca" else (files["other"], files["other_key"])
    crl = _crl.build_crl(issuer_cert=issuer, issuer_key=key, revoked=[(s, pki.now, r) for s, r in revoked], number=1,
                         this_update=this_update or pki.now - datetime.timedelta(minutes=5), next_update=next_update or pki.now + 7 * DAY)
    pki.write(name, crl)
    return str(pki.dir / name), crl


@pytest.fixture
def imaps(pki_files):
    """The port of an implicit-TLS IMAP server serving the leaf (and the CA after it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki_files["chain_path"], pki_files["key_path"])

    def serve(conn):
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(5)
                tls.sendall(b"* OK ready\r\n")
                line = tls.recv(1024)
                if line:
                    tls.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + line.split()[0] + b" OK\r\n")
                tls.recv(1024)
        except (OSError, ValueError, IndexError):
            pass

    server = LocalServer(handler=serve)
    yield server.port
    server.close()


def _verify(run_module, port, files, **extra):
    args = {"endpoints": [{"port": port, "protocol": "imaps"}], "server_name": "mail.example.org",
            "ca_path": files["ca_path"], "probe_protocols": False, "report_only": True}
    args.update(extra)
    return run_module(mail_tls_verify.main, args)


# ---------------------------------------------------------------------------------------------
# mail_tls_verify
# ---------------------------------------------------------------------------------------------
def test_a_revoked_served_certificate_fails(run_module, pki, pki_files, imaps):
    crl_path, _crl_obj = _crl_file(pki, pki_files, "crl.pem", revoked=[(pki_files["leaf"].serial_number, "keyCompromise")])
    result = _verify(run_module, imaps, pki_files, crl_path=[crl_path], report_only=False)
    assert result["failed"] and "is revoked (keyCompromise, since " in result["msg"]
    [endpoint] = result["endpoints"]
    assert endpoint["revocation"]["status"] == "revoked" and endpoint["revocation"]["source"] == crl_path
    assert endpoint["ok"] is False


def test_a_good_certificate_passes_and_ct_is_not_expected_from_a_local_ca(run_module, pki, pki_files, imaps):
    crl_path, _crl_obj = _crl_file(pki, pki_files, "crl.pem", revoked=[(12345, "keyCompromise")])
    result = _verify(run_module, imaps, pki_files, crl_path=[crl_path], report_only=False)
    assert result.get("failed") is not True, result.get("msg")
    [endpoint] = result["endpoints"]
    assert endpoint["revocation"]["status"] == "good" and endpoint["revocation"]["crl_number"] == 1
    ct = endpoint["certificate_transparency"]
    assert ct["count"] == 0 and ct["scope"] == "private" and ct["policy"] == "not_applicable" and ct["findings"] == []
    assert not any("transparency" in note for note in endpoint["notes"])


def test_revocation_fetched_from_the_distribution_point(run_module, pki, pki_files, imaps, crl_server):
    _path, crl = _crl_file(pki, pki_files, "crl.pem", revoked=[(pki_files["leaf"].serial_number, "superseded")])
    crl_server.body = _crl.crl_der(crl)
    result = _verify(run_module, imaps, pki_files, crl_fetch=True)
    [endpoint] = result["endpoints"]
    assert endpoint["revocation"]["status"] == "revoked" and endpoint["revocation"]["source"] == pki_files["url"]
    assert result["failed_endpoints"][0]["failures"][-1].endswith(f"according to {pki_files['url']}")


def test_an_unreachable_distribution_point_is_a_note_not_a_failure(run_module, pki_files, imaps, crl_server):
    """Nothing listens at the leaf's distribution point any more: status unknown with the reason, the task passes."""
    crl_server.shutdown()
    crl_server.server_close()
    result = _verify(run_module, imaps, pki_files, crl_fetch=True, crl_timeout=2, report_only=False)
    assert result.get("failed") is not True, result.get("msg")
    [endpoint] = result["endpoints"]
    assert endpoint["revocation"]["status"] == "unknown"
    assert endpoint["revocation"]["errors"] == [f"CRL distribution point {pki_files['url']}: connection refused (nothing listens there)"]
    assert endpoint["revocation"]["fetch_seconds"] <= 2
    assert any(note.startswith("revocation status unknown: CRL distribution point") for note in endpoint["notes"])


@pytest.mark.parametrize(("case", "message"), [
    ("other", "is from 'CN=Other Lifecycle CA', but no checked certificate was issued by that CA"),
    ("expired", "(its nextUpdate); the CA must sign a new one"),
    ("loglist", "is not JSON"),
    ("missing", "does not exist"),
])
def test_bad_revocation_and_ct_inputs_fail_clearly(run_module, pki, pki_files, imaps, case, message):
    if case == "other":
        extra = {"crl_path": [_crl_file(pki, pki_files, "other.pem", which="other")[0]]}
    elif case == "expired":
        extra = {"crl_path": [_crl_file(pki, pki_files, "old.pem", this_update=pki.now - 9 * DAY, next_update=pki.now - DAY)[0]]}
    elif case == "loglist":
        (pki.dir / "log_list.json").write_text("{not json")
        extra = {"ct_log_list_path": str(pki.dir / "log_list.json")}
    else:
        extra = {"crl_path": [str(pki.dir / "nothing.pem")]}
    for module, args in ((mail_tls_verify, None), (certificate_info, {"paths": [pki_files["cert_path"]], "chain_paths": [pki_files["ca_path"]]})):
        if args is None:
            result = _verify(run_module, imaps, pki_files, report_only=False, **extra)
        else:
            result = run_module(module.main, {**args, **extra})
        assert result["failed"], (module, result)
        assert message in result["msg"], result["msg"]


def test_a_forged_crl_in_the_issuers_name_fails(run_module, pki, pki_files, imaps):
    impostor_key = pki.key("lc-impostor")
    impostor = _certificate.issue_ca(impostor_key, subject=pki_files["ca"].subject, valid_days=100, path_length=0, now=pki.now)
    forged = _crl.build_crl(issuer_cert=impostor, issuer_key=impostor_key, revoked=[], number=1, this_update=pki.now,
                            next_update=pki.now + DAY)
    pki.write("forged.pem", forged)
    result = _verify(run_module, imaps, pki_files, crl_path=[str(pki.dir / "forged.pem")])
    assert result["failed"] and "its signature does not verify with the key of the CA 'CN=Lifecycle CA'" in result["msg"]


def test_check_mode_skips_a_crl_an_earlier_task_would_create(run_module, pki, pki_files, imaps):
    result = _verify(run_module, imaps, pki_files, crl_path=[str(pki.dir / "later.pem")])
    assert result["failed"] and "does not exist" in result["msg"]
    result = run_module(mail_tls_verify.main, {"endpoints": [{"port": imaps, "protocol": "imaps"}], "server_name": "mail.example.org",
                                               "ca_path": pki_files["ca_path"], "probe_protocols": False,
                                               "crl_path": [str(pki.dir / "later.pem")]}, check_mode=True)
    assert result.get("failed") is not True, result.get("msg")
    assert any("does not exist yet (check mode)" in warning for warning in result["warnings"])
    assert result["endpoints"][0]["revocation"]["status"] == "not_checked"


# ---------------------------------------------------------------------------------------------
# certificate_info
# ---------------------------------------------------------------------------------------------
def test_certificate_info_reports_renewal_revocation_and_ct(run_module, pki, pki_files):
    crl_path, _crl_obj = _crl_file(pki, pki_files, "crl.pem", revoked=[(pki_files["leaf"].serial_number, "keyCompromise")])
    result = run_module(certificate_info.main, {"paths": [pki_files["cert_path"]], "chain_paths": [pki_files["ca_path"]],
                                                "crl_path": [crl_path]})
    [entry] = result["certificates"]
    assert entry["renewal"]["due"] is False and entry["renewal"]["threshold_days"] == 30.0
    assert entry["revocation"]["status"] == "revoked" and entry["revocation"]["reason"] == "keyCompromise"
    assert entry["certificate_transparency"]["scope"] == "private"
    assert entry["certificate_transparency"]["policy"] == "not_applicable"
    assert result["crls"] == [{"path": crl_path, "issuer": "CN=Lifecycle CA", "crl_number": 1,
                               "this_update": result["crls"][0]["this_update"], "next_update": result["crls"][0]["next_update"],
                               "revoked": [{"serial": entry["serial"], "reason": "keyCompromise",
                                            "revocation_date": entry["revocation"]["revocation_date"]}]}]
    # The same rule seen from 70 days ahead: due by renew_before_days.
    later = run_module(certificate_info.main, {"paths": [pki_files["cert_path"]], "renewal_now": "+70d"})
    assert later["certificates"][0]["renewal"]["due"] is True
    assert later["certificates"][0]["renewal"]["reason"] == "19 days remain, fewer than renew_before_days=30"
    # Without the CA certificate the issuer is unknown: revocation cannot be checked, CT is not judged.
    alone = run_module(certificate_info.main, {"paths": [pki_files["cert_path"]], "crl_path": [crl_path]})
    assert alone["certificates"][0]["revocation"]["status"] == "unknown"
    assert alone["certificates"][0]["certificate_transparency"]["scope"] == "unknown"


def test_certificate_info_issuer_from_its_own_file(run_module, pki_files):
    result = run_module(certificate_info.main, {"paths": [pki_files["chain_path"]]})
    assert result["certificates"][0]["certificate_transparency"]["scope"] == "private"
    assert result["certificates"][0]["revocation"]["status"] == "not_checked"


@pytest.mark.parametrize(("extra", "message"), [
    ({"renew_fraction": 0.7}, "renew_fraction must be above 0 and at most 0.5"),
    ({"renewal_now": "tomorrow"}, "renewal_now='tomorrow' is not a time"),
    ({"crl_timeout": 0}, "crl_timeout must be a positive number"),
    ({"chain_paths": ["/nonexistent/chain.pem"]}, "chain_paths /nonexistent/chain.pem does not exist"),
])
def test_certificate_info_bad_options(run_module, pki_files, extra, message):
    result = run_module(certificate_info.main, {"paths": [pki_files["cert_path"]], **extra})
    assert result["failed"] and message in result["msg"]


def test_the_served_leaf_is_judged_by_the_renewal_rule_when_asked(run_module, pki_files, imaps):
    plain = _verify(run_module, imaps, pki_files, report_only=False)
    assert plain.get("failed") is not True and plain["endpoints"][0]["renewal"] == {}
    kept = _verify(run_module, imaps, pki_files, renew_before_days=30, report_only=False)
    assert kept.get("failed") is not True and kept["endpoints"][0]["renewal"]["due"] is False
    due = _verify(run_module, imaps, pki_files, renew_before_days=30, renewal_now="+70d", report_only=False)
    assert due["failed"]
    assert "certificate is due for renewal: 19 days remain, fewer than renew_before_days=30" in due["msg"]


def test_a_crl_of_another_ca_fails_every_endpoint_and_keeps_the_report(run_module, pki, pki_files, imaps):
    other, _crl_obj = _crl_file(pki, pki_files, "other.pem", which="other")
    result = _verify(run_module, imaps, pki_files, crl_path=[other])
    [endpoint] = result["endpoints"]
    assert endpoint["ok"] is False and endpoint["subject"] == "CN=mail.example.org"
    assert endpoint["failures"] == [f"crl_path: {other} is from 'CN=Other Lifecycle CA', but no checked certificate was issued "
                                    "by that CA (they come from 'CN=Lifecycle CA'); give the CRL of the CA that issued them"]
    assert endpoint["revocation"]["status"] == "not_checked"


def _layout(tmp_path, files, *, crl: str | None = None):
    """The certificate role's layout: the leaf installed for mail.example.org, the local CA and (optionally) its CRL."""
    live = tmp_path / "layout" / "mail.example.org" / "rsa" / "live"
    live.mkdir(parents=True)
    (live / "cert.pem").write_bytes(open(files["cert_path"], "rb").read())
    (live / "chain.pem").write_bytes(b"")
    (tmp_path / "layout" / "ca.pem").write_bytes(open(files["ca_path"], "rb").read())
    if crl:
        (tmp_path / "layout" / "crl.pem").write_bytes(open(crl, "rb").read())
    return str(tmp_path / "layout"), str(live / "cert.pem")


def test_expect_installed_finds_the_local_cas_crl_and_judges_the_installed_certificates(run_module, pki, pki_files, imaps, tmp_path):
    crl_path, _crl_obj = _crl_file(pki, pki_files, "installed-crl.pem", revoked=[(pki_files["leaf"].serial_number, "keyCompromise")])
    base, installed = _layout(tmp_path, pki_files, crl=crl_path)
    result = _verify(run_module, imaps, pki_files, ca_path=None, expect_installed=True, base_dir=base, renew_before_days=30,
                     renew_fraction=0.25, min_days_remaining=0)
    [endpoint] = result["endpoints"]
    assert endpoint["revocation"]["status"] == "revoked" and endpoint["revocation"]["source"] == f"{base}/crl.pem"
    assert any("is revoked (keyCompromise" in failure for failure in result["failed_endpoints"][0]["failures"])
    [found] = result["installed_certificates"]
    assert found["path"] == installed and found["revocation"]["status"] == "revoked"
    assert found["renewal"]["due"] is False and found["certificate_transparency"]["scope"] == "private"
    assert [c["path"] for c in result["crls"]] == [f"{base}/crl.pem"]
    assert result["crls"][0]["revoked"][0]["serial"] == _x509.serial_hex(pki_files["leaf"].serial_number)


def test_expect_installed_without_a_crl_checks_nothing_and_a_given_crl_path_wins(run_module, pki, pki_files, imaps, tmp_path):
    base, _installed = _layout(tmp_path, pki_files)
    plain = _verify(run_module, imaps, pki_files, ca_path=None, expect_installed=True, base_dir=base)
    assert plain["crls"] == [] and plain["installed_certificates"][0]["revocation"]["status"] == "not_checked"
    assert plain["failed_endpoints"] == []
    # An installed CRL of the CA, but crl_path names another (a current, empty one): the given one is used.
    revoking, _revoking_crl = _crl_file(pki, pki_files, "revoking.pem", revoked=[(pki_files["leaf"].serial_number, "superseded")])
    (tmp_path / "layout" / "crl.pem").write_bytes(open(revoking, "rb").read())
    empty, _empty_crl = _crl_file(pki, pki_files, "empty.pem")
    given = _verify(run_module, imaps, pki_files, ca_path=None, expect_installed=True, base_dir=base, crl_path=[empty])
    assert given["endpoints"][0]["revocation"]["status"] == "good" and [c["path"] for c in given["crls"]] == [empty]
