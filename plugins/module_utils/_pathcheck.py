# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 5280 path validation of a server chain by a maintained validator, never by hand-written rules.

Two validators, the first the host has:

* ``cryptography``: ``cryptography.x509.verification`` (cryptography 42 and newer; Debian 13 has 43). Its
  server verifier follows RFC 5280 and the CA/Browser Forum profile: basic and name constraints, path
  length, critical extensions it does not know, key usage of CA certificates, and the extensions RFC 5280
  says conforming CAs MUST include (authorityKeyIdentifier on issued certificates, keyUsage on CA
  certificates, subjectAltName on a server certificate).
* ``openssl``: ``openssl verify -purpose sslserver`` (Debian 12's cryptography 38 has no verifier), the
  check OpenSSL-based mail clients make: the chain and the trust anchor in private temporary files,
  an argv list, ``-attime`` for the same instant as every other check, ``LC_ALL=C`` for its messages.

Either way the chain is the one ``_chain.build_chain`` ordered, ending at the one trust anchor it reached,
which counts as trusted whether or not it is self-signed (``-partial_chain``). A refusal is a
:class:`_x509.CheckError` of the ``path validation`` check naming the validator's own reason.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import tempfile
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _x509

if _crypto.HAS_CRYPTOGRAPHY:
    import cryptography
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

Runner = t.Callable[[t.List[str]], t.Tuple[int, str, str]]
Choice = t.Literal["auto", "cryptography", "openssl"]
CHOICES: tuple[str, ...] = ("auto", "cryptography", "openssl")

_OPENSSL_ERROR = re.compile(r"error (\d+) at (\d+) depth lookup: ?(.*)")
_FIX = "have the CA issue a chain that TLS clients accept, or give the intermediates that lead to the trust anchor"


class PathCheckError(Exception):
    """The validator could not run (not a verdict about the chain); the message says how to fix it."""


def cryptography_verifier():
    """``cryptography.x509.verification`` when this host's cryptography has a server verifier, else None."""
    try:
        from cryptography.x509 import verification
    except ImportError:
        return None
    builder = getattr(verification, "PolicyBuilder", None)
    return verification if builder is not None and hasattr(builder, "build_server_verifier") else None


def subject_names(leaf: x509.Certificate, required_names: t.Sequence[str]) -> list[str]:
    """Names the server verifier may check the leaf for, best first: the required names, then the leaf's SANs."""
    names = list(required_names) + [entry.split(":", 1)[1] for entry in _crypto.subject_alt_names(leaf)
                                    if entry.startswith(("DNS:", "IP:"))]
    # A wildcard pattern is not a name a client asks for: ask for one name it covers.
    return [name.replace("*", "postmaster-tls-probe", 1) if name.startswith("*.") else name.rstrip(".").lower() for name in names]


def _general_name(name: str):
    """The verifier's subject for ``name``; None when cryptography takes it for neither an address nor a DNS name."""
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:
        return x509.DNSName(name)
    except ValueError:
        return None


def _reason(text: str) -> str:
    """cryptography's reason without its wrapping: 43 prints Rust's ``CandidatesExhausted(Other("..."))``, 44 and newer
    ``candidates exhausted: ...``."""
    text = text.replace("validation failed: ", "", 1)
    extension = re.search(r'oid: ([0-9.]+) \}, reason: "([^"]+)"', text)
    inner = re.search(r'\("([^"]+)"\)', text)
    if extension:
        found = f"invalid extension {extension.group(1)}: {extension.group(2)}"
    elif inner:
        found = inner.group(1)
    else:
        return text
    return f"candidates exhausted: {found}" if "CandidatesExhausted" in text else found


class PathValidator:
    """Validate a leaf, its intermediates (leaf first) and the trust anchor; ``name`` says which validator did."""

    def __init__(self, choice: str = "auto", *, run: Runner | None = None, openssl: t.Callable[[], str] | None = None,
                 tmpdir: str | None = None) -> None:
        if choice not in CHOICES:
            raise PathCheckError(f"path_validation={choice!r} is not a validator; use one of {', '.join(CHOICES)}")
        self.verification = cryptography_verifier() if choice in ("auto", "cryptography") else None
        if choice == "cryptography" and self.verification is None:
            raise PathCheckError(f"path_validation=cryptography: this host's cryptography {cryptography.__version__} has no "
                                 "x509 verification (it came with cryptography 42); use path_validation=auto or openssl")
        self.run = run
        self.openssl = openssl
        self.tmpdir = tmpdir
        self.name = f"cryptography {cryptography.__version__}" if self.verification is not None else "openssl"

    def validate(self, leaf: x509.Certificate, intermediates: t.Sequence[x509.Certificate], anchor: x509.Certificate, *,
                 now: datetime.datetime, required_names: t.Sequence[str] = ()) -> None:
        if self.verification is not None:
            self._cryptography(leaf, intermediates, anchor, now=now, required_names=required_names)
        else:
            self._openssl(leaf, intermediates, anchor, now=now)

    # -- cryptography.x509.verification ------------------------------------------------------------
    def _cryptography(self, leaf, intermediates, anchor, *, now: datetime.datetime, required_names: t.Sequence[str]) -> None:
        v = self.verification
        names = subject_names(leaf, required_names)
        if not names:
            raise _x509.CheckError(_x509.CHECK_PATH, _x509.describe(leaf, "leaf certificate"),
                                   f"{self.name} refuses a server certificate without subjectAltName (RFC 6125 clients ignore "
                                   "the common name); issue it with the names in subjectAltName")
        name = names[0]
        for name in names:
            try:
                verifier = v.PolicyBuilder().store(v.Store([anchor])).time(now).build_server_verifier(_general_name(name))
                break
            except (TypeError, ValueError):
                continue  # not a name this verifier takes (an underscore, ...): the next one
        else:
            raise PathCheckError(f"{self.name} takes none of the names {', '.join(names)} to check the chain for; "
                                 "use path_validation=openssl")
        try:
            verifier.verify(leaf, list(intermediates))
        except v.VerificationError as exc:
            reason = _reason(str(exc))
            raise _x509.CheckError(_x509.CHECK_PATH, _x509.describe(leaf, "leaf certificate"),
                                   f"RFC 5280 path validation ({self.name}) refuses its chain to "
                                   f"'{_crypto.name_to_string(anchor.subject)}' for {name}: {reason}; {_FIX}") from None

    # -- openssl verify -purpose sslserver ---------------------------------------------------------
    def _openssl(self, leaf, intermediates, anchor, *, now: datetime.datetime) -> None:
        if self.run is None or self.openssl is None:
            raise PathCheckError("path validation needs the openssl command on this host (its cryptography has no verifier); "
                                 "install the openssl package")
        binary = self.openssl()
        directory = tempfile.mkdtemp(prefix="postmaster-verify-", dir=self.tmpdir)  # 0700: public data, still private
        try:
            def write(file_name: str, certs: t.Sequence[x509.Certificate]) -> str:
                path = os.path.join(directory, file_name)
                with open(path, "wb") as handle:
                    handle.write(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
                return path

            argv = [binary, "verify", "-purpose", "sslserver", "-partial_chain", "-no-CApath", "-no-CAstore",
                    "-attime", str(int(now.timestamp())), "-CAfile", write("anchor.pem", [anchor])]
            if intermediates:
                argv += ["-untrusted", write("untrusted.pem", intermediates)]
            argv += ["--", write("leaf.pem", [leaf])]
            rc, out, err = self.run(argv)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        if rc == 0:
            return
        found = _OPENSSL_ERROR.search(out + "\n" + err)
        if not found:
            detail = (err or out).strip().replace(directory, "(temporary directory)")
            raise PathCheckError(f"openssl verify could not check the chain (rc={rc}): {detail}; nothing was written")
        code, depth, reason = found.group(1), int(found.group(2)), found.group(3).strip()
        path = [leaf, *intermediates, anchor]
        concerned = path[min(depth, len(path) - 1)]
        role = "leaf certificate" if depth == 0 else "trust anchor" if depth >= len(path) - 1 else "intermediate certificate"
        raise _x509.CheckError(_x509.CHECK_PATH, _x509.describe(concerned, role),
                               f"openssl verify -purpose sslserver refuses the chain to '{_crypto.name_to_string(anchor.subject)}': "
                               f"{reason} (error {code} at depth {depth}); {_FIX}")
