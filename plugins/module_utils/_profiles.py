# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one table of TLS profiles that the Postfix and Dovecot modules both read.

Values follow Mozilla's server-side TLS guidelines (version 6.0 of the configuration generator's
guidelines: "modern" is TLS 1.3 only; "intermediate" is TLS 1.2+ with AEAD ECDHE suites only, no
finite-field DHE; "old" is renamed "legacy" here and trimmed of 3DES, which no mail peer needs any
more). The mail-specific part is what Mozilla does not cover:

* ``opportunistic_min_protocol``: inbound port 25 is opportunistic. A sending MTA whose handshake
  fails retries in plaintext, so a floor above TLS 1.2 there trades encryption for nothing. Even the
  ``modern`` profile keeps TLS 1.2 on port 25 unless the user asks for TLS 1.3 there explicitly.
* ``client_min_protocol``: outbound opportunistic TLS (smtp_tls_protocols). Postfix falls back to
  plaintext when an opportunistic handshake fails (TLS_README, "Opportunistic TLS"), so a strict
  client floor sends mail in the clear. It stays at the library default floor in every profile.
* ``client_mandatory_min_protocol``: outbound mandatory TLS (encrypt, dane, verify, secure), where a
  failed handshake defers the mail instead of downgrading it: the profile's floor is safe there.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.postmaster.tls.plugins.module_utils import _x509

ProfileName = t.Literal["modern", "intermediate", "legacy"]
Protocol = _x509.TLSVersion

# ECDHE suites with AEAD ciphers only, ECDSA before RSA, AES-128 before AES-256 (Mozilla's order).
_INTERMEDIATE_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)

# Mozilla "old" without DES-CBC3-SHA. OpenSSL 3 refuses TLS 1.0/1.1 at its default security level,
# so the legacy list lowers it; that is the whole point of this profile, and it is opt-in.
_LEGACY_CIPHERS = ":".join(
    (
        _INTERMEDIATE_CIPHERS,
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-RSA-AES128-SHA256",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA384",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "DHE-RSA-AES128-SHA256",
        "DHE-RSA-AES256-SHA256",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA256",
        "AES256-SHA256",
        "AES128-SHA",
        "AES256-SHA",
        "@SECLEVEL=0",
    )
)

# OpenSSL's security level 2 for the intermediate profile. Postfix otherwise runs at OpenSSL's default
# level 1, where a TLS 1.2 client that offers only SHA-1 signature algorithms gets a key exchange signed
# with SHA-1: internet.nl's "hash function for key exchange" subtest then fails the port (NCSC-NL 3.3.5).
# Level 2 also needs RSA/DH keys of 2048 bits or more, which every key the collection makes has.
_INTERMEDIATE_SECLEVEL = "@SECLEVEL=2"

_CURVES = "X25519:prime256v1:secp384r1"


@dataclass(frozen=True)
class TLSProfile:
    """One row of the table. ``cipher_list`` is the OpenSSL list for TLS <= 1.2 (None: leave the
    library default, as Mozilla does for TLS 1.3-only configurations)."""

    name: ProfileName
    min_protocol: Protocol
    cipher_list: str | None
    prefer_server_ciphers: bool
    curves: str
    opportunistic_min_protocol: Protocol
    client_min_protocol: Protocol
    client_mandatory_min_protocol: Protocol
    description: str


PROFILES: dict[str, TLSProfile] = {
    "modern": TLSProfile(
        name="modern",
        min_protocol="TLSv1.3",
        cipher_list=None,
        prefer_server_ciphers=False,
        curves=_CURVES,
        opportunistic_min_protocol="TLSv1.2",
        client_min_protocol="TLSv1",
        client_mandatory_min_protocol="TLSv1.2",
        description="TLS 1.3 only on submission, IMAP and POP3; clients from 2019 on (Mozilla modern)",
    ),
    "intermediate": TLSProfile(
        name="intermediate",
        min_protocol="TLSv1.2",
        cipher_list=_INTERMEDIATE_CIPHERS + ":" + _INTERMEDIATE_SECLEVEL,
        prefer_server_ciphers=False,
        curves=_CURVES,
        opportunistic_min_protocol="TLSv1.2",
        client_min_protocol="TLSv1",
        client_mandatory_min_protocol="TLSv1.2",
        description="TLS 1.2 and 1.3 with forward-secret AEAD ciphers; the recommended default (Mozilla intermediate)",
    ),
    "legacy": TLSProfile(
        name="legacy",
        min_protocol="TLSv1",
        cipher_list=_LEGACY_CIPHERS,
        prefer_server_ciphers=True,
        curves=_CURVES,
        opportunistic_min_protocol="TLSv1",
        client_min_protocol="TLSv1",
        client_mandatory_min_protocol="TLSv1",
        description="TLS 1.0 and up for very old clients (Mozilla old, without 3DES); opt-in only",
    ),
}

DEFAULT_PROFILE: ProfileName = "intermediate"


class UnknownProfileError(ValueError):
    """The profile name is not in the table."""


def get_profile(name: str) -> TLSProfile:
    """Return the profile called ``name``, or raise with the list of valid names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(
            f"unknown TLS profile {name!r}; choose one of {', '.join(PROFILES)} (strictest first)"
        ) from None


def protocols_at_or_above(floor: Protocol) -> list[Protocol]:
    """The protocol versions a server with this floor accepts, oldest first."""
    return list(_x509.TLS_VERSIONS[_x509.TLS_VERSIONS.index(floor):])


def postfix_protocol_floor(floor: Protocol) -> str:
    """Postfix >= 3.6 syntax for "this version and newer" (both supported Postfix releases have it)."""
    return f">={floor}"
