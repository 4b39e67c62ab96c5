# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.private_key end to end through main(): the JSON a controller would receive."""

from __future__ import annotations

import functools
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto
from ansible_collections.postmaster.tls.plugins.modules import private_key

PASSPHRASE = "Pm-Unit-Passphrase-42"


@pytest.fixture
def run(run_module):
    """private_key.main() with diff mode on, as most tests look at the diff; returns the result."""
    return functools.partial(run_module, private_key.main, diff=True)


def checksum(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def test_create_then_keep(tmp_path, run):
    path = tmp_path / "privkey.pem"
    predicted = run({"path": str(path), "size": 3072}, check_mode=True)
    assert predicted["changed"] is True
    assert predicted["generated"] is True
    assert predicted["key_size"] == 3072
    assert "spki_sha256" not in predicted  # check mode generates no key, so it invents no SPKI
    assert not path.exists()

    created = run({"path": str(path), "size": 3072})
    assert created["changed"] is True
    assert created["type"] == "rsa"
    assert created["key_size"] == 3072
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    content = checksum(path)
    assert content.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(content, password=None)
    assert created["spki_sha256"] == _crypto.spki_sha256(key.public_key())
    assert created["diff"]["before"] == {"state": "absent"}
    assert created["diff"]["after"]["spki_sha256"] == created["spki_sha256"]

    for check in (True, False):
        again = run({"path": str(path), "size": 3072}, check_mode=check)
        assert again["changed"] is False
        assert again["generated"] is False
        assert again["spki_sha256"] == created["spki_sha256"]
    assert checksum(path) == content


def test_key_written_by_another_tool_is_kept(tmp_path, run):
    path = tmp_path / "privkey.pem"
    key = ec.generate_private_key(ec.SECP384R1())
    traditional = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    path.write_bytes(traditional)
    os.chmod(path, 0o600)
    result = run({"path": str(path), "type": "ecdsa", "curve": "secp384r1"})
    assert result["changed"] is False
    assert result["curve"] == "secp384r1"
    assert result["spki_sha256"] == _crypto.spki_sha256(key.public_key())
    assert checksum(path) == traditional


def test_mismatch_fails_in_check_mode_and_for_real_without_touching_the_key(tmp_path, run):
    path = tmp_path / "privkey.pem"
    run({"path": str(path)})
    before = checksum(path)
    for check in (True, False):
        result = run({"path": str(path), "type": "ecdsa"}, check_mode=check)
        assert result["failed"] is True
        assert "regenerate=partial_idempotence" in result["msg"]
        assert "RSA 2048-bit" in result["msg"]
    assert checksum(path) == before


def test_partial_idempotence_replaces_a_mismatching_key_with_a_backup(tmp_path, run):
    path = tmp_path / "privkey.pem"
    first = run({"path": str(path)})
    before = checksum(path)
    result = run({"path": str(path), "type": "ecdsa", "regenerate": "partial_idempotence", "backup": True})
    assert result["changed"] is True
    assert result["generated"] is True
    assert result["type"] == "ecdsa"
    assert result["spki_sha256"] != first["spki_sha256"]
    assert checksum(result["backup_file"]) == before
    assert stat.S_IMODE(os.stat(result["backup_file"]).st_mode) == 0o600


def test_unreadable_keys_follow_the_policy(tmp_path, run):
    path = tmp_path / "privkey.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    before = checksum(path)
    for policy in ("never", "fail", "partial_idempotence"):
        result = run({"path": str(path), "regenerate": policy})
        assert result["failed"] is True
        assert "corrupt" in result["msg"]
        assert "regenerate=full_idempotence" in result["msg"]
        assert checksum(path) == before
    result = run({"path": str(path), "regenerate": "full_idempotence", "backup": True})
    assert result["changed"] is True
    assert checksum(result["backup_file"]) == before


def test_wrong_passphrase_fails_naming_the_fix(tmp_path, run):
    path = tmp_path / "privkey.pem"
    run({"path": str(path), "type": "ecdsa", "passphrase": PASSPHRASE})
    before = checksum(path)
    result = run({"path": str(path), "type": "ecdsa", "passphrase": "Another-Passphrase-7"})
    assert result["failed"] is True
    assert "wrong passphrase" in result["msg"]
    assert "regenerate=full_idempotence" in result["msg"]
    result = run({"path": str(path), "type": "ecdsa"})
    assert "encrypted and no passphrase was given" in result["msg"]
    assert checksum(path) == before


def test_always_regenerates_and_never_keeps(tmp_path, run):
    path = tmp_path / "privkey.pem"
    first = run({"path": str(path)})
    second = run({"path": str(path), "regenerate": "always"})
    assert second["changed"] is True
    assert second["spki_sha256"] != first["spki_sha256"]
    kept = run({"path": str(path), "type": "ecdsa", "regenerate": "never"})
    assert kept["changed"] is False
    assert kept["type"] == "rsa"
    assert any("regenerate=never" in warning for warning in kept["warnings"])


def test_adding_a_passphrase_keeps_the_key(tmp_path, run):
    path = tmp_path / "privkey.pem"
    plain = run({"path": str(path), "type": "ed25519"})
    locked = run({"path": str(path), "type": "ed25519", "passphrase": PASSPHRASE})
    assert locked["changed"] is True
    assert locked["generated"] is False
    assert locked["spki_sha256"] == plain["spki_sha256"]
    assert checksum(path).startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    again = run({"path": str(path), "type": "ed25519", "passphrase": PASSPHRASE})
    assert again["changed"] is False


def test_mode_and_group_changes_are_changes(tmp_path, run):
    path = tmp_path / "privkey.pem"
    run({"path": str(path), "type": "ecdsa"})
    before = checksum(path)
    gid = os.getgid()
    predicted = run({"path": str(path), "type": "ecdsa", "mode": "0640", "group": str(gid)}, check_mode=True)
    assert predicted["changed"] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    result = run({"path": str(path), "type": "ecdsa", "mode": "0640", "group": str(gid)})
    assert result["changed"] is True
    assert result["diff"]["before"]["mode"] == "0600"
    assert result["diff"]["after"]["mode"] == "0640"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert checksum(path) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"size": 1024}, "size=1024 is too small"),
        ({"type": "ecdsa", "size": 4096}, "size=4096 applies to type=rsa only"),
        ({"type": "ed25519", "curve": "secp256r1"}, "curve=secp256r1 applies to type=ecdsa only"),
        ({"mode": "0644"}, "lets every user read"),
        ({"directory_mode": "0770"}, "directory_mode 0770 lets other users replace the private key"),
        ({"directory_mode": "rwx"}, "directory_mode: mode 'rwx' is not an octal mode"),
    ],
)
def test_bad_options_fail_before_touching_the_file(tmp_path, args, message, run):
    path = tmp_path / "privkey.pem"
    run({"path": str(path)})
    before = checksum(path)
    result = run({"path": str(path), **args})
    assert result["failed"] is True
    assert message in result["msg"]
    assert checksum(path) == before


def test_missing_directory_fails_for_real_and_is_predicted_in_check_mode(tmp_path, run):
    path = tmp_path / "missing" / "privkey.pem"
    result = run({"path": str(path)})
    assert result["failed"] is True
    assert "does not exist; create it first" in result["msg"]
    predicted = run({"path": str(path)}, check_mode=True)
    assert predicted["changed"] is True
    assert any("check mode assumes" in warning for warning in predicted["warnings"])


def _pem_body_lines(path) -> list[str]:
    lines = checksum(path).decode().splitlines()
    return [line for line in lines if line and not line.startswith("-----")]


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa", "ed25519"])
def test_no_key_bytes_or_passphrase_in_any_result(tmp_path, key_type, run):
    path = tmp_path / "privkey.pem"
    outputs = []
    outputs.append(run({"path": str(path), "type": key_type, "passphrase": PASSPHRASE}, check_mode=True).text)
    outputs.append(run({"path": str(path), "type": key_type, "passphrase": PASSPHRASE}).text)
    outputs.append(run({"path": str(path), "type": key_type, "passphrase": PASSPHRASE}).text)
    outputs.append(run({"path": str(path), "type": key_type, "passphrase": PASSPHRASE, "mode": "0640"}).text)
    # Failures too: a wrong passphrase, and a mismatch.
    outputs.append(run({"path": str(path), "type": key_type, "passphrase": "Another-Passphrase-7"}).text)
    other = "ecdsa" if key_type == "rsa" else "rsa"
    outputs.append(run({"path": str(path), "type": other, "passphrase": PASSPHRASE}).text)
    encrypted_body = _pem_body_lines(path)
    # The same key unencrypted: none of its lines may show up either.
    key = serialization.load_pem_private_key(checksum(path), password=PASSPHRASE.encode())
    plain_body = [line for line in key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()).decode().splitlines() if not line.startswith("-----")]
    for text in outputs:
        assert PASSPHRASE not in text
        assert "Another-Passphrase-7" not in text
        # Ansible masks no_log values it finds; a mask in the output would mean something tried to leak.
        assert "********" not in text
        assert "PRIVATE KEY" not in text
        for line in encrypted_body + plain_body:
            assert line not in text


def test_missing_cryptography_is_reported(monkeypatch, tmp_path, run):
    monkeypatch.setattr(private_key._crypto, "HAS_CRYPTOGRAPHY", False)
    monkeypatch.setattr(private_key._crypto, "CRYPTOGRAPHY_IMP_ERR", "ImportError: no cryptography")
    result = run({"path": str(tmp_path / "k.pem")})
    assert result["failed"] is True
    assert "cryptography >= 3.4" in result["msg"]


def test_rsa_keys_from_rsa_module_report_their_size(tmp_path, run):
    path = tmp_path / "privkey.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)
    result = run({"path": str(path), "size": 4096})
    assert result["changed"] is False
    assert result["key_size"] == 4096


def test_unexpected_errors_name_only_their_type(monkeypatch, tmp_path, run):
    def explode(module, request):
        raise ValueError(f"bad key material {PASSPHRASE}")

    monkeypatch.setattr(private_key._keys, "ensure_private_key", explode)
    path = str(tmp_path / "privkey.pem")
    result = run({"path": path, "passphrase": PASSPHRASE})
    assert result["failed"] is True
    assert result["msg"] == f"unexpected error while handling {path}: ValueError"
    assert "bad key material" not in result["msg"]
    assert PASSPHRASE not in result.text


def test_directory_mode_creates_the_missing_directories_only_when_the_key_is_written(tmp_path, run):
    path = tmp_path / "etc" / "mail.example.org" / "ecdsa" / "privkey.pem"
    args = {"path": str(path), "type": "ecdsa", "directory_mode": "0750"}
    predicted = run(args, check_mode=True)
    expected = [str(tmp_path / "etc"), str(tmp_path / "etc" / "mail.example.org"), str(path.parent)]
    # Predicted without a warning: this task makes the directory itself.
    assert predicted["changed"] is True and predicted["directories"] == expected and predicted["warnings"] == []
    assert predicted["diff"]["before"]["directory"] == {"path": str(path.parent), "state": "absent"}
    assert predicted["diff"]["after"]["directory"]["mode"] == "0750"
    assert not (tmp_path / "etc").exists()

    created = run(args)
    assert created["changed"] is True and created["generated"] is True and created["directories"] == expected
    assert [stat.S_IMODE(os.stat(d).st_mode) for d in expected] == [0o750, 0o750, 0o750]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    again = run(args)
    assert again["changed"] is False and again["directories"] == []
    assert again["diff"]["before"] == again["diff"]["after"]


def test_directory_mode_corrects_the_key_directory_and_keeps_the_key(tmp_path, run):
    path = tmp_path / "keys" / "privkey.pem"
    run({"path": str(path), "type": "ecdsa", "directory_mode": "0700"})
    key = checksum(path)
    os.chmod(path.parent, 0o755)
    os.chmod(tmp_path, 0o711)  # an existing parent is not the key's directory: left alone
    predicted = run({"path": str(path), "type": "ecdsa", "directory_mode": "0700"}, check_mode=True)
    assert predicted["changed"] is True and predicted["directories"] == [str(path.parent)]
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o755
    fixed = run({"path": str(path), "type": "ecdsa", "directory_mode": "0700"})
    assert fixed["changed"] is True and fixed["generated"] is False
    assert fixed["diff"]["before"]["directory"]["mode"] == "0755" and fixed["diff"]["after"]["directory"]["mode"] == "0700"
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o711
    assert checksum(path) == key


def test_directory_mode_leaves_nothing_behind_when_the_key_is_refused(tmp_path, run):
    blocker = tmp_path / "etc"
    blocker.write_text("a file where a directory should be")
    in_file = run({"path": str(blocker / "rsa" / "privkey.pem"), "directory_mode": "0750"})
    assert in_file["failed"] is True and f"{blocker} is not a directory" in in_file["msg"]
    # A key of another type in an existing directory: refused before the directory is corrected.
    path = tmp_path / "keys" / "privkey.pem"
    run({"path": str(path), "type": "ecdsa", "directory_mode": "0700"})
    os.chmod(path.parent, 0o755)
    refused = run({"path": str(path), "type": "rsa", "directory_mode": "0700"})
    assert refused["failed"] is True and "regenerate" in refused["msg"]
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o755


def test_batch_makes_every_key_in_one_run_as_single_runs_would(tmp_path, run):
    rsa_path, ec_path = tmp_path / "name" / "rsa" / "privkey.pem", tmp_path / "name" / "ecdsa" / "privkey.pem"
    batch = [{"path": str(rsa_path), "type": "rsa", "size": 3072}, {"path": str(ec_path), "type": "ecdsa"}]
    predicted = run({"batch": batch, "directory_mode": "0750"}, check_mode=True)
    assert predicted["changed"] is True and list(predicted["private_keys"]) == [str(rsa_path), str(ec_path)]
    assert len(predicted["diff"]) == 2 and not (tmp_path / "name").exists()

    created = run({"batch": batch, "directory_mode": "0750"})
    keys = created["private_keys"]
    assert created["changed"] is True and [k["type"] for k in keys.values()] == ["rsa", "ecdsa"]
    assert keys[str(rsa_path)]["key_size"] == 3072 and keys[str(ec_path)]["curve"] == "secp256r1"
    for path in (rsa_path, ec_path):
        key = serialization.load_pem_private_key(checksum(path), password=None)
        assert keys[str(path)]["spki_sha256"] == _crypto.spki_sha256(key.public_key())
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "PRIVATE KEY" not in repr(created)

    again = run({"batch": batch, "directory_mode": "0750"})
    assert again["changed"] is False and [k["changed"] for k in again["private_keys"].values()] == [False, False]


def test_batch_item_that_fails_does_not_stop_the_others_and_is_named(tmp_path, run):
    good, bad = tmp_path / "good.pem", tmp_path / "bad.pem"
    bad.write_text("not a key")
    result = run({"batch": [{"path": str(bad), "type": "ecdsa"}, {"path": str(good), "type": "ecdsa"}]})
    assert result["failed"] is True and result["msg"].startswith(f"{bad}: ")
    assert result["private_keys"][str(bad)]["failed"] is True
    assert result["private_keys"][str(good)]["changed"] is True and good.exists()
    assert bad.read_text() == "not a key"


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([{"path": "/tmp/pm-a.pem"}, {"path": "/tmp/pm-a.pem"}], "path /tmp/pm-a.pem is listed more than once"),
        ([{"path": "/tmp/pm-b.pem", "type": "ecdsa", "size": 2048}], "size=2048 applies to type=rsa only"),
    ],
)
def test_batch_refusals(batch, message, run):
    result = run({"batch": batch})
    assert result["failed"] is True and message in result["msg"]
    assert not os.path.exists("/tmp/pm-a.pem") and not os.path.exists("/tmp/pm-b.pem")
