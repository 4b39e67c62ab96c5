# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.certificate_deploy: the modules it runs on the host (with which arguments, in which
order), the local CA it runs on the controller, the facts and result it shapes, and how it fails.

The host's modules are stood in for here (their own unit tests and the Molecule scenarios run them for
real); the local CA is the real one, in a temporary directory.
"""

from __future__ import annotations

import base64
import datetime
import subprocess
import types

import pytest
from ansible.errors import AnsibleActionFail
from cryptography import x509

from ansible_collections.postmaster.tls.plugins.action import certificate_deploy
from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crl, _crypto

BASE = "/etc/postmaster-tls/mail.example.org"


class FakeHost:
    """The modules on the mail host: answers like theirs, and a record of every call."""

    def __init__(self, pki) -> None:
        self.pki = pki
        self.calls: list[tuple[str, dict]] = []
        self.fail: str | None = None
        self.changed: set[str] = set()
        # Check mode on a new host: the CSR module cannot make a CSR for a key that does not exist yet.
        self.no_csr_content = False
        # Files the copy action put on the host (path -> content).
        self.files: dict[str, str] = {}
        self.check_mode = False

    def __call__(self, module_name=None, module_args=None, task_vars=None, **_kw):
        args = {k: v for k, v in module_args.items() if not k.startswith("_ansible")}
        self.calls.append((module_name, args))
        short = module_name.rsplit(".", 1)[-1]
        if short == self.fail:
            return {"failed": True, "msg": f"{short} says no", "warnings": ["from the module"]}
        result = {"changed": short in self.changed, "warnings": [f"{short} warns"] if short == "csr" else []}
        if short == "private_key":
            result["private_keys"] = {i["path"]: {"path": i["path"], "spki_sha256": f"spki-{i['path']}"} for i in args["batch"]}
        elif short == "csr":
            result["requests"] = {i["path"]: {"path": i["path"], "csr": self.pki.pem(self.pki.csr(self.pki.key(i["path"]))).decode()}
                                  for i in args["batch"]}
            if self.no_csr_content:
                result["requests"] = {path: {"path": path} for path in result["requests"]}
        elif short == "slurp":
            if args["src"] not in self.files:
                return {"failed": True, "msg": f"file not found: {args['src']}"}
            result["content"] = base64.b64encode(self.files[args["src"]].encode()).decode()
        elif short == "certificate_install":
            result["installs"] = {i["dest"]: {"changed_files": ["cert", "combined"] if "certificate_install" in self.changed else [],
                                              "spki_sha256": f"spki-{i['dest']}",
                                              "trust_anchors_installed": bool(i.get("trust_anchors_content"))}
                                  for i in args["batch"]}
            if "certificate_install" in self.changed:
                result["diff"] = [{"before": "old", "after": "new"}]
        return result

    def copy_content(self, content, dest, task_vars):
        """The copy action: changed when the content differs; writes nothing in check mode."""
        self.calls.append(("copy_content", {"dest": dest}))
        if self.fail == "copy_content":
            return {"failed": True, "msg": "Destination directory /srv/none does not exist"}
        changed = self.files.get(dest) != content
        if changed and not self.check_mode:
            self.files[dest] = content
        return {"changed": changed}

    def names(self) -> list[str]:
        return [name.rsplit(".", 1)[-1] for name, _args in self.calls]

    def args(self, short: str) -> dict:
        return next(args for name, args in self.calls if name.rsplit(".", 1)[-1] == short)


@pytest.fixture
def host(pki):
    return FakeHost(pki)


@pytest.fixture
def run(host, tmp_path):
    def run(args: dict, *, check_mode: bool = False, diff: bool = False, stat: dict | None = None):
        task = types.SimpleNamespace(args=dict(args), check_mode=check_mode, diff=diff, async_val=0,
                                     action="postmaster.tls.certificate_deploy")
        connection = types.SimpleNamespace(_shell=types.SimpleNamespace(tmpdir=None))
        action = certificate_deploy.ActionModule(task, connection, None, None, None)
        action._execute_module = host
        action._copy_content = host.copy_content
        host.check_mode = check_mode
        action._execute_remote_stat = lambda path, all_vars, follow: (stat or {}).get(path, {"exists": False})
        action._remove_tmp_path = lambda path: None
        registered = {}
        action.register_host_variables = lambda variables, layer=None: registered.update(variables)
        result = action.run(task_vars={"inventory_hostname": "mx1"})
        result["_registered"] = registered
        return result

    return run


def base_args(tmp_path, **extra):
    return {"names": ["mail.example.org", "smtp.example.org"], "key_types": ["rsa", "ecdsa"], "ca_dir": str(tmp_path / "ca"), **extra}


def test_one_module_run_per_concern_then_the_facts_the_mail_roles_read(run, host, tmp_path):
    result = run(base_args(tmp_path))
    assert host.names() == ["private_key", "csr", "certificate_install"]
    keys = host.args("private_key")
    assert keys["batch"] == [{"path": f"{BASE}/rsa/privkey.pem", "type": "rsa", "size": 2048},
                             {"path": f"{BASE}/ecdsa/privkey.pem", "type": "ecdsa", "curve": "secp256r1"}]
    assert (keys["mode"], keys["owner"], keys["directory_mode"], keys["regenerate"]) == ("0600", "root", "0750", "fail")
    assert "group" not in keys
    csr = host.args("csr")
    assert csr["batch"][0] == {"path": f"{BASE}/rsa/request.csr", "privatekey_path": f"{BASE}/rsa/privkey.pem"}
    assert csr["common_name"] == "mail.example.org" and csr["subject_alt_names"] == ["mail.example.org", "smtp.example.org"]
    install = host.args("certificate_install")
    assert install["reload_services"] == ["postfix", "dovecot"] and install["required_names"] == csr["subject_alt_names"]
    assert install["min_days_remaining"] == 7
    rsa_item = install["batch"][0]
    assert rsa_item["dest"] == f"{BASE}/rsa/live" and rsa_item["privatekey_path"] == f"{BASE}/rsa/privkey.pem"
    assert rsa_item["trust_anchors_path"] == "/etc/postmaster-tls/ca.pem"
    leaf = x509.load_pem_x509_certificate(rsa_item["certificate_content"].encode())
    ca = x509.load_pem_x509_certificate(rsa_item["trust_anchors_content"].encode())
    assert _crypto.is_signed_by(leaf, ca)  # signed on the controller, by the CA in ca_dir
    assert (tmp_path / "ca" / "issued" / "mx1-mail.example.org-rsa.pem").is_file()

    facts = result["_registered"]
    assert facts["certificate_chain_files"] == [f"{BASE}/rsa/live/combined.pem", f"{BASE}/ecdsa/live/combined.pem"]
    assert facts["certificate_files"][1] == {
        "key_type": "ecdsa", "key": f"{BASE}/ecdsa/privkey.pem", "cert": f"{BASE}/ecdsa/live/cert.pem",
        "chain": f"{BASE}/ecdsa/live/chain.pem", "fullchain": f"{BASE}/ecdsa/live/fullchain.pem",
        "combined": f"{BASE}/ecdsa/live/combined.pem", "spki_sha256": f"spki-{BASE}/ecdsa/live"}
    assert facts["certificate_live"]["rsa"]["cert"] == f"{BASE}/rsa/live/cert.pem"
    assert facts["certificate_keys"] == {"rsa": f"{BASE}/rsa/privkey.pem", "ecdsa": f"{BASE}/ecdsa/privkey.pem"}
    assert facts["certificate_spki"] == {"rsa": f"spki-{BASE}/rsa/live", "ecdsa": f"spki-{BASE}/ecdsa/live"}
    assert facts["certificate_ca_path"] == "/etc/postmaster-tls/ca.pem"
    assert facts["certificate_changed"] is False
    # The signing on the controller is a change (a new certificate there); the served files did not change.
    assert result["changed"] is True and result["served_changed"] is False
    assert result["chain_files"] == facts["certificate_chain_files"] and result["files"] == facts["certificate_files"]
    assert result["signed"]["rsa"]["renewed"] is True
    assert result["warnings"] == ["csr warns"]

    again = run(base_args(tmp_path))
    assert again["changed"] is False and again["signed"]["rsa"] == {
        "path": str(tmp_path / "ca" / "issued" / "mx1-mail.example.org-rsa.pem"), "renewed": False, "reason": None}
    assert again["msg"] == "mail.example.org: certificates in place and valid (rsa, ecdsa)"


def test_a_changed_served_file_is_reported_for_the_mail_roles_with_the_diff(run, host, tmp_path):
    host.changed = {"certificate_install"}
    result = run(base_args(tmp_path, key_types=["rsa"], base_dir="/srv/tls", name="mx"), diff=True)
    assert result["_registered"]["certificate_changed"] is True and result["served_changed"] is True
    assert {"before": "old", "after": "new"} in result["diff"]
    assert any(d.get("after_header", "").endswith("issued/mx1-mx-rsa.pem") for d in result["diff"])
    assert host.args("private_key")["batch"][0]["path"] == "/srv/tls/mx/rsa/privkey.pem"
    assert result["_registered"]["certificate_ca_path"] == "/srv/tls/ca.pem"


def test_key_group_settings_and_the_directories_it_needs(run, host, tmp_path):
    run(base_args(tmp_path, key_types=["ecdsa"], key_group="ssl-cert", ecdsa_curve="secp384r1", key_regenerate="never"))
    assert host.names() == ["file", "file", "private_key", "csr", "certificate_install"]
    assert [args["path"] for name, args in host.calls[:2]] == ["/etc/postmaster-tls", BASE]
    assert host.calls[0][1] == {"path": "/etc/postmaster-tls", "state": "directory", "owner": "root", "group": "ssl-cert", "mode": "0750"}
    keys = host.args("private_key")
    assert (keys["group"], keys["mode"], keys["regenerate"]) == ("ssl-cert", "0640", "never")
    assert keys["batch"] == [{"path": f"{BASE}/ecdsa/privkey.pem", "type": "ecdsa", "curve": "secp384r1"}]
    assert host.args("certificate_install")["group"] == "ssl-cert"


def test_check_mode_before_anything_exists_predicts_the_install_and_writes_nothing(run, host, tmp_path, pki):
    # No CSR content yet (its key does not exist in check mode): nothing to sign, a path that does not exist to install.
    host.no_csr_content = True
    run_result = run(base_args(tmp_path, key_types=["rsa"]), check_mode=True)
    item = host.args("certificate_install")["batch"][0]
    assert item["certificate_path"] == f"{BASE}/rsa/issued.pem" and "certificate_content" not in item
    assert not (tmp_path / "ca").exists()
    assert run_result["changed"] is True and run_result["_registered"]["certificate_ca_path"] == ""


def test_a_failing_module_fails_the_task_naming_the_step(run, host, tmp_path):
    host.fail = "csr"
    result = run(base_args(tmp_path))
    assert result["failed"] is True
    assert result["msg"] == "certificate signing requests: csr says no"
    assert host.names() == ["private_key", "csr"]  # nothing after the failing step
    assert "from the module" in result["warnings"]
    assert not (tmp_path / "ca").exists()


def test_selfsigned_issues_on_the_host_and_trusts_itself(run, host, tmp_path):
    run(base_args(tmp_path, key_types=["rsa"], provider="selfsigned", valid_days=60, renew_before_days=20, force=True))
    assert host.names() == ["private_key", "csr", "certificate", "certificate_install"]
    issued = host.args("certificate")
    assert issued == {"path": f"{BASE}/rsa/issued.pem", "provider": "selfsigned", "csr_path": f"{BASE}/rsa/request.csr",
                      "privatekey_path": f"{BASE}/rsa/privkey.pem", "valid_days": 60, "renew_before_days": 20,
                      "renew_fraction": 1 / 3, "force": True}
    item = host.args("certificate_install")["batch"][0]
    assert item["certificate_path"] == item["trust_anchors_path"] == f"{BASE}/rsa/issued.pem"


def test_external_installs_what_is_given_and_shows_the_csr_for_the_rest(run, host, tmp_path, pki):
    leaf = pki.pem(pki.cert("mail.example.org", pki.key("x"))).decode()
    result = run(base_args(tmp_path, provider="external", trust_anchors_path="/etc/ssl/bundle.pem",
                           external={"rsa": {"certificate": leaf, "chain": "CHAIN"}}))
    [item] = host.args("certificate_install")["batch"]
    assert item["certificate_content"] == leaf and item["chain_content"] == "CHAIN"
    assert item["trust_anchors_path"] == "/etc/ssl/bundle.pem" and item["dest"] == f"{BASE}/rsa/live"
    assert list(result["pending_csrs"]) == ["ecdsa"] and "BEGIN CERTIFICATE REQUEST" in result["pending_csrs"]["ecdsa"]
    assert any(w.startswith("No certificate given yet for the ecdsa key of mail.example.org") for w in result["warnings"])
    assert list(result["_registered"]["certificate_live"]) == ["rsa"]


def test_rollover_prepare_and_switch(run, host, tmp_path):
    prepared = run(base_args(tmp_path, key_types=["rsa"], rollover="prepare"))
    assert host.names()[:2] == ["private_key", "private_key"]
    assert host.calls[0][1]["batch"][0]["path"] == f"{BASE}/rsa/privkey.next.pem" and host.calls[0][1]["regenerate"] == "fail"
    assert prepared["_registered"]["certificate_next_spki"] == {"rsa": f"spki-{BASE}/rsa/privkey.next.pem"}
    assert prepared["next_spki"] == {"rsa": f"spki-{BASE}/rsa/privkey.next.pem"}

    host.calls.clear()
    run(base_args(tmp_path, key_types=["rsa"], rollover="switch"), stat={f"{BASE}/rsa/privkey.next.pem": {"exists": True}})
    assert host.names() == ["copy", "private_key", "csr", "certificate_install", "file"]
    assert host.calls[0][1] == {"src": f"{BASE}/rsa/privkey.next.pem", "dest": f"{BASE}/rsa/privkey.pem", "remote_src": True,
                                "owner": "root", "group": "root", "mode": "0600"}
    assert host.calls[-1][1] == {"path": f"{BASE}/rsa/privkey.next.pem", "state": "absent"}

    host.calls.clear()
    nothing = run(base_args(tmp_path, key_types=["rsa"], rollover="switch"))
    assert host.names() == ["private_key", "csr", "certificate_install"]
    assert any("no next key (privkey.next.pem) exists: the current keys stay" in w for w in nothing["warnings"])


def test_acme_publishes_what_the_acme_role_did_without_a_module_run(run, host, tmp_path):
    outcome = {"rsa": {"spki_sha256": "abc", "changed_files": ["cert"]}}
    result = run(base_args(tmp_path, key_types=["rsa"], provider="acme", acme_result=outcome))
    assert host.calls == []
    facts = result["_registered"]
    assert facts["certificate_changed"] is True and facts["certificate_spki"] == {"rsa": "abc"}
    assert facts["certificate_chain_files"] == [f"{BASE}/rsa/live/combined.pem"] and result["changed"] is True


@pytest.mark.parametrize("args, message", [
    ({"key_types": ["rsa", "rsa"]}, "certificate_key_types: ['rsa', 'rsa'] names a key type twice"),
    ({"key_types": []}, "certificate_key_types: give at least one key type"),
    ({"name": "../etc"}, "certificate_name: '../etc' cannot be one directory name"),
    ({"names": ["mail.example.org\nx"]}, "certificate_names: 'mail.example.org\\nx' is not a DNS name"),
    ({"reload_services": ["../x"]}, "certificate_reload_services: '../x' is not a service name"),
    ({"external": {"dsa": {}}}, "certificate_external: dsa is not a key type"),
    ({"provider": "acme", "rollover": "prepare"}, "certificate_rollover works with the local CA"),
    ({"provider": "selfsigned", "crl": True}, "certificate_crl: the CRL is the local CA's (certificate_provider=ownca)"),
    ({"provider": "external", "crl_url": "http://crl.example.org/ca.crl"}, "certificate_crl_url: the CRL is the local CA's"),
    ({"crl_url": "https://crl.example.org/ca.crl"}, "certificate_crl_url: 'https://crl.example.org/ca.crl' is not an http:// URL"),
    ({"crl_url": "http://crl.example.org/a b.crl"}, "certificate_crl_url: 'http://crl.example.org/a b.crl' contains spaces"),
    ({"renew_fraction": 0.75}, "certificate_renew_fraction, certificate_renew_before_days: renew_fraction must be above 0 and at "
                               "most 0.5 (got 0.75)"),
    ({"renew_before_days": -1}, "renew_before_days cannot be negative"),
    ({"crl": True, "crl_valid_days": 0}, "certificate_crl_valid_days: 0 is below 1"),
])
def test_bad_settings_fail_before_any_module_runs(run, host, tmp_path, args, message):
    with pytest.raises(AnsibleActionFail, match=None) as caught:
        run(base_args(tmp_path, **args))
    assert message in str(caught.value)
    assert host.calls == [] and not (tmp_path / "ca").exists()


def test_the_local_ca_refusing_fails_the_task_and_installs_nothing(run, host, tmp_path):
    with pytest.raises(AnsibleActionFail, match="there is no local CA in"):
        run(base_args(tmp_path, ca_create=False))
    assert host.names() == ["private_key", "csr"]


def test_the_invocation_is_in_the_result_when_asked_for(run, tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_INJECT_INVOCATION", "true")
    result = run(base_args(tmp_path, key_types=["rsa"]))
    assert result["invocation"]["module_args"]["names"] == ["mail.example.org", "smtp.example.org"]
    assert result["invocation"]["module_args"]["base_dir"] == "/etc/postmaster-tls"
    monkeypatch.setenv("ANSIBLE_INJECT_INVOCATION", "false")
    assert "invocation" not in run(base_args(tmp_path, key_types=["rsa"]))


def test_unknown_options_are_refused(run, tmp_path):
    with pytest.raises(AnsibleActionFail, match="Invalid options .*: bogus"):
        run(base_args(tmp_path, bogus=1))


# --- revocation: the local CA's CRL, its distribution point, the lifetime rule --------------------------------
def _openssl_crl_text(path) -> str:
    return subprocess.run(["openssl", "crl", "-noout", "-text", "-in", str(path)], capture_output=True, text=True, check=True).stdout


def test_the_crl_is_kept_on_the_controller_and_installed_on_the_host(run, host, tmp_path):
    result = run(base_args(tmp_path, key_types=["rsa"], crl=True, crl_url="http://crl.example.org/mail-ca.crl"))
    crl_file = tmp_path / "ca" / "crl.pem"
    assert "Certificate Revocation List" in _openssl_crl_text(crl_file)  # an outside reader agrees it is a CRL
    assert (tmp_path / "ca" / "crl.der").read_bytes() == _crl.crl_der(_crl.load_crl(crl_file.read_bytes(), source="crl"))
    assert result["crl"]["resigned"] is True and result["crl"]["crl_number"] == 1 and result["crl"]["revoked"] == []
    assert result["crl"]["reasons"] == [f"no CRL at {crl_file} yet"]
    assert host.names() == ["private_key", "csr", "certificate_install", "copy_content"]
    assert host.files["/etc/postmaster-tls/crl.pem"] == crl_file.read_text()
    assert result["crl"]["dest"] == result["crl_path"] == result["_registered"]["certificate_crl_path"] == "/etc/postmaster-tls/crl.pem"
    assert result["crl"]["installed"] is True
    # The certificate the local CA issued names the CRL's URL as its distribution point.
    leaf = x509.load_pem_x509_certificate(host.args("certificate_install")["batch"][0]["certificate_content"].encode())
    assert _crl.distribution_points(leaf) == ["http://crl.example.org/mail-ca.crl"]

    host.calls.clear()
    again = run(base_args(tmp_path, key_types=["rsa"], crl=True, crl_url="http://crl.example.org/mail-ca.crl"))
    assert again["changed"] is False and again["crl"]["resigned"] is False and again["crl"]["installed"] is False
    assert again["crl"]["crl_number"] == 1

    # Another URL: the certificate is issued again with it.
    moved = run(base_args(tmp_path, key_types=["rsa"], crl=True, crl_url="http://crl2.example.org/mail-ca.crl"))
    assert moved["signed"]["rsa"]["renewed"] is True and "CRL distribution points changed" in moved["signed"]["rsa"]["reason"]


def test_a_crl_past_its_renewal_point_is_resigned_keeping_its_revocations(run, host, tmp_path, pki):
    run(base_args(tmp_path, key_types=["rsa"], crl=True))
    ca_dir = tmp_path / "ca"
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    ca_key = _crypto.load_private_key((ca_dir / "ca.key").read_bytes())
    then = _crypto.utcnow() - datetime.timedelta(days=6)
    old = _crl.build_crl(issuer_cert=ca_cert, issuer_key=ca_key, revoked=[(0x4F2A, then, "keyCompromise")], number=7,
                         this_update=then, next_update=then + datetime.timedelta(days=7))
    (ca_dir / "crl.pem").write_bytes(_crl.crl_pem(old))
    result = run(base_args(tmp_path, key_types=["rsa"], crl=True, crl_dest="/srv/tls/crl.pem"), diff=True)
    assert result["crl"]["resigned"] is True and result["crl"]["crl_number"] == 8
    assert result["crl"]["reasons"][0].startswith("re-signed before its nextUpdate")
    assert [entry["serial"] for entry in result["crl"]["revoked"]] == ["4f:2a"]
    assert "4F2A" in _openssl_crl_text(ca_dir / "crl.pem") and "Key Compromise" in _openssl_crl_text(ca_dir / "crl.pem")
    assert host.files["/srv/tls/crl.pem"] == (ca_dir / "crl.pem").read_text()
    # Diff mode: the controller's CRL and the host's copy as a few readable lines, never the PEM text.
    controller = next(d for d in result["diff"] if d.get("before_header") == str(ca_dir / "crl.pem"))
    assert "crl_number: 7" in controller["before"] and "crl_number: 8" in controller["after"]
    on_host = next(d for d in result["diff"] if d.get("before_header") == "/srv/tls/crl.pem")
    assert on_host["before"] == "(no CRL)\n" and "revoked: 4f:2a keyCompromise" in on_host["after"]
    assert all("BEGIN X509 CRL" not in str(d) for d in result["diff"])


def test_check_mode_with_the_crl_predicts_and_writes_nothing(run, host, tmp_path):
    host.no_csr_content = True
    first = run(base_args(tmp_path, key_types=["rsa"], crl=True), check_mode=True)
    assert first["changed"] is True and first["crl"]["resigned"] is True and first["crl_path"] == ""
    assert "copy_content" not in host.names() and not (tmp_path / "ca").exists()

    host.no_csr_content = False
    run(base_args(tmp_path, key_types=["rsa"]))  # the CA exists now, without a CRL
    host.calls.clear()
    predicted = run(base_args(tmp_path, key_types=["rsa"], crl=True), check_mode=True)
    assert predicted["crl"]["resigned"] is True and predicted["crl"]["crl_number"] == 1  # signed in memory
    assert not (tmp_path / "ca" / "crl.pem").exists() and host.files == {}
    assert predicted["crl"]["installed"] is True and predicted["crl_path"] == "/etc/postmaster-tls/crl.pem"


def test_a_crl_of_another_ca_in_the_ca_dir_fails_and_is_kept(run, host, tmp_path, pki):
    run(base_args(tmp_path, key_types=["rsa"]))
    # Same name as the local CA, another key: a CRL that must not replace the real one.
    other_key = pki.key("other-crl-ca")
    other = _certificate.issue_ca(other_key, subject=_certificate.ca_subject("postmaster.tls local CA"), valid_days=30,
                                  path_length=0, now=_crypto.utcnow())
    now = _crypto.utcnow()
    foreign = _crl.crl_pem(_crl.build_crl(issuer_cert=other, issuer_key=other_key, revoked=[], number=3, this_update=now,
                                          next_update=now + datetime.timedelta(days=7)))
    (tmp_path / "ca" / "crl.pem").write_bytes(foreign)
    host.calls.clear()
    with pytest.raises(AnsibleActionFail, match="signature does not verify with the key of the CA certificate") as caught:
        run(base_args(tmp_path, key_types=["rsa"], crl=True))
    assert "never overwritten" in str(caught.value) and "(on the controller)" in str(caught.value)
    assert (tmp_path / "ca" / "crl.pem").read_bytes() == foreign and "copy_content" not in host.names()


def test_a_failing_crl_copy_fails_the_task_naming_the_step(run, host, tmp_path):
    host.fail = "copy_content"
    result = run(base_args(tmp_path, key_types=["rsa"], crl=True, crl_dest="/srv/none/crl.pem"))
    assert result["failed"] is True
    assert result["msg"] == "install the CRL at /srv/none/crl.pem: Destination directory /srv/none does not exist"


def test_the_lifetime_rule_reaches_the_selfsigned_module(run, host, tmp_path):
    # The local CA's side of the rule is tested in plugin_utils/test_local_ca.py (it needs certificates of an age).
    run(base_args(tmp_path, key_types=["rsa"], provider="selfsigned", renew_fraction=0.5))
    assert host.args("certificate")["renew_fraction"] == 0.5
