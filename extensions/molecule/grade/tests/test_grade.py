# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module's internet.nl grades against two outside oracles, on all seven ports, two configurations.

For each container: the default deployment (as converged), then weaken.yml (a different weakness per
port). Each time the module grades all seven ports, and sslyze (the scanner internet.nl itself runs,
from dev.sh's oracle venv) and testssl.sh (Debian) scan the same ports from the host inside the
container's network namespace. Their raw data (accepted versions and suites, ephemeral keys with the DH
prime, compression, renegotiation, EMS, the served chain) is turned into internet.nl's verdicts here,
with the classification table as the spec; the DH primes are compared with OpenSSL's own RFC 7919 groups.
For every subtest an oracle can judge, its verdict must equal the module's.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

import certwitness
import mailtest
import pytest

ORACLE_PYTHON = os.environ.get("POSTMASTER_ORACLE_PYTHON", "")
HERE = os.path.dirname(os.path.abspath(__file__))
STARTTLS = {25: "smtp", 587: "smtp", 143: "imap", 110: "pop3"}
PORTS = [25, 587, 465, 143, 993, 110, 995]


def _tlsgrade():
    """The classification table (the spec both sides are judged by), from the synced collection."""
    for root in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        if root and root not in sys.path:
            sys.path.insert(0, root)
    from ansible_collections.postmaster.tls.plugins.module_utils import _tlsgrade  # pylint: disable=import-outside-toplevel

    return _tlsgrade


T = _tlsgrade()


def worst(classes) -> str:
    return T.worst(classes) or T.NOT_APPLICABLE


# ------------------------------------------------------------------------------------------------
# The module, through Ansible
# ------------------------------------------------------------------------------------------------
def module_grades(host, tlsa: list[str]) -> dict[int, dict]:
    # grade_all_groups: testssl.sh lists every accepted group, so the module must find them all too.
    args = {"all_ports": True, "server_name": "mail.example.test", "grade": True, "grade_all_groups": True,
            "report_only": True, "tlsa_records": tlsa, "check_hostname": False, "validate_chain": False}
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_NOCOLOR="1")
    done = subprocess.run(["ansible", mailtest.container_name(host), "-i", env["MOLECULE_INVENTORY_FILE"],
                           "-m", "postmaster.tls.mail_tls_verify", "-a", json.dumps(args)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    result = next(iter(result["plays"][0]["tasks"][0]["hosts"].values()))
    return {grade["port"]: grade for grade in result["grades"]}


# ------------------------------------------------------------------------------------------------
# Oracles
# ------------------------------------------------------------------------------------------------
def run_sslyze(host) -> dict[int, dict]:
    """sslyze's scan of each port, one port at a time and with --slow_connection: Dovecot starts a login
    process per connection and, flooded, leaves its implicit-TLS ports without an answer."""
    assert ORACLE_PYTHON, "POSTMASTER_ORACLE_PYTHON is not set: run through ./dev.sh molecule grade"
    out: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for port in PORTS:
            path = os.path.join(tmp, f"{port}.json")
            starttls = ["--starttls", "auto"] if port in STARTTLS else []
            argv = [ORACLE_PYTHON, "-m", "sslyze", "--quiet", "--slow_connection", f"--json_out={path}", *starttls,
                    "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--compression", "--reneg", "--ems",
                    "--certinfo", f"127.0.0.1:{port}"]
            done = mailtest.in_netns(host, argv, timeout=900)
            with open(path, encoding="utf-8") as handle:
                [server] = json.load(handle)["server_scan_results"]
            assert server["scan_status"] == "COMPLETED", (port, done.stderr[-500:])
            out[port] = server["scan_result"]
    return out


# testssl.sh is slow (one openssl process per question): only the checks compared below, the server
# preference check (the slowest) on one Postfix and one Dovecot port, a few ports at a time.
TESTSSL_CHECKS = ["-p", "--fs", "-R", "--compression"]
TESTSSL_ORDER_PORTS = (465, 993)
TESTSSL_PARALLEL = 2


def run_testssl(host) -> dict[int, dict[str, str]]:
    """testssl.sh findings per port (id -> finding)."""
    def one(port: int) -> tuple[int, dict[str, str]]:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.json")
            argv = ["testssl", "--quiet", "--warnings", "off", "--color", "0", "--jsonfile", path, *TESTSSL_CHECKS]
            if port in TESTSSL_ORDER_PORTS:
                argv.append("-P")
            if port in STARTTLS:
                argv += ["--starttls", STARTTLS[port]]
            done = mailtest.in_netns(host, [*argv, f"127.0.0.1:{port}"], timeout=900)
            with open(path, encoding="utf-8") as handle:
                findings = {item["id"]: item["finding"] for item in json.load(handle)}
            assert "TLS1_2" in findings, done.stdout[-1000:]
            return port, findings
    with concurrent.futures.ThreadPoolExecutor(max_workers=TESTSSL_PARALLEL) as pool:
        return dict(pool.map(one, PORTS))


def ffdhe_primes() -> dict[int, str]:
    """OpenSSL's RFC 7919 groups: prime -> name (an independent copy of the primes)."""
    from cryptography.hazmat.primitives.serialization import load_pem_parameters  # pylint: disable=import-outside-toplevel

    primes = {}
    for bits in (2048, 3072, 4096, 6144, 8192):
        pem = subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", f"group:ffdhe{bits}"],
                             capture_output=True, check=True).stdout
        primes[load_pem_parameters(pem).parameter_numbers().p] = f"ffdhe{bits}"
    return primes


# ------------------------------------------------------------------------------------------------
# Oracle data -> internet.nl verdicts
# ------------------------------------------------------------------------------------------------
VERSION_KEYS = {"SSLv3": "ssl_3_0_cipher_suites", "TLSv1": "tls_1_0_cipher_suites", "TLSv1.1": "tls_1_1_cipher_suites",
                "TLSv1.2": "tls_1_2_cipher_suites", "TLSv1.3": "tls_1_3_cipher_suites"}


def verdicts_from_sslyze(scan: dict, primes: dict[int, str]) -> dict[str, str]:
    accepted = [v for v, key in VERSION_KEYS.items() if scan[key]["result"]["accepted_cipher_suites"]]
    verdicts = {"tls_version": worst(T.PROTOCOL_CLASSES.get(v, T.INSUFFICIENT) for v in accepted)}
    # internet.nl grades the suites of the highest version below 1.3, and those of 1.3.
    graded = [v for v in accepted if v != "TLSv1.3"][-1:] + [v for v in accepted if v == "TLSv1.3"]
    suites = [s for v in graded for s in scan[VERSION_KEYS[v]]["result"]["accepted_cipher_suites"]]
    verdicts["tls_ciphers"] = worst(T.cipher_class(s["cipher_suite"]["name"]) for s in suites)
    groups = []
    for suite in suites:
        key = suite["ephemeral_key"]
        if not key:
            continue
        if key["type_name"] == "DH":
            prime = int.from_bytes(base64.b64decode(key["prime"]), "big")
            generator = int.from_bytes(base64.b64decode(key["generator"]), "big")
            groups.append(T.group_class(primes.get(prime) if generator == 2 else None))
        else:
            groups.append(T.group_class(key["curve_name"].lower().replace("prime256v1", "secp256r1")))
    verdicts["fs_params"] = worst(groups)
    below13 = [v for v in accepted if v != "TLSv1.3"]
    if below13:
        verdicts["tls_compression"] = T.INSUFFICIENT if scan["tls_compression"]["result"]["supports_compression"] else T.GOOD
        verdicts["renegotiation_secure"] = (T.GOOD if scan["session_renegotiation"]["result"]["supports_secure_renegotiation"]
                                            else T.INSUFFICIENT)
    if "TLSv1.2" in accepted and scan["tls_extended_master_secret"]["result"]:
        verdicts["extended_master_secret"] = (T.GOOD if scan["tls_extended_master_secret"]["result"]["supports_ems_extension"]
                                              else T.INSUFFICIENT)
    chain = scan["certificate_info"]["result"]["certificate_deployments"][0]["received_certificate_chain"]
    keys, hashes = [], []
    for index, cert in enumerate(chain):
        if index and cert["subject"]["rfc4514_string"] == cert["issuer"]["rfc4514_string"]:
            continue  # a root sent along: internet.nl skips trust anchors
        public = cert["public_key"]
        if public["algorithm"] == "RSAPublicKey":
            bits = public["key_size"]
            keys.append(T.GOOD if bits >= T.CERT_RSA_GOOD_BITS else T.PHASE_OUT if bits >= T.CERT_RSA_PHASE_OUT_BITS
                        else T.INSUFFICIENT)
        elif public["algorithm"] == "EllipticCurvePublicKey":
            keys.append(T.CERT_CURVE_CLASSES.get(public["ec_curve_name"], T.INSUFFICIENT))
        else:
            keys.append(T.GOOD)
        digest = (cert["signature_hash_algorithm"] or {}).get("name") or "eddsa"
        hashes.append(T.SIGNATURE_HASH_CLASSES.get(digest, T.INSUFFICIENT))
    verdicts["cert_pubkey"] = worst(keys)
    verdicts["cert_signature"] = worst(hashes)
    return verdicts


def verdicts_from_testssl(findings: dict[str, str]) -> dict[str, str]:
    names = {"SSLv3": "SSLv3", "TLSv1": "TLS1", "TLSv1.1": "TLS1_1", "TLSv1.2": "TLS1_2", "TLSv1.3": "TLS1_3"}
    accepted = [v for v, key in names.items() if findings.get(key, "").startswith("offered")]
    verdicts = {"tls_version": worst(T.PROTOCOL_CLASSES.get(v, T.INSUFFICIENT) for v in accepted)}
    if any(v != "TLSv1.3" for v in accepted):
        verdicts["renegotiation_secure"] = T.GOOD if findings.get("secure_renego", "").startswith("supported") else T.INSUFFICIENT
        verdicts["tls_compression"] = T.GOOD if findings.get("CRIME_TLS", "").startswith("not vulnerable") else T.INSUFFICIENT
    # testssl.sh lists every group the server accepts (not the one a client gets), so its list is compared
    # with the module's evidence of accepted groups (see fs_supported). DH groups: ffdheNNNN by name, any
    # other group testssl names ("RFC3526/Oakley Group 14", unknown ones) is not RFC 7919: custom.
    groups = []
    dh = findings.get("DH_groups", "")
    named = [word for word in dh.split() if word.startswith("ffdhe")]
    groups += [T.group_class(word) for word in named]
    if dh and " ".join(named) != dh.strip():
        groups.append(T.group_class(None))
    curves = findings.get("PFS_ECDHE_curves") or findings.get("FS_ECDHE_curves") or ""
    groups += [T.group_class(curve.lower().replace("prime256v1", "secp256r1")) for curve in curves.split()]
    if groups:
        verdicts["fs_supported"] = worst(groups)
    return verdicts


def fs_supported(subtest: dict) -> str:
    """The worst class among every group the module saw accepted: negotiated ones, TLS 1.3 groups and
    TLS 1.2 curves (what testssl.sh lists); internet.nl's own verdict is on the negotiated ones only."""
    found = [n["class"] for n in subtest.get("negotiated", [])]
    for kind in ("tls13", "tls12_curves"):
        found += [g["class"] for g in subtest.get("supported", {}).get(kind, [])]
    return worst(found)


# ------------------------------------------------------------------------------------------------
# The test
# ------------------------------------------------------------------------------------------------
def compare(stage: str, grades: dict[int, dict], oracle: str, verdicts: dict[int, dict[str, str]]) -> list[str]:
    mismatches = []
    for port in PORTS:
        for name, theirs in verdicts[port].items():
            if name == "fs_supported":
                ours = fs_supported(grades[port]["subtests"]["fs_params"])
                name = "fs_params (every accepted group)"
                if ours != theirs:
                    mismatches.append(f"{stage} port {port} {name}: module {ours}, {oracle} {theirs} "
                                      f"({grades[port]['subtests']['fs_params']})")
                continue
            ours = grades[port]["subtests"][name]["verdict"]
            if ours != theirs:
                mismatches.append(f"{stage} port {port} {name}: module {ours}, {oracle} {theirs} "
                                  f"({grades[port]['subtests'][name]['detail']})")
    return mismatches


def server_order(findings: dict[str, str]) -> bool | None:
    text = findings.get("cipher_order", "")
    if text.startswith("server"):
        return True
    if text.startswith("NOT a cipher order"):
        return False
    return None


def grade_stage(host, stage: str, tlsa: list[str], primes: dict[int, str]) -> tuple[dict[int, dict], list[str]]:
    # One after the other: three scanners at once exceed Dovecot's login process limit (it then drops
    # connections), which would test the server's limits instead of its TLS.
    grades = module_grades(host, tlsa)
    scans = run_sslyze(host)
    findings = run_testssl(host)
    mismatches = compare(stage, grades, "sslyze", {p: verdicts_from_sslyze(scans[p], primes) for p in PORTS})
    mismatches += compare(stage, grades, "testssl.sh", {p: verdicts_from_testssl(findings[p]) for p in PORTS})
    for port in PORTS:
        ours = grades[port]["subtests"]["tls_cipher_order"]["server_enforces_order"]
        theirs = server_order(findings[port])
        if ours is not None and theirs is not None and ours != theirs:
            mismatches.append(f"{stage} port {port}: module says server order {ours}, testssl.sh {theirs}")
    return grades, mismatches


def tlsa_of_collection_key(host) -> list[str]:
    spki = host.check_output(
        "openssl x509 -in /etc/postmaster-tls/mail.example.test/rsa/live/cert.pem -noout -pubkey"
        " | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1")
    return [f"3 1 1 {spki.strip()}"]


def test_grades_agree_with_sslyze_and_testssl(host):
    primes = ffdhe_primes()
    tlsa = tlsa_of_collection_key(host)
    default, mismatches = grade_stage(host, "default", tlsa, primes)
    for port, grade in default.items():
        assert grade["verdict"] == "would pass", grade["summary"]
        assert grade["subtests"]["cert_pubkey"]["verdict"] == T.PHASE_OUT, grade["summary"]

    weakened = certwitness.run_playbook(os.path.join(HERE, "..", "weaken.yml"), "--limit", mailtest.container_name(host))
    assert weakened.returncode == 0, weakened.stdout[-3000:]
    weak, more = grade_stage(host, "weak", tlsa, primes)
    mismatches += more
    assert not mismatches, "\n".join(mismatches)

    # The weak servers are graded as built.
    sub = {port: grade["subtests"] for port, grade in weak.items()}
    assert all(weak[p]["verdict"] == "would fail" for p in PORTS), [weak[p]["summary"] for p in PORTS]
    assert sub[25]["tls_version"]["verdict"] == T.INSUFFICIENT
    assert "TLSv1" in sub[25]["tls_version"]["accepted"]
    assert sub[25]["kex_hash_func"]["verdict"] == T.INSUFFICIENT
    assert sub[25]["fs_params"]["verdict"] == T.INSUFFICIENT  # Postfix's built-in group is not RFC 7919
    assert sub[587]["fs_params"]["verdict"] == T.INSUFFICIENT
    assert {"group": "ffdhe2048", "class": T.INSUFFICIENT, "bits": 2048} in sub[587]["fs_params"]["negotiated"]
    assert sub[465]["fs_params"]["verdict"] == T.PHASE_OUT
    assert sub[465]["tls_cipher_order"]["verdict"] == T.INSUFFICIENT
    assert sub[465]["tls_cipher_order"]["server_enforces_order"] is False
    for port in (143, 993, 110, 995):
        assert sub[port]["cert_signature"]["verdict"] == T.INSUFFICIENT
        # internet.nl judges every certificate below the root: the RSA 3072 leaf is good, the
        # intermediate's RSA 2048 key phase out.
        keys = {c["key"]: c["key_class"] for c in sub[port]["cert_pubkey"]["certificates"]}
        assert keys == {"RSA 3072": T.GOOD, "RSA 2048": T.PHASE_OUT}, keys
        assert sub[port]["cert_pubkey"]["verdict"] == T.PHASE_OUT
        assert sub[port]["tls_ciphers"]["verdict"] == T.PHASE_OUT
        assert sub[port]["tls_cipher_order"]["verdict"] == T.GOOD
        assert sub[port]["dane_valid"]["verdict"] == T.INSUFFICIENT
    for port in (25, 587, 465):
        assert sub[port]["dane_valid"]["verdict"] == T.GOOD
    # Every verdict class appears in the two runs.
    seen = {s["verdict"] for grades in (default, weak) for g in grades.values() for s in g["subtests"].values()}
    assert {T.GOOD, T.SUFFICIENT, T.PHASE_OUT, T.INSUFFICIENT, T.NOT_APPLICABLE} <= seen, seen


@pytest.fixture(autouse=True)
def _oracle_python():
    if not ORACLE_PYTHON or not os.path.exists(ORACLE_PYTHON):
        pytest.fail("the sslyze oracle venv is missing: run through ./dev.sh molecule grade (it makes .venv-oracle)")
