# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one definition of where postmaster.tls keeps things on a mail host, and of the reload flags.

Layout under a base directory (default ``/etc/postmaster-tls``)::

    <base>/ca.pem                              trust anchor installed with the certificates (local CA)
    <base>/crl.pem                             the local CA's CRL installed with them (certificate_crl)
    <base>/<name>/<key type>/privkey.pem       the served key (rsa, ecdsa)
    <base>/<name>/<key type>/privkey.next.pem  the next key during a rollover (prepare .. switch)
    <base>/<name>/<key type>/request.csr       the certificate signing request
    <base>/<name>/<key type>/issued.pem        a self-signed certificate, as issued (before the install checks)
    <base>/<name>/<key type>/live/cert.pem     leaf
    <base>/<name>/<key type>/live/chain.pem    intermediates
    <base>/<name>/<key type>/live/fullchain.pem
    <base>/<name>/<key type>/live/combined.pem key, leaf, intermediates (Postfix smtpd_tls_chain_files)

Pending-reload flags: ``/run/postmaster-tls/<service>.reload`` (see ``_fileio.raise_flag``).

Modules, action plugins and roles take paths from here (roles through the modules' return values),
so a second spelling of the layout cannot drift from this one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

BASE_DIR = "/etc/postmaster-tls"
RELOAD_FLAG_DIR = "/run/postmaster-tls"
KEY_TYPES: tuple[str, ...] = ("rsa", "ecdsa")
LIVE_FILES: tuple[str, ...] = ("cert", "chain", "fullchain", "combined")
SERVICES: tuple[str, ...] = ("postfix", "dovecot")
_SERVICE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


class LayoutError(ValueError):
    """A name or key type that cannot be turned into a path of the layout."""


def check_name(name: str, *, option: str = "name") -> str:
    """A certificate name as one directory level: no separators, no dot names, no control characters."""
    if not isinstance(name, str) or not name:
        raise LayoutError(f"{option}: an empty name cannot name a directory; give the certificate's first DNS name")
    if "/" in name or name in (".", "..") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise LayoutError(f"{option}: {name!r} cannot be one directory name (no '/', control characters, '.' or '..'); "
                          "give a host name such as mail.example.org")
    return name


def check_key_type(key_type: str, *, option: str = "key_type") -> str:
    if key_type not in KEY_TYPES:
        raise LayoutError(f"{option}: {key_type!r} is not a key type of the layout; use one of {', '.join(KEY_TYPES)}")
    return key_type


def check_service(service: str, *, option: str = "service") -> str:
    """A service name that can name a flag file: letters, digits, '.', '_', '-', not starting with a dot."""
    if not isinstance(service, str) or not _SERVICE.fullmatch(service):
        raise LayoutError(f"{option}: {service!r} is not a service name (letters, digits, '.', '_' and '-', not starting "
                          "with '.'); give one such as postfix or dovecot")
    return service


def reload_flag(service: str, *, flag_dir: str | None = None) -> str:
    """The pending-reload flag of ``service`` (postfix, dovecot, nginx, ...), in RELOAD_FLAG_DIR unless told."""
    return os.path.join(flag_dir or RELOAD_FLAG_DIR, f"{check_service(service)}.reload")


def chosen_reload_flag(service: str, value: str | None) -> str | None:
    """The flag a module raises for ``service``: the layout's when unset (None), none for "", else the file given."""
    if value is None:
        return reload_flag(service)
    return value or None


def ca_cert_path(base_dir: str = BASE_DIR) -> str:
    return os.path.join(base_dir, "ca.pem")


def crl_path(base_dir: str = BASE_DIR) -> str:
    """The local CA's CRL on a mail host, installed beside its certificate; the checks find it here."""
    return os.path.join(base_dir, "crl.pem")


@dataclass(frozen=True)
class KeyPaths:
    """Every path of one certificate name and key type."""

    name: str
    key_type: str
    directory: str

    @property
    def key(self) -> str:
        return os.path.join(self.directory, "privkey.pem")

    @property
    def next_key(self) -> str:
        return os.path.join(self.directory, "privkey.next.pem")

    @property
    def csr(self) -> str:
        return os.path.join(self.directory, "request.csr")

    @property
    def issued(self) -> str:
        return os.path.join(self.directory, "issued.pem")

    @property
    def live_dir(self) -> str:
        return os.path.join(self.directory, "live")

    def live(self, kind: str) -> str:
        if kind not in LIVE_FILES:
            raise LayoutError(f"{kind!r} is not a live file; use one of {', '.join(LIVE_FILES)}")
        return os.path.join(self.live_dir, f"{kind}.pem")

    def live_files(self) -> dict[str, str]:
        """``{cert: ..., chain: ..., fullchain: ..., combined: ...}``, as certificate_install returns ``files``."""
        return {kind: self.live(kind) for kind in LIVE_FILES}


def key_paths(name: str, key_type: str, *, base_dir: str = BASE_DIR) -> KeyPaths:
    check_name(name)
    check_key_type(key_type)
    return KeyPaths(name=name, key_type=key_type, directory=os.path.join(base_dir, name, key_type))


def discover(base_dir: str = BASE_DIR, *, name: str | None = None) -> list[KeyPaths]:
    """The installed certificates under ``base_dir`` (every ``<name>/<type>/live/cert.pem`` that exists),
    sorted by name and then in KEY_TYPES order; only ``name`` when given."""
    if name:
        names = [check_name(name)]
    elif os.path.isdir(base_dir):
        names = sorted(entry for entry in os.listdir(base_dir) if os.path.isdir(os.path.join(base_dir, entry)))
    else:
        names = []
    found: list[KeyPaths] = []
    for each in names:
        for key_type in KEY_TYPES:
            paths = KeyPaths(name=each, key_type=key_type, directory=os.path.join(base_dir, each, key_type))
            if os.path.isfile(paths.live("cert")):
                found.append(paths)
    return found


def live_certificates(base_dir: str = BASE_DIR) -> list[str]:
    """Paths of every installed leaf (``live/cert.pem``) under ``base_dir``."""
    return [paths.live("cert") for paths in discover(base_dir)]


__all__ = [
    "BASE_DIR", "RELOAD_FLAG_DIR", "KEY_TYPES", "LIVE_FILES", "SERVICES", "LayoutError", "KeyPaths",
    "check_name", "check_key_type", "check_service", "reload_flag", "ca_cert_path", "crl_path", "key_paths", "discover", "live_certificates",
]
