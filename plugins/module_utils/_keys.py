# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private keys: what is asked, what is on disk, what to do about it (postmaster.tls.private_key).

The decision is a pure function of the existing file, the request and the ``regenerate`` policy, so
check mode and a real run decide identically; only key generation and the write are skipped in check
mode. A key is compared by meaning (type, size or curve, whether it is encrypted), never by bytes: a
key written by ``openssl genrsa -traditional`` is the same key as its PKCS#8 rewrite.

Nothing here ever puts key bytes or a passphrase into a message, a fact or a diff.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _x509

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

KeyType = t.Literal["rsa", "ecdsa", "ed25519"]
Policy = t.Literal["never", "fail", "partial_idempotence", "full_idempotence", "always"]
Action = t.Literal["keep", "create", "regenerate", "reprotect"]

KEY_TYPES: tuple[str, ...] = ("rsa", "ecdsa", "ed25519")
CURVES: tuple[str, ...] = ("secp256r1", "secp384r1")
POLICIES: tuple[str, ...] = ("never", "fail", "partial_idempotence", "full_idempotence", "always")
CIPHERS: tuple[str, ...] = ("auto",)
DEFAULT_POLICY: Policy = "fail"
DEFAULT_RSA_BITS = 2048
MAX_RSA_BITS = 16384
DEFAULT_CURVE = "secp256r1"
DEFAULT_KEY_MODE = 0o600

# Said in every message about replacing a key: a new key has a new SPKI, so a DANE TLSA "3 1 1"
# record that pins the old one stops matching, and DANE-validating senders defer mail.
_DANE_NOTE = ("a new key has a new spki_sha256, so publish its DANE TLSA 3 1 1 record before the new key goes live")


class PrivateKeyError(Exception):
    """The module must stop; the message names the problem and the fix (and holds no secret)."""


class KeyOptionError(PrivateKeyError):
    """The options contradict each other or ask for something refused (RSA below 2048 bits, ...)."""


class KeyPolicyError(PrivateKeyError):
    """The existing key does not fit the request and the ``regenerate`` policy forbids replacing it."""


@dataclasses.dataclass(frozen=True)
class KeySpec:
    """The key that is asked for, validated."""

    type: KeyType
    size: int | None = None
    curve: str | None = None

    @classmethod
    def from_options(cls, *, type: str, size: int | None = None, curve: str | None = None) -> KeySpec:
        """Validate the type/size/curve combination; refuse weak or contradictory requests."""
        if type not in KEY_TYPES:
            raise KeyOptionError(f"type {type!r} is not supported; choose one of {', '.join(KEY_TYPES)}")
        if type == "rsa":
            if curve is not None:
                raise KeyOptionError(f"curve={curve} applies to type=ecdsa only; remove curve or set type=ecdsa")
            bits = DEFAULT_RSA_BITS if size is None else int(size)
            if bits < _x509.MIN_RSA_BITS:
                raise KeyOptionError(f"size={bits} is too small: RSA keys below {_x509.MIN_RSA_BITS} bits are refused; "
                                     "use size=2048 or more (3072 is a good choice)")
            if bits > MAX_RSA_BITS:
                raise KeyOptionError(f"size={bits} is larger than {MAX_RSA_BITS} bits, which no mail peer needs; use 2048, 3072 or 4096")
            return cls(type="rsa", size=bits)
        if size is not None:
            hint = "choose the strength with curve (secp256r1 or secp384r1)" if type == "ecdsa" else "Ed25519 keys have a fixed size"
            raise KeyOptionError(f"size={size} applies to type=rsa only; remove size ({hint})")
        if type == "ecdsa":
            name = DEFAULT_CURVE if curve is None else curve
            if name not in CURVES:
                raise KeyOptionError(f"curve {name!r} is not supported; choose one of {', '.join(CURVES)}")
            return cls(type="ecdsa", curve=name)
        if curve is not None:
            raise KeyOptionError(f"curve={curve} applies to type=ecdsa only; remove curve or set type=ecdsa")
        return cls(type="ed25519")

    @property
    def label(self) -> str:
        if self.type == "rsa":
            return f"RSA {self.size}-bit"
        if self.type == "ecdsa":
            return f"ECDSA {self.curve}"
        return "Ed25519"

    def facts(self) -> dict[str, t.Any]:
        """What the module returns about a key it has not generated yet (check mode)."""
        if self.type == "rsa":
            return {"type": "rsa", "key_size": self.size}
        if self.type == "ecdsa":
            return {"type": "ecdsa", "curve": self.curve, "key_size": _CURVE_BITS[str(self.curve)]}
        return {"type": "ed25519", "key_size": 256}

    def matches(self, key: t.Any) -> bool:
        """True when ``key`` (private or public) is of the asked type and strength."""
        found = _crypto.describe_public_key(_public(key))
        if found["type"] != self.type:
            return False
        if self.type == "rsa":
            return found["size"] == self.size
        if self.type == "ecdsa":
            return found["curve"] == self.curve
        return True

    def generate(self) -> t.Any:
        if self.type == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=int(self.size or DEFAULT_RSA_BITS))
        if self.type == "ecdsa":
            curve = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1}[str(self.curve)]
            return ec.generate_private_key(curve())
        return ed25519.Ed25519PrivateKey.generate()


_CURVE_BITS = {"secp256r1": 256, "secp384r1": 384}


def _public(key: t.Any) -> t.Any:
    return key.public_key() if hasattr(key, "public_key") else key


def key_facts(key: t.Any) -> dict[str, t.Any]:
    """Public facts about a key: type, size (and curve), SPKI SHA-256 and fingerprints. No key bytes."""
    public = _public(key)
    found = _crypto.describe_public_key(public)
    # "key_size", not "size": AnsibleModule.exit_json sets "size" to the file's byte size whenever the
    # result has a "path".
    facts: dict[str, t.Any] = {"type": found["type"], "key_size": found.get("size")}
    if "curve" in found:
        facts["curve"] = found["curve"]
    facts["spki_sha256"] = _crypto.spki_sha256(public)
    facts["fingerprints"] = _crypto.public_key_fingerprints(public)
    return facts


def serialize(key: t.Any, *, passphrase: str | None) -> bytes:
    """PKCS#8 PEM; with a passphrase, PBES2 (PBKDF2 + AES-256-CBC) as cryptography's best available.

    PKCS#8 because it is the one PEM flavour that holds every key type (Ed25519 has no traditional
    form) and the one whose encryption is not OpenSSL's legacy MD5-based scheme.
    """
    encryption: t.Any
    if passphrase:
        encryption = serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
    else:
        encryption = serialization.NoEncryption()
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=encryption,
    )


@dataclasses.dataclass(frozen=True)
class Plan:
    action: Action
    reason: str
    warnings: tuple[str, ...] = ()


def decide(existing: _crypto.ExistingKey, spec: KeySpec, *, passphrase: str | None, policy: str, path: str) -> Plan:
    """What to do with the file at ``path``; raise KeyPolicyError when the policy says stop.

    Policies (community.crypto's names and meanings, with ``fail`` as the default here):
    never: keep any readable key; fail on an unreadable one.
    fail: keep a matching key; fail on a mismatching or unreadable one.
    partial_idempotence: replace a mismatching key; fail on an unreadable one.
    full_idempotence: replace a mismatching or unreadable key.
    always: replace the key on every run.
    """
    if policy not in POLICIES:
        raise KeyOptionError(f"regenerate={policy} is not a policy; choose one of {', '.join(POLICIES)}")
    if existing.status == "absent":
        return Plan("create", f"no key at {path}")
    if policy == "always":
        return Plan("regenerate", "regenerate=always")
    if existing.status == "unreadable":
        if policy == "full_idempotence":
            return Plan("regenerate", f"{existing.problem}; regenerate=full_idempotence replaces it")
        fix = "give the right passphrase" if existing.passphrase_problem else "restore the file from a backup"
        raise KeyPolicyError(
            f"{existing.problem}. The file was left unchanged (regenerate={policy}). To fix: {fix}, or set "
            f"regenerate=full_idempotence to replace it with a newly generated {spec.label} key ({_DANE_NOTE})."
        )
    found = _crypto.key_label(existing.key)
    if not spec.matches(existing.key):
        if policy == "never":
            return Plan("keep", f"regenerate=never keeps the existing {found} key", warnings=(
                f"the key in {path} is {found}, not {spec.label} as asked; kept because regenerate=never",))
        if policy == "fail":
            raise KeyPolicyError(
                f"the key in {path} is {found}, but {spec.label} was asked. The key was left unchanged "
                f"(regenerate=fail). To fix: set type/size/curve to match the existing key, or set "
                f"regenerate=partial_idempotence to replace it with a newly generated {spec.label} key ({_DANE_NOTE})."
            )
        return Plan("regenerate", f"the key in {path} is {found}, {spec.label} was asked; regenerate={policy} replaces it")
    if passphrase and not existing.encrypted:
        if policy == "never":
            return Plan("keep", "regenerate=never leaves the file alone", warnings=(
                f"{path} is not encrypted although a passphrase was given; kept as it is because regenerate=never",))
        return Plan("reprotect", f"{path} is not encrypted; the same key is rewritten encrypted with the passphrase")
    return Plan("keep", f"the key in {path} is {found} as asked")


@dataclasses.dataclass
class KeyRequest:
    """All options of postmaster.tls.private_key, validated."""

    path: str
    spec: KeySpec
    passphrase: str | None = None
    cipher: str | None = None
    regenerate: str = DEFAULT_POLICY
    backup: bool = False
    mode: int = DEFAULT_KEY_MODE
    owner: str | None = None
    group: str | None = None
    directory_mode: int | None = None

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> KeyRequest:
        spec = KeySpec.from_options(type=params.get("type") or "rsa", size=params.get("size"), curve=params.get("curve"))
        cipher = params.get("cipher")
        if cipher is not None and cipher not in CIPHERS:
            raise KeyOptionError(f"cipher={cipher} is not supported; use cipher=auto (PKCS#8 with PBKDF2 and AES-256-CBC)")
        if cipher is not None and not params.get("passphrase"):
            raise KeyOptionError("cipher is set but passphrase is not; set passphrase to encrypt the key, or remove cipher")
        try:
            mode = _fileio.parse_mode(params.get("mode"), default=DEFAULT_KEY_MODE)
        except _fileio.FileIOError as exc:
            raise KeyOptionError(str(exc)) from None
        if mode is None:  # pragma: no cover - parse_mode returns the default for None
            mode = DEFAULT_KEY_MODE
        if mode & 0o007:
            raise KeyOptionError(f"mode {mode:04o} lets every user read or write the private key; use '0600', or '0640' with a group such as ssl-cert")
        try:
            directory_mode = _fileio.parse_mode(params.get("directory_mode"), default=None)
        except _fileio.FileIOError as exc:
            raise KeyOptionError(f"directory_mode: {exc}") from None
        if directory_mode is not None and directory_mode & 0o022:
            raise KeyOptionError(f"directory_mode {directory_mode:04o} lets other users replace the private key (write access to its directory); "
                                 "use '0700', or '0750' with a group such as ssl-cert")
        policy = params.get("regenerate") or DEFAULT_POLICY
        if policy not in POLICIES:
            raise KeyOptionError(f"regenerate={policy} is not a policy; choose one of {', '.join(POLICIES)}")
        return cls(
            path=str(params["path"]),
            spec=spec,
            passphrase=params.get("passphrase") or None,
            cipher=cipher,
            regenerate=policy,
            backup=bool(params.get("backup")),
            mode=mode,
            owner=params.get("owner"),
            group=params.get("group"),
            directory_mode=directory_mode,
        )


def _diff_state(facts: dict[str, t.Any] | None, *, encrypted: bool | None, files: dict[str, t.Any], status: str = "present") -> dict[str, t.Any]:
    if facts is None:
        return {"state": status, **files}
    out: dict[str, t.Any] = {"state": status, "type": facts.get("type"), "key_size": facts.get("key_size")}
    if "curve" in facts:
        out["curve"] = facts["curve"]
    if "spki_sha256" in facts:
        out["spki_sha256"] = facts["spki_sha256"]
        out["fingerprint_sha256"] = facts["fingerprints"]["sha256"]
    if encrypted is not None:
        out["encrypted"] = encrypted
    out.update(files)
    return out


def _wanted_attributes(mode: int, request: KeyRequest) -> dict[str, str]:
    """The mode, and the owner and group when asked for, as the diff shows them (of the key or of its directory)."""
    wanted = {"mode": f"{mode:04o}"}
    if request.owner not in (None, ""):
        wanted["owner"] = str(request.owner)
    if request.group not in (None, ""):
        wanted["group"] = str(request.group)
    return wanted


def ensure_private_key(module: AnsibleModule, request: KeyRequest) -> dict[str, t.Any]:
    """Make ``request.path`` hold the asked key (as the policy allows); return the module result.

    The same code runs in check mode; there only the key generation and the writes are skipped.
    """
    try:
        return _ensure(module, request)
    except _fileio.FileIOError as exc:
        raise PrivateKeyError(str(exc)) from None


def _ensure(module: AnsibleModule, request: KeyRequest) -> dict[str, t.Any]:
    check_mode = bool(module.check_mode)
    path = request.path
    _fileio.check_owner_group(request.owner, request.group)
    directory = os.path.dirname(os.path.abspath(path))
    dir_missing: list[str] = []
    if request.directory_mode is not None:
        # The key's directory is this module's to keep: created (or corrected) just before the key is written.
        dir_missing = _fileio.plan_directory(directory)
    dir_warning = None if dir_missing else _fileio.check_target_dir(path, check_mode=check_mode)
    if dir_warning:
        module.warn(dir_warning)
    try:
        data = None if dir_warning or dir_missing else _fileio.read_bytes(path)
    except _fileio.FileIOError as exc:
        raise PrivateKeyError(f"{exc}; run with become, or fix the file's permissions") from None
    existing = _crypto.read_key(data, passphrase=request.passphrase, source=path)
    plan = decide(existing, request.spec, passphrase=request.passphrase, policy=request.regenerate, path=path)
    for warning in plan.warnings:
        module.warn(warning)
    directories: list[str] = []
    if request.directory_mode is not None:
        dir_before = {"path": directory, "state": "absent"} if dir_missing else {"path": directory, **_fileio.file_facts(directory)}
        try:
            # Created or corrected (in check mode: would be), outermost first.
            directories = _fileio.make_directory(module, directory, mode=request.directory_mode, owner=request.owner, group=request.group)
        except _fileio.FileIOError as exc:
            raise PrivateKeyError(f"{exc}; nothing else was changed") from None
    if plan.action != "keep":
        _fileio.check_writable_dir(path, missing_ok=True)

    before_files = _fileio.file_facts(path)
    if existing.readable:
        before = _diff_state(key_facts(existing.key), encrypted=existing.encrypted, files=before_files)
    else:
        before = _diff_state(None, encrypted=None, files=before_files, status=existing.status)
    after_files = {**before_files, **_wanted_attributes(request.mode, request)}

    result: dict[str, t.Any] = {"path": path, "generated": plan.action in ("create", "regenerate")}
    backup_file = None
    if plan.action in ("create", "regenerate"):
        changed = True
        if check_mode:
            facts = request.spec.facts()
        else:
            key = request.spec.generate()
            backup_file = _write(module, request, serialize(key, passphrase=request.passphrase))
            facts = key_facts(key)
        after = _diff_state(facts, encrypted=bool(request.passphrase), files=after_files)
    elif plan.action == "reprotect":
        changed = True
        facts = key_facts(existing.key)
        if not check_mode:
            backup_file = _write(module, request, serialize(existing.key, passphrase=request.passphrase))
        after = _diff_state(facts, encrypted=True, files=after_files)
    else:
        facts = key_facts(existing.key)
        changed = _fileio.set_attributes(module, path, mode=request.mode, owner=request.owner, group=request.group)
        after = _diff_state(facts, encrypted=existing.encrypted, files=after_files)

    if request.directory_mode is not None:
        before["directory"] = dir_before
        after["directory"] = {"path": directory, **({} if dir_missing else {k: v for k, v in dir_before.items() if k != "state"}),
                              **_wanted_attributes(request.directory_mode, request)}
    result.update(facts)
    result["changed"] = changed or bool(directories)
    if request.directory_mode is not None:
        result["directories"] = directories
    result["reason"] = plan.reason
    if backup_file:
        result["backup_file"] = backup_file
    if module._diff:
        result["diff"] = {"before": before, "after": after, "before_header": path, "after_header": path}
    return result


def _write(module: AnsibleModule, request: KeyRequest, content: bytes) -> str | None:
    return _fileio.atomic_write(module, request.path, content, mode=request.mode, owner=request.owner,
                                group=request.group, backup=request.backup)
