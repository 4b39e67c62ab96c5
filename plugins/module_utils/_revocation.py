# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keeping a local CA's certificate revocation list: revoke, re-sign before nextUpdate (postmaster.tls.local_ca_crl).

The CRL file is the state: its entries are the revocations so far, and a run adds the ones asked
for. The order is the collection's: wanted state (the existing entries plus the new revocations)
-> compare by meaning (serials, reasons, the renewal rule on thisUpdate/nextUpdate; never bytes)
-> build and sign in memory -> check what was built (it parses, the CA's key verifies it) -> write
atomically. Check mode takes the same path and skips only the writes. Any problem with the inputs
(a CRL of another CA at the path, a certificate this CA did not issue, a bad serial) fails before
anything is written.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _crl, _crypto, _fileio, _lifetime, _x509

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509

# thisUpdate a little in the past: a verifier whose clock runs a few minutes slow must not see a
# brand-new CRL as not yet valid (the issuers of this collection back-date notBefore the same way).
BACKDATE = datetime.timedelta(minutes=5)

DEFAULT_VALID_DAYS = 7
DEFAULT_RENEW_BEFORE_DAYS = 2


class RevocationError(Exception):
    """The CRL cannot be kept as asked; the message says why and how to fix it."""


def argument_spec() -> dict[str, dict[str, t.Any]]:
    spec = _fileio.file_argument_spec(mode="0644")
    spec.update(
        ca_cert_path={"type": "path", "required": True},
        ca_privatekey_path={"type": "path", "required": True},
        ca_privatekey_passphrase={"type": "str", "no_log": True},
        revoke={"type": "list", "elements": "dict", "default": [], "options": {
            "path": {"type": "path"},
            "serial": {"type": "str"},
            "reason": {"type": "str", "default": "unspecified", "choices": list(_crl.REASON_NAMES)},
        }, "mutually_exclusive": [("path", "serial")], "required_one_of": [("path", "serial")]},
        valid_days={"type": "int", "default": DEFAULT_VALID_DAYS},
        renew_before_days={"type": "int", "default": DEFAULT_RENEW_BEFORE_DAYS},
        renew_fraction={"type": "float", "default": _lifetime.DEFAULT_FRACTION},
        der_path={"type": "path"},
        force={"type": "bool", "default": False},
    )
    return spec


class _Missing(Exception):
    """An input file does not exist yet (tolerated in check mode only)."""


class LocalCRLBackend:
    def __init__(self, module) -> None:
        self.module = module
        self.params = module.params
        self.now = _crypto.utcnow().replace(microsecond=0)
        self.missing: list[str] = []

    # -- inputs ---------------------------------------------------------------------------------
    def _read(self, path: str, *, what: str) -> bytes:
        data = _fileio.read_bytes(path)
        if data is None:
            if self.module.check_mode:
                self.missing.append(f"{what} {path}")
                raise _Missing(path)
            raise RevocationError(f"{what} {path} does not exist; create the local CA first (postmaster.tls.local_ca)")
        return data

    def _check_options(self) -> None:
        params = self.params
        if params["valid_days"] < 1:
            raise RevocationError(f"valid_days must be at least 1 (got {params['valid_days']}): a CRL needs a nextUpdate")
        try:
            _lifetime.check_rule(renew_before_days=params["renew_before_days"], renew_fraction=params["renew_fraction"])
        except _lifetime.LifetimeError as exc:
            raise RevocationError(str(exc)) from None
        if params.get("der_path") and params["der_path"] == params["path"]:
            raise RevocationError("der_path must differ from path: path holds the PEM CRL, der_path a DER copy for a web server")

    def _load_ca(self) -> tuple[x509.Certificate, t.Any]:
        params = self.params
        ca_path = params["ca_cert_path"]
        try:
            ca_cert = _crypto.load_certificate(self._read(ca_path, what="CA certificate"), source=f"CA certificate {ca_path}")
        except _crypto.PEMError as exc:
            raise RevocationError(str(exc)) from None
        key_path = params["ca_privatekey_path"]
        ca_key = _crypto.load_private_key(self._read(key_path, what="CA private key"), passphrase=params["ca_privatekey_passphrase"],
                                          source=f"CA private key {key_path}")
        check_ca(ca_cert, ca_key, ca_path=ca_path, key_path=key_path, now=self.now)
        return ca_cert, ca_key

    def _load_existing(self, ca_cert: x509.Certificate) -> tuple[bytes | None, x509.CertificateRevocationList | None]:
        data = _fileio.read_bytes(self.params["path"])
        return data, load_existing(data, ca_cert, path=self.params["path"], ca_path=self.params["ca_cert_path"])

    def _requested(self, ca_cert: x509.Certificate) -> dict[int, str]:
        """Serial -> reason for every entry of ``revoke``; certificates must come from this CA."""
        wanted: dict[int, str] = {}
        for index, item in enumerate(self.params["revoke"] or [], start=1):
            reason = item["reason"]
            if item.get("path"):
                path = item["path"]
                try:
                    cert = _crypto.load_certificate(self._read(path, what=f"revoke[{index}].path certificate"),
                                                    source=f"revoke[{index}].path {path}")
                except _crypto.PEMError as exc:
                    raise RevocationError(str(exc)) from None
                if not _crypto.is_signed_by(cert, ca_cert):
                    raise RevocationError(
                        f"revoke[{index}].path {path} ('{_crypto.name_to_string(cert.subject)}', issued by "
                        f"'{_crypto.name_to_string(cert.issuer)}') was not issued by this CA; its CRL cannot revoke it "
                        "(revoke it with the CA that issued it). Nothing was changed")
                serial = cert.serial_number
            else:
                try:
                    serial = _crl.parse_serial(item.get("serial"), what=f"revoke[{index}].serial")
                except _crl.CRLError as exc:
                    raise RevocationError(str(exc)) from None
            if serial in wanted and wanted[serial] != reason:
                raise RevocationError(f"revoke lists serial {_x509.serial_hex(serial)} twice, with reasons {wanted[serial]} "
                                      f"and {reason}; give it once")
            wanted[serial] = reason
        return wanted

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> dict[str, t.Any]:
        params = self.params
        self._check_options()
        mode = _fileio.parse_mode(params["mode"], default=0o644)
        path = params["path"]
        try:
            ca_cert, ca_key = self._load_ca()
            existing_bytes, existing = self._load_existing(ca_cert)
            wanted = self._requested(ca_cert)
        except _Missing:
            return self._predicted()

        decided = plan(existing, wanted, path=path, now=self.now, valid_days=params["valid_days"],
                       renew_before_days=params["renew_before_days"], renew_fraction=params["renew_fraction"],
                       force=params["force"])
        if decided.expired_warning:
            self.module.warn(decided.expired_warning)
        crl, renewal = existing, decided.renewal
        if decided.reasons:
            crl, renewal = sign(decided, existing, ca_cert=ca_cert, ca_key=ca_key, now=self.now, valid_days=params["valid_days"],
                                renew_before_days=params["renew_before_days"], renew_fraction=params["renew_fraction"])
        reasons, added = decided.reasons, decided.added
        if crl is None:  # pragma: no cover - a missing CRL always has a reason, so it was built above
            raise RevocationError(f"internal error: no CRL to keep at {path}; nothing was written")

        backup_file = None
        writes: list[str] = []
        if reasons:
            writes.append(path)
            if not self.module.check_mode:
                backup_file = _fileio.atomic_write(self.module, path, _crl.crl_pem(crl), mode=mode, owner=params["owner"],
                                                   group=params["group"], backup=params["backup"])
        elif _fileio.set_attributes(self.module, path, mode=mode, owner=params["owner"], group=params["group"]):
            # set_attributes applies nothing in check mode and says what a real run would do.
            writes.append(f"{path} (mode/owner/group)")
        der_path = params.get("der_path")
        if der_path:
            der = _crl.crl_der(crl)
            stale = _fileio.read_bytes(der_path) != der
            if stale or _fileio.attributes_differ(self.module, der_path, mode=mode, owner=params["owner"], group=params["group"]):
                writes.append(der_path)
                if not self.module.check_mode:
                    _fileio.atomic_write(self.module, der_path, der, mode=mode, owner=params["owner"], group=params["group"])

        facts = _crl.facts(crl)
        result: dict[str, t.Any] = {
            "changed": bool(writes),
            "path": path,
            "der_path": der_path,
            "resigned": bool(reasons),
            "reasons": reasons,
            "added": added,
            "written": writes,
            "renewal": renewal.facts() if renewal else None,
            **facts,
        }
        if backup_file:
            result["backup_file"] = backup_file
        if reasons:
            result["diff"] = {"before_header": path, "after_header": path,
                              "before": diff_summary(existing, existing_bytes is not None), "after": diff_summary(crl, True)}
        return result

    def _predicted(self) -> dict[str, t.Any]:
        for what in self.missing:
            self.module.warn(f"{what} does not exist yet; check mode assumes an earlier task creates it and predicts a new CRL")
        return {"changed": True, "path": self.params["path"], "der_path": self.params.get("der_path"), "resigned": True,
                "reasons": [f"{self.missing[0]} does not exist yet (check mode)"], "added": [], "written": [self.params["path"]],
                "renewal": None}


def diff_summary(crl: x509.CertificateRevocationList | None, exists: bool) -> str:
    """A few readable lines for diff mode: the CRL number, its window and the revoked serials."""
    if crl is None:
        return "(no CRL)\n" if not exists else "(unreadable)\n"
    return _crl.summary(crl)


# ---------------------------------------------------------------------------------------------
# The steps, shared by postmaster.tls.local_ca_crl and the local CA on the controller
# (plugin_utils._local_ca, which keeps the CRL for the certificate role)
# ---------------------------------------------------------------------------------------------
def check_ca(ca_cert: x509.Certificate, ca_key: t.Any, *, ca_path: str, key_path: str, now: datetime.datetime) -> None:
    """A CA that can sign CRLs clients accept: CA:TRUE, cRLSign allowed, the key is its own, valid now."""
    problem = _x509.signing_ca_problem(ca_cert, ca_key, signs="CRLs", ca_source=ca_path, key_source=key_path, now=now)
    if problem:
        raise RevocationError(problem)


def load_existing(data: bytes | None, ca_cert: x509.Certificate, *, path: str, ca_path: str) -> x509.CertificateRevocationList | None:
    """The CRL kept at ``path`` (None when there is none yet); one that is not a CRL, or not this CA's, is refused."""
    if data is None:
        return None
    try:
        crl = _crl.load_crl(data, source=path)
    except _crl.CRLError:
        raise RevocationError(f"{path} exists but does not hold a readable CRL; refusing to overwrite it, because the "
                              "revocations it may list would be lost. Move it away or fix path. Nothing was changed") from None
    try:
        _crl.check_issued_by(crl, ca_cert, source=f"the CRL at {path}", issuer_source=f"the CA certificate {ca_path}")
    except _crl.CRLError as exc:
        raise RevocationError(f"{exc}. A CRL of another CA is never overwritten (its revocations would be lost); move it "
                              "away or give this CA's CRL path. Nothing was changed") from None
    return crl


@dataclasses.dataclass
class Plan:
    """What a run must do with the CRL: ``reasons`` (empty: keep it), the entries it then lists, the
    serials newly added, the renewal verdict on the existing CRL, and a warning when it had expired."""

    entries: dict[int, tuple[datetime.datetime, str]]
    added: list[str]
    reasons: list[str]
    renewal: _lifetime.Renewal | None
    expired_warning: str | None = None


def plan(existing: x509.CertificateRevocationList | None, wanted: dict[int, str], *, path: str, now: datetime.datetime,
         valid_days: int, renew_before_days: int, renew_fraction: float, force: bool) -> Plan:
    """Compare by meaning: the serials and reasons asked for against the entries, and the renewal rule on the
    CRL's thisUpdate/nextUpdate. A listed certificate keeps its revocation date."""
    entries: dict[int, tuple[datetime.datetime, str]] = {}
    if existing is not None:
        for entry in existing:
            entries[entry.serial_number] = (_crl.revocation_date(entry), _crl.entry_reason(entry))
    added: list[str] = []
    reasons: list[str] = []
    for serial, reason in sorted(wanted.items()):
        if serial not in entries:
            entries[serial] = (now, reason)
            added.append(_x509.serial_hex(serial))
        elif entries[serial][1] != reason:
            reasons.append(f"the reason for {_x509.serial_hex(serial)} changes from {entries[serial][1]} to {reason}")
            entries[serial] = (entries[serial][0], reason)
    decided = Plan(entries=entries, added=added, reasons=reasons, renewal=None)
    if existing is None:
        reasons.insert(0, f"no CRL at {path} yet")
        return decided
    if added:
        reasons.insert(0, f"revokes {len(added)} more certificate(s): {', '.join(added)}")
    update = _crl.next_update(existing)
    if update is None:
        reasons.append("the CRL has no nextUpdate")
    else:
        decided.renewal = _lifetime.decide(_crl.this_update(existing), update, now=now, renew_before_days=renew_before_days,
                                           renew_fraction=renew_fraction, next_lifetime=datetime.timedelta(days=valid_days), what="CRL")
        if decided.renewal.due:
            reasons.append(f"re-signed before its nextUpdate: {decided.renewal.reason}")
        if decided.renewal.decided_by == "expired":
            decided.expired_warning = (f"the CRL at {path} expired on {_x509.iso8601(update)}: clients have refused it since "
                                       "then. Re-sign it more often (run postmaster.tls.local_ca_crl, or the renew playbook with certificate_crl, "
                                       f"from a schedule at least every {max(1, valid_days // 2)} days)")
    if force:
        reasons.append("force=true")
    return decided


def sign(decided: Plan, existing: x509.CertificateRevocationList | None, *, ca_cert: x509.Certificate, ca_key: t.Any,
         now: datetime.datetime, valid_days: int, renew_before_days: int,
         renew_fraction: float) -> tuple[x509.CertificateRevocationList, _lifetime.Renewal]:
    """The new CRL with the next CRL number, checked as a client reads it, and the rule's verdict on it."""
    number = (_crl.crl_number(existing) or 0) + 1 if existing is not None else 1
    crl = _crl.build_crl(
        issuer_cert=ca_cert, issuer_key=ca_key,
        revoked=[(serial, when, reason) for serial, (when, reason) in decided.entries.items()],
        number=number, this_update=now - BACKDATE, next_update=now + datetime.timedelta(days=valid_days),
    )
    # What was built must be what a client reads: it parses and the CA's key verifies it.
    reread = _crl.load_crl(_crl.crl_der(crl), source="the new CRL")
    if not _crl.signed_by(reread, ca_cert):  # pragma: no cover - cryptography signs what it builds
        raise RevocationError("internal error: the new CRL does not verify with the CA's key; nothing was written")
    renewal = _lifetime.decide(_crl.this_update(crl), _crl.next_update(crl), now=now, renew_before_days=renew_before_days,
                               renew_fraction=renew_fraction, next_lifetime=datetime.timedelta(days=valid_days), what="CRL")
    return crl, renewal
