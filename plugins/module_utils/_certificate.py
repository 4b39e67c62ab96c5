# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issuing certificates (self-signed, from a local CA, the local CA itself) and deciding renewals.

Used by postmaster.tls.certificate, postmaster.tls.local_ca and postmaster.tls.certificate_info.
Everything here is pure: functions take parsed objects and a ``now`` and return certificates,
reasons or facts; reading and writing files is the modules' business. Works with cryptography 38.
"""

from __future__ import annotations

import datetime
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _batch, _crl, _crypto, _fileio, _lifetime, _x509

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


# Backdate notBefore a little: a client whose clock runs a few minutes slow must not see a
# brand-new certificate as "not yet valid".
BACKDATE = datetime.timedelta(minutes=5)


class CertificateError(Exception):
    """The certificate cannot be issued as asked; the message says why and how to fix it."""


# ---------------------------------------------------------------------------------------------
# Diffs
# ---------------------------------------------------------------------------------------------
def diff_summary(cert: x509.Certificate | None) -> str:
    """A few readable lines for diff mode: who, for what, until when, which."""
    if cert is None:
        return "(no certificate)\n"
    facts = _x509.certificate_facts(cert)
    lines = [
        f"subject: {facts['subject']}",
        f"subject_alt_names: {', '.join(facts['subject_alt_names']) or '(none)'}",
        f"issuer: {facts['issuer']}",
        f"serial: {facts['serial']}",
        f"not_after: {facts['not_after']}",
        f"fingerprint_sha256: {facts['fingerprint_sha256']}",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
def signing_hash(private_key) -> t.Any:
    """The hash to sign with: SHA-256, or a stronger one for large EC keys; None for EdDSA."""
    if isinstance(private_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.key_size >= 521:
            return hashes.SHA512()
        if private_key.curve.key_size >= 384:
            return hashes.SHA384()
    return hashes.SHA256()


def check_key_strength(public_key, *, what: str) -> None:
    problem = _x509.key_strength_problem(public_key)
    if problem:
        raise CertificateError(
            f"{what} is {problem}; generate a new key (postmaster.tls.private_key refuses weaker ones: RSA "
            f"{_x509.MIN_RSA_BITS} bits or more, ECDSA P-256 or stronger) and a new CSR"
        )


def _subject_key_identifier(public_key) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def _authority_key_identifier(issuer_cert: x509.Certificate | None, issuer_public_key) -> x509.AuthorityKeyIdentifier:
    if issuer_cert is not None:
        try:
            ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            pass
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key)


def validity_window(*, now: datetime.datetime, valid_days: int,
                    limit: datetime.datetime | None = None) -> tuple[datetime.datetime, datetime.datetime]:
    """(notBefore, notAfter): backdated start, ``valid_days`` from now, never past ``limit``."""
    now = now.replace(microsecond=0)
    not_after = now + datetime.timedelta(days=valid_days)
    if limit is not None and not_after > limit:
        not_after = limit
    return now - BACKDATE, not_after


# ---------------------------------------------------------------------------------------------
# CSR and CA inputs
# ---------------------------------------------------------------------------------------------
def load_csr(data: bytes, *, source: str) -> x509.CertificateSigningRequest:
    try:
        if b"-----BEGIN" in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise CertificateError(f"{source} is not a certificate signing request ({exc}); create it with postmaster.tls.csr") from None
    if not csr.is_signature_valid:
        raise CertificateError(f"{source}: the CSR's signature does not verify (corrupt or tampered); create it again")
    return csr


def csr_names(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    """The subjectAltNames the certificate gets: the CSR's, or its CN when it asks for none."""
    try:
        return list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        pass
    common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        # Clients ignore the CN when matching names (RFC 6125), so a CN-only CSR still needs a SAN.
        return [x509.DNSName(str(common_names[0].value))]
    return []


def certificate_names(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _name_set(names: t.Iterable[x509.GeneralName]) -> set[tuple[str, str]]:
    out = set()
    for name in names:
        value = name.value
        text = value.lower() if isinstance(value, str) else str(value)
        out.add((type(name).__name__, text))
    return out


def check_csr(csr: x509.CertificateSigningRequest, *, csr_source: str, private_key=None, key_source: str = "") -> None:
    """The CSR can be turned into a server certificate (and belongs to ``private_key`` when given)."""
    check_key_strength(csr.public_key(), what=f"the key in {csr_source}")
    if not csr_names(csr):
        raise CertificateError(f"{csr_source} has neither subjectAltNames nor a common name; a server certificate needs at least one name")
    if _crl.asks_must_staple(csr.extensions):
        raise CertificateError(f"{csr_source} {_crl.MUST_STAPLE_REFUSAL}")
    if private_key is not None and not _crypto.same_public_key(csr.public_key(), private_key.public_key()):
        raise CertificateError(
            f"{csr_source} was not made with the private key {key_source} (the key was replaced after the CSR was made); "
            "create the CSR again from the current key"
        )


def check_ca(ca_cert: x509.Certificate, ca_key, *, ca_source: str, key_source: str, now: datetime.datetime) -> None:
    """The CA certificate can sign: it is a CA, its key is the one given, it is valid now."""
    problem = _x509.signing_ca_problem(ca_cert, ca_key, signs="certificates", ca_source=ca_source, key_source=key_source, now=now)
    if problem:
        raise CertificateError(problem)


# ---------------------------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------------------------
def issue_leaf(
    csr: x509.CertificateSigningRequest,
    *,
    signing_key,
    issuer_cert: x509.Certificate | None,
    valid_days: int,
    now: datetime.datetime,
    crl_distribution_points: t.Sequence[str] | None = None,
) -> x509.Certificate:
    """A TLS server certificate for the CSR: self-signed when ``issuer_cert`` is None, else by that CA.

    Only the CSR's subject, key and subjectAltNames are taken over; the rest is this module's
    policy: CA:FALSE, keyUsage for TLS, EKU serverAuth, SKI/AKI, a random 159-bit serial.
    """
    public_key = csr.public_key()
    names = csr_names(csr)
    limit = _crypto.not_valid_after(issuer_cert) if issuer_cert is not None else None
    not_before, not_after = validity_window(now=now, valid_days=valid_days, limit=limit)
    issuer_name = issuer_cert.subject if issuer_cert is not None else csr.subject
    issuer_public_key = issuer_cert.public_key() if issuer_cert is not None else public_key
    usage = x509.KeyUsage(
        digital_signature=True,
        # RSA key exchange (TLS 1.2 without ECDHE) encrypts to the key; meaningless for EC keys.
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # RFC 5280 4.2.1.6: critical when the subject is empty.
        .add_extension(x509.SubjectAlternativeName(names), critical=len(csr.subject) == 0)
        .add_extension(_subject_key_identifier(public_key), critical=False)
        .add_extension(_authority_key_identifier(issuer_cert, issuer_public_key), critical=False)
    )
    if crl_distribution_points:
        builder = builder.add_extension(_crl.distribution_points_extension(crl_distribution_points), critical=False)
    return builder.sign(private_key=signing_key, algorithm=signing_hash(signing_key))


def ca_subject(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def issue_ca(
    private_key,
    *,
    subject: x509.Name,
    valid_days: int,
    path_length: int | None,
    now: datetime.datetime,
) -> x509.Certificate:
    """A self-signed root CA certificate for a local CA."""
    public_key = private_key.public_key()
    not_before, not_after = validity_window(now=now, valid_days=valid_days)
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    ski = _subject_key_identifier(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    return builder.sign(private_key=private_key, algorithm=signing_hash(private_key))


# ---------------------------------------------------------------------------------------------
# Renewal decisions: None means "keep the certificate", a string says why it must be re-issued.
# ---------------------------------------------------------------------------------------------
def _expiry_reason(cert: x509.Certificate, *, renew_before_days: int, now: datetime.datetime,
                   renew_fraction: float | None = None, next_lifetime_days: int | None = None) -> str | None:
    """Why the calendar asks for a new certificate. With ``renew_fraction`` the lifetime rule of
    _lifetime decides (the fraction or the days, whichever comes first); without it only the days."""
    remaining = _crypto.days_remaining(cert, now=now)
    if _crypto.not_valid_after(cert) <= now:
        return f"the certificate expired on {_x509.iso8601(_crypto.not_valid_after(cert))}"
    if renew_fraction is not None:
        verdict = _lifetime.decide(
            _crypto.not_valid_before(cert), _crypto.not_valid_after(cert), now=now, renew_before_days=renew_before_days,
            renew_fraction=renew_fraction,
            next_lifetime=datetime.timedelta(days=next_lifetime_days) if next_lifetime_days else None)
        if verdict.due:
            return verdict.reason
    elif remaining < renew_before_days:
        return f"{remaining} days remain, fewer than renew_before_days={renew_before_days}"
    if _crypto.not_valid_before(cert) > now + datetime.timedelta(days=1):
        return f"the certificate is not valid before {_x509.iso8601(_crypto.not_valid_before(cert))}"
    return None


def leaf_renew_reason(
    cert: x509.Certificate,
    *,
    csr: x509.CertificateSigningRequest,
    issuer_cert: x509.Certificate | None,
    issuer_source: str,
    renew_before_days: int,
    now: datetime.datetime,
    renew_fraction: float | None = None,
    next_lifetime_days: int | None = None,
    crl_distribution_points: t.Sequence[str] | None = None,
) -> str | None:
    """Why ``cert`` no longer fits the CSR, the issuer or the calendar (None: it still fits).

    ``renew_fraction`` switches on the lifetime rule (see _lifetime); ``crl_distribution_points``,
    when given, must be the certificate's (an empty list: none).
    """
    if not _crypto.same_public_key(cert.public_key(), csr.public_key()):
        return "the CSR's key differs from the certificate's (the private key was replaced)"
    if cert.subject != csr.subject:
        return (f"the CSR's subject changed ('{_crypto.name_to_string(cert.subject)}' -> "
                f"'{_crypto.name_to_string(csr.subject)}')")
    if _name_set(certificate_names(cert)) != _name_set(csr_names(csr)):
        return "the CSR's subjectAltNames changed"
    if issuer_cert is None:
        if not _x509.is_self_signed(cert):
            return "the certificate is not self-signed (it was issued by a CA)"
    elif not _crypto.is_signed_by(cert, issuer_cert):
        return f"the certificate was not issued by the CA at {issuer_source} (the CA changed)"
    usages = _x509.extended_key_usages(cert)
    if usages is not None and "serverAuth" not in usages:
        return "the certificate does not allow serverAuth"
    if _x509.is_ca(cert):
        return "the certificate is a CA certificate, not a server certificate"
    if crl_distribution_points is not None and _crl.distribution_points(cert) != list(crl_distribution_points):
        return (f"the CRL distribution points changed ({', '.join(_crl.distribution_points(cert)) or 'none'} -> "
                f"{', '.join(crl_distribution_points) or 'none'})")
    return _expiry_reason(cert, renew_before_days=renew_before_days, now=now, renew_fraction=renew_fraction,
                          next_lifetime_days=next_lifetime_days)


def new_certificate_due(cert: x509.Certificate, *, renew_before_days: int, now: datetime.datetime,
                        renew_fraction: float | None = None, valid_days: int | None = None) -> str | None:
    """Why a certificate issued just now is already due for renewal (its issuer expires first, so every run would
    issue again); None when it is not. With ``renew_fraction`` by the lifetime rule, else by the days alone."""
    if renew_fraction is None:
        remaining = _crypto.days_remaining(cert, now=now)
        return f"{remaining} days remain, fewer than renew_before_days={renew_before_days}" if remaining < renew_before_days else None
    return _expiry_reason(cert, renew_before_days=renew_before_days, now=now, renew_fraction=renew_fraction,
                          next_lifetime_days=valid_days)


def ca_renew_reason(
    cert: x509.Certificate,
    *,
    private_key,
    subject: x509.Name,
    path_length: int | None,
    renew_before_days: int,
    now: datetime.datetime,
) -> str | None:
    """Why the local CA certificate must be made again (None: it still fits)."""
    if not _crypto.same_public_key(cert.public_key(), private_key.public_key()):
        return "the CA private key differs from the certificate's (the key was replaced)"
    if cert.subject != subject:
        return (f"the CA subject changed ('{_crypto.name_to_string(cert.subject)}' -> "
                f"'{_crypto.name_to_string(subject)}')")
    if not _x509.is_self_signed(cert):
        return "the CA certificate is not self-signed"
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return "the CA certificate has no basicConstraints"
    if not constraints.value.ca or not constraints.critical:
        return "the CA certificate's basicConstraints are not CA:TRUE, critical"
    if constraints.value.path_length != path_length:
        return f"the CA path length changed ({constraints.value.path_length} -> {path_length})"
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "the CA certificate has no keyUsage"
    if not (usage.key_cert_sign and usage.crl_sign):
        return "the CA certificate's keyUsage lacks keyCertSign or cRLSign"
    return _expiry_reason(cert, renew_before_days=renew_before_days, now=now)


def check_renewal_window(*, valid_days: int, renew_before_days: int) -> None:
    if valid_days < 1:
        raise CertificateError(f"valid_days must be at least 1 (got {valid_days})")
    if renew_before_days < 0:
        raise CertificateError(f"renew_before_days cannot be negative (got {renew_before_days})")
    if renew_before_days >= valid_days:
        raise CertificateError(
            f"renew_before_days ({renew_before_days}) must be smaller than valid_days ({valid_days}); "
            "otherwise every run would issue a new certificate"
        )


# ---------------------------------------------------------------------------------------------
# Module backends: postmaster.tls.certificate and postmaster.tls.local_ca
# ---------------------------------------------------------------------------------------------
def issue_argument_spec(*, valid_days: int, renew_before_days: int) -> dict[str, dict[str, t.Any]]:
    """Options shared by every module that issues a certificate into a file."""
    return {
        "path": {"type": "path", "required": True},
        "valid_days": {"type": "int", "default": valid_days},
        "renew_before_days": {"type": "int", "default": renew_before_days},
        "force": {"type": "bool", "default": False},
        "mode": {"type": "raw", "default": "0644"},
        "owner": {"type": "str"},
        "group": {"type": "str"},
        "backup": {"type": "bool", "default": False},
    }


class _Missing(Exception):
    """An input file does not exist yet; only tolerated in check mode."""


class _IssuingBackend:
    """What both issuing modules share: read inputs, decide, issue, write atomically, report."""

    def __init__(self, module, params: dict[str, t.Any] | None = None) -> None:
        self.module = module
        # A batch runs one backend per certificate, each with its own copy of the parameters.
        self.params = module.params if params is None else params
        self.path: str = self.params["path"]
        self.now = _crypto.utcnow()
        self.missing: list[str] = []

    # -- inputs ---------------------------------------------------------------------------------
    def read_input(self, path: str, *, what: str) -> bytes:
        data = _fileio.read_bytes(path)
        if data is not None:
            return data
        if self.module.check_mode:
            self.missing.append(f"{what} {path}")
            raise _Missing(path)
        raise CertificateError(f"{what} {path} does not exist; create it first")

    def load_key(self, path: str, passphrase: str | None, *, what: str):
        return _crypto.load_private_key(self.read_input(path, what=what), passphrase=passphrase, source=f"{what} {path}")

    # -- to be provided -------------------------------------------------------------------------
    def prepare(self) -> None:
        raise NotImplementedError

    def renew_reason(self, existing: x509.Certificate) -> str | None:
        raise NotImplementedError

    def issue(self) -> x509.Certificate:
        raise NotImplementedError

    def renewal(self, cert: x509.Certificate) -> dict[str, t.Any] | None:
        """The renewal rule's facts about ``cert`` for the result (None: this module does not report them)."""
        return None

    def due_at_once(self, cert: x509.Certificate) -> str | None:
        """Why a certificate issued just now would already be due (None: it would not)."""
        return new_certificate_due(cert, renew_before_days=self.params["renew_before_days"], now=self.now)

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> dict[str, t.Any]:
        params = self.params
        check_renewal_window(valid_days=params["valid_days"], renew_before_days=params["renew_before_days"])
        mode = _fileio.parse_mode(params["mode"], default=0o644)
        existing_bytes = _fileio.read_bytes(self.path)
        existing = None
        if existing_bytes is not None:
            try:
                existing = _crypto.load_certificate(existing_bytes, source=self.path)
            except _crypto.PEMError:
                existing = None
        try:
            self.prepare()
        except _Missing:
            return self._predicted(existing_bytes is not None)

        if existing_bytes is None:
            reason = f"no certificate at {self.path} yet"
        elif existing is None:
            reason = f"{self.path} does not hold a readable certificate"
        elif params["force"]:
            reason = "force=true"
        else:
            reason = self.renew_reason(existing)

        cert = existing
        backup_file = None
        if reason is not None:
            cert = self.issue()
            remaining = _crypto.days_remaining(cert, now=self.now)
            due = self.due_at_once(cert)
            if due:
                raise CertificateError(
                    f"the new certificate would be valid for only {remaining} days (its issuer expires on "
                    f"{_x509.iso8601(_crypto.not_valid_after(cert))}), so it would be due for renewal at once ({due}) "
                    "and every run would issue again; renew the CA first"
                )
            if not self.module.check_mode:
                backup_file = _fileio.atomic_write(
                    self.module, self.path, cert.public_bytes(serialization.Encoding.PEM),
                    mode=mode, owner=params["owner"], group=params["group"], backup=params["backup"],
                )
        # A kept certificate may still need other attributes (check mode: would it).
        attributes_changed = reason is None and _fileio.set_attributes(self.module, self.path, mode=mode, owner=params["owner"],
                                                                       group=params["group"])

        result: dict[str, t.Any] = {
            "changed": reason is not None or attributes_changed,
            "path": self.path,
            "renewed": reason is not None and existing_bytes is not None,
            "renew_reason": reason,
        }
        result.update(_x509.certificate_facts(cert, now=self.now))
        renewal = self.renewal(cert)
        if renewal is not None:
            result["renewal"] = renewal
        if backup_file:
            result["backup_file"] = backup_file
        if reason is not None:
            result["diff"] = {"before_header": self.path, "after_header": self.path,
                              "before": diff_summary(existing), "after": diff_summary(cert)}
        return result

    def _predicted(self, exists: bool) -> dict[str, t.Any]:
        for what in self.missing:
            self.module.warn(f"{what} does not exist yet; check mode assumes an earlier task creates it and predicts a new certificate")
        return {
            "changed": True,
            "path": self.path,
            "renewed": exists,
            "renew_reason": f"{self.missing[0]} does not exist yet (check mode)",
        }


class LeafCertificateBackend(_IssuingBackend):
    """postmaster.tls.certificate: a server certificate for a CSR, self-signed or from a local CA."""

    def prepare(self) -> None:
        params = self.params
        if params.get("renew_fraction") is not None:
            try:
                _lifetime.check_rule(renew_before_days=params["renew_before_days"], renew_fraction=params["renew_fraction"])
            except _lifetime.LifetimeError as exc:
                raise CertificateError(str(exc)) from None
        if params.get("csr_content"):
            csr_source = "CSR (csr_content)"
            self.csr = load_csr(params["csr_content"].encode("utf-8"), source=csr_source)
        else:
            csr_source = f"CSR {params['csr_path']}"
            self.csr = load_csr(self.read_input(params["csr_path"], what="CSR"), source=csr_source)
        key = None
        if params["privatekey_path"]:
            key = self.load_key(params["privatekey_path"], params["privatekey_passphrase"], what="private key")
        check_csr(self.csr, csr_source=csr_source, private_key=key, key_source=params["privatekey_path"] or "")
        self.crl_distribution_points = self._distribution_points()
        if params["provider"] == "selfsigned":
            self.signing_key = key
            self.issuer_cert = None
            self.issuer_source = "self"
            return
        ca_path = params["ca_cert_path"]
        ca_data = self.read_input(ca_path, what="CA certificate")
        try:
            self.issuer_cert = _crypto.load_certificate(ca_data, source=f"CA certificate {ca_path}")
        except _crypto.PEMError as exc:
            raise CertificateError(str(exc)) from None
        self.signing_key = self.load_key(params["ca_privatekey_path"], params["ca_privatekey_passphrase"], what="CA private key")
        self.issuer_source = ca_path
        check_ca(self.issuer_cert, self.signing_key, ca_source=ca_path, key_source=params["ca_privatekey_path"], now=self.now)

    def _distribution_points(self) -> list[str]:
        urls = list(self.params.get("crl_distribution_points") or [])
        if urls and self.params["provider"] != "ownca":
            raise CertificateError("crl_distribution_points needs provider=ownca: only a CA publishes a CRL "
                                   "(a self-signed certificate is withdrawn by replacing it)")
        try:
            return [_crl.check_distribution_point(url, option="crl_distribution_points") for url in urls]
        except _crl.CRLError as exc:
            raise CertificateError(str(exc)) from None

    def renew_reason(self, existing: x509.Certificate) -> str | None:
        return leaf_renew_reason(
            existing, csr=self.csr, issuer_cert=self.issuer_cert, issuer_source=self.issuer_source,
            renew_before_days=self.params["renew_before_days"], now=self.now,
            renew_fraction=self.params.get("renew_fraction"), next_lifetime_days=self.params["valid_days"],
            crl_distribution_points=self.crl_distribution_points,
        )

    def renewal(self, cert: x509.Certificate) -> dict[str, t.Any] | None:
        if self.params.get("renew_fraction") is None:
            return None
        return _lifetime.decide(
            _crypto.not_valid_before(cert), _crypto.not_valid_after(cert), now=self.now,
            renew_before_days=self.params["renew_before_days"], renew_fraction=self.params["renew_fraction"],
            next_lifetime=datetime.timedelta(days=self.params["valid_days"])).facts()

    def due_at_once(self, cert: x509.Certificate) -> str | None:
        return new_certificate_due(cert, renew_before_days=self.params["renew_before_days"], now=self.now,
                                   renew_fraction=self.params.get("renew_fraction"), valid_days=self.params["valid_days"])

    def issue(self) -> x509.Certificate:
        return issue_leaf(self.csr, signing_key=self.signing_key, issuer_cert=self.issuer_cert,
                          valid_days=self.params["valid_days"], now=self.now,
                          crl_distribution_points=self.crl_distribution_points)


def issue_batch(module) -> dict[str, t.Any]:
    """postmaster.tls.certificate with batch: every certificate decided and issued as a single one would be.

    One failing certificate does not stop the others; the result says which failed and why (and is a
    module failure when any did).
    """
    params = module.params
    entries: list[_batch.BatchItem] = []
    seen: set[str] = set()
    for group in params["batch"]:
        settings = {key: params[key] if group.get(key) is None else group[key]
                    for key in ("valid_days", "renew_before_days", "renew_fraction", "force")}
        for path, csr_pem in sorted((group["certificates"] or {}).items()):
            if path in seen:
                return {"changed": False, "failed": True, "certificates": {},
                        "msg": f"batch: {path} is listed more than once; every certificate needs its own path"}
            seen.add(path)
            entries.append(_batch.BatchItem(path, dict(params, batch=None, path=path, csr_path=None, csr_content=csr_pem, **settings)))

    def one(item: dict[str, t.Any]) -> dict[str, t.Any]:
        if not isinstance(item["csr_content"], str) or not item["csr_content"].strip():
            raise CertificateError("the CSR is empty; give the CSR's PEM text")
        return LeafCertificateBackend(module, params=item).run()

    result = _batch.run(entries, one, expected=(CertificateError, _crypto.PEMError, _fileio.FileIOError), doing="issuing")
    result["certificates"] = result.pop("outcomes")
    return result


class LocalCABackend(_IssuingBackend):
    """postmaster.tls.local_ca: the self-signed root certificate of a local CA."""

    def prepare(self) -> None:
        params = self.params
        if params["path_length"] is not None and params["path_length"] < 0:
            raise CertificateError(f"path_length cannot be negative (got {params['path_length']})")
        self.subject = ca_subject(params["common_name"], params["organization"])
        self.key = self.load_key(params["privatekey_path"], params["privatekey_passphrase"], what="CA private key")
        check_key_strength(self.key.public_key(), what=f"the CA private key {params['privatekey_path']}")

    def renew_reason(self, existing: x509.Certificate) -> str | None:
        return ca_renew_reason(existing, private_key=self.key, subject=self.subject, path_length=self.params["path_length"],
                               renew_before_days=self.params["renew_before_days"], now=self.now)

    def issue(self) -> x509.Certificate:
        return issue_ca(self.key, subject=self.subject, valid_days=self.params["valid_days"],
                        path_length=self.params["path_length"], now=self.now)


# ---------------------------------------------------------------------------------------------
# postmaster.tls.certificate_info
# ---------------------------------------------------------------------------------------------
def inspect(
    paths: t.Iterable[str],
    *,
    privatekey_path: str | None = None,
    privatekey_passphrase: str | None = None,
    tolerate_missing: bool = False,
    now: datetime.datetime | None = None,
) -> tuple[list[dict[str, t.Any]], list[str]]:
    """Facts about the first certificate of every file; missing files are errors unless tolerated."""
    now = now or _crypto.utcnow()
    warnings: list[str] = []
    public_key = None
    if privatekey_path:
        key_data = _fileio.read_bytes(privatekey_path)
        if key_data is None:
            if not tolerate_missing:
                raise CertificateError(f"private key {privatekey_path} does not exist")
            warnings.append(f"private key {privatekey_path} does not exist yet (check mode); matches_key is null")
        else:
            public_key = _crypto.load_private_key(key_data, passphrase=privatekey_passphrase,
                                                  source=f"private key {privatekey_path}").public_key()
    out = []
    for path in paths:
        data = _fileio.read_bytes(path)
        if data is None:
            if not tolerate_missing:
                raise CertificateError(f"certificate {path} does not exist")
            warnings.append(f"certificate {path} does not exist yet (check mode)")
            out.append({"path": path, "exists": False, "count": 0})
            continue
        certs = _crypto.load_certificates(data, source=path)
        entry: dict[str, t.Any] = {"path": path, "exists": True, "count": len(certs)}
        entry.update(_x509.certificate_facts(certs[0], now=now))
        entry["matches_key"] = None if public_key is None else _crypto.same_public_key(certs[0].public_key(), public_key)
        out.append(entry)
    return out, warnings
