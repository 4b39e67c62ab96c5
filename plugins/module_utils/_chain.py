# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Chains for postmaster.tls.certificate_install: order by signature, drop extras, reach a trust
anchor, run every install check, and build the files a mail server reads.

Every check runs on parsed objects before a single byte is written; a failed check raises
:class:`InstallCheckError`, whose message names the check and the certificate concerned.
Works with cryptography 38 (signature checks go through ``_crypto.is_signed_by``).
"""

from __future__ import annotations

import datetime
import functools
import os
import ssl
import typing as t
from dataclasses import dataclass, field

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _layout, _pathcheck, _pem, _x509

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

CERT_FILE = "cert.pem"
CHAIN_FILE = "chain.pem"
FULLCHAIN_FILE = "fullchain.pem"
COMBINED_FILE = "combined.pem"
FILE_KEYS = {CERT_FILE: "cert", CHAIN_FILE: "chain", FULLCHAIN_FILE: "fullchain", COMBINED_FILE: "combined"}
# The name of the installed trust anchors file (trust_anchors_content at trust_anchors_path) in changed_files and backups.
TRUST_ANCHORS_KEY = "trust_anchors"


class ChainError(Exception):
    """An input cannot be used (missing, unreadable); the message names it and the fix."""


# A failed install check: ``check`` names the check, ``concerned`` the certificate (one class for every module).
InstallCheckError = _x509.CheckError


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# ---------------------------------------------------------------------------------------------
# Trust anchors
# ---------------------------------------------------------------------------------------------
def default_trust_store() -> str:
    """The system CA bundle (a file), or failing that the hashed CA directory."""
    bundle = _x509.system_ca_bundle()
    if bundle:
        return bundle
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.capath, paths.openssl_capath, "/etc/ssl/certs"):
        if candidate and os.path.isdir(candidate):
            return os.path.realpath(candidate)
    raise ChainError("no system trust store found (no CA bundle such as /etc/ssl/certs/ca-certificates.crt); "
                     "install the ca-certificates package or set trust_anchors_path")


def load_trust_anchors(path: str) -> list[x509.Certificate]:
    """Certificates from a CA bundle file, or from every certificate file of a CA directory."""
    if os.path.isdir(path):
        anchors = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            if not os.path.isfile(full):
                continue
            try:
                with open(full, "rb") as handle:
                    anchors.extend(_crypto.load_certificates(handle.read(), source=full))
            except (OSError, _crypto.PEMError):
                continue  # A CA directory also holds CRLs and odd files; only certificates count.
        if not anchors:
            raise ChainError(f"trust anchors: the directory {path} holds no certificates")
        return anchors
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ChainError(f"trust anchors: {path} does not exist; point trust_anchors_path at a CA certificate file") from None
    except OSError as exc:
        raise ChainError(f"trust anchors: cannot read {path}: {exc.strerror}") from None
    try:
        return _crypto.load_certificates(data, source=f"trust anchors {path}")
    except _crypto.PEMError as exc:
        raise ChainError(str(exc)) from None


class AnchorIndex:
    """Trust anchors by subject, for finding the anchor that signed a certificate."""

    def __init__(self, anchors: t.Iterable[x509.Certificate], *, source: str) -> None:
        self.source = source
        self._by_subject: dict[bytes, list[x509.Certificate]] = {}
        self._ders: set[bytes] = set()
        for anchor in anchors:
            self._by_subject.setdefault(anchor.subject.public_bytes(), []).append(anchor)
            self._ders.add(der(anchor))

    def __len__(self) -> int:
        return len(self._ders)

    def contains(self, cert: x509.Certificate) -> bool:
        """The certificate is an anchor itself: same bytes, or same subject and key (a re-issued root)."""
        if der(cert) in self._ders:
            return True
        return any(_crypto.same_public_key(a.public_key(), cert.public_key()) for a in self._by_subject.get(cert.subject.public_bytes(), []))

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        return [a for a in self._by_subject.get(cert.issuer.public_bytes(), []) if _crypto.is_signed_by(cert, a)]


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
@dataclass
class Dropped:
    cert: x509.Certificate
    reason: str

    def as_dict(self, now: datetime.datetime) -> dict[str, t.Any]:
        return {**_x509.certificate_facts(self.cert, now=now), "reason": self.reason}


@dataclass
class CheckedChain:
    """The result of every check: what to install, in order."""

    leaf: x509.Certificate
    intermediates: list[x509.Certificate]  # leaf-first order, without the leaf
    anchor: x509.Certificate
    chain: list[x509.Certificate]  # what chain.pem holds: intermediates (+ the anchor if asked)
    dropped: list[Dropped] = field(default_factory=list)


def _dedupe(certs: t.Iterable[x509.Certificate], *, leaf: x509.Certificate) -> tuple[list[x509.Certificate], list[Dropped]]:
    seen = {der(leaf)}
    unique, dropped = [], []
    for cert in certs:
        key = der(cert)
        if key in seen:
            dropped.append(Dropped(cert, "duplicate"))
            continue
        seen.add(key)
        unique.append(cert)
    return unique, dropped


def _prefer(candidates: list[x509.Certificate], now: datetime.datetime) -> x509.Certificate:
    """Of several certificates that fit, the one valid now with the latest notAfter."""
    def rank(cert: x509.Certificate) -> tuple[bool, datetime.datetime]:
        valid = _crypto.not_valid_before(cert) <= now < _crypto.not_valid_after(cert)
        return valid, _crypto.not_valid_after(cert)

    return max(candidates, key=rank)


def _role(cert: x509.Certificate, leaf: x509.Certificate) -> str:
    return "leaf certificate" if cert is leaf else "intermediate certificate"


def build_chain(
    leaf: x509.Certificate,
    candidates: t.Iterable[x509.Certificate],
    anchors: AnchorIndex,
    *,
    include_root: bool,
    now: datetime.datetime,
) -> CheckedChain:
    """Order ``candidates`` from the leaf up by signature and stop at a trust anchor.

    Certificates that are not on the path (unrelated extras, duplicates, a root that stays out)
    are reported in ``dropped``. Weak signature hashes are refused here, before a signature made
    with them is relied upon.
    """
    given = list(candidates)
    pool, dropped = _dedupe(given, leaf=leaf)
    path: list[x509.Certificate] = []
    current = leaf
    used = {der(leaf)}
    while not _x509.is_self_signed(current):
        _x509.check_signature_hash(current, _role(current, leaf))
        if anchors.issuers_of(current):
            # Stop at the first certificate a trust anchor signed: what the chain holds beyond it
            # (the root, or a cross-signed copy of it that may have expired) is not needed.
            break
        named = [c for c in pool if der(c) not in used and c.subject == current.issuer]
        linked = [c for c in named if _crypto.is_signed_by(current, c)]
        if linked:
            issuer = _prefer(linked, now)
            path.append(issuer)
            used.add(der(issuer))
            current = issuer
            continue
        issuer_name = _crypto.name_to_string(current.issuer)
        if named:
            raise _x509.CheckError(
                _x509.CHECK_CHAIN_LINKING, _x509.describe(current, _role(current, leaf)),
                f"the chain holds a certificate named '{issuer_name}', but its key does not verify this certificate's "
                "signature (an impostor or a re-keyed CA certificate); give the intermediate that really issued it",
            )
        if current is leaf and pool:
            raise _x509.CheckError(
                _x509.CHECK_CHAIN_LINKING, _x509.describe(current, "leaf certificate"),
                f"it was issued by '{issuer_name}', but none of the {len(pool)} chain certificate(s) given is that issuer "
                f"and no trust anchor in {anchors.source} is; give the issuing intermediate in chain_paths or chain_content",
            )
        raise _x509.CheckError(
            _x509.CHECK_TRUST_ANCHOR, _x509.describe(current, _role(current, leaf)),
            f"it was issued by '{issuer_name}', which is neither in the chain given nor among the {len(anchors)} trust "
            f"anchors in {anchors.source}; add the missing intermediate to the chain, or set trust_anchors_path to the CA that issued it",
        )

    if _x509.is_self_signed(current):
        # The path ends at a self-signed certificate: a root given with the chain, or a self-signed leaf.
        if not anchors.contains(current):
            role = "leaf certificate (self-signed)" if current is leaf else "root certificate"
            raise _x509.CheckError(
                _x509.CHECK_TRUST_ANCHOR, _x509.describe(current, role),
                f"the chain ends at this self-signed certificate, which is not among the {len(anchors)} trust anchors in "
                f"{anchors.source}; set trust_anchors_path to a file that holds it if it is meant to be trusted",
            )
        anchor = current
        if current is not leaf:
            path.pop()
    else:
        anchor = _prefer(anchors.issuers_of(current), now)

    chain = list(path)
    if include_root and anchor is not leaf:
        chain.append(anchor)
    on_path = {der(c) for c in chain} | {der(leaf)}
    for cert in pool:
        if der(cert) not in on_path:
            reason = "the root stays out (include_root=false)" if anchors.contains(cert) else "not part of the leaf's chain"
            dropped.append(Dropped(cert, reason))
    return CheckedChain(leaf=leaf, intermediates=path, anchor=anchor, chain=chain, dropped=dropped)


def _check_ca(cert: x509.Certificate) -> None:
    problem = _x509.ca_usage_problem(cert)
    if problem:
        raise _x509.CheckError(_x509.CHECK_CA, _x509.describe(cert, "intermediate certificate"),
                               f"{problem}; it cannot issue the certificate below it")


def check_install(
    *,
    leaf: x509.Certificate,
    candidates: t.Iterable[x509.Certificate],
    private_key,
    key_source: str,
    anchors: AnchorIndex,
    include_root: bool,
    required_names: t.Sequence[str],
    min_days_remaining: int,
    now: datetime.datetime,
    validator: _pathcheck.PathValidator,
) -> CheckedChain:
    """Every check of certificate_install, in the order a reader would debug them.

    The named checks come first, each with a message that says what to fix; RFC 5280 path validation by
    ``validator`` comes last and refuses what they do not cover (path length and name constraints,
    critical extensions nobody knows, ...).
    """
    if not _crypto.same_public_key(leaf.public_key(), private_key.public_key()):
        raise _x509.CheckError(_x509.CHECK_KEY_MATCH, _x509.describe(leaf, "leaf certificate"),
                               f"it does not match the private key {key_source} (key spki_sha256 "
                               f"{_crypto.spki_sha256(private_key.public_key())}, certificate spki_sha256 "
                               f"{_crypto.spki_sha256(leaf.public_key())}); give the key the CSR was made with")
    checked = build_chain(leaf, candidates, anchors, include_root=include_root, now=now)
    path = [leaf, *checked.intermediates]
    for cert in path:
        _x509.check_validity(cert, _role(cert, leaf), now)
    if checked.anchor is not leaf:
        _x509.check_validity(checked.anchor, "trust anchor", now)
    remaining = _crypto.days_remaining(leaf, now=now)
    if remaining < min_days_remaining:
        raise _x509.CheckError(_x509.CHECK_DAYS_REMAINING, _x509.describe(leaf, "leaf certificate"),
                               f"only {remaining} days remain (until {_x509.iso8601(_crypto.not_valid_after(leaf))}), fewer than "
                               f"min_days_remaining={min_days_remaining}; renew it first")
    for name in required_names:
        if not _crypto.covers(leaf, name):
            raise _x509.CheckError(_x509.CHECK_NAMES, _x509.describe(leaf, "leaf certificate"),
                                   f"it does not cover the required name {name} (its names: {', '.join(_crypto.dns_names(leaf)) or 'none'}; "
                                   "a wildcard covers exactly one left-most label); issue it for that name")
    for cert in path:
        _x509.check_key_strength(cert, _role(cert, leaf))
    for cert in path:
        _x509.check_eku(cert, _role(cert, leaf))
    _x509.check_server_key_usage(leaf)
    for cert in checked.intermediates:
        _check_ca(cert)
    validator.validate(leaf, checked.intermediates, checked.anchor, now=now, required_names=required_names)
    return checked


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------
def private_key_block(data: bytes, private_key) -> bytes:
    """The key as the combined file carries it: the file's own PEM block, or PKCS#8 PEM for DER input."""
    blocks = [block for label, block in _crypto.pem_blocks(data) if label.endswith("PRIVATE KEY")]
    if blocks:
        return blocks[0]
    return private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def file_contents(checked: CheckedChain, key_block: bytes) -> dict[str, bytes]:
    """cert.pem, chain.pem, fullchain.pem, combined.pem (key first: Postfix's smtpd_tls_chain_files order)."""
    leaf = pem(checked.leaf)
    chain = b"".join(pem(c) for c in checked.chain)
    return {
        CERT_FILE: leaf,
        CHAIN_FILE: chain,
        FULLCHAIN_FILE: leaf + chain,
        COMBINED_FILE: key_block + leaf + chain,
    }


def _squash(block: bytes) -> bytes:
    return b"".join(block.split())


def same_certificates(existing: bytes | None, wanted: bytes) -> bool:
    """Same certificates in the same order, whatever the whitespace or text around them."""
    if existing is None:
        return False
    have = _crypto.pem_blocks(existing)
    want = _crypto.pem_blocks(wanted)
    if any(label != "CERTIFICATE" for label, _block in have):
        return False
    return [_squash(b) for _l, b in have] == [_squash(b) for _l, b in want]


def same_combined(existing: bytes | None, wanted: bytes, *, private_key, passphrase: str | None) -> bool:
    """Same key (by value, any encoding) first, then the same certificates in the same order."""
    if existing is None:
        return False
    have = _crypto.pem_blocks(existing)
    want = _crypto.pem_blocks(wanted)
    if not have or not have[0][0].endswith("PRIVATE KEY") or len(have) != len(want):
        return False
    if any(label != "CERTIFICATE" for label, _block in have[1:]):
        return False
    if [_squash(b) for _l, b in have[1:]] != [_squash(b) for _l, b in want[1:]]:
        return False
    if _squash(have[0][1]) == _squash(want[0][1]):
        return True
    try:
        existing_key = _crypto.load_private_key(have[0][1], passphrase=passphrase, source="the existing combined file's key")
    except _crypto.PEMError:
        return False
    plain = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        return bool(existing_key.private_bytes(*plain) == private_key.private_bytes(*plain))
    except (TypeError, ValueError):
        return False


def summarize_file(data: bytes | None, *, passphrase: str | None = None) -> list[str]:
    """Public, readable facts about a certificate or combined file, for diff mode (never key bytes)."""
    if data is None:
        return ["(absent)"]
    lines = []
    for label, block in _crypto.pem_blocks(data):
        if label.endswith("PRIVATE KEY"):
            try:
                key = _crypto.load_private_key(block, passphrase=passphrase, source="key")
                facts = _crypto.describe_public_key(key.public_key())
                lines.append(f"private key: {facts['type']} {facts.get('size')} spki_sha256 {_crypto.spki_sha256(key.public_key())}")
            except _crypto.PEMError:
                lines.append("private key: (encrypted or unreadable)")
        elif label == "CERTIFICATE":
            try:
                cert = _crypto.load_certificate(block)
            except _crypto.PEMError:
                lines.append("certificate: (unreadable)")
                continue
            lines.append(f"certificate: {_crypto.name_to_string(cert.subject)} sha256 {_crypto.cert_fingerprint_sha256(cert)}")
        else:
            lines.append(f"{label.lower()}: (other PEM block)")
    return lines or ["(empty)"]


def chain_facts(checked: CheckedChain, now: datetime.datetime) -> list[dict[str, t.Any]]:
    """The installed certificates, leaf first, as ``_x509.certificate_facts``."""
    return [_x509.certificate_facts(cert, now=now) for cert in [checked.leaf, *checked.chain]]


# ---------------------------------------------------------------------------------------------
# Module backend: postmaster.tls.certificate_install
# ---------------------------------------------------------------------------------------------
@dataclass
class _PlannedFile:
    name: str
    path: str
    content: bytes
    mode: int
    secret: bool
    group: str | None = None
    before: bytes | None = None
    before_mode: int | None = None
    content_changed: bool = False
    attributes_changed: bool = False


class InstallBackend:
    """Check everything, then write cert.pem, chain.pem, fullchain.pem and combined.pem atomically."""

    def __init__(self, module, *, validator: _pathcheck.PathValidator, params: dict[str, t.Any] | None = None,
                 anchors_done: dict[tuple[str, bytes], bool] | None = None) -> None:
        """``validator`` - the RFC 5280 path validator (one per module run). ``params`` - one item of a batch instead of
        the module's parameters. ``anchors_done`` - trust anchors files that earlier items of the same batch already
        installed (path and content: installed), so each is planned, written and shown in the diff once."""
        self.module = module
        self.validator = validator
        self.params = module.params if params is None else params
        # Explicit flag files, and the layout's flag of every service named in reload_services.
        self.reload_flags: list[str] = list(self.params.get("reload_flags") or []) + [
            _layout.reload_flag(service) for service in self.params.get("reload_services") or []]
        self.dest: str = self.params["dest"]
        self.now = _crypto.utcnow()
        self.missing: list[str] = []
        self.anchors_done = {} if anchors_done is None else anchors_done
        # trust_anchors_content as the file to install at trust_anchors_path (path, PEM), when both are given.
        self.anchors_file: tuple[str, bytes] | None = None

    # -- inputs ---------------------------------------------------------------------------------
    def _read(self, path: str, what: str) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            if self.module.check_mode:
                self.missing.append(f"{what} {path}")
                return None
            raise ChainError(f"{what} {path} does not exist; create it first") from None
        except OSError as exc:
            raise ChainError(f"cannot read {what} {path}: {exc.strerror}") from None

    def _certs(self, data: bytes, source: str) -> list[x509.Certificate]:
        problem = _pem.cut_short(data, source=source)
        if problem:
            raise ChainError(problem)
        try:
            return _crypto.load_certificates(data, source=source)
        except _crypto.PEMError as exc:
            raise ChainError(str(exc)) from None

    def _inputs(self):
        params = self.params
        if params["certificate_content"]:
            leaf_data: bytes | None = params["certificate_content"].encode("utf-8")
            leaf_source = "certificate_content"
        else:
            leaf_source = params["certificate_path"]
            leaf_data = self._read(leaf_source, "certificate")
        chain_inputs: list[tuple[bytes | None, str]] = [(self._read(p, "chain file"), p) for p in params["chain_paths"]]
        if params["chain_content"]:
            chain_inputs.append((params["chain_content"].encode("utf-8"), "chain_content"))
        key_path = params["privatekey_path"]
        key_data = self._read(key_path, "private key")
        anchors_content = params.get("trust_anchors_content")
        if anchors_content:
            # Given as text (a CA on the controller): nothing to read, and installed at trust_anchors_path.
            anchors_path = params["trust_anchors_path"] or "trust_anchors_content"
        else:
            anchors_path = params["trust_anchors_path"] or default_trust_store()
            if not os.path.exists(anchors_path) and self.module.check_mode:
                self.missing.append(f"trust anchors {anchors_path}")
        if self.missing or leaf_data is None or key_data is None:
            return None
        leaf_certs = self._certs(leaf_data, leaf_source)
        candidates = leaf_certs[1:]  # a fullchain given as the certificate: its tail is chain material
        for data, source in chain_inputs:
            if data is not None:
                candidates.extend(self._certs(data, source))
        private_key = _crypto.load_private_key(key_data, passphrase=params["privatekey_passphrase"], source=f"private key {key_path}")
        if anchors_content:
            anchor_certs = self._certs(anchors_content.encode("utf-8"), "trust_anchors_content")
            anchors = AnchorIndex(anchor_certs, source=anchors_path)
            if params["trust_anchors_path"]:
                self.anchors_file = (params["trust_anchors_path"], b"".join(pem(cert) for cert in anchor_certs))
        else:
            anchors = AnchorIndex(load_trust_anchors(anchors_path), source=anchors_path)
        return leaf_certs[0], candidates, key_data, private_key, anchors

    # -- plan and write -------------------------------------------------------------------------
    def _plan(self, contents: dict[str, bytes], private_key, *, anchors_file: tuple[str, bytes] | None) -> list[_PlannedFile]:
        params = self.params
        secret_mode = _fileio.parse_mode(params["mode"], default=0o600)
        public_mode = _fileio.parse_mode(params["public_mode"], default=0o644)
        files = [(name, os.path.join(self.dest, name), content) for name, content in contents.items()]
        if anchors_file:
            files.append((TRUST_ANCHORS_KEY, *anchors_file))
        planned = []
        for name, path, content in files:
            secret = name == COMBINED_FILE
            # The trust anchors are public and not the services' to read as a group: only the four files take O(group).
            item = _PlannedFile(name=name, path=path, content=content, mode=secret_mode if secret else public_mode,
                                secret=secret, group=None if name == TRUST_ANCHORS_KEY else params["group"])
            try:
                with open(item.path, "rb") as handle:
                    item.before = handle.read()
            except FileNotFoundError:
                item.before = None
            except OSError as exc:
                raise ChainError(f"cannot read {item.path}: {exc.strerror}") from None
            item.before_mode = _mode_of(item.path)
            if secret:
                same = same_combined(item.before, content, private_key=private_key, passphrase=params["privatekey_passphrase"])
            elif content == b"":
                same = item.before is not None and not _crypto.pem_blocks(item.before) and not item.before.strip()
            else:
                same = same_certificates(item.before, content)
            item.content_changed = not same
            item.attributes_changed = not item.content_changed and _fileio.attributes_differ(
                self.module, item.path, mode=item.mode, owner=params["owner"], group=item.group)
            planned.append(item)
        return planned

    def _write(self, planned: list[_PlannedFile]) -> dict[str, str]:
        """Stage every changed file (content, attributes, backup) before the first goes live, then rename them in
        order; put back the ones already renamed when a later one fails, so a half-written set never goes live."""
        params = self.params
        _fileio.check_owner_group(params["owner"], params["group"])
        for directory in sorted({os.path.dirname(item.path) for item in planned if item.content_changed}):
            if not os.path.isdir(directory):
                try:
                    os.makedirs(directory, mode=0o755)
                except OSError as exc:
                    raise ChainError(f"cannot create the destination directory {directory}: {exc.strerror}") from None
        # Before the first served file changes: a service that reads them reloads even if the run stops here.
        # The trust anchors alone are not served: a new CA certificate needs no reload.
        if any(item.content_changed or item.attributes_changed for item in planned if item.name != TRUST_ANCHORS_KEY):
            for flag in self.reload_flags:
                _fileio.raise_flag(flag)
        staged = [(item, _fileio.stage(self.module, item.path, item.content, mode=item.mode, owner=params["owner"], group=item.group,
                                       backup=params["backup"])) for item in planned if item.content_changed]
        snapshot = _fileio.Snapshot()
        try:
            for item, staged_file in staged:
                snapshot.take(item.path)
                staged_file.commit()
            for item in planned:
                if item.attributes_changed:
                    snapshot.take(item.path)
                    _fileio.set_attributes(self.module, item.path, mode=item.mode, owner=params["owner"], group=item.group)
        except _fileio.FileIOError as exc:
            problems = snapshot.restore(functools.partial(_fileio.atomic_write, self.module))
            restored = "; restoring the previous files also failed: " + "; ".join(problems) if problems else \
                f"; the files already replaced were restored ({', '.join(snapshot.files) or 'none'})"
            raise ChainError(f"{exc}{restored}") from None
        return {FILE_KEYS.get(item.name, item.name): staged_file.backup for item, staged_file in staged if staged_file.backup}

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> dict[str, t.Any]:
        params = self.params
        files = {FILE_KEYS[name]: os.path.join(self.dest, name) for name in FILE_KEYS}
        inputs = self._inputs()
        if inputs is None:
            for what in self.missing:
                self.module.warn(f"{what} does not exist yet; check mode assumes an earlier task creates it and predicts an install")
            return {"changed": True, "dest": self.dest, "files": files, "changed_files": list(FILE_KEYS),
                    "trust_anchors_installed": False, "reload_flags": self.reload_flags}
        leaf, candidates, key_data, private_key, anchors = inputs
        checked = check_install(
            leaf=leaf, candidates=candidates, private_key=private_key, key_source=params["privatekey_path"],
            anchors=anchors, include_root=params["include_root"], required_names=params["required_names"],
            min_days_remaining=params["min_days_remaining"], now=self.now, validator=self.validator,
        )
        if b"ENCRYPTED" in key_data:
            self.module.warn("the private key is encrypted, so combined.pem carries it encrypted: Postfix cannot read an encrypted key "
                             "in smtpd_tls_chain_files; store the key unencrypted (mode 0600) for a mail server")
        for item in checked.dropped:
            if item.reason != "duplicate":
                self.module.warn(f"left out {_x509.describe(item.cert, 'certificate')}: {item.reason}")
        # An earlier item of the same batch that installs the same anchors at the same path has them: planned once.
        shared = self.anchors_done.get(self.anchors_file) if self.anchors_file else None
        anchors_file = self.anchors_file if shared is None else None
        planned = self._plan(file_contents(checked, private_key_block(key_data, private_key)), private_key, anchors_file=anchors_file)
        changed_files = [item.name for item in planned if item.content_changed or item.attributes_changed]
        backups: dict[str, str] = {}
        if changed_files and not self.module.check_mode:
            backups = self._write(planned)
        result: dict[str, t.Any] = {
            "changed": bool(changed_files),
            "dest": self.dest,
            "files": files,
            "changed_files": changed_files,
            "fingerprint_sha256": _crypto.cert_fingerprint_sha256(leaf),
            "spki_sha256": _crypto.spki_sha256(leaf.public_key()),
            "not_after": _x509.iso8601(_crypto.not_valid_after(leaf)),
            "days_remaining": _crypto.days_remaining(leaf, now=self.now),
            "chain": chain_facts(checked, self.now),
            "trust_anchor": {**_x509.certificate_facts(checked.anchor, now=self.now), "source": anchors.source},
            "path_validation": self.validator.name,
            "reload_flags": self.reload_flags,
            "dropped": [item.as_dict(self.now) for item in checked.dropped],
            # The anchors are at trust_anchors_path after this run (in check mode: already before it).
            "trust_anchors_installed": shared if shared is not None else any(
                item.name == TRUST_ANCHORS_KEY and not (self.module.check_mode and item.content_changed) for item in planned),
        }
        if anchors_file is not None:
            self.anchors_done[anchors_file] = result["trust_anchors_installed"]
        if backups:
            result["backup_files"] = backups
        if changed_files:
            result["diff"] = {
                "before_header": self.dest,
                "after_header": self.dest,
                "before": _diff_text(planned, after=False, passphrase=params["privatekey_passphrase"]),
                "after": _diff_text(planned, after=True, passphrase=params["privatekey_passphrase"]),
            }
        return result


def _mode_of(path: str) -> int | None:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None


def _diff_text(planned: list[_PlannedFile], *, after: bool, passphrase: str | None) -> str:
    lines = []
    for item in planned:
        data = item.content if after else item.before
        mode = item.mode if after else item.before_mode
        mode_text = f"{mode:04o}" if mode is not None else "-"
        lines.append(f"{item.path if item.name == TRUST_ANCHORS_KEY else item.name} (mode {mode_text}):")
        lines.extend(f"  {line}" for line in summarize_file(data, passphrase=passphrase))
    return "\n".join(lines) + "\n"
