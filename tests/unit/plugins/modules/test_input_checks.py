# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module refuses control characters in every option before it does anything, naming the option and the value
(never a secret's value); PEM content may span lines. The per-module cases live with each module's tests."""

from __future__ import annotations

import os

import pytest

from ansible_collections.postmaster.tls.plugins.modules import (
    certificate, certificate_info, certificate_install, csr, dovecot_tls, local_ca, mail_tls_verify, postfix_tls, private_key)


@pytest.mark.parametrize(("main", "args", "message"), [
    (private_key.main, {"path": "{tmp}/key\x00.pem"}, "path: '{tmp}/key\\x00.pem' contains the control character(s) NUL"),
    (private_key.main, {"path": "{tmp}/key.pem", "passphrase": "pass\nword", "cipher": "auto"},
     "passphrase: (value hidden: the option is a secret) contains the control character(s) LF"),
    (csr.main, {"path": "{tmp}/r.csr", "privatekey_path": "{tmp}/k.pem", "common_name": "mail.example.org\r\nO=evil"},
     "common_name: 'mail.example.org\\r\\nO=evil' contains the control character(s) CR, LF"),
    (csr.main, {"path": "{tmp}/r.csr", "privatekey_path": "{tmp}/k.pem", "subject_alt_names": ["mail.example.org", "x\u2029y"]},
     "subject_alt_names[2]: 'x\\u2029y' contains the control character(s) PARAGRAPH SEPARATOR"),
    (local_ca.main, {"path": "{tmp}/ca.pem", "privatekey_path": "{tmp}/ca.key", "organization": "Org\x1b[31m"},
     "organization: 'Org\\x1b[31m' contains the control character(s) ESC"),
    (certificate.main, {"path": "{tmp}/c.pem", "provider": "selfsigned", "privatekey_path": "{tmp}/k.pem",
                        "csr_content": "-----BEGIN CERTIFICATE REQUEST-----\n\x00\n-----END CERTIFICATE REQUEST-----\n"},
     "csr_content: '-----BEGIN CERTIFICATE REQUEST-----\\n\\x00\\n-----END CERTIFICATE REQUEST-----\\n' contains the control "
     "character(s) NUL; line breaks and tabs are allowed here"),
    (certificate.main, {"provider": "ownca", "ca_cert_path": "{tmp}/ca.pem", "ca_privatekey_path": "{tmp}/ca.key",
                        "batch": [{"certificates": {"{tmp}/a\tb.pem": "x"}}]},
     "batch[1].certificates key: '{tmp}/a\\tb.pem' contains the control character(s) TAB"),
    (certificate_info.main, {"paths": ["{tmp}/ok.pem", "{tmp}/bad\r.pem"]}, "paths[2]: '{tmp}/bad\\r.pem' contains the control character(s) CR"),
    (certificate_install.main, {"dest": "{tmp}/live\n", "privatekey_path": "{tmp}/k.pem", "certificate_path": "{tmp}/c.pem"},
     "dest: '{tmp}/live\\n' contains the control character(s) LF"),
    (certificate_install.main, {"dest": "{tmp}/live", "privatekey_path": "{tmp}/k.pem", "certificate_path": "{tmp}/c.pem",
                                "required_names": ["mail.example.org", "mail.example.org,other"]},
     "required_names[2]: 'mail.example.org,other' is neither a DNS name"),
    (certificate_install.main, {"dest": "{tmp}/live", "privatekey_path": "{tmp}/k.pem", "certificate_path": "{tmp}/c.pem",
                                "min_days_remaining": -30},
     "min_days_remaining: -30 is below the minimum 0"),
    (postfix_tls.main, {"chain_files": ["{tmp}/a, b.pem"]}, "chain_files[1]: '{tmp}/a, b.pem' contains a comma; Postfix would read it as more than one path"),
    (postfix_tls.main, {"chain_files": ["{tmp}/a b.pem"]}, "chain_files[1]: '{tmp}/a b.pem' contains a space"),
    (postfix_tls.main, {"extra": {"smtpd_tls_loglevel": "1\x00"}}, "extra.smtpd_tls_loglevel: '1\\x00' contains the control character(s) NUL"),
    (postfix_tls.main, {"service_options": {"syslog_name": "postfix/sub\rmission"}},
     "service_options.syslog_name: 'postfix/sub\\rmission' contains the control character(s) CR"),
    (postfix_tls.main, {"sasl_path": "-v"}, "sasl_path: '-v' is not a socket path"),
    (postfix_tls.main, {"sasl_path": "private/auth,x"}, "sasl_path: 'private/auth,x' contains a space, comma"),
    (dovecot_tls.main, {"cert_path": "{tmp}/c.pem", "key_path": "{tmp}/k.pem", "dh_path": "dh.pem"}, "dh_path: 'dh.pem' is not an absolute path"),
    (mail_tls_verify.main, {"all_ports": True, "ehlo_name": "x\r\nQUIT"}, "ehlo_name: 'x\\r\\nQUIT' contains the control character(s) CR, LF"),
])
def test_refused_before_anything_is_done(run_module, tmp_path, main, args, message):
    tmp = str(tmp_path)

    def fill(value):
        if isinstance(value, str):
            return value.replace("{tmp}", tmp)
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {fill(key): fill(item) for key, item in value.items()}
        return value

    result = run_module(main, fill(args))
    assert result.get("failed") is True, result
    assert result["msg"].startswith(message.replace("{tmp}", tmp)), result["msg"]
    assert os.listdir(tmp) == []
    assert "pass\nword" not in result.text and "pass\\nword" not in result.text
