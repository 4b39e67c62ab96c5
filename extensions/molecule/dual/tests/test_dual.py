# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""After site.yml with RSA and ECDSA: every port serves the certificate the client can use.

The witness is openssl s_client in the container's network namespace, limited to one key type at a
time: by signature algorithms for TLS 1.3 (where the cipher suite says nothing about the key) and by
cipher suites for TLS 1.2. The served leaf must equal the installed file of that key type.
"""

from __future__ import annotations

import certwitness
import pytest

BASE = "/etc/postmaster-tls/mail.example.test"

# One key type per client; each list holds only algorithms of that type.
LIMITS = {
    ("ecdsa", "TLSv1.3"): ["-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384"],
    ("rsa", "TLSv1.3"): ["-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512"],
    ("ecdsa", "TLSv1.2"): ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"],
    ("rsa", "TLSv1.2"): ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"],
}
# What openssl reports for the server's handshake signature (TLS 1.3 RSA certificates sign with PSS).
SIGNATURE_TYPE = {"ecdsa": "ECDSA", "rsa": ("RSA-PSS", "RSA")}
PUBLIC_KEY = {"ecdsa": "id-ecPublicKey", "rsa": "rsaEncryption"}


@pytest.fixture(scope="module")
def installed(host):
    """Fingerprint of the installed leaf per key type, and the key algorithm openssl sees in it."""
    out = {}
    for key_type in ("rsa", "ecdsa"):
        path = f"{BASE}/{key_type}/live/cert.pem"
        text = host.check_output(f"openssl x509 -in {path} -noout -text")
        algorithm = next(line.split(":", 1)[1].strip() for line in text.splitlines() if "Public Key Algorithm" in line)
        out[key_type] = {"fingerprint": certwitness.fingerprint(host.file(path).content_string), "algorithm": algorithm}
    return out


def test_two_certificates_of_different_key_types_are_installed(installed):
    assert installed["rsa"]["algorithm"] == PUBLIC_KEY["rsa"]
    assert installed["ecdsa"]["algorithm"] == PUBLIC_KEY["ecdsa"]
    assert installed["rsa"]["fingerprint"] != installed["ecdsa"]["fingerprint"]


def test_postfix_is_given_both_chain_files(host):
    files = host.check_output("postconf -h smtpd_tls_chain_files").replace(",", " ").split()
    assert files == [f"{BASE}/rsa/live/combined.pem", f"{BASE}/ecdsa/live/combined.pem"], files


@pytest.mark.parametrize(("port", "starttls"), certwitness.PORTS)
@pytest.mark.parametrize("protocol", ["TLSv1.3", "TLSv1.2"])
@pytest.mark.parametrize("key_type", ["ecdsa", "rsa"])
def test_a_client_limited_to_one_key_type_gets_that_certificate(host, installed, port, starttls, protocol, key_type):
    extra = LIMITS[(key_type, protocol)]
    hello, chain = certwitness.served(host, port, starttls=starttls, extra=extra)
    where = f"port {port} {protocol} {key_type}: {hello.stdout[-500:]}{hello.stderr[-300:]}"
    assert chain, where
    assert chain[0] == installed[key_type]["fingerprint"], where
    assert f"Protocol  : {protocol}" in hello.stdout or f"New, {protocol}," in hello.stdout, where
    signature = [line.split(":", 1)[1].strip() for line in hello.stdout.splitlines() if line.startswith("Peer signature type:")]
    expected = SIGNATURE_TYPE[key_type]
    assert signature and signature[0] in (expected if isinstance(expected, tuple) else (expected,)), where
