# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A full DANE key rollover against real DNS, judged from outside at every step.

One session fixture drives the steps from the controller as an operator would (ansible-playbook against
the Molecule inventory) and records, after each step, what DNS and the MX hosts show to outside tools:

* ``dig +dnssec`` through the validating resolver (AD flag, TLSA data) and directly at ns1 and ns2;
* the SHA-256 of the SubjectPublicKeyInfo of what port 25 serves to an RSA-only and to an ECDSA-only
  TLS 1.3 client (``openssl s_client -sigalgs`` -> ``openssl x509 -pubkey`` -> ``openssl pkey -pubin
  -outform DER`` -> sha256): the hosts serve both key types;
* a message from the DANE sender (Postfix, ``smtp_tls_security_level = dane``) to each MX, with the
  sender's own log line for it.

Steps: converge (initial) -> ns1 holds NOTIFY back -> prepare -> switch (refused: ns2 lacks the record)
-> NOTIFY released -> switch (refused: 2xTTL not yet passed, time left named) -> switch (the gate's
bounded wait opens it) -> dns.yml (retire) -> a key replaced in place (certificate_key_regenerate=always:
refused, nothing changes) -> a wrong TLSA record by hand (the sender defers; check mode shows the fix without
changing the serial; dns.yml repairs it) -> bad input.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time

import certwitness
import pytest
import yaml

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
DNSBED = os.path.join(os.path.dirname(__file__), "..", "files", "dnsbed.sh")
ZONE = "example.test"
PREFIX = os.environ.get("PM_PREFIX") or "pm"
# Per key type, a TLS 1.3 client that can only accept that type's certificate (openssl's own choice of
# signature algorithms, independent of the collection's TLS 1.2 cipher-suite probes).
SIGALGS = {"rsa": "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512",
           "ecdsa": "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384"}
SENDER = f"{PREFIX}-dane-sender"
NS1 = f"{PREFIX}-dane-ns1"


def _run(argv: list[str], *, input_text: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=timeout, check=False)


def _facts() -> dict:
    with open(os.path.join(EPHEMERAL, "dnsbed", "facts.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _mx_hosts() -> dict[str, str]:
    """{short name (mx12): container name}."""
    with open(os.environ["MOLECULE_INVENTORY_FILE"], encoding="utf-8") as handle:
        names = sorted(yaml.safe_load(handle)["mailservers"]["hosts"])
    return {re.sub(r"^.*-dane-", "", name): name for name in names}


def _ip(container: str) -> str:
    out = _run(["docker", "inspect", "-f", f'{{{{ (index .NetworkSettings.Networks "{PREFIX}-dane").IPAddress }}}}', container])
    return out.stdout.strip()


def dig(server: str, name: str, rdtype: str, *, dnssec: bool = False, recurse: bool = False) -> dict:
    """One dig: flags and the answer's records of that type (data only, lower-case)."""
    argv = ["dig", "+time=2", "+tries=2", "+noall", "+comments", "+answer", f"@{server}", name, rdtype]
    argv[1:1] = ["+dnssec"] if dnssec else []
    argv[1:1] = ["+recurse"] if recurse else ["+norecurse"]
    out = _run(argv, timeout=30)
    flags = re.search(r";; flags: ([a-z ]+);", out.stdout)
    records = []
    for line in out.stdout.splitlines():
        fields = line.split()
        if not line.startswith(";") and len(fields) > 4 and fields[3] == rdtype:
            records.append(" ".join(fields[4:]).lower())
    status = re.search(r"status: ([A-Z]+)", out.stdout)
    return {"flags": flags.group(1).split() if flags else [], "records": sorted(records),
            "status": status.group(1) if status else None, "raw": out.stdout}


def tlsa_digests(records: list[str]) -> set[str]:
    """The association data of '3 1 1' records (dig may split the hex into groups)."""
    out = set()
    for record in records:
        fields = record.split()
        if fields[:3] == ["3", "1", "1"]:
            out.add("".join(fields[3:]))
    return out


def serial(server: str) -> int:
    out = _run(["dig", "+short", "+norecurse", f"@{server}", ZONE, "SOA"], timeout=30).stdout.split()
    return int(out[2]) if len(out) > 2 else -1


def served_spki(address: str, mx: str, key_type: str) -> str:
    """SHA-256 of the SPKI of the ``key_type`` certificate port 25 serves, as openssl shows it."""
    hello = _run(["openssl", "s_client", "-connect", f"{address}:25", "-starttls", "smtp", "-servername",
                  f"{mx}.{ZONE}", "-tls1_3", "-sigalgs", SIGALGS[key_type]], input_text="", timeout=60)
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", hello.stdout, re.S)
    assert pem, hello.stdout[-2000:] + hello.stderr[-1000:]
    pub = _run(["openssl", "x509", "-pubkey", "-noout"], input_text=pem.group(0))
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub.stdout.encode(),
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def witness(facts: dict, mx: dict[str, str]) -> dict:
    """Per MX: the TLSA set through the resolver (with AD), on ns1 and on ns2, and the served SPKI digest per key type."""
    out = {}
    for short, container in mx.items():
        name = f"_25._tcp.{short}.{ZONE}"
        via = dig(facts["resolver"], name, "TLSA", dnssec=True, recurse=True)
        out[short] = {
            "resolver_ad": "ad" in via["flags"], "resolver": tlsa_digests(via["records"]),
            "ns1": tlsa_digests(dig(facts["ns1"], name, "TLSA")["records"]),
            "ns2": tlsa_digests(dig(facts["ns2"], name, "TLSA")["records"]),
            "served": {kind: served_spki(_ip(container), short, kind) for kind in SIGALGS},
        }
    return out


def served(seen: dict) -> set[str]:
    """The digests port 25 serves, both key types."""
    return set(seen["served"].values())


def key_files(container: str) -> str:
    """sha256sum of the host's private keys (every key type), as the host's own tool prints it."""
    return _run(["docker", "exec", container, "sh", "-c", "sha256sum /etc/postmaster-tls/*/*/privkey*.pem"]).stdout


def wait_resolver(facts: dict, short: str, wanted: set[str], *, seconds: int = 60) -> bool:
    """Until the resolver answers the TLSA set exactly (with AD): bounded, polled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        via = dig(facts["resolver"], f"_25._tcp.{short}.{ZONE}", "TLSA", dnssec=True, recurse=True)
        if "ad" in via["flags"] and tlsa_digests(via["records"]) == wanted:
            return True
        time.sleep(1)
    return False


def _sender_log() -> str:
    return _run(["docker", "exec", SENDER, "cat", "/var/log/postfix.log"]).stdout


def deliver(tag: str, mx: dict[str, str], *, expect: str = "sent", seconds: int = 60) -> dict:
    """One message per MX from the DANE sender; per MX the delivery status and the sender's TLS line."""
    ids = {}
    for short in mx:
        message_id = f"<{tag}.{short}.{time.time_ns()}@sender.{ZONE}>"
        ids[short] = message_id
        text = f"From: test@sender.{ZONE}\nTo: mailtest@{short}.{ZONE}\nSubject: dane {tag}\nMessage-ID: {message_id}\n\n{tag}\n"
        _run(["docker", "exec", "-i", SENDER, "sendmail", "-f", f"test@sender.{ZONE}", f"mailtest@{short}.{ZONE}"],
             input_text=text)
    outcome: dict[str, dict] = {}
    deadline = time.monotonic() + seconds
    while True:
        log = _sender_log()
        for short, message_id in ids.items():
            queue = re.search(r"postfix/cleanup\[\d+\]: ([0-9A-F]+): message-id=" + re.escape(message_id), log)
            if not queue:
                continue
            statuses = re.findall(r"postfix/smtp\[(\d+)\]: " + queue.group(1) + r": to=<[^>]+>.*? status=(\w+) (.*)", log)
            if statuses:
                pid, status, detail = statuses[-1]
                verified = re.findall(rf"postfix/smtp\[{pid}\]: Verified TLS connection established to {short}\.{ZONE}\[", log)
                outcome[short] = {"status": status, "detail": detail, "verified": bool(verified), "queue_id": queue.group(1)}
        if all(short in outcome and outcome[short]["status"] == expect for short in ids) or time.monotonic() > deadline:
            break
        _run(["docker", "exec", SENDER, "postqueue", "-f"])
        time.sleep(2)
    for short in ids:
        outcome.setdefault(short, {"status": "unknown", "detail": "no log line", "verified": False, "queue_id": None})
    return outcome


def mailbox_has(container: str, tag: str) -> bool:
    out = _run(["docker", "exec", container, "sh", "-c", "cat /var/mail/mailtest 2>/dev/null || true"])
    return f"Subject: dane {tag}" in out.stdout


def adhoc(module: str, args: dict) -> tuple[subprocess.CompletedProcess, dict, float]:
    """Run one module on the controller (localhost) with JSON arguments; its result and the seconds it took."""
    env = dict(os.environ, ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    run = subprocess.run(["ansible", "localhost", "-i", env["MOLECULE_INVENTORY_FILE"], "-m", module, "-a", json.dumps(args)],
                         capture_output=True, text=True, env=env, timeout=300, check=False)
    took = time.monotonic() - start
    found = re.search(r"=> (\{.*\})\s*$", run.stdout, re.S)
    return run, json.loads(found.group(1)) if found else {}, took


def nsupdate(facts: dict, commands: str) -> subprocess.CompletedProcess:
    """A change by hand on ns1, with BIND's own nsupdate and the zone's TSIG key."""
    script = f"server 127.0.0.1\nzone {ZONE}\n{commands}\nsend\n"
    return _run(["docker", "exec", "-i", NS1, "nsupdate", "-y", f"hmac-sha256:{facts['tsig_key_name']}:{facts['tsig_secret']}"],
                input_text=script)


def playbook(*args: str) -> subprocess.CompletedProcess:
    return certwitness.run_playbook(*args)


@pytest.fixture(scope="session")
def rollover():
    facts = _facts()
    mx = _mx_hosts()
    steps: dict[str, dict] = {}
    start, took = time.monotonic(), {}

    def mark(step: str) -> None:
        took[step] = round(time.monotonic() - start - sum(took.values()), 1)

    steps["initial"] = {"witness": witness(facts, mx), "mail": deliver("initial", mx)}
    mark("initial")

    # ns2 lags: the prepare run publishes on ns1 only (no wait), and the switch must stay closed.
    _run(["bash", DNSBED, "hold-notify"])
    run = playbook("postmaster.tls.site", "-e", "certificate_rollover=prepare", "-e", "dns_records_wait_timeout=0")
    steps["prepare"] = {"run": run, "witness": witness(facts, mx), "mail": deliver("prepare", mx)}
    mark("prepare")
    run = playbook("postmaster.tls.site", "-e", "certificate_rollover=switch")
    steps["switch_lagging"] = {"run": run, "witness": witness(facts, mx)}
    mark("switch_lagging")

    _run(["bash", DNSBED, "release-notify"])
    next_digests = {short: steps["prepare"]["witness"][short]["ns1"] - served(steps["initial"]["witness"][short])
                    for short in mx}
    caught_up = all(wait_resolver(facts, short, steps["prepare"]["witness"][short]["ns1"]) for short in mx)
    run = playbook("postmaster.tls.site", "-e", "certificate_rollover=switch")
    steps["switch_early"] = {"run": run, "witness": witness(facts, mx), "caught_up": caught_up,
                             "mail": deliver("early", mx)}
    mark("switch_early")

    run = playbook("postmaster.tls.site", "-e", "certificate_rollover=switch", "-e", "dns_records_gate_wait_timeout=120")
    steps["switch"] = {"run": run, "witness": witness(facts, mx), "next": next_digests, "mail": deliver("switch", mx)}
    mark("switch")

    serial_before = serial(facts["ns1"])
    run = playbook("postmaster.tls.dns")
    retired = all(wait_resolver(facts, short, served(steps["switch"]["witness"][short])) for short in mx)
    steps["retire"] = {"run": run, "witness": witness(facts, mx), "retired": retired, "serial_before": serial_before,
                       "mail": deliver("retire", mx)}
    mark("retire")

    # A renewal that would make new keys in place: refused before anything changes.
    keys_before, serial_before = {short: key_files(container) for short, container in mx.items()}, serial(facts["ns1"])
    run = playbook("postmaster.tls.site", "-e", "certificate_key_regenerate=always")
    steps["regenerate"] = {"run": run, "keys_before": keys_before, "serial_before": serial_before,
                           "keys_after": {short: key_files(container) for short, container in mx.items()},
                           "serial_after": serial(facts["ns1"]), "witness": witness(facts, mx)}
    mark("regenerate")

    # A wrong TLSA record published by hand: the DANE sender must defer.
    bogus = "00" * 32
    hand = nsupdate(facts, f"update delete _25._tcp.mx12.{ZONE}. TLSA\nupdate add _25._tcp.mx12.{ZONE}. 5 TLSA 3 1 1 {bogus}")
    seen = wait_resolver(facts, "mx12", {bogus})
    wrong = deliver("wrong", {"mx12": mx["mx12"]}, expect="deferred", seconds=40)
    serial_wrong = serial(facts["ns1"])
    check = playbook("postmaster.tls.dns", "--check", "--diff", "--limit", mx["mx12"])
    serial_checked = serial(facts["ns1"])
    repair = playbook("postmaster.tls.dns")
    steps["wrong"] = {"nsupdate": hand, "seen": seen, "mail": wrong, "bogus": bogus, "check": check,
                      "serial_wrong": serial_wrong, "serial_checked": serial_checked, "repair": repair,
                      "witness": witness(facts, mx)}
    mark("wrong")
    if os.environ.get("PM_DANE_TIMING"):  # seconds per step, for whoever tunes the scenario's cost
        with open(os.environ["PM_DANE_TIMING"], "w", encoding="utf-8") as handle:
            json.dump(took, handle)
    return {"facts": facts, "mx": mx, "steps": steps}


def _ok(run: subprocess.CompletedProcess) -> str:
    return run.stdout[-4000:] + run.stderr[-2000:]


def said(run: subprocess.CompletedProcess) -> str:
    """The run's output as one line: the YAML callback wraps long messages and doubles single quotes."""
    return re.sub(r"\s+", " ", run.stdout + run.stderr).replace("''", "'")


@pytest.mark.parametrize("step", ["initial", "prepare", "switch_early", "switch", "retire"])
def test_every_step_delivers_over_verified_dane(rollover, step):
    for short, outcome in rollover["steps"][step]["mail"].items():
        assert outcome["status"] == "sent", (short, outcome)
        assert outcome["verified"], (short, outcome, "no 'Verified TLS connection established' line")
        assert mailbox_has(rollover["mx"][short], step if step != "switch_early" else "early")


@pytest.mark.parametrize("step", ["initial", "prepare", "switch_early", "switch", "retire"])
def test_outside_witness_resolver_ad_and_served_key_in_tlsa(rollover, step):
    for short, seen in rollover["steps"][step]["witness"].items():
        assert seen["resolver_ad"], (step, short, seen)
        assert len(served(seen)) == 2, (step, short, seen)  # an RSA and an ECDSA key
        assert served(seen) <= seen["resolver"], (step, short, seen)
        assert served(seen) <= seen["ns1"] and served(seen) <= seen["ns2"], (step, short, seen)


def test_converge_published_only_the_served_key(rollover):
    for short, seen in rollover["steps"]["initial"]["witness"].items():
        assert seen["ns1"] == served(seen) == seen["ns2"], (short, seen)


def test_prepare_publishes_the_next_key_beside_the_current_one(rollover):
    run = rollover["steps"]["prepare"]["run"]
    assert run.returncode == 0, _ok(run)
    for short, seen in rollover["steps"]["prepare"]["witness"].items():
        initial = served(rollover["steps"]["initial"]["witness"][short])
        # Two next keys (RSA, ECDSA) beside the two current ones.
        assert len(seen["ns1"]) == 4 and initial < seen["ns1"], seen
        # NOTIFY held back: the secondary still serves the old set.
        assert seen["ns2"] == initial, seen
        assert seen["served"] == rollover["steps"]["initial"]["witness"][short]["served"], seen


def test_switch_refused_while_the_secondary_lags(rollover):
    step = rollover["steps"]["switch_lagging"]
    run = step["run"]
    assert run.returncode != 0, _ok(run)
    assert "certificate_rollover=switch refused" in said(run), _ok(run)
    for short, seen in step["witness"].items():
        assert f"_25._tcp.{short}.{ZONE}. IN TLSA 3 1 1" in said(run), _ok(run)
        assert seen["served"] == rollover["steps"]["initial"]["witness"][short]["served"], "the key changed"
    assert f"is not served by ns2.{ZONE}" in said(run), _ok(run)


def test_switch_refused_before_two_ttl_naming_the_time_left(rollover):
    step = rollover["steps"]["switch_early"]
    assert step["caught_up"], "ns2 did not catch up after NOTIFY was released"
    run = step["run"]
    assert run.returncode != 0, _ok(run)
    assert re.search(r"2xTTL = 20 s, \d+ s left", said(run)), _ok(run)
    assert "is not served by" not in said(run), _ok(run)
    for short, seen in step["witness"].items():
        assert seen["served"] == rollover["steps"]["initial"]["witness"][short]["served"], "the key changed"


def test_switch_after_two_ttl_serves_the_prepared_key(rollover):
    step = rollover["steps"]["switch"]
    assert step["run"].returncode == 0, _ok(step["run"])
    for short, seen in step["witness"].items():
        assert served(seen) == step["next"][short] and len(served(seen)) == 2, (short, seen, step["next"])
        old = served(rollover["steps"]["initial"]["witness"][short])
        # Nothing is removed in the switching run: the old keys' records stay until the retire step.
        assert old | served(seen) == seen["ns1"], seen


def test_retire_removes_the_old_record_once_every_port_serves_the_new_key(rollover):
    step = rollover["steps"]["retire"]
    assert step["run"].returncode == 0, _ok(step["run"])
    assert step["retired"]
    for short, seen in step["witness"].items():
        assert seen["ns1"] == served(seen) == seen["ns2"] == seen["resolver"], seen
    assert serial(rollover["facts"]["ns1"]) > step["serial_before"]


def test_a_key_replaced_in_place_is_refused_and_nothing_changes(rollover):
    step = rollover["steps"]["regenerate"]
    run = step["run"]
    assert run.returncode != 0, _ok(run)
    for short in rollover["mx"]:
        for kind in ("rsa", "ecdsa"):
            assert (f"this run would replace the served {kind} key /etc/postmaster-tls/{short}.{ZONE}/{kind}/privkey.pem "
                    "in place (regenerate=always)") in said(run), _ok(run)
        assert step["keys_after"][short] == step["keys_before"][short] and step["keys_after"][short].count("privkey") == 2
        assert served(step["witness"][short]) == served(rollover["steps"]["retire"]["witness"][short])
    assert "certificate_rollover=prepare, then certificate_rollover=switch" in said(run), _ok(run)
    assert step["serial_after"] == step["serial_before"]


def test_a_wrong_tlsa_record_makes_the_sender_defer(rollover):
    step = rollover["steps"]["wrong"]
    assert step["nsupdate"].returncode == 0, step["nsupdate"].stderr
    assert step["seen"], "the resolver never served the wrong record"
    outcome = step["mail"]["mx12"]
    assert outcome["status"] == "deferred" and not outcome["verified"], outcome


def test_check_mode_shows_the_fix_and_changes_nothing(rollover):
    step = rollover["steps"]["wrong"]
    run = step["check"]
    assert run.returncode == 0, _ok(run)
    assert f"-_25._tcp.mx12.{ZONE}. 5 IN TLSA 3 1 1 {step['bogus']}" in run.stdout, _ok(run)
    assert len(re.findall(rf"\+_25\._tcp\.mx12\.{ZONE}\. 10 IN TLSA 3 1 1 [0-9a-f]{{64}}", run.stdout)) == 2, _ok(run)
    assert step["serial_checked"] == step["serial_wrong"]


def test_the_dns_playbook_alone_repairs_the_record(rollover):
    step = rollover["steps"]["wrong"]
    assert step["repair"].returncode == 0, _ok(step["repair"])
    seen = step["witness"]["mx12"]
    assert seen["ns1"] == served(seen), seen


def _module_args(facts: dict, **extra) -> dict:
    args = {"zone": ZONE, "server": facts["ns1"], "tsig_key_name": facts["tsig_key_name"], "tsig_secret": facts["tsig_secret"],
            "timeout": 2, "rrsets": [{"name": "_25._tcp.mx12", "type": "TLSA", "values": ["3 1 1 " + "11" * 32]}]}
    args.update(extra)
    return args


def test_wrong_tsig_secret_fails_naming_the_key_and_changes_nothing(rollover):
    facts = rollover["facts"]
    before = serial(facts["ns1"])
    run = playbook("postmaster.tls.dns", "-e", "dns_records_tsig_secret=" + "A" * 43 + "=")
    assert run.returncode != 0, _ok(run)
    assert f"TSIG key '{facts['tsig_key_name']}'" in said(run) and "tsig_secret does not match" in said(run), _ok(run)
    assert serial(facts["ns1"]) == before


def test_a_zone_the_server_is_not_authoritative_for_fails(rollover):
    facts = rollover["facts"]
    before = serial(facts["ns1"])
    run, result, _took = adhoc("postmaster.tls.dns_rrsets", _module_args(
        facts, zone="other.test", rrsets=[{"name": "_25._tcp.mx", "type": "TLSA", "values": ["3 1 1 " + "11" * 32]}]))
    assert run.returncode != 0 and "msg" in result, run.stdout[-3000:]
    assert "is not authoritative for the zone other.test." in result["msg"], result
    assert serial(facts["ns1"]) == before


def test_an_unreachable_server_fails_within_the_timeout(rollover):
    facts = rollover["facts"]
    # An address of the scenario's own internal network that no container has: nothing answers.
    unused = re.sub(r"\.\d+$", ".250", facts["ns1"])
    run, result, took = adhoc("postmaster.tls.dns_rrsets", _module_args(facts, server=unused, timeout=2))
    assert run.returncode != 0 and "msg" in result, run.stdout[-3000:]
    assert f"{unused} did not answer within 2 s" in result["msg"], result
    assert took < 60, took


def test_a_concurrent_change_fails_the_prerequisite_and_changes_nothing(rollover):
    """The collection's backend against the real primary: read, someone else changes the RRset, then the update."""
    facts = rollover["facts"]
    sys.path.insert(0, os.environ["ANSIBLE_COLLECTIONS_PATH"].split(":")[0])
    from ansible_collections.postmaster.tls.plugins.module_utils import _dns

    zone = _dns.parse_zone(ZONE)
    tsig = _dns.parse_tsig(facts["tsig_key_name"], "hmac-sha256", facts["tsig_secret"])
    client = _dns.Client(timeout=3, tsig=tsig)
    primary = _dns.parse_server(facts["ns1"])
    wanted = _dns.parse_wanted(zone, [{"name": "_concurrent", "type": "TXT", "values": ["mine"]}], default_ttl=5)
    current = _dns.read_primary(client, primary, zone, wanted)
    changes = _dns.plan(wanted, current)
    assert nsupdate(facts, f"update add _concurrent.{ZONE}. 5 TXT theirs").returncode == 0
    # Inline signing publishes the change (and its serial) a moment after nsupdate returns: wait for it.
    deadline = time.monotonic() + 30
    while dig(facts["ns1"], f"_concurrent.{ZONE}", "TXT")["records"] != ['"theirs"'] and time.monotonic() < deadline:
        time.sleep(0.5)
    before = serial(facts["ns1"])
    with pytest.raises(_dns.PrerequisiteFailed, match="changed between the read and the update"):
        _dns.send_update(client, primary, zone, _dns.build_update(zone, changes, tsig))
    assert serial(facts["ns1"]) == before
    assert dig(facts["ns1"], f"_concurrent.{ZONE}", "TXT")["records"] == ['"theirs"']
