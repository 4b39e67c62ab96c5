# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local CA on the controller, run inside the action that needs it (no module process, no round trip).

postmaster.tls.certificate_deploy signs a mail host's CSRs here: the CA key stays on the controller and
never travels in a task's arguments or results. Every decision is the modules' own
(``module_utils._certificate``: ``check_ca``, ``ca_renew_reason``, ``issue_ca``, ``leaf_renew_reason``,
``issue_leaf``); this file adds only what the controller side needs besides: the CA directory, its files
written atomically, and a lock, because the hosts of a play sign at the same time in several worker
processes.

Layout of the CA directory (on the controller)::

    <ca_dir>/ca.key                         the CA's private key (0600; RSA 3072)
    <ca_dir>/ca.pem                         the CA certificate (self-signed, 10 years, renewed 1 year ahead)
    <ca_dir>/issued/<host>-<name>-<type>.pem every certificate it issued, kept to decide renewals
    <ca_dir>/crl.pem                        its CRL (with certificate_crl): every revocation so far, re-signed
                                            before nextUpdate here, revocations added by postmaster.tls.local_ca_crl
    <ca_dir>/crl.der                        the same CRL in DER, the file to publish at the CRL distribution point
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import tempfile
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _certificate, _crl, _crypto, _fileio, _keys, _lifetime, _revocation

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography.hazmat.primitives import serialization

CA_KEY = "ca.key"
CA_CERT = "ca.pem"
ISSUED_DIR = "issued"
CRL_PEM = "crl.pem"
CRL_DER = "crl.der"
LOCK = ".lock"
CA_KEY_SPEC = ("rsa", 3072)
CA_VALID_DAYS = 3650
CA_RENEW_BEFORE_DAYS = 365
CA_PATH_LENGTH = 0


class LocalCAError(Exception):
    """The local CA cannot sign; the message names the file and the fix."""


@dataclasses.dataclass
class Signed:
    """One certificate the CA keeps for a host: its PEM (None when it cannot exist yet in check mode)."""

    path: str
    pem: str | None
    changed: bool
    reason: str | None
    diff: dict[str, str] | None = None


@dataclasses.dataclass
class KeptCRL:
    """The CA's CRL after a run: its PEM (None when check mode predicts the first one) and what happened."""

    path: str
    der_path: str
    pem: str | None
    resigned: bool
    reasons: list[str]
    facts: dict[str, t.Any]
    summary: str = ""
    diff: dict[str, str] | None = None
    warning: str | None = None

    def result(self) -> dict[str, t.Any]:
        """The action's ``crl`` return value: public facts only."""
        return {"path": self.path, "der_path": self.der_path, "resigned": self.resigned, "reasons": self.reasons, **self.facts}


def _write(path: str, data: bytes, *, mode: int) -> None:
    """Atomically, and private while written: temporary file beside the target, mode set, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise LocalCAError(f"cannot write {path} on the controller: {exc.strerror}") from None


def _read(path: str) -> bytes | None:
    try:
        return _fileio.read_bytes(path)
    except _fileio.FileIOError as exc:
        raise LocalCAError(f"{exc} (on the controller)") from None


def issued_name(host: str, name: str, key_type: str) -> str:
    for what, value in (("inventory host name", host), ("certificate name", name), ("key type", key_type)):
        if not value or "/" in value or value in (".", ".."):
            raise LocalCAError(f"{what} {value!r} cannot be part of a file name in the local CA's issued/ directory")
    return f"{host}-{name}-{key_type}.pem"


class _PublicHalf:
    """Stands in for the CA key where a decision needs only its public half: the CA certificate's own key.

    Reading an RSA 3072 key checks it, which costs a tenth of a second per host; a run that signs nothing
    does not read the key at all. When something is signed, the real key is read and checked against the
    certificate first (a replaced key then re-issues the CA certificate).
    """

    def __init__(self, cert) -> None:
        self._public = cert.public_key()

    def public_key(self):
        return self._public


class LocalCA:
    """The CA in ``directory``: made when missing (``create``), checked and renewed by date, then signing."""

    def __init__(self, directory: str, *, common_name: str, create: bool, check_mode: bool) -> None:
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self.common_name = common_name
        self.create = create
        self.check_mode = check_mode
        self.now = _crypto.utcnow()
        self.cert = None
        self.key = None
        self.cert_pem: str | None = None
        # What opening the CA changed (or would, in check mode), for the task's result and diff.
        self.changes: list[str] = []
        self.diffs: list[dict[str, str]] = []
        self._lock_depth = 0

    @property
    def cert_path(self) -> str:
        return os.path.join(self.directory, CA_CERT)

    @property
    def key_path(self) -> str:
        return os.path.join(self.directory, CA_KEY)

    # -- the CA itself -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> t.Iterator[None]:
        """Only one worker at a time creates or renews the CA (or re-signs its CRL); the others wait, then find it
        made. Re-entrant: the CRL step reads the CA key under the lock it already holds (a second flock on a new
        descriptor would wait for itself)."""
        if self._lock_depth or (self.check_mode and not os.path.isdir(self.directory)):
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        try:
            fd = os.open(os.path.join(self.directory, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LocalCAError(f"cannot open the lock file in {self.directory} on the controller: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_depth += 1
            yield
        finally:
            self._lock_depth = 0
            os.close(fd)

    def _directories(self) -> None:
        issued = os.path.join(self.directory, ISSUED_DIR)
        if os.path.isdir(issued):
            return
        if not self.create and not os.path.isdir(self.directory):
            raise LocalCAError(f"there is no local CA in {self.directory} on the controller; set certificate_ca_create "
                               "(create: true) or point certificate_ca_dir at an existing CA")
        self.changes.append(f"create {issued}")
        if not self.check_mode:
            try:
                os.makedirs(issued, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise LocalCAError(f"cannot create {issued} on the controller: {exc.strerror}; choose another "
                                   "certificate_ca_dir") from None

    def _load_key(self) -> None:
        """Read and check the CA key (made first when missing and allowed); None in check mode until it exists."""
        data = _read(self.key_path)
        if data is None:
            if not self.create:
                raise LocalCAError(f"the local CA key {self.key_path} does not exist on the controller; set "
                                   "certificate_ca_create or restore the key")
            self.changes.append(f"create the CA key {self.key_path} (RSA {CA_KEY_SPEC[1]})")
            if not self.check_mode:
                key = _keys.KeySpec.from_options(type=CA_KEY_SPEC[0], size=CA_KEY_SPEC[1]).generate()
                _write(self.key_path, _keys.serialize(key, passphrase=None), mode=0o600)
                self.key = key
            return
        try:
            self.key = _crypto.load_private_key(data, source=f"local CA key {self.key_path}")
            _certificate.check_key_strength(self.key.public_key(), what=f"the local CA key {self.key_path}")
        except _crypto.PEMError as exc:
            raise LocalCAError(f"{exc}; the local CA needs an unencrypted key in {self.key_path}") from None
        except _certificate.CertificateError as exc:
            raise LocalCAError(str(exc)) from None

    def _read_cert(self):
        data = _read(self.cert_path)
        if data is None:
            return None, f"no CA certificate at {self.cert_path} yet"
        try:
            return _crypto.load_certificate(data, source=self.cert_path), None
        except _crypto.PEMError:
            return None, f"{self.cert_path} does not hold a certificate"

    def _renew_reason(self, cert) -> str | None:
        if not self.create:
            return None
        key = self.key if self.key is not None else _PublicHalf(cert)
        return _certificate.ca_renew_reason(cert, private_key=key, subject=_certificate.ca_subject(self.common_name),
                                            path_length=CA_PATH_LENGTH, renew_before_days=CA_RENEW_BEFORE_DAYS, now=self.now)

    def _issue(self, existing, reason: str) -> None:
        """A new CA certificate (the key read first), or in check mode the prediction of one."""
        if not self.create:
            raise LocalCAError(f"the local CA certificate {self.cert_path} cannot be used ({reason}); set certificate_ca_create "
                               "or restore it")
        if self.key is None:
            self._load_key()
        self.changes.append(f"issue the CA certificate {self.cert_path}: {reason}")
        if self.key is None:  # check mode: no key yet, so no certificate to show
            self.cert = None
            return
        cert = _certificate.issue_ca(self.key, subject=_certificate.ca_subject(self.common_name), valid_days=CA_VALID_DAYS,
                                     path_length=CA_PATH_LENGTH, now=self.now)
        self.diffs.append({"before_header": self.cert_path, "after_header": self.cert_path,
                           "before": _certificate.diff_summary(existing), "after": _certificate.diff_summary(cert)})
        if not self.check_mode:
            _write(self.cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
        self.cert = cert

    def _use(self, cert) -> None:
        self.cert = cert
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii") if cert is not None else None

    def open(self) -> LocalCA:
        """Make (when allowed and missing), check and renew the CA certificate. The key is read only when something
        is issued. In check mode a CA that does not exist yet stays unmade: ``can_sign`` is then false and the hosts'
        installs predict a change."""
        self._directories()
        with self._locked():
            existing, missing = self._read_cert()
            if existing is None or not os.path.exists(self.key_path):
                self._issue(existing, missing or f"no CA key at {self.key_path} yet")
            else:
                reason = self._renew_reason(existing)
                self.cert = existing
                if reason is not None:
                    self._issue(existing, reason)
            if self.cert is not None:
                try:
                    _certificate.check_ca(self.cert, self.key or _PublicHalf(self.cert), ca_source=self.cert_path,
                                          key_source=self.key_path, now=self.now)
                except _certificate.CertificateError as exc:
                    raise LocalCAError(str(exc)) from None
            self._use(self.cert)
        return self

    def _signing_key(self):
        """The CA key, read and checked against the certificate; a replaced key re-issues the CA certificate."""
        if self.key is None:
            with self._locked():
                self._load_key()
                reason = self._renew_reason(self.cert) if self.key is not None else None
                if reason is not None:
                    self._issue(self.cert, reason)
                    self._use(self.cert)
        if self.key is None or self.cert is None:
            return None
        try:
            _certificate.check_ca(self.cert, self.key, ca_source=self.cert_path, key_source=self.key_path, now=self.now)
        except _certificate.CertificateError as exc:
            raise LocalCAError(str(exc)) from None
        return self.key

    @property
    def can_sign(self) -> bool:
        return self.cert is not None

    # -- certificates for the hosts -------------------------------------------------------------------
    def sign(self, *, host: str, name: str, key_type: str, csr_pem: str, valid_days: int, renew_before_days: int, force: bool,
             renew_fraction: float = _lifetime.DEFAULT_FRACTION, crl_distribution_points: t.Sequence[str] = ()) -> Signed:
        """The certificate for one CSR: the one issued before while it still fits, else a new one.

        Renewal follows the collection's lifetime rule (``renew_fraction`` or ``renew_before_days``, whichever
        comes first); a certificate naming other CRL distribution points than asked is issued again."""
        path = os.path.join(self.directory, ISSUED_DIR, issued_name(host, name, key_type))
        try:
            _certificate.check_renewal_window(valid_days=valid_days, renew_before_days=renew_before_days)
            _lifetime.check_rule(renew_before_days=renew_before_days, renew_fraction=renew_fraction)
            csr = _certificate.load_csr(csr_pem.encode("utf-8"), source=f"the CSR of {host} ({key_type})")
            _certificate.check_csr(csr, csr_source=f"the CSR of {host} ({key_type})")
        except (_certificate.CertificateError, _crypto.PEMError, _lifetime.LifetimeError) as exc:
            raise LocalCAError(str(exc)) from None
        data = _read(path)
        existing = None
        if data is not None:
            with contextlib.suppress(_crypto.PEMError):
                existing = _crypto.load_certificate(data, source=path)
        if data is None:
            reason = f"no certificate at {path} yet"
        elif existing is None:
            reason = f"{path} does not hold a readable certificate"
        elif force:
            reason = "force=true"
        elif not self.can_sign:
            reason = "the local CA is made in this run"
        else:
            reason = _certificate.leaf_renew_reason(existing, csr=csr, issuer_cert=self.cert, issuer_source=self.cert_path,
                                                    renew_before_days=renew_before_days, now=self.now,
                                                    renew_fraction=renew_fraction, next_lifetime_days=valid_days,
                                                    crl_distribution_points=list(crl_distribution_points))
        if reason is None:
            return Signed(path=path, pem=data.decode("ascii"), changed=False, reason=None)
        key = self._signing_key() if self.can_sign else None
        if key is None:
            return Signed(path=path, pem=None, changed=True, reason=reason)
        cert = _certificate.issue_leaf(csr, signing_key=key, issuer_cert=self.cert, valid_days=valid_days, now=self.now,
                                       crl_distribution_points=list(crl_distribution_points))
        due = _certificate.new_certificate_due(cert, renew_before_days=renew_before_days, now=self.now,
                                               renew_fraction=renew_fraction, valid_days=valid_days)
        if due:
            raise LocalCAError(f"a new certificate for {host} ({key_type}) would be valid for only "
                               f"{_crypto.days_remaining(cert, now=self.now)} days (the local CA {self.cert_path} expires first), "
                               f"so it would be due for renewal at once ({due}); renew the CA")
        pem = cert.public_bytes(serialization.Encoding.PEM)
        if not self.check_mode:
            _write(path, pem, mode=0o644)
        diff = {"before_header": path, "after_header": path,
                "before": _certificate.diff_summary(existing), "after": _certificate.diff_summary(cert)}
        return Signed(path=path, pem=pem.decode("ascii"), changed=True, reason=reason, diff=diff)

    # -- the CRL ------------------------------------------------------------------------------------------
    @property
    def crl_path(self) -> str:
        return os.path.join(self.directory, CRL_PEM)

    @property
    def crl_der_path(self) -> str:
        return os.path.join(self.directory, CRL_DER)

    def keep_crl(self, *, valid_days: int, renew_before_days: int = _revocation.DEFAULT_RENEW_BEFORE_DAYS,
                 renew_fraction: float = _lifetime.DEFAULT_FRACTION) -> KeptCRL:
        """The CA's CRL in ``crl.pem`` (and ``crl.der``): made when missing, re-signed by the lifetime rule before its
        nextUpdate, revocations kept. The same decisions as postmaster.tls.local_ca_crl (module_utils._revocation), which
        adds revocations to this file; the lock makes the hosts of a play re-sign it once, not once each."""
        if valid_days < 1:
            raise LocalCAError(f"certificate_crl_valid_days must be at least 1 (got {valid_days}): a CRL needs a nextUpdate")
        try:
            _lifetime.check_rule(renew_before_days=renew_before_days, renew_fraction=renew_fraction, what="the CRL's renewal")
        except _lifetime.LifetimeError as exc:
            raise LocalCAError(str(exc)) from None
        now = self.now.replace(microsecond=0)
        with self._locked():
            data = _read(self.crl_path)
            if not self.can_sign:  # check mode before the CA exists: the first CRL is predicted
                return KeptCRL(path=self.crl_path, der_path=self.crl_der_path, pem=None, resigned=True,
                               reasons=[f"no CRL at {self.crl_path} yet (the local CA is made in this run)"], facts={})
            try:
                existing = _revocation.load_existing(data, self.cert, path=self.crl_path, ca_path=self.cert_path)
                decided = _revocation.plan(existing, {}, path=self.crl_path, now=now, valid_days=valid_days,
                                           renew_before_days=renew_before_days, renew_fraction=renew_fraction, force=False)
                crl = existing
                if decided.reasons:
                    key = self._signing_key()
                    if key is None:  # check mode: the CA key would be made in this run
                        return KeptCRL(path=self.crl_path, der_path=self.crl_der_path, pem=None, resigned=True,
                                       reasons=decided.reasons, facts={})
                    _revocation.check_ca(self.cert, key, ca_path=self.cert_path, key_path=self.key_path, now=now)
                    crl, _renewal = _revocation.sign(decided, existing, ca_cert=self.cert, ca_key=key, now=now, valid_days=valid_days,
                                                     renew_before_days=renew_before_days, renew_fraction=renew_fraction)
            except (_revocation.RevocationError, _crl.CRLError) as exc:
                raise LocalCAError(f"{exc} (on the controller)") from None
            pem, der = _crl.crl_pem(crl), _crl.crl_der(crl)
            if not self.check_mode:
                if decided.reasons:
                    _write(self.crl_path, pem, mode=0o644)
                if decided.reasons or _read(self.crl_der_path) != der:
                    _write(self.crl_der_path, der, mode=0o644)
        diff = None
        if decided.reasons:
            diff = {"before_header": self.crl_path, "after_header": self.crl_path,
                    "before": _revocation.diff_summary(existing, data is not None), "after": _revocation.diff_summary(crl, True)}
        return KeptCRL(path=self.crl_path, der_path=self.crl_der_path, pem=pem.decode("ascii"), resigned=bool(decided.reasons),
                       reasons=decided.reasons, facts=_crl.facts(crl), summary=_crl.summary(crl), diff=diff,
                       warning=decided.expired_warning)
