# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.certificate and the certificate lifecycle: the lifetime rule, CRL distribution points,
and the refusal of OCSP must-staple."""

from __future__ import annotations

import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ansible_collections.postmaster.tls.plugins.module_utils import _crl, _crypto
from ansible_collections.postmaster.tls.plugins.modules import certificate, local_ca

CDP = "http://crl.example.test/mail-ca.crl"


@pytest.fixture
def files(pki, run_module):
    leaf_key = pki.key("life-leaf")
    out = {
        "key": pki.write("leaf.key", leaf_key),
        "csr": pki.write("leaf.csr", pki.csr(leaf_key, "mail.example.org", ["mail.example.org"])),
        "ca_key": pki.write("ca.key", pki.key("life-ca")),
        "ca": str(pki.dir / "ca.pem"),
        "cert": str(pki.dir / "issued.pem"),
    }
    assert run_module(local_ca.main, {"path": out["ca"], "privatekey_path": out["ca_key"]})["changed"]
    return out


def _args(files, **extra):
    args = {"path": files["cert"], "csr_path": files["csr"], "provider": "ownca", "ca_cert_path": files["ca"],
            "ca_privatekey_path": files["ca_key"], "privatekey_path": files["key"]}
    args.update(extra)
    return args


def _issued(files) -> x509.Certificate:
    with open(files["cert"], "rb") as handle:
        return _crypto.load_certificate(handle.read())


@pytest.mark.parametrize(("valid_days", "renew_before_days"), [(6, 5), (47, 30), (90, 30), (398, 30)])
def test_a_new_certificate_is_kept_on_the_next_runs(run_module, files, valid_days, renew_before_days):
    first = run_module(certificate.main, _args(files, valid_days=valid_days, renew_before_days=renew_before_days))
    assert first["changed"] and first["renewal"]["due"] is False
    for check_mode in (True, False):
        again = run_module(certificate.main, _args(files, valid_days=valid_days, renew_before_days=renew_before_days),
                           check_mode=check_mode)
        assert not again["changed"] and again["renew_reason"] is None, again["renew_reason"]


def test_renewal_facts_follow_the_rule(run_module, files):
    result = run_module(certificate.main, _args(files, valid_days=6, renew_before_days=5))
    # 6-day certificate: the 5-day window counts as 3 days (half the lifetime), one third would be 2.
    assert result["renewal"]["threshold_days"] == 3.0 and result["renewal"]["lifetime_days"] == 6.0
    long = run_module(certificate.main, _args(files, valid_days=398, renew_before_days=30, force=True))
    assert long["renewal"]["threshold_days"] == 132.67


def test_a_short_certificate_under_a_longer_policy_is_renewed_once(run_module, files):
    run_module(certificate.main, _args(files, valid_days=20, renew_before_days=5))
    renewed = run_module(certificate.main, _args(files, valid_days=90, renew_before_days=30))
    assert renewed["renewed"]
    assert renewed["renew_reason"] in ("19 days remain, fewer than renew_before_days=30", "20 days remain, fewer than renew_before_days=30")
    assert not run_module(certificate.main, _args(files, valid_days=90, renew_before_days=30))["changed"]


@pytest.mark.parametrize("fraction", [0.0, 0.75, -0.1])
def test_renew_fraction_out_of_range_is_refused(run_module, files, fraction):
    result = run_module(certificate.main, _args(files, renew_fraction=fraction))
    assert result["failed"] and "renew_fraction must be above 0 and at most 0.5" in result["msg"]
    assert not os.path.exists(files["cert"])


def test_crl_distribution_points_are_written_and_a_change_reissues(run_module, files):
    first = run_module(certificate.main, _args(files, crl_distribution_points=[CDP]))
    assert first["changed"] and _crl.distribution_points(_issued(files)) == [CDP]
    assert not run_module(certificate.main, _args(files, crl_distribution_points=[CDP]))["changed"]
    moved = run_module(certificate.main, _args(files, crl_distribution_points=["http://crl2.example.test/ca.crl"]))
    assert moved["renewed"] and moved["renew_reason"] == (f"the CRL distribution points changed ({CDP} -> "
                                                          "http://crl2.example.test/ca.crl)")
    dropped = run_module(certificate.main, _args(files))
    assert dropped["renewed"] and "-> none)" in dropped["renew_reason"]
    assert _crl.distribution_points(_issued(files)) == []


@pytest.mark.parametrize(("extra", "message"), [
    ({"crl_distribution_points": ["https://crl.example.test/ca.crl"]}, "is not an http:// URL"),
    ({"crl_distribution_points": ["http://crl.example.test/a b.crl"]}, "spaces or control characters"),
    # Control characters never reach the backend: the universal input rule names the option and the characters.
    ({"crl_distribution_points": ["http://crl.example.test/\r\nX: y"]}, "crl_distribution_points[1]: 'http://crl.example.test/\\r\\nX: y' "
                                                                        "contains the control character(s) CR, LF"),
    ({"crl_distribution_points": [CDP], "provider": "selfsigned"}, "crl_distribution_points needs provider=ownca"),
])
def test_bad_distribution_points_are_refused(run_module, files, extra, message):
    result = run_module(certificate.main, _args(files, **extra))
    assert result["failed"] and message in result["msg"]
    assert not os.path.exists(files["cert"])


def test_a_csr_asking_for_must_staple_is_refused(run_module, files, pki):
    key = pki.key("life-leaf")
    staple = (x509.CertificateSigningRequestBuilder()
              .subject_name(pki.name("mail.example.org"))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.example.org")]), critical=False)
              .add_extension(x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False)
              .sign(key, hashes.SHA256()))
    pki.write("leaf.csr", staple)
    result = run_module(certificate.main, _args(files))
    assert result["failed"]
    assert "asks for OCSP must-staple" in result["msg"] and "Postfix and Dovecot cannot staple OCSP responses" in result["msg"]
    assert not os.path.exists(files["cert"])
