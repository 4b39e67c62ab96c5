# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every mail-service backend (Postfix, Dovecot) shares: the host it runs on and the served-certificate check.

A backend goes through the same phases (``_postfix`` is the model): wanted state, the served certificates
checked, a plan by comparing meaning with the live configuration, a candidate staged on a private copy and
validated with the service's own tool, then (not in check mode) the candidate installed atomically and rolled
back on failure. The backends reach the host only through :class:`Host`, so unit tests can hand them a fake one.
"""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import dataclass

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _fileio, _x509

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule


class Host(t.Protocol):
    """What a service backend needs from AnsibleModule."""

    check_mode: bool
    tmpdir: str | None

    def run(self, argv: list[str]) -> tuple[int, str, str]: ...

    def write(self, path: str, content: bytes, *, mode: int | None, owner: str | int | None, group: str | int | None,
              backup: bool) -> str | None: ...

    def add_cleanup_file(self, path: str) -> None: ...


class ModuleHost:
    """:class:`Host` for a real module run: commands with ``LC_ALL=C`` (their output is parsed), atomic writes."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.check_mode = bool(module.check_mode)
        self.tmpdir = module.tmpdir

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        return self.module.run_command(argv, environ_update={"LC_ALL": "C", "LANG": "C"})

    def write(self, path: str, content: bytes, *, mode: int | None, owner: str | int | None, group: str | int | None,
              backup: bool) -> str | None:
        return _fileio.atomic_write(self.module, path, content, mode=mode, owner=owner, group=group, backup=backup)

    def add_cleanup_file(self, path: str) -> None:
        self.module.add_cleanup_file(path)


@dataclass
class Outcome:
    """What a backend's run did or, in check mode, would do: ``diff()`` for diff mode, ``result()`` for the task."""

    changed: bool
    request: t.Any
    desired: t.Any
    plan: t.Any
    warnings: list[str]
    backup_files: dict[str, str]

    def diff(self) -> list[dict[str, str]]:
        raise NotImplementedError

    def result(self) -> dict[str, t.Any]:
        raise NotImplementedError


class ServedCertificateError(ValueError):
    """A key and certificate a service would serve do not work together, or clients would refuse the certificate."""


def served_certificate(chain: t.Sequence[t.Any], key, *, cert_path: str, key_path: str, key_where: str, cert_where: str,
                       fix: str, now: datetime.datetime | None = None) -> tuple[dict[str, t.Any], list[str]]:
    """Check a private key and the certificates served with it (leaf first) as a TLS client will see them.

    Returns the leaf's facts (``_x509.certificate_facts`` with ``path``, plus ``key_path`` and ``chain_length``) and
    warnings about the chain's order. Raises :class:`ServedCertificateError` when the key is not the leaf's, or when
    the leaf fails a check of ``_x509.check_served_leaf`` (its message then names ``cert_path`` and the check).
    """
    leaf = chain[0]
    if not _crypto.same_public_key(key.public_key(), leaf.public_key()):
        raise ServedCertificateError(
            f"the private key {key_where} does not match the certificate {cert_where} ('{_crypto.name_to_string(leaf.subject)}': "
            f"certificate SPKI sha256 {_crypto.spki_sha256(leaf.public_key())}, private key SPKI sha256 "
            f"{_crypto.spki_sha256(key.public_key())}); {fix}"
        )
    try:
        _x509.check_served_leaf(leaf, now=now)
    except _x509.CheckError as exc:
        raise ServedCertificateError(f"{cert_path}: {exc}") from None
    warnings = [
        f"{cert_path}: {_crypto.name_to_string(child.subject)} is not signed by the next certificate "
        f"({_crypto.name_to_string(parent.subject)}); clients may not build the chain"
        for child, parent in zip(chain, chain[1:]) if not _crypto.is_signed_by(child, parent)
    ]
    facts = _x509.certificate_facts(leaf, now=now, path=cert_path)
    facts["key_path"] = key_path
    facts["chain_length"] = len(chain)
    return facts, warnings
