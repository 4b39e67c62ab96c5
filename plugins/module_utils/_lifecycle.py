# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a certificate stands in its lifecycle: renewal (the lifetime rule), revocation (CRLs), transparency (SCTs).

One object per module run, shared by every certificate the run looks at, so that a CRL file is
parsed once, a distribution point fetched once and the log list read once. Used by
postmaster.tls.certificate_info (certificate files) and postmaster.tls.mail_tls_verify (what the
ports serve); the audit playbook reads both.

A floor module: it combines the floors _crl, _ct and _lifetime and imports no backend.
"""

from __future__ import annotations

import datetime
import os
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _crl, _crypto, _ct, _fileio, _lifetime

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509


class LifecycleError(Exception):
    """A lifecycle input (CRL, log list, rule option) cannot be used; the message names the option and the fix."""


def argument_spec(*, renewal: bool, renew_before_days: int | None = 30) -> dict[str, dict[str, t.Any]]:
    """The options both modules share, and the renewal rule's (on by default in certificate_info; in
    mail_tls_verify only when ``renew_before_days`` is given)."""
    spec: dict[str, dict[str, t.Any]] = {
        "crl_path": {"type": "list", "elements": "path", "default": []},
        "crl_fetch": {"type": "bool", "default": False},
        "crl_timeout": {"type": "float", "default": 5.0},
        "ct_log_list_path": {"type": "path"},
    }
    if renewal:
        spec.update(
            renew_before_days={"type": "int", "default": renew_before_days},
            renew_fraction={"type": "float", "default": _lifetime.DEFAULT_FRACTION},
            renewal_now={"type": "str"},
        )
    return spec


class Lifecycle:
    """Renewal, revocation and CT facts for the certificates of one module run."""

    def __init__(self, params: dict[str, t.Any], *, now: datetime.datetime | None = None, tolerate_missing: bool = False,
                 public_roots: t.Callable[[], t.Sequence[x509.Certificate]] = _ct.system_roots) -> None:
        self.now = now or _crypto.utcnow()
        self.params = params
        self.notes: list[str] = []
        self.issuers_seen: set[str] = set()
        timeout = params.get("crl_timeout")
        if timeout is None or timeout <= 0:
            raise LifecycleError(f"crl_timeout must be a positive number of seconds (got {timeout})")
        try:
            self.revocation = _crl.RevocationChecker.from_paths(
                self._existing(params.get("crl_path") or [], tolerate_missing, what="crl_path"),
                fetch_crls=bool(params.get("crl_fetch")), timeout=float(timeout), now=self.now)
        except _crl.CRLError as exc:
            raise LifecycleError(f"{exc}. Nothing was checked") from None
        self.logs: dict[bytes, _ct.Log] | None = None
        log_list = params.get("ct_log_list_path")
        if log_list and self._existing([log_list], tolerate_missing, what="ct_log_list_path"):
            try:
                self.logs = _ct.load_log_list_file(log_list)
            except _ct.CTError as exc:
                raise LifecycleError(f"{exc}. Nothing was checked") from None
        self.roots = _ct.PublicRoots(public_roots)
        self.rule: dict[str, t.Any] | None = None
        if params.get("renew_before_days") is not None and "renew_fraction" in params:
            try:
                _lifetime.check_rule(renew_before_days=params["renew_before_days"], renew_fraction=params["renew_fraction"])
                self.rule = {"renew_before_days": params["renew_before_days"], "renew_fraction": params["renew_fraction"],
                             "now": _lifetime.parse_now(params.get("renewal_now"), now=self.now, option="renewal_now")}
            except _lifetime.LifetimeError as exc:
                raise LifecycleError(str(exc)) from None

    def _existing(self, paths: t.Sequence[str], tolerate_missing: bool, *, what: str) -> list[str]:
        """In check mode a file an earlier task would create is noted and skipped."""
        if not tolerate_missing:
            return list(paths)
        present = [path for path in paths if os.path.exists(path)]
        for path in paths:
            if path not in present:
                self.notes.append(f"{what} {path} does not exist yet (check mode); not used")
        return present

    def renewal(self, cert: x509.Certificate) -> dict[str, t.Any] | None:
        if self.rule is None:
            return None
        return _lifetime.decide(_crypto.not_valid_before(cert), _crypto.not_valid_after(cert), now=self.rule["now"],
                                renew_before_days=self.rule["renew_before_days"],
                                renew_fraction=self.rule["renew_fraction"]).facts()

    def facts(self, cert: x509.Certificate, candidates: t.Sequence[x509.Certificate]) -> dict[str, t.Any]:
        """``revocation`` and ``certificate_transparency`` (and ``renewal`` with the rule) of ``cert``.

        ``candidates`` are the certificates its issuer may be among: the rest of its file or of the
        served chain, the verified path, a local CA certificate.
        """
        self.issuers_seen.add(_crypto.name_to_string(cert.issuer))
        scope, issuer = _ct.trust_scope(cert, candidates=candidates, roots=self.roots)
        known = list(candidates) + ([issuer] if issuer is not None else [])
        try:
            revocation = self.revocation.status(cert, known)
        except _crl.CRLError as exc:
            raise LifecycleError(f"{exc}. Nothing was checked") from None
        out = {"revocation": revocation, "certificate_transparency": _ct.report(cert, issuer=issuer, scope=scope, logs=self.logs)}
        renewal = self.renewal(cert)
        if renewal is not None:
            out["renewal"] = renewal
        return out

    def crl_facts(self) -> list[dict[str, t.Any]]:
        """What each given CRL file says (its issuer, number, window and every revoked serial)."""
        return [{"path": source, **_crl.facts(crl)} for source, crl in self.revocation.files]

    def unused_crls(self) -> str | None:
        """After every certificate: what is wrong when a given CRL matched no certificate's issuer."""
        return self.revocation.unused_problem(self.issuers_seen)

    def finish(self) -> None:
        """After every certificate: a given CRL that no certificate's issuer signed is a bad input."""
        try:
            self.revocation.check_unused(self.issuers_seen)
        except _crl.CRLError as exc:
            raise LifecycleError(f"{exc}. Nothing was checked") from None


def load_candidates(paths: t.Sequence[str], *, tolerate_missing: bool) -> list[x509.Certificate]:
    """Every certificate of the given files (issuer candidates); a missing file fails unless tolerated."""
    out: list[x509.Certificate] = []
    for path in paths:
        try:
            data = _fileio.read_option_file(path, option="chain_paths", missing=None if tolerate_missing else (
                "give the chain file (for example live/chain.pem) or the local CA certificate"))
        except _fileio.FileIOError as exc:
            raise LifecycleError(str(exc)) from None
        if data is None:
            continue  # tolerated: an earlier task of a check-mode run would create it
        if not data.strip():
            continue  # an empty chain file: a certificate issued straight by a root has no intermediates
        try:
            out.extend(_crypto.load_certificates(data, source=f"chain_paths {path}"))
        except _crypto.PEMError as exc:
            raise LifecycleError(str(exc)) from None
    return out


def inspect_files(lifecycle: Lifecycle, paths: t.Sequence[str], *, candidates: t.Sequence[x509.Certificate],
                  finish: bool = True) -> list[dict[str, t.Any] | None]:
    """The lifecycle facts of the first certificate of every file (None for a file that is not there); with ``finish``
    a given CRL that none of them matched fails (``Lifecycle.finish``)."""
    out: list[dict[str, t.Any] | None] = []
    for path in paths:
        try:
            data = _fileio.read_bytes(path)
            certs = _crypto.load_certificates(data, source=path) if data is not None else None
        except (_fileio.FileIOError, _crypto.PEMError) as exc:
            raise LifecycleError(str(exc)) from None
        if certs is None:
            out.append(None)
            continue
        out.append(lifecycle.facts(certs[0], [*certs[1:], *candidates]))
    if finish:
        lifecycle.finish()
    return out


def annotate(certificates: list[dict[str, t.Any]], params: dict[str, t.Any], *, tolerate_missing: bool) -> tuple[list[dict[str, t.Any]], list[str]]:
    """certificate_info: add ``renewal``, ``revocation`` and ``certificate_transparency`` to each entry of
    ``certificates`` (one per ``params['paths']`` entry, in order); return (what the CRLs say, notes)."""
    lifecycle = Lifecycle(params, tolerate_missing=tolerate_missing)
    candidates = load_candidates(params["chain_paths"], tolerate_missing=tolerate_missing)
    for entry, facts in zip(certificates, inspect_files(lifecycle, params["paths"], candidates=candidates)):
        entry.update(facts or {})
    return lifecycle.crl_facts(), lifecycle.notes


def installed_facts(lifecycle: Lifecycle, certificates: t.Sequence[tuple[str, str]], *,
                    anchor: str | None) -> dict[str, dict[str, t.Any]]:
    """mail_tls_verify with expect_installed: per installed leaf path the same facts as for what the ports serve
    (revocation, CT, renewal with the rule), judged with the CRLs and the rule of the same run. ``certificates`` are
    (leaf path, its chain file); the issuer is looked for in the chain files and in the trust anchor file."""
    files = [chain for _leaf, chain in certificates] + ([anchor] if anchor and os.path.isfile(anchor) else [])
    candidates = load_candidates(files, tolerate_missing=True)
    paths = [leaf for leaf, _chain in certificates]
    return {path: facts for path, facts in zip(paths, inspect_files(lifecycle, paths, candidates=candidates, finish=False))
            if facts is not None}


def probe_hook(lifecycle: Lifecycle, *, ct_enforce: bool) -> t.Callable[..., None]:
    """The ``inspect`` hook of _probe.verify: each served leaf's revocation and CT facts, failures and notes."""

    def inspect(report: t.Any, leaf_der: bytes, chain_der: list[bytes], verified_der: list[bytes]) -> None:
        leaf = x509.load_der_x509_certificate(leaf_der)
        candidates = [x509.load_der_x509_certificate(der) for der in [*chain_der[1:], *verified_der[1:]]]
        facts = lifecycle.facts(leaf, candidates)
        report.revocation = facts["revocation"]
        report.certificate_transparency = facts["certificate_transparency"]
        report.renewal = facts.get("renewal") or {}
        report.failures.extend(failures(facts, ct_enforce=ct_enforce))
        report.notes.extend(notes(facts, ct_enforce=ct_enforce))

    return inspect


def failures(facts: dict[str, t.Any], *, ct_enforce: bool) -> list[str]:
    """The failure sentences of one certificate's lifecycle facts: revoked; CT findings when enforced."""
    out = []
    revoked = _crl.finding(facts.get("revocation") or {})
    if revoked:
        out.append(revoked)
    renewal = facts.get("renewal") or {}
    if renewal.get("due"):
        out.append(f"certificate is due for renewal: {renewal['reason']}")
    if ct_enforce:
        out.extend(f"certificate transparency: {finding}" for finding in (facts.get("certificate_transparency") or {}).get("findings", []))
    return out


def notes(facts: dict[str, t.Any], *, ct_enforce: bool) -> list[str]:
    """Facts worth a line that are not failures: revocation not determined, CT findings not enforced."""
    out = []
    revocation = facts.get("revocation") or {}
    if revocation.get("status") == "unknown":
        out.append("revocation status unknown: " + "; ".join(revocation.get("errors") or ["no usable CRL"]))
    if not ct_enforce:
        out.extend(f"certificate transparency: {finding}" for finding in (facts.get("certificate_transparency") or {}).get("findings", []))
    return out
