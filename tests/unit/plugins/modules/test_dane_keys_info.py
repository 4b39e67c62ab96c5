# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.dane_keys_info run in-process: installed and next keys from the layout, never changed."""

from __future__ import annotations

import os
import socket
import ssl

import pytest
from local_server import LocalServer

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _layout, _probe
from ansible_collections.postmaster.tls.plugins.modules import dane_keys_info


def _install(pki, base: str, name: str, key_type: str, key, *, next_key=None) -> _layout.KeyPaths:
    paths = _layout.key_paths(name, key_type, base_dir=base)
    os.makedirs(paths.live_dir, exist_ok=True)
    with open(paths.live("cert"), "wb") as handle:
        handle.write(pki.pem(pki.cert(name, key)))
    if next_key is not None:
        with open(paths.next_key, "wb") as handle:
            handle.write(pki.pem(next_key))
    return paths


def test_installed_and_next_keys_from_the_layout(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    current, upcoming, other = pki.key("current"), pki.key("next"), pki.key("other")
    _install(pki, base, "mail.example.org", "ecdsa", current, next_key=upcoming)
    _install(pki, base, "other.example.org", "ecdsa", other)
    result = run_module(dane_keys_info.main, {"base_dir": base, "name": "mail.example.org"}, check_mode=True)
    assert result["changed"] is False
    assert result["current_spki"] == [_crypto.spki_sha256(current.public_key())]
    assert result["next_spki"] == [_crypto.spki_sha256(upcoming.public_key())]
    assert result["certificates"][0]["next_key"].endswith("/mail.example.org/ecdsa/privkey.next.pem")
    assert result["served"] == [] and result["all_ports_serve_current"] is None
    every = run_module(dane_keys_info.main, {"base_dir": base})
    assert len(every["current_spki"]) == 2 and every["next_spki"] == result["next_spki"]


def test_nothing_installed_is_empty_not_an_error(run_module, tmp_path):
    result = run_module(dane_keys_info.main, {"base_dir": str(tmp_path / "absent")})
    assert result["certificates"] == [] and result["current_spki"] == [] and result["next_spki"] == []


def test_a_broken_next_key_names_the_file(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    paths = _install(pki, base, "mail.example.org", "rsa", pki.key("rsa-current", kind="rsa"))
    with open(paths.next_key, "wb") as handle:
        handle.write(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    result = run_module(dane_keys_info.main, {"base_dir": base})
    assert result["failed"] and paths.next_key in result["msg"]


def test_a_closed_port_is_not_serving_the_current_key(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    _install(pki, base, "mail.example.org", "ecdsa", pki.key("current"))
    result = run_module(dane_keys_info.main, {"base_dir": base, "probe_ports": [25], "probe_host": "127.0.0.9",
                                              "timeout": 2.0})
    assert result["served"][0]["port"] == 25 and result["served"][0]["spki_sha256"] is None
    assert result["all_ports_serve_current"] is False


def test_control_characters_are_refused(run_module, tmp_path):
    result = run_module(dane_keys_info.main, {"base_dir": str(tmp_path), "name": "mail\nexample"})
    assert result["failed"] and "control character" in result["msg"]


# ------------------------------------------------------------------------------------------------
# Keys this run would replace in place (the key task's own rules, _keys.decide)
# ------------------------------------------------------------------------------------------------
def _key_file(pki, paths: _layout.KeyPaths, key) -> None:
    with open(paths.key, "wb") as handle:
        handle.write(pki.pem(key))


def _planned(run_module, base, **args):
    return run_module(dane_keys_info.main, {"base_dir": base, **args}, check_mode=True)


def test_a_policy_that_replaces_a_served_key_is_named(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    key = pki.key("served")
    paths = _install(pki, base, "mail.example.org", "ecdsa", key)
    _key_file(pki, paths, key)
    before = open(paths.key, "rb").read()
    result = _planned(run_module, base, regenerate="always", planned_keys=[{"type": "ecdsa"}])
    assert result["replaced"] == [{"name": "mail.example.org", "key_type": "ecdsa", "path": paths.key,
                                   "reason": "regenerate=always"}]
    assert open(paths.key, "rb").read() == before  # read-only
    # The same key asked for with a policy that only replaces a mismatch: nothing to replace.
    assert _planned(run_module, base, regenerate="partial_idempotence", planned_keys=[{"type": "ecdsa"}])["replaced"] == []
    # Without a policy nothing is judged.
    assert _planned(run_module, base)["replaced"] == []


def test_a_mismatching_key_is_replaced_by_partial_idempotence_and_left_to_fail_by_fail(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    key = pki.key("served-p384-asked")
    paths = _install(pki, base, "mail.example.org", "ecdsa", key)
    _key_file(pki, paths, key)  # P-256; P-384 is asked below
    asked = [{"type": "ecdsa", "curve": "secp384r1"}]
    result = _planned(run_module, base, regenerate="partial_idempotence", planned_keys=asked)
    assert len(result["replaced"]) == 1 and "regenerate=partial_idempotence replaces it" in result["replaced"][0]["reason"]
    # regenerate=fail: the key task fails on its own with its message; nothing is replaced.
    assert _planned(run_module, base, regenerate="fail", planned_keys=asked)["replaced"] == []


def test_a_lost_key_of_a_served_certificate_is_a_replacement(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    paths = _install(pki, base, "mail.example.org", "ecdsa", pki.key("lost"))
    result = _planned(run_module, base, regenerate="fail", planned_keys=[{"type": "ecdsa"}])
    assert result["replaced"][0]["path"] == paths.key and result["replaced"][0]["reason"].startswith("no key at")


def test_a_switch_judges_the_prepared_next_key(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    upcoming = pki.key("switch-next", kind="rsa")
    # The served key is of another kind than asked; the prepared next key is the asked one.
    paths = _install(pki, base, "mail.example.org", "rsa", pki.key("switch-old-rsa", kind="rsa", size=3072),
                     next_key=upcoming)
    _key_file(pki, paths, pki.key("switch-old-rsa", kind="rsa", size=3072))
    asked = [{"type": "rsa", "size": 2048, "path": paths.key}]
    assert _planned(run_module, base, regenerate="partial_idempotence", planned_keys=asked, switching=True)["replaced"] == []
    without_switch = _planned(run_module, base, regenerate="partial_idempotence", planned_keys=asked)
    assert [entry["path"] for entry in without_switch["replaced"]] == [paths.key]
    # always replaces even the key the switch puts in place.
    assert len(_planned(run_module, base, regenerate="always", planned_keys=asked, switching=True)["replaced"]) == 1


def test_keys_without_an_installed_certificate_are_not_judged(run_module, pki, tmp_path):
    base = str(tmp_path / "base")
    _install(pki, base, "mail.example.org", "ecdsa", pki.key("only-ecdsa"))
    # A first deploy of an RSA key: nothing of that type is served, nothing to replace.
    result = _planned(run_module, base, regenerate="always", planned_keys=[{"type": "rsa"}])
    assert result["replaced"] == []
    other = _planned(run_module, base, regenerate="always",
                     planned_keys=[{"type": "ecdsa", "path": str(tmp_path / "elsewhere" / "privkey.pem")}])
    assert other["replaced"] == []


def test_a_weak_planned_key_is_refused_naming_the_option(run_module, tmp_path):
    result = _planned(run_module, str(tmp_path), regenerate="always", planned_keys=[{"type": "rsa", "size": 1024}])
    assert result["failed"] and "planned_keys[1]" in result["msg"] and "size=1024" in result["msg"]
    result = _planned(run_module, str(tmp_path), regenerate="always", planned_keys=[{"type": "ecdsa", "curve": "p\n"}])
    assert result["failed"] and "planned_keys[1].curve" in result["msg"] and "control character" in result["msg"]


# ------------------------------------------------------------------------------------------------
# What the ports serve, per key type: a real TLS server holding an RSA and an ECDSA certificate
# ------------------------------------------------------------------------------------------------
class TLSServer(LocalServer):
    """Implicit TLS on 127.0.0.1 (as on 465): a handshake with the certificates it holds, then close."""

    def __init__(self, pairs: list[tuple[str, str]], *, connections: int | None = None) -> None:
        self.connections = connections  # after this many handshakes, hold connections open silently (None: never)
        self.held: list[socket.socket] = []
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        for cert, key in pairs:
            self.context.load_cert_chain(cert, key)  # one slot per key type, as Postfix and Dovecot hold them
        super().__init__(threaded=False)

    def handle(self, conn: socket.socket) -> None:
        if self.connections is not None and self.connections <= 0:
            self.held.append(conn)  # no handshake: the client's own deadline ends it
            return
        if self.connections is not None:
            self.connections -= 1
        conn.settimeout(10)
        try:
            self.context.wrap_socket(conn, server_side=True).close()
        except (OSError, ssl.SSLError):
            conn.close()

    def endpoint(self) -> _probe.Endpoint:
        return _probe.Endpoint("127.0.0.1", self.port, "smtps", None)

    def close(self) -> None:
        super().close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def tls_server(pki):
    servers = []

    def start(*keys, connections=None) -> TLSServer:
        pairs = []
        for index, key in enumerate(keys):
            pairs.append((pki.write(f"srv{index}/cert.pem", pki.cert("mail.example.org", key)),
                          pki.write(f"srv{index}/key.pem", key)))
        server = TLSServer(pairs, connections=connections)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _spki(key) -> str:
    return _crypto.spki_sha256(key.public_key())


def _ask(server: TLSServer, current: list[str], key_types=("rsa", "ecdsa"), timeout: float = 5):
    return dane_keys_info.served_by([server.endpoint()], _probe.Settings(timeout=timeout), key_types=list(key_types),
                                    current=current)


def test_every_key_type_of_a_port_is_asked_for(tls_server, pki):
    rsa_key, ec_key = pki.key("port-rsa", kind="rsa"), pki.key("port-ec")
    reports, stale = _ask(tls_server(rsa_key, ec_key), [_spki(rsa_key), _spki(ec_key)])
    assert stale == [] and reports[0]["current"] is True
    assert reports[0]["key_types"]["rsa"]["verdict"] == "served"
    assert reports[0]["key_types"]["rsa"]["spki_sha256"] == _spki(rsa_key)
    assert reports[0]["key_types"]["ecdsa"]["spki_sha256"] == _spki(ec_key)
    assert reports[0]["spki_sha256"] in (_spki(rsa_key), _spki(ec_key))


def test_an_old_key_behind_the_preferred_one_is_seen(tls_server, pki):
    """A port still holding the old RSA key beside the new ECDSA one: a default handshake may see only
    the ECDSA key; the RSA client sees the old key, and the TLSA record of that key must stay."""
    old_rsa, new_rsa, ec_key = pki.key("old-rsa", kind="rsa"), pki.key("new-rsa", kind="rsa"), pki.key("port-ec2")
    reports, stale = _ask(tls_server(old_rsa, ec_key), [_spki(new_rsa), _spki(ec_key)])
    assert reports[0]["current"] is False
    assert f"port {reports[0]['port']}, rsa client: serves {_spki(old_rsa)}, not an installed key" in stale
    assert reports[0]["key_types"]["ecdsa"]["spki_sha256"] == _spki(ec_key)


def test_a_key_type_the_port_does_not_hold_is_refused_not_stale(tls_server, pki):
    ec_key = pki.key("only-ec")
    reports, stale = _ask(tls_server(ec_key), [_spki(ec_key), "ab" * 32])
    assert stale == [] and reports[0]["current"] is True
    assert reports[0]["key_types"]["rsa"]["verdict"] == "refused" and reports[0]["key_types"]["rsa"]["spki_sha256"] is None


def test_a_closed_port_is_named_and_not_asked_again(closed_port):
    endpoint = _probe.Endpoint("127.0.0.1", closed_port, "smtps", None)
    reports, stale = dane_keys_info.served_by([endpoint], _probe.Settings(timeout=2), key_types=["rsa"], current=[])
    assert reports[0]["key_types"] == {} and reports[0]["error"] and reports[0]["current"] is False
    assert stale == [f"port {closed_port}: {reports[0]['error']}"]


def test_a_key_type_that_cannot_be_asked_keeps_the_old_records(tls_server, pki):
    """The port answers the default client, then falls silent: what it serves to an RSA client is unknown."""
    rsa_key, ec_key = pki.key("gone-rsa", kind="rsa"), pki.key("gone-ec")
    server = tls_server(rsa_key, ec_key, connections=1)
    reports, stale = _ask(server, [_spki(rsa_key), _spki(ec_key)], key_types=("rsa",), timeout=2)
    assert reports[0]["spki_sha256"] is not None and reports[0]["key_types"]["rsa"]["verdict"] == "error"
    assert reports[0]["current"] is False and stale[0].startswith(f"port {server.port}, rsa client: ")
    assert "within 2 s" in stale[0], stale
