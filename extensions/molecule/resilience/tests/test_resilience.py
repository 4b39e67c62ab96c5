# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 9, part 2: failures, interruptions, atomic writes, secret hygiene and the default policy.

The phases run once, in this order, each on both containers at once (the module-scoped fixtures
below; every test names the phase it checks):

1. fresh     playbooks/site.yml on stock containers at -vvv --diff (captured); the policy gate.
2. failed    a forced re-issue whose reload fails: something outside breaks main.cf (Debian 12) or
             a Dovecot file (Debian 13) after our files were written; then the breakage is fixed
             and the next run must repair.
3. killed    a forced re-issue that also prepares a key rollover and turns on the ssl-cert group
             mode (-vvv --diff), killed (SIGKILL) right after the certificate role; then a live file
             deleted, a Postfix and a Dovecot setting altered and Postfix stopped; the next run
             repairs only that, watched from inside the containers (atomic writes).
4. rollover  the switch to the prepared key, at -vvv --diff, watched.
5. passphrase  the modules with an encrypted key, at -vvv --diff.
Then every byte any run produced is scanned for key material and passphrases.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import stat

import harness
import mailtest
import pytest

HOSTS = harness.containers()
NAME = harness.NAME
BASE, LIVE = harness.BASE, harness.LIVE
CONFIGS = ["/etc/postfix/main.cf", "/etc/postfix/master.cf", harness.DROPIN]
_STATE: dict = {}


def _policy(names):
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        reports = pool.map(lambda n: mailtest.policy_report(n, server_name=NAME, user=harness.USER,
                                                            password=harness.PASSWORD), names)
    return dict(zip(names, reports))


def _needles(names):
    return {name: harness.host_key_needles(name) for name in names}


def _name(host) -> str:
    return mailtest.container_name(host)


# ------------------------------------------------------------------------------------------------
# Phases
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fresh():
    # The stock state first (Debian's Postfix on port 25, nothing on 587/465 yet): the witness must see its weaknesses.
    state = {"stock_policy": _policy(HOSTS)}
    state["run"] = harness.run_playbook("01-fresh-converge", verbosity=3, diff=True)
    state["needles"] = _needles(HOSTS)
    state["served"] = harness.served(HOSTS)
    state["installed"] = {name: harness.cert_fingerprint(name) for name in HOSTS}
    state["policy"] = _policy(HOSTS)
    state["access"] = {n: harness.key_access(n, f"{BASE}/privkey.pem", f"{LIVE}/combined.pem") for n in HOSTS}
    _STATE["fresh"] = state
    return state


@pytest.fixture(scope="module")
def failed(fresh):
    # Postfix 3.7 (Debian 12) gets the main.cf breakage, Dovecot 2.4 (Debian 13) the Dovecot one: one
    # handler failure per host and run, and this way round each distro shows what it does worst.
    postfix_host = next(n for n in HOSTS if n.endswith("debian12"))
    dovecot_host = next(n for n in HOSTS if n.endswith("debian13"))
    state = {"postfix_host": postfix_host, "dovecot_host": dovecot_host,
             "configs_before": {n: harness.sha256_of(n, *CONFIGS) for n in HOSTS},
             "installed_before": {n: harness.cert_fingerprint(n) for n in HOSTS}}

    # site.yml runs the dovecot role before the postfix role (Dovecot declares the SASL socket Postfix uses),
    # so the Dovecot handlers run first too.
    def break_postfix(_proc):  # while the Dovecot handlers run: after every module, before "Check postfix"
        harness.sh(postfix_host, "postconf -e mail_owner=pm-no-such-user")

    def break_dovecot(_proc):  # after "Make sure Dovecot runs": only the handler can notice
        harness.sh(dovecot_host, "cp -p /etc/dovecot/conf.d/10-ssl.conf /root/10-ssl.conf.orig && "
                                 "echo 'pm_outside_breakage = yes' >> /etc/dovecot/conf.d/10-ssl.conf")

    state["run"] = harness.run_playbook(
        "02-reload-fails", extra_vars={"certificate_force_renew": True},
        triggers=[(r"^TASK \[postmaster\.tls\.postfix : ", break_dovecot),
                  (r"^RUNNING HANDLER \[postmaster\.tls\.dovecot : Check dovecot\]", break_postfix)])
    state["installed"] = {n: harness.cert_fingerprint(n) for n in HOSTS}
    state["consistency"] = {n: harness.live_files_consistent(n) for n in HOSTS}
    state["served"] = harness.served(HOSTS)
    # The outside breakage is fixed by whoever made it; then our config files must be as before.
    harness.sh(dovecot_host, "mv /root/10-ssl.conf.orig /etc/dovecot/conf.d/10-ssl.conf")
    harness.sh(postfix_host, "postconf -X mail_owner")
    state["configs_after_fix"] = {n: harness.sha256_of(n, *CONFIGS) for n in HOSTS}
    state["repair"] = harness.run_playbook("03-next-run-after-failed-reload")
    state["repair_served"] = harness.served(HOSTS)
    state["repair_installed"] = {n: harness.cert_fingerprint(n) for n in HOSTS}
    # Whatever the repair run did, the later phases start from services that serve the installed files.
    for name in HOSTS:
        harness.sh(name, "(postfix status >/dev/null 2>&1 && postfix reload || service postfix start) >/dev/null 2>&1; "
                         "doveadm reload || service dovecot start", check=False)
    _STATE["failed"] = state
    return state


GROUP_MODE = {"certificate_key_group": "ssl-cert"}


@pytest.fixture(scope="module")
def killed(failed):
    """A forced re-issue that also prepares a key rollover and turns on the ssl-cert group mode,
    at -vvv --diff, killed right after the certificate role; then outside damage; then the next run."""
    state = {"installed_before": {n: harness.cert_fingerprint(n) for n in HOSTS},
             "configs_before": {n: harness.sha256_of(n, *CONFIGS) for n in HOSTS},
             "protocols_before": {n: harness.sh(n, "postconf -h smtpd_tls_mandatory_protocols").strip() for n in HOSTS}}
    state["run"] = harness.run_playbook(
        "04-killed-after-certificate", extra_vars={**GROUP_MODE, "certificate_force_renew": True, "certificate_rollover": "prepare"},
        verbosity=3, diff=True, triggers=[(r"^TASK \[postmaster\.tls\.dovecot : ", harness.kill_run)])
    state["installed_after_kill"] = {n: harness.cert_fingerprint(n) for n in HOSTS}
    state["consistency_after_kill"] = {n: harness.live_files_consistent(n) for n in HOSTS}
    for name in HOSTS:  # what an admin (or a bad script) did meanwhile
        harness.sh(name, f"rm {LIVE}/chain.pem; postconf -e 'smtpd_tls_mandatory_protocols=>=TLSv1'; "
                         f"sed -i 's/^ssl_min_protocol = .*/ssl_min_protocol = TLSv1/' {harness.DROPIN}; "
                         "service postfix stop >/dev/null")
    state["watch_before"] = {n: harness.sha256_of(n, *harness.WATCH_FILES) for n in HOSTS}
    harness.start_watchers(HOSTS)
    try:
        state["repair"] = harness.run_playbook("05-next-run-after-kill", extra_vars=GROUP_MODE)
    finally:
        state["watch"] = harness.stop_watchers(HOSTS)
    state["watch_after"] = {n: harness.sha256_of(n, *harness.WATCH_FILES) for n in HOSTS}
    state["installed"] = {n: harness.cert_fingerprint(n) for n in HOSTS}
    state["served"] = harness.served(HOSTS)
    state["configs_after"] = {n: harness.sha256_of(n, *CONFIGS) for n in HOSTS}
    state["protocols_after"] = {n: harness.sh(n, "postconf -h smtpd_tls_mandatory_protocols").strip() for n in HOSTS}
    state["consistency"] = {n: harness.live_files_consistent(n) for n in HOSTS}
    state["needles"] = _needles(HOSTS)  # the current key and the prepared next one
    state["access"] = {n: harness.key_access(n, f"{BASE}/privkey.next.pem") for n in HOSTS}
    _STATE["killed"] = state
    return state


@pytest.fixture(scope="module")
def rollover(killed):
    """The switch to the key prepared in the killed run: first a switch killed after the next key
    became current but before its certificate was issued, then the same switch again, at -vvv
    --diff, watched from inside, which must finish it."""
    state = {"next_before_kill": {n: harness.sha256_of(n, f"{BASE}/privkey.next.pem")[f"{BASE}/privkey.next.pem"] for n in HOSTS}}
    # The certificate role is one task (postmaster.tls.certificate_deploy): from its start the hosts are watched,
    # and the run is killed once every host's current key is the prepared one (its certificate comes later).

    def switched() -> bool:
        return all(harness.sha256_of(n, f"{BASE}/privkey.pem")[f"{BASE}/privkey.pem"] == state["next_before_kill"][n]
                   for n in HOSTS)

    state["interrupted"] = harness.run_playbook(
        "06-rollover-switch-killed", extra_vars={**GROUP_MODE, "certificate_rollover": "switch"},
        triggers=[(r"^TASK \[postmaster\.tls\.certificate : Keep the keys", harness.kill_when(switched))])
    state["after_kill"] = {n: harness.sha256_of(n, f"{BASE}/privkey.pem", f"{BASE}/privkey.next.pem") for n in HOSTS}
    state["watch_before"] = {n: harness.sha256_of(n, *harness.WATCH_FILES) for n in HOSTS}
    harness.start_watchers(HOSTS)
    try:
        state["switch"] = harness.run_playbook("07-rollover-switch-again", extra_vars={**GROUP_MODE, "certificate_rollover": "switch"},
                                               verbosity=3, diff=True)
    finally:
        state["watch"] = harness.stop_watchers(HOSTS)
    state["watch_after"] = {n: harness.sha256_of(n, *harness.WATCH_FILES) for n in HOSTS}
    state["needles"] = _needles(HOSTS)
    state["served"] = harness.served(HOSTS)
    state["installed"] = {n: harness.cert_fingerprint(n) for n in HOSTS}
    state["consistency"] = {n: harness.live_files_consistent(n) for n in HOSTS}
    state["access"] = {n: harness.key_access(n, f"{BASE}/privkey.pem", f"{LIVE}/combined.pem") for n in HOSTS}
    _STATE["rollover"] = state
    return state


@pytest.fixture(scope="module")
def passphrase(rollover):
    os.makedirs(harness.OUT, exist_ok=True)
    phrases = {"pm_passphrase": "pm-" + secrets.token_urlsafe(18), "pm_wrong_passphrase": "pm-" + secrets.token_urlsafe(18)}
    vars_file = os.path.join(harness.OUT, "passphrase-vars.json")
    with open(os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(json.dumps(phrases))
    state = {"phrases": phrases, "run": harness.run_playbook("07-passphrase", os.path.join(harness.SCENARIO, "passphrase.yml"),
                                                             vars_file=vars_file, verbosity=3, diff=True)}
    state["needles"] = _needles(HOSTS)
    _STATE["passphrase"] = state
    return state


# ------------------------------------------------------------------------------------------------
# 1. Fresh converge and the default policy gate
# ------------------------------------------------------------------------------------------------
def test_fresh_converge_succeeds_and_serves_the_installed_certificate(host, fresh):
    name = _name(host)
    run = fresh["run"]
    assert run.rc == 0, run.stdout[-3000:]
    assert run.failed(name) == []
    assert fresh["served"][name] == {port: fresh["installed"][name] for port in harness.PORTS}


def test_the_witness_saw_the_stock_weaknesses_first(host, fresh):
    # Stock Debian Postfix accepts TLS 1.0 and 1.1 and anonymous suites on port 25: the probe can see a
    # weak server, so its "refused" below means something. (RC4, DES, 3DES and export suites are gone
    # from Debian's OpenSSL 3 on both sides; the probe offers them anyway, from its own bytes.)
    port25 = fresh["stock_policy"][_name(host)]["ports"]["25"]
    assert port25["legacy_versions"]["TLSv1"]["accepted"] and port25["legacy_versions"]["TLSv1.1"]["accepted"], port25
    assert port25["weak_suites"]["aNULL"]["accepted"], port25


@pytest.mark.parametrize("port", sorted(harness.PORTS))
def test_policy_no_tls10_or_tls11(host, fresh, port):
    report = fresh["policy"][_name(host)]["ports"][str(port)]
    assert "error" not in report, report
    assert report["control"]["accepted"] and report["control"]["version"] == "0x0303", report["control"]
    assert {v: r["accepted"] for v, r in report["legacy_versions"].items()} == {"TLSv1": False, "TLSv1.1": False}, report
    for flag in ("-tls1", "-tls1_1"):  # second witness: OpenSSL's own client, weakest security level
        hello = mailtest.s_client(host, port, starttls=harness.PORTS[port], extra=[flag, "-cipher", "DEFAULT@SECLEVEL=0"])
        assert "BEGIN CERTIFICATE" not in hello.stdout, f"port {port} accepted {flag}"


@pytest.mark.parametrize("port", sorted(harness.PORTS))
def test_policy_no_weak_cipher_suites(host, fresh, port):
    report = fresh["policy"][_name(host)]["ports"][str(port)]
    assert "error" not in report, report
    accepted = {cls: r for cls, r in report["weak_suites"].items() if r["accepted"]}
    assert accepted == {}, f"port {port} accepted {accepted}"
    assert set(report["weak_suites"]) == {"aNULL", "eNULL", "EXPORT", "RC4", "3DES", "DES"}


def test_policy_no_plaintext_login_before_starttls(host, fresh):
    logins = fresh["policy"][_name(host)]["plaintext_login"]
    for port in ("25", "587"):
        smtp = logins[port]
        assert "error" not in smtp, smtp
        assert smtp["auth_offered_before_tls"] == [], smtp
        assert smtp["auth_reply_before_tls"][0] >= 500, smtp
    # The control: on 587 AUTH exists and the same credentials work once TLS is up.
    assert logins["587"]["auth_offered_after_tls"] and logins["587"]["auth_reply_after_tls"] == 235, logins["587"]
    imap = logins["143"]
    assert "LOGINDISABLED" in imap["capability_before_tls"] and "AUTH=PLAIN" not in imap["capability_before_tls"], imap
    assert imap["login_before_tls"].startswith("a2 NO") and imap["authenticate_before_tls"].startswith("a3 NO"), imap
    assert imap["login_after_tls"].startswith("a5 OK"), imap
    pop = logins["110"]
    assert pop["pass_before_tls"].startswith("-ERR") and pop["pass_after_tls"].startswith("+OK"), pop


# Tests run host by host after every phase has run, so they check what the phases recorded.
def test_key_files_are_root_only_by_default(host, fresh):
    for path, facts in fresh["access"][_name(host)]["files"].items():
        assert (facts["owner"], facts["group"], facts["mode"]) == ("root", "root", "600"), (path, facts)
        assert facts["readers"] == [], f"{path} is readable by {facts['readers']}"


# ------------------------------------------------------------------------------------------------
# 2. A reload that fails, and the next run
# ------------------------------------------------------------------------------------------------
def _failed_handler(state, name):
    failures = state["run"].failed(name)
    assert len(failures) == 1, state["run"].summary(name)
    return failures[0]


def test_failed_reload_fails_the_run_at_the_handler_check(host, failed):
    name = _name(host)
    assert failed["run"].rc != 0
    assert len(failed["run"].fired) == 2, failed["run"].fired
    failure = _failed_handler(failed, name)
    expected = "Check dovecot" if name == failed["dovecot_host"] else "Check postfix"
    assert failure["handler"] and failure["task"].endswith(expected), failure["task"]
    # The reloads after the failed check never ran.
    later = ("Reload dovecot", "Reload postfix") if name == failed["dovecot_host"] else ("Reload postfix",)
    assert not [r for r in failed["run"].for_host(name) if r["task"].endswith(later)]


def test_failed_reload_names_the_reason(host, failed):
    name = _name(host)
    result = _failed_handler(failed, name)["result"]
    text = " ".join(str(result.get(k, "")) for k in ("msg", "stdout", "stderr"))
    # doveconf's and Postfix's own words, on Postfix 3.7 too (which says nothing without a terminal).
    assert ("pm_outside_breakage" if name == failed["dovecot_host"] else "mail_owner") in text, text


def test_failed_reload_leaves_no_half_applied_files(host, failed):
    name = _name(host)
    assert failed["consistency"][name] == [], failed["consistency"][name]
    assert failed["installed"][name] != failed["installed_before"][name], "the forced re-issue did not install"
    # main.cf, master.cf and the drop-in: once the outside breakage is undone, exactly as before the run.
    assert failed["configs_after_fix"][name] == failed["configs_before"][name]


def test_failed_reload_keeps_the_running_service(host, failed):
    name = _name(host)
    old, new = failed["installed_before"][name], failed["installed"][name]
    served = failed["served"][name]
    if name == failed["dovecot_host"]:  # Check dovecot failed: Dovecot keeps serving what it served
        assert {served[port] for port in harness.DOVECOT_PORTS} == {old}, served
    else:  # the Dovecot handlers ran before the Postfix check failed
        assert {served[port] for port in harness.DOVECOT_PORTS} == {new}, served


def test_next_run_after_failed_reload_repairs(host, failed):
    name = _name(host)
    repair = failed["repair"]
    served, installed = failed["repair_served"][name], failed["repair_installed"][name]
    # Nothing changes on the host in this run: only the reload that the failed run owed.
    assert repair.rc == 0, repair.summary(name)
    assert installed == failed["installed"][name]
    assert sorted(port for port, fingerprint in served.items() if fingerprint != installed) == []
    assert repair.changed_actions(name) <= {"ansible.builtin.debug", "ansible.builtin.service", "ansible.builtin.file"}, \
        repair.summary(name)


# ------------------------------------------------------------------------------------------------
# 3. A run killed between steps, live files altered, and the next run
# ------------------------------------------------------------------------------------------------
def test_killed_run_left_a_complete_certificate(host, killed):
    name = _name(host)
    assert killed["run"].rc < 0 and killed["run"].fired, (killed["run"].rc, killed["run"].fired)
    assert killed["installed_after_kill"][name] != killed["installed_before"][name]
    assert killed["consistency_after_kill"][name] == []


def test_next_run_repairs_what_was_interrupted_or_altered(host, killed):
    name = _name(host)
    repair = killed["repair"]
    assert repair.rc == 0, repair.summary(name)
    # Finished, not redone: the certificate from the killed run, not another one.
    assert killed["installed"][name] == killed["installed_after_kill"][name]
    assert killed["served"][name] == {port: killed["installed"][name] for port in harness.PORTS}
    assert killed["configs_after"][name] == killed["configs_before"][name]
    assert killed["protocols_after"][name] == killed["protocols_before"][name]
    assert killed["watch_after"][name][f"{LIVE}/chain.pem"] is not None
    assert killed["consistency"][name] == []


def test_prepared_next_key_has_the_group_mode(host, killed):
    for path, facts in killed["access"][_name(host)]["files"].items():
        assert (facts["owner"], facts["group"], facts["mode"]) == ("root", "ssl-cert", "640"), (path, facts)


def test_repair_changes_only_what_was_repaired(host, killed):
    name = _name(host)
    repair = killed["repair"]
    changed = repair.changed_actions(name)
    allowed = {"postmaster.tls.certificate_deploy", "postmaster.tls.postfix_tls", "postmaster.tls.dovecot_tls",
               "ansible.builtin.debug", "ansible.builtin.service", "ansible.builtin.file", "ansible.builtin.copy"}
    assert changed <= allowed, repair.summary(name)
    # The killed run prepared the next key but died before its DNS play: the dns_records role reads the keys
    # from the host, so this run publishes (as zone-file lines) the next key's TLSA record beside the current
    # one - the one controller file it may write.
    tlsa = [r for r in repair.changed(name) if r["action"] == "ansible.builtin.copy"]
    assert all(r["task"].endswith("Write the TLSA records of this MX host") for r in tlsa), repair.summary(name)
    # The only files outside the repaired ones: the pending-reload flags, removed after the reloads.
    flags = [r["result"] for r in repair.changed(name) if r["action"] == "ansible.builtin.file"]
    assert all(f.get("path", "").startswith("/run/postmaster-tls/") and f.get("state") == "absent" for f in flags), flags
    assert {"postmaster.tls.certificate_deploy", "postmaster.tls.postfix_tls", "postmaster.tls.dovecot_tls",
            "ansible.builtin.service"} <= changed, repair.summary(name)
    install = [r for r in repair.changed(name) if r["action"] == "postmaster.tls.certificate_deploy"]
    changed_files = sorted({f for r in install for item in r["result"]["installed"].values()
                            for f in item.get("changed_files", [])})
    assert changed_files in ([], ["chain.pem"]), changed_files


def _watch_problems(report, before, after, *, deleted=()):
    problems = []
    for path, seen in report["seen"].items():
        allowed = {before.get(path), after.get(path)} - {None}
        odd = sorted(set(seen) - allowed)
        if odd:
            problems.append(f"{path}: read {len(odd)} content(s) that are neither the old nor the new file")
        if report["incomplete"][path]:
            problems.append(f"{path}: {report['incomplete'][path]} incomplete reads")
        if report["missing"][path] and before.get(path) and after.get(path) and path not in deleted:
            problems.append(f"{path}: missing in {report['missing'][path]} reads while being replaced")
    return problems


PUBLIC_FILES = ("cert.pem", "chain.pem", "fullchain.pem", "main.cf", "master.cf", "99-postmaster-tls.conf")


def _temp_problems(report, *, key_mode):
    """Entries that appeared during the run (the writers' temporary files): one for a file with key
    material (or any in the key directory) never has a permission bit its target lacks; any other is
    never world-readable unless its target is a public file (a certificate, main.cf), whose temporary
    copy gets the target's 0644 just before the rename."""
    problems = []
    for entry, record in report["new_entries"].items():
        base = os.path.basename(entry)
        secret = "privkey" in base or "combined" in base or os.path.dirname(entry) == BASE
        public = not secret and any(name in base for name in PUBLIC_FILES)
        for mode in (int(text, 8) for text in record["modes"]):
            if secret and mode & ~key_mode & 0o777:
                problems.append(f"{entry} (key material) seen with mode {mode:04o}")
            elif not secret and not public and mode & stat.S_IROTH:
                problems.append(f"{entry} seen world-readable ({mode:04o})")
    return problems


def test_repair_writes_are_atomic_and_private(host, killed):
    name = _name(host)
    report = killed["watch"][name]
    assert report["reads"] > 100, report["reads"]
    assert _watch_problems(report, killed["watch_before"][name], killed["watch_after"][name],
                           deleted=(f"{LIVE}/chain.pem",)) == []
    assert _temp_problems(report, key_mode=0o600) == [], report["new_entries"]


# ------------------------------------------------------------------------------------------------
# 4. Key rollover with the group mode, watched
# ------------------------------------------------------------------------------------------------
def test_rollover_switches_to_the_prepared_key(host, rollover):
    name = _name(host)
    assert rollover["switch"].rc == 0, rollover["switch"].summary(name)
    before, after = rollover["watch_before"][name], rollover["watch_after"][name]
    assert before[f"{BASE}/privkey.next.pem"] and after[f"{BASE}/privkey.next.pem"] is None
    assert after[f"{BASE}/privkey.pem"] == before[f"{BASE}/privkey.next.pem"]
    assert rollover["served"][name] == {port: rollover["installed"][name] for port in harness.PORTS}
    assert rollover["consistency"][name] == []


def test_interrupted_switch_is_finished_by_the_same_switch(host, rollover):
    """Killed after the next key became current, before its certificate: the next key is kept (it is
    removed only once its certificate is installed), so running the same switch again finishes it."""
    name = _name(host)
    assert rollover["interrupted"].rc < 0 and rollover["interrupted"].fired, rollover["interrupted"].rc
    after_kill = rollover["after_kill"][name]
    next_key = rollover["next_before_kill"][name]
    assert next_key and after_kill[f"{BASE}/privkey.pem"] == next_key
    assert after_kill[f"{BASE}/privkey.next.pem"] == next_key, "the next key went before its certificate was installed"
    assert rollover["switch"].rc == 0, rollover["switch"].summary(name)
    assert rollover["watch_after"][name][f"{BASE}/privkey.next.pem"] is None


def test_group_mode_keys_are_readable_by_that_group_only(host, rollover):
    access = rollover["access"][_name(host)]
    for path, facts in access["files"].items():
        assert (facts["owner"], facts["group"], facts["mode"]) == ("root", "ssl-cert", "640"), (path, facts)
        # Only the group: the mail users read it only if they are members; a member can.
        expected = sorted([u for u in harness.KEY_READERS if u in access["ssl-cert members"]] + ["group"])
        assert sorted(facts["readers"]) == expected, (path, facts, access["ssl-cert members"])


def test_rollover_writes_are_atomic_and_private(host, rollover):
    name = _name(host)
    report = rollover["watch"][name]
    assert report["reads"] > 100, report["reads"]
    assert _watch_problems(report, rollover["watch_before"][name], rollover["watch_after"][name]) == []
    assert _temp_problems(report, key_mode=0o640) == [], report["new_entries"]


# ------------------------------------------------------------------------------------------------
# 5. Secret hygiene over everything every run produced
# ------------------------------------------------------------------------------------------------
def test_encrypted_key_run(host, passphrase):
    name = _name(host)
    assert passphrase["run"].rc == 0, passphrase["run"].summary(name)
    key = host.file("/root/pm-passphrase/encrypted.pem")
    assert key.mode == 0o600 and "ENCRYPTED PRIVATE KEY" in key.content_string


def test_no_key_material_or_passphrase_in_any_output(host, fresh, failed, killed, rollover, passphrase):
    name = _name(host)
    needles = {}
    for phase_needles in (fresh["needles"], killed["needles"], rollover["needles"], passphrase["needles"]):
        needles.update(phase_needles[name])
    ca_key = os.path.join(harness.EPHEMERAL, "ca", "ca.key")
    with open(ca_key, encoding="utf-8") as handle:
        needles.update(harness.needles_for_pem(handle.read(), "controller:ca.key"))
    assert len(needles) >= 6 * 4  # at least four keys: current, next, after the switch, the encrypted one
    for label, phrase in passphrase["phrases"].items():
        needles[label] = phrase
    runs = [fresh["run"], failed["run"], failed["repair"], killed["run"], killed["repair"], rollover["switch"], passphrase["run"]]
    hits = []
    for run in runs:
        texts = {f"{run.name} {kind}": text for kind, text in run.texts().items()}
        hits += harness.find_secrets(texts, needles)
    hits += harness.find_secrets({"watcher reports": json.dumps([killed["watch"], rollover["watch"]])}, needles)
    assert hits == []
    # Not vacuous: the -vvv --diff runs did show results, diffs and module arguments.
    for run in (fresh["run"], killed["run"], rollover["switch"], passphrase["run"]):
        assert "invocation" in run.texts()["results"] and '"diff"' in run.texts()["results"], run.name
        assert len(run.log) > 10000, run.name
