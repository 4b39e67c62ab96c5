# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nginx backend's phases with a stand-in for the nginx binary (tests/unit/fake_nginx.py; the real
nginx runs in the Molecule scenario "discovery")."""

from __future__ import annotations

import os
import stat

import pytest
from fake_nginx import FakeNginx

from ansible_collections.postmaster.tls.plugins.module_utils import _discovery, _nginx

POLICY = "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n"


@pytest.fixture
def box(tmp_path, pki, ansible_module):
    """An nginx tree that includes conf.d/*.conf, a document root, and a web certificate for the names."""
    config = tmp_path / "etc" / "nginx"
    (config / "conf.d").mkdir(parents=True)
    (config / "nginx.conf").write_text(f"events {{}}\nhttp {{\n    include {config}/mime.types;\n    include {config}/conf.d/*.conf;\n}}\n")
    (config / "mime.types").write_text("types { text/plain txt; }\n")
    names = ["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"]
    key = pki.key("web")
    cert = pki.cert(names[0], key, sans=names)
    paths = {"certificate": pki.write("web/fullchain.pem", cert), "key": pki.write("web/privkey.pem", key)}
    fake = FakeNginx()

    class Box:
        pass

    b = Box()
    b.config, b.root, b.fake, b.cert, b.tmp = str(config), str(tmp_path / "www"), fake, paths, tmp_path
    b.tools = _nginx.Tools(run=fake, nginx="/usr/sbin/nginx")
    b.module = ansible_module  # a real AnsibleModule: the file helpers use its attribute and backup functions
    b.pki = pki
    return b


def sites(**kwargs):
    dom = _discovery.build_domain({"name": "example.org", **kwargs}, defaults={"mail_host": "mail.example.org"})
    return _discovery.documents(dom)


def request(box, **overrides) -> _nginx.Request:
    values = dict(name="disc", sites=sites(), certificates=[box.cert], config_dir=box.config, document_root=box.root)
    values.update(overrides)
    return _nginx.Request(**values)


def run(box, *, check_mode=False, **overrides) -> _nginx.Outcome:
    return _nginx.run(box.module(check_mode=check_mode), box.tools, request(box, **overrides), check_mode=check_mode, tmpdir=str(box.tmp))


def snapshot(box) -> dict[str, bytes]:
    out = {}
    for top in (box.config, box.root):
        for directory, _dirs, names in os.walk(top):
            for name in names:
                with open(os.path.join(directory, name), "rb") as handle:
                    out[os.path.join(directory, name)] = handle.read()
    return out


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------
def test_rendered_site_serves_exact_files_over_https_only(box):
    desired = _nginx.desired_state(request(box))
    text = desired.config_text
    assert text.count("server {") == 3
    assert "listen 443 ssl;" in text and "listen [::]:443 ssl;" in text and "listen 80" not in text
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text and "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:" in text
    assert f"ssl_certificate {box.cert['certificate']};" in text and f"ssl_certificate_key {box.cert['key']};" in text
    assert "location = /.well-known/mta-sts.txt {" in text and "default_type text/plain;" in text
    assert "location ~* ^/autodiscover/autodiscover\\.xml$ {" in text
    assert "limit_except GET POST { deny all; }" in text and "error_page 405 =200 /autodiscover/autodiscover.xml;" in text
    assert text.count("return 404;") == 3 and "return 30" not in text and "rewrite" not in text
    assert desired.files[f"{box.root}/mta-sts.example.org/.well-known/mta-sts.txt"] == POLICY.encode()
    assert sorted(desired.files) == sorted([
        f"{box.root}/mta-sts.example.org/.well-known/mta-sts.txt",
        f"{box.root}/autoconfig.example.org/mail/config-v1.1.xml",
        f"{box.root}/autoconfig.example.org/.well-known/autoconfig/mail/config-v1.1.xml",
        f"{box.root}/autodiscover.example.org/autodiscover/autodiscover.xml",
    ])


def test_modern_profile_leaves_the_cipher_list_to_tls13(box):
    text = _nginx.desired_state(request(box, profile="modern")).config_text
    assert "ssl_protocols TLSv1.3;" in text and "ssl_ciphers" not in text


def test_tokens_ignore_comments_and_layout():
    assert _nginx.config_tokens("a  b;# c\n{ d 'x y' ; }") == ["a", "b", ";", "{", "d", "'x y'", ";", "}"]


# ------------------------------------------------------------------------------------------------
# A run: stage, install, idempotence
# ------------------------------------------------------------------------------------------------
def test_first_run_stages_checks_and_installs_then_nothing_changes(box):
    flag = str(box.tmp / "run" / "nginx.reload")
    outcome = run(box, reload_flag=flag)
    assert outcome.changed and outcome.plan.config_changed
    site = os.path.join(box.config, "conf.d", "disc.conf")
    with open(site) as handle:
        assert handle.read() == outcome.desired.config_text
    policy = f"{box.root}/mta-sts.example.org/.well-known/mta-sts.txt"
    with open(policy, "rb") as handle:
        assert handle.read() == POLICY.encode()
    assert stat.S_IMODE(os.stat(policy).st_mode) == 0o644 and stat.S_IMODE(os.stat(site).st_mode) == 0o644
    assert os.path.exists(flag)
    # The candidate was tested on a private copy whose paths point at itself, then the live tree once more.
    candidate = box.fake.candidate_tests[0][box.fake.candidate_tests[0].index("-c") + 1]
    assert "postmaster-nginx-" in candidate and not os.path.exists(candidate)
    assert box.fake.live_tests == [["/usr/sbin/nginx", "-t", "-c", os.path.join(box.config, "nginx.conf")]]
    assert outcome.result()["files_changed"] == sorted(outcome.desired.files)

    box.fake.calls.clear()
    os.unlink(flag)
    again = run(box, reload_flag=flag)
    assert not again.changed and box.fake.calls == [] and not os.path.exists(flag)


def test_comments_and_layout_in_the_site_file_are_not_a_change(box):
    run(box)
    site = os.path.join(box.config, "conf.d", "disc.conf")
    with open(site) as handle:
        text = handle.read()
    with open(site, "w") as handle:
        handle.write("# edited by hand\n" + text.replace("    ", "\t"))
    assert not run(box).changed


def test_a_changed_file_is_rewritten_without_touching_nginx(box):
    run(box)
    box.fake.calls.clear()
    outcome = run(box, sites=sites(mta_sts_mode="enforce"))
    assert outcome.changed and not outcome.plan.config_changed
    assert outcome.result()["files_changed"] == [f"{box.root}/mta-sts.example.org/.well-known/mta-sts.txt"]
    assert box.fake.calls == []


def test_check_mode_tests_the_candidate_and_writes_nothing(box):
    before = snapshot(box)
    outcome = run(box, check_mode=True)
    assert outcome.changed and len(box.fake.candidate_tests) == 1 and box.fake.live_tests == []
    assert snapshot(box) == before
    diff = outcome.diff()
    assert diff[0]["after_header"].endswith("conf.d/disc.conf") and "server_name mta-sts.example.org;" in diff[0]["after"]
    assert all("PRIVATE KEY" not in part["after"] for part in diff)


def test_files_no_longer_served_are_removed(box):
    run(box)
    outcome = run(box, sites=sites(autoconfig=False))
    assert sorted(outcome.plan.remove_files) == [f"{box.root}/autoconfig.example.org/.well-known/autoconfig/mail/config-v1.1.xml",
                                                 f"{box.root}/autoconfig.example.org/mail/config-v1.1.xml"]
    assert not os.path.exists(f"{box.root}/autoconfig.example.org/mail/config-v1.1.xml")
    assert os.path.exists(f"{box.root}/mta-sts.example.org/.well-known/mta-sts.txt")


def test_absent_removes_the_site_and_its_files(box):
    run(box)
    outcome = run(box, state="absent", sites=[], certificates=[])
    assert outcome.changed
    assert not os.path.exists(os.path.join(box.config, "conf.d", "disc.conf"))
    assert [path for path in snapshot(box) if path.startswith(box.root)] == []
    assert not run(box, state="absent", sites=[], certificates=[]).changed


def test_backup_of_the_previous_site_file(box):
    run(box)
    outcome = run(box, backup=True, listen=["8443"])
    assert outcome.backup_files["site"].endswith("~")  # AnsibleModule.backup_local: <file>.<pid>.<time>~


# ------------------------------------------------------------------------------------------------
# Refusals: nothing changes
# ------------------------------------------------------------------------------------------------
def test_nginx_refusing_the_candidate_changes_nothing(box):
    run(box)
    before = snapshot(box)
    with pytest.raises(_nginx.NginxCommandError) as caught:
        run(box, extra_directives={"ssl_session_timeout": "soon"})
    message = str(caught.value)
    assert message.startswith('nginx refused the configuration: "ssl_session_timeout" directive invalid value in '
                              f"{box.config}/conf.d/disc.conf:14")
    assert "postmaster-nginx-" not in message and "postmaster-nginx-" not in caught.value.stderr
    assert snapshot(box) == before
    assert [name for name in os.listdir(box.tmp) if name.startswith("postmaster-nginx-")] == []


def test_a_live_check_failure_after_install_restores_every_file(box):
    run(box)
    before = snapshot(box)
    box.fake.fail_live = True
    with pytest.raises(_nginx.NginxCommandError, match="live tree broken.*the previous files were restored"):
        run(box, listen=["8443"], sites=sites(mta_sts_mode="enforce"))
    assert snapshot(box) == before


def test_a_first_install_that_fails_live_leaves_no_file_behind(box):
    box.fake.fail_live = True
    with pytest.raises(_nginx.NginxCommandError):
        run(box)
    assert not os.path.exists(os.path.join(box.config, "conf.d", "disc.conf"))
    assert [path for path in snapshot(box) if path.startswith(box.root)] == []


def test_a_site_file_the_main_configuration_does_not_include(box):
    with pytest.raises(_nginx.NginxError, match=r"nginx does not read .*/sites-available/disc: .*nginx.conf includes no such file"):
        run(box, site_path=os.path.join(box.config, "sites-available", "disc"))


def test_missing_main_configuration(box):
    os.unlink(os.path.join(box.config, "nginx.conf"))
    with pytest.raises(_nginx.NginxError, match="nginx.conf does not exist; is nginx installed"):
        run(box)


@pytest.mark.parametrize("overrides,message", [
    ({"name": "../x"}, "name '../x' must be a short file name"),
    ({"sites": [{"server_name": "bad_name.example", "documents": []}]}, r"sites\[1\].server_name 'bad_name.example' is not a host name"),
    ({"sites": [{"server_name": "a.example.org", "documents": []}]}, "has no documents"),
    ({"sites": [{"server_name": "a.example.org", "documents": [{"path": "/a/../b", "content": "x"}]}]}, "must be an absolute URL path"),
    ({"sites": [{"server_name": "a.example.org", "documents": [{"path": "/a\n", "content": "x"}]}]}, "contains a control character"),
    ({"sites": [{"server_name": "a.example.org", "documents": [{"path": "/a;b", "content": "x"}]}]}, "must be an absolute URL path"),
    ({"sites": [{"server_name": "a.example.org", "documents": [{"path": "/a", "content": "x", "content_type": "text/plain; x"}]}]},
     "is not a media type"),
    ({"sites": [{"server_name": "a.example.org", "documents": [{"path": "/a", "content": "x", "methods": ["POST"]}]}]},
     "allowed are GET"),
    ({"sites": [{"server_name": "a.example.org", "documents": [{"path": "/a", "content": 3}]}]}, "must be the text to serve"),
    ({"sites": [{"server_name": "a.example.org", "documents": [{"path": "/a", "content": "x"}, {"path": "/A", "content": "y"}]}]},
     "listed twice"),
    ({"sites": [{"server_name": "A.example.org", "documents": [{"path": "/a", "content": "x"}]},
                {"server_name": "a.example.org.", "documents": [{"path": "/a", "content": "x"}]}]}, "listed twice"),
    ({"sites": []}, "sites is empty"),
    ({"certificates": []}, "certificates is empty"),
    ({"certificates": [{"certificate": "relative.pem", "key": "/k.pem"}]}, "must be an absolute path"),
    ({"certificates": [{"certificate": "/a b.pem", "key": "/k.pem"}]}, "must be an absolute path without whitespace"),
    ({"listen": []}, "listen is empty"),
    ({"listen": ["443 default_server"]}, "must be a port or address:port"),
    ({"listen": ["-v"]}, "must be a port or address:port"),
    ({"extra_directives": {"add_header": "X-A b; return 301 https://evil/"}}, "contains ; { } #"),
    ({"extra_directives": {"add_header": 'X-A "b'}}, "unbalanced quote"),
    ({"extra_directives": {"root": "/etc"}}, "root is written by the module itself"),
    ({"extra_directives": {"Bad-Name": "x"}}, "is not an nginx directive name"),
    ({"extra_directives": {"add_header": "X-A\nb"}}, "control character"),
    ({"profile": "old"}, "unknown TLS profile 'old'"),
    ({"document_root": "/var/www/../etc"}, "without whitespace, quotes, '..'"),
    ({"reload_flag": "/run/x\nflag"}, r"reload_flag '/run/x\\nflag' contains a control character"),
])
def test_bad_input_is_refused_before_anything_is_read(box, overrides, message):
    with pytest.raises((_nginx.NginxError, ValueError), match=message):
        run(box, **overrides)
    assert box.fake.calls == [] and not os.path.exists(box.root)


def test_site_path_outside_config_dir(box):
    with pytest.raises(_nginx.NginxError, match="is outside config_dir"):
        run(box, site_path=str(box.tmp / "elsewhere.conf"))


# ------------------------------------------------------------------------------------------------
# Certificates
# ------------------------------------------------------------------------------------------------
def test_certificate_facts(box):
    facts = run(box).certificates
    assert facts[0]["names"] == ["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"]
    assert facts[0]["key_type"] == "ecdsa" and facts[0]["days_remaining"] >= 89


def test_a_certificate_that_does_not_cover_a_name_is_refused(box):
    key = box.pki.key("mail")
    paths = {"certificate": box.pki.write("mail/fullchain.pem", box.pki.cert("mail.example.org", key, sans=["mail.example.org"])),
             "key": box.pki.write("mail/privkey.pem", key)}
    message = "is for mail.example.org, not mta-sts.example.org, autoconfig.example.org, autodiscover.example.org; clients would"
    with pytest.raises(_nginx.NginxError, match=message):
        run(box, certificates=[paths])
    assert box.fake.calls == []


def test_a_key_that_does_not_match_is_refused(box):
    other = box.pki.write("other/privkey.pem", box.pki.key("other"))
    with pytest.raises(_nginx.NginxError, match="does not belong to the certificate"):
        run(box, certificates=[{"certificate": box.cert["certificate"], "key": other}])


def test_an_expired_certificate_is_refused(box):
    import datetime

    key = box.pki.key("web")
    names = ["mta-sts.example.org", "autoconfig.example.org", "autodiscover.example.org"]
    old = box.pki.cert(names[0], key, sans=names, not_before=box.pki.now - datetime.timedelta(days=100),
                       not_after=box.pki.now - datetime.timedelta(days=3))
    path = box.pki.write("old/fullchain.pem", old)
    with pytest.raises(_nginx.NginxError, match=r"expired [34] days ago; renew it first"):
        run(box, certificates=[{"certificate": path, "key": box.cert["key"]}])


def test_missing_certificate_fails_a_real_run_and_is_predicted_in_check_mode(box):
    missing = {"certificate": str(box.tmp / "none.pem"), "key": str(box.tmp / "none.key")}
    with pytest.raises(_nginx.MissingFileError, match="does not exist; issue and install the certificate first"):
        run(box, certificates=[missing])
    outcome = run(box, certificates=[missing], check_mode=True)
    assert outcome.changed and box.fake.calls == []
    assert any("not tested with nginx -t" in warning for warning in outcome.warnings)


def test_two_certificates_of_one_key_type_are_refused(box):
    with pytest.raises(_nginx.NginxError, match="two ecdsa certificates"):
        run(box, certificates=[box.cert, box.cert])


def test_an_encrypted_key_is_refused(box):
    path = box.pki.write("enc/privkey.pem", b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises(_nginx.NginxError, match="passphrase-protected"):
        run(box, certificates=[{"certificate": box.cert["certificate"], "key": path}])


def test_running_reads_the_pid_file(tmp_path):
    tools = _nginx.Tools(run=FakeNginx(), nginx="nginx")
    pid = tmp_path / "nginx.pid"
    assert tools.running(str(pid)) is False
    pid.write_text(f"{os.getpid()}\n")
    assert tools.running(str(pid)) is True
    pid.write_text("garbage")
    assert tools.running(str(pid)) is False
