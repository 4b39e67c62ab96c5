# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module's main(): argument handling, results, failures and messages, with postconf & co. faked."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _layout, _sasl
from ansible_collections.postmaster.tls.plugins.modules import postfix_tls
from ansible_collections.postmaster.tls.tests.unit.plugins.module_utils.test_postfix import FakePostfix, combined
from ansible_collections.postmaster.tls.tests.unit.plugins.module_utils.test_postfix import cyrus_installed  # noqa: F401 pylint: disable=unused-import


@pytest.fixture
def fake(tmp_path, monkeypatch):
    postfix = FakePostfix(str(tmp_path / "etc-postfix"))
    binaries = {"postconf": "/usr/sbin/postconf", "postfix": "/usr/sbin/postfix", "postmap": "/usr/sbin/postmap",
                "openssl": "/usr/bin/openssl", "script": "/usr/bin/script"}

    def get_bin_path(self, name, required=False, opt_dirs=None):
        path = binaries.get(name)
        if path is None and required:
            self.fail_json(msg=f"Failed to find required executable {name}")
        return path

    def run_command(self, args, **kwargs):
        assert kwargs.get("environ_update", {}).get("LC_ALL") == "C"
        assert isinstance(args, list), "commands are argv lists, never shell strings"
        return postfix(args)

    monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    postfix.binaries = binaries
    return postfix


def args(fake, tmp_path, **extra):
    # The default reload flag is under /run on this machine; the tests that need one give their own.
    return {"config_dir": fake.config_dir, "_ansible_remote_tmp": str(tmp_path / "remote-tmp"), "reload_flag": "", **extra}


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(postfix_tls.DOCUMENTATION)
    for fragment in doc["extends_documentation_fragment"]:
        name, _sep, variant = fragment.split(".", 2)[2].partition(".")
        module = __import__(f"ansible_collections.postmaster.tls.plugins.doc_fragments.{name}", fromlist=["ModuleDocFragment"])
        doc["options"].update(yaml.safe_load(getattr(module.ModuleDocFragment, variant or "DOCUMENTATION")).get("options") or {})
    spec = postfix_tls.argument_spec()
    assert sorted(doc["options"]) == sorted(spec)
    for name, option in spec.items():
        documented = doc["options"][name]
        assert documented.get("default") == option.get("default"), name
        assert sorted(documented.get("choices", [])) == sorted(option.get("choices", [])), name
        assert documented["type"] == option["type"], name
    assert yaml.safe_load(postfix_tls.EXAMPLES)
    returned = yaml.safe_load(postfix_tls.RETURN)
    assert all("returned" in value and "sample" in value for value in returned.values())


def test_deploys_then_reports_no_change(fake, tmp_path, pki, run_module):
    chain = [combined(pki, "mail", "rsa"), combined(pki, "mail", "ec")]
    first = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain), diff=True)
    assert first["changed"] is True, first
    assert [c["key_type"] for c in first["certificates"]] == ["rsa", "ecdsa"]
    assert first["profile"]["name"] == "intermediate"
    assert first["changes"]["parameters"]["smtpd_tls_cert_file"] == {"before": "/etc/ssl/certs/ssl-cert-snakeoil.pem", "after": None}
    assert sorted(first["changes"]["services"]) == ["submission/inet", "submissions/inet"]
    assert [d["before_header"] for d in first["diff"]] == [os.path.join(fake.config_dir, "main.cf"), os.path.join(fake.config_dir, "master.cf")]
    assert "PRIVATE KEY" not in str(first)
    second = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain))
    assert second["changed"] is False
    assert second["commands"] == []
    assert second["changes"] == {"parameters": {}, "services": {}}
    assert second["running"] is True  # the role skips its service task on this
    assert second["reload_pending"] is False
    fake.running = False
    assert run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain))["running"] is False


def test_check_mode_predicts_the_same_commands(fake, tmp_path, pki, run_module):
    chain = [combined(pki, "mail", "rsa")]
    with open(os.path.join(fake.config_dir, "main.cf"), "rb") as handle:
        before = handle.read()
    predicted = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain), check_mode=True)
    with open(os.path.join(fake.config_dir, "main.cf"), "rb") as handle:
        assert handle.read() == before
    applied = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain))
    assert predicted["changed"] is applied["changed"] is True
    assert predicted["commands"] == applied["commands"]
    assert predicted["changes"] == applied["changes"]


@pytest.mark.parametrize("extra,message", [
    ({"extra": {"smtpd_tls_protocols": ">=TLSv1.2, SSLv9"}}, "unknown protocol name(s) 'SSLv9'"),
    ({"extra": {"inet_protocols": "bogus"}}, 'postfix check refused the new configuration: postfix: fatal: unknown inet_protocols value "bogus"'),
    ({"chain_files": ["/nonexistent/combined.pem"]}, "/nonexistent/combined.pem does not exist"),
    ({"service_options": {"smtpd_client_restrictions": "permit_sasl_authenticated, reject"}}, "contains whitespace"),
])
def test_bad_input_fails_with_a_clear_message(fake, tmp_path, run_module, extra, message):
    result = run_module(postfix_tls.main, args(fake, tmp_path, **extra))
    assert result["failed"] is True
    assert message in result["msg"]
    assert result["config_dir"] == fake.config_dir


def test_postfix_check_failure_carries_the_command(fake, tmp_path, run_module):
    result = run_module(postfix_tls.main, args(fake, tmp_path, extra={"inet_protocols": "bogus"}))
    assert result["rc"] == 1
    assert result["cmd"][0] == "/usr/sbin/postfix" and result["cmd"][-1] == "check"


def test_unknown_profile_is_refused_by_the_argument_spec(fake, tmp_path, run_module):
    result = run_module(postfix_tls.main, args(fake, tmp_path, profile="paranoid"))
    assert result["failed"] is True
    assert "profile must be one of: modern, intermediate, legacy, got: paranoid" in result["msg"]


def test_missing_postfix_is_predicted_in_check_mode_and_fails_for_real(fake, tmp_path, run_module):
    fake.binaries["postconf"] = None
    predicted = run_module(postfix_tls.main, args(fake, tmp_path), check_mode=True)
    assert predicted["changed"] is True
    assert any("Postfix is not installed yet" in w for w in predicted["warnings"])
    failed = run_module(postfix_tls.main, args(fake, tmp_path))
    assert failed["failed"] is True
    assert "postconf was not found on this host; install Postfix first" in failed["msg"]


def test_warnings_reach_the_user(fake, tmp_path, pki, run_module, monkeypatch):
    monkeypatch.setattr(_sasl, "cyrus_plugins", lambda: [])
    result = run_module(postfix_tls.main, args(fake, tmp_path), check_mode=True)
    assert any("no Cyrus PLAIN or LOGIN mechanism is installed" in w for w in result["warnings"])


def test_reload_flag_is_raised_before_main_cf_changes_and_reported(fake, tmp_path, pki, run_module):
    flag = str(tmp_path / "run" / "postfix.reload")
    chain = [combined(pki, "mail", "rsa")]
    check = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain, reload_flag=flag), check_mode=True)
    assert check["changed"] and check["reload_pending"] is True and not os.path.exists(flag)
    applied = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain, reload_flag=flag))
    assert applied["changed"] and applied["reload_pending"] is True and os.path.exists(flag)
    # The next run changes nothing but still reports the reload that has not happened yet.
    pending = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain, reload_flag=flag))
    assert not pending["changed"] and pending["reload_pending"] is True
    os.unlink(flag)  # the role's handler, after a successful reload
    assert run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain, reload_flag=flag))["reload_pending"] is False
    # What the role's handlers use: the flag to remove, and the check with the binaries the module found.
    assert applied["reload_flag"] == flag
    assert applied["check_command"] == ["/usr/bin/script", "-qec", f"/usr/sbin/postfix -c {fake.config_dir} check", "/dev/null"]
    unflagged = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain))  # reload_flag "" raises none
    assert unflagged["reload_flag"] is None and unflagged["reload_pending"] is False


def test_an_unset_reload_flag_is_the_layouts(fake, tmp_path, pki, run_module):
    """The flag's place comes from _layout, so roles and certificate_install (reload_services) agree on it."""
    chain = [combined(pki, "mail", "rsa")]
    check = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain, reload_flag=None), check_mode=True)
    assert check["reload_flag"] == _layout.reload_flag("postfix")
    assert check["reload_pending"] is True
    explicit = run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain, reload_flag=str(tmp_path / "f")), check_mode=True)
    assert explicit["reload_flag"] == str(tmp_path / "f")
    assert run_module(postfix_tls.main, args(fake, tmp_path, chain_files=chain), check_mode=True)["reload_flag"] is None
