# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS on the wire, before encryption starts: hand-built ClientHellos and a reader for the server's answer.

Python's ``ssl`` module offers only what the local OpenSSL offers: no SSLv3, no TLS 1.0 on a client built
without it, no chosen list of cipher suites, groups or signature algorithms beyond what OpenSSL agrees to
send. A grader must ask for exactly those things, so this module writes the ClientHello itself and reads
the server's first flight in the clear: ServerHello (or HelloRetryRequest), and for TLS 1.2 and older the
Certificate, ServerKeyExchange and ServerHelloDone messages. The connection is dropped after that.

Nothing here encrypts, decrypts, signs or verifies: the handshake is never finished, so no handshake
cryptography is written by hand. The only key material is a throw-away X25519 public key in the TLS 1.3
``key_share`` (made with ``cryptography`` when present, else 32 random bytes, which X25519 accepts too).

Sources: RFC 5246 (TLS 1.2), RFC 8446 (TLS 1.3), RFC 6101 (SSL 3.0), RFC 8422 (ECC groups), RFC 7919
(FFDHE groups, Appendix A for the primes), RFC 5746 (renegotiation_info), RFC 7627 (extended master
secret), RFC 3749 (DEFLATE compression). The cipher suite table is the IANA TLS Cipher Suites registry
with the OpenSSL names beside it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import time
from dataclasses import dataclass, field

from ansible_collections.postmaster.tls.plugins.module_utils import _x509

try:
    from cryptography.hazmat.primitives.asymmetric import x25519
    from cryptography.hazmat.primitives import serialization

    _HAS_X25519 = True
except ImportError:  # pragma: no cover - cryptography is a requirement of the modules that use this
    _HAS_X25519 = False

# Protocol versions as they appear on the wire.
VERSIONS: dict[str, int] = {"SSLv3": 0x0300, "TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
VERSION_NAMES: dict[int, str] = {code: name for name, code in VERSIONS.items()}
# Oldest first: SSLv3 (which only hand-built hellos still reach), then the collection's TLS versions.
VERSION_ORDER: tuple[str, ...] = ("SSLv3", *_x509.TLS_VERSIONS)

# Record content types, handshake message types and extensions used here.
_HANDSHAKE, _ALERT, _CHANGE_CIPHER_SPEC, _APPLICATION_DATA = 22, 21, 20, 23
_SERVER_HELLO, _CERTIFICATE, _SERVER_KEY_EXCHANGE, _CERTIFICATE_REQUEST, _SERVER_HELLO_DONE = 2, 11, 12, 13, 14
_CERTIFICATE_STATUS = 22
EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ENCRYPT_THEN_MAC = 0x0016
EXT_EXTENDED_MASTER_SECRET = 0x0017
EXT_SESSION_TICKET = 0x0023
EXT_SUPPORTED_VERSIONS = 0x002B
EXT_PSK_KEY_EXCHANGE_MODES = 0x002D
EXT_KEY_SHARE = 0x0033
EXT_RENEGOTIATION_INFO = 0xFF01

# The HelloRetryRequest is a ServerHello with this random (RFC 8446 4.1.3).
HELLO_RETRY_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()

COMPRESSION_NULL, COMPRESSION_DEFLATE = 0, 1

# Named groups (IANA TLS Supported Groups registry).
GROUPS: dict[int, str] = {
    19: "secp192r1", 20: "secp224k1", 21: "secp224r1", 22: "secp256k1", 23: "secp256r1", 24: "secp384r1",
    25: "secp521r1", 26: "brainpoolP256r1", 27: "brainpoolP384r1", 28: "brainpoolP512r1", 29: "x25519",
    30: "x448", 31: "brainpoolP256r1tls13", 32: "brainpoolP384r1tls13", 33: "brainpoolP512r1tls13",
    256: "ffdhe2048", 257: "ffdhe3072", 258: "ffdhe4096", 259: "ffdhe6144", 260: "ffdhe8192",
}
GROUP_IDS: dict[str, int] = {name: code for code, name in GROUPS.items()}
ELLIPTIC_GROUPS: tuple[int, ...] = tuple(code for code in GROUPS if code < 256)
FFDHE_GROUPS: tuple[int, ...] = tuple(code for code in GROUPS if 256 <= code < 512)

# Signature schemes (RFC 8446 4.2.3; TLS 1.2 hash/signature pairs share the code points).
SIGNATURE_SCHEMES: dict[int, str] = {
    0x0201: "rsa_pkcs1_sha1", 0x0202: "dsa_sha1", 0x0203: "ecdsa_sha1",
    0x0301: "rsa_pkcs1_sha224", 0x0302: "dsa_sha224", 0x0303: "ecdsa_sha224",
    0x0401: "rsa_pkcs1_sha256", 0x0402: "dsa_sha256", 0x0403: "ecdsa_secp256r1_sha256",
    0x0501: "rsa_pkcs1_sha384", 0x0502: "dsa_sha384", 0x0503: "ecdsa_secp384r1_sha384",
    0x0601: "rsa_pkcs1_sha512", 0x0602: "dsa_sha512", 0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519", 0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256", 0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
}
# Strong schemes first, the SHA-224 and SHA-1 ones last, so that a server picks SHA-2 when it can and
# a legacy-only server still answers.
DEFAULT_SIGNATURE_SCHEMES: tuple[int, ...] = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B,
    0x0401, 0x0501, 0x0601, 0x0402, 0x0502, 0x0602, 0x0303, 0x0301, 0x0302, 0x0203, 0x0201, 0x0202,
)
SHA1_SIGNATURE_SCHEMES: tuple[int, ...] = (0x0203, 0x0201, 0x0202)
SHA224_SIGNATURE_SCHEMES: tuple[int, ...] = (0x0303, 0x0301, 0x0302)

ALERTS: dict[int, str] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate", 47: "illegal_parameter",
    50: "decode_error", 51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name", 120: "no_application_protocol",
}

_MAX_RECORD = 16384 + 2048
_MAX_FLIGHT = 256 * 1024


# ------------------------------------------------------------------------------------------------
# RFC 7919 FFDHE primes, computed from their definition (Appendix A) rather than pasted:
#   p = 2^b - 2^(b-64) + {[2^(b-130) e] + X} * 2^64 - 1
# ------------------------------------------------------------------------------------------------
_FFDHE_X: dict[int, int] = {2048: 560316, 3072: 2625351, 4096: 5736041, 6144: 15705020, 8192: 10965728}
_FFDHE_PRIMES: dict[int, int] = {}


def _e_times_2_to(bits: int) -> int:
    """floor(e * 2^bits), from the series sum 1/k! in integer arithmetic with 64 guard bits."""
    one = 1 << (bits + 64)
    total, term, k = 0, one, 0
    while term:
        total += term
        k += 1
        term //= k
    return total >> 64


def ffdhe_prime(bits: int) -> int:
    """The RFC 7919 ffdhe<bits> prime (generator 2)."""
    if bits not in _FFDHE_PRIMES:
        _FFDHE_PRIMES[bits] = 2**bits - 2 ** (bits - 64) + (_e_times_2_to(bits - 130) + _FFDHE_X[bits]) * 2**64 - 1
    return _FFDHE_PRIMES[bits]


def identify_dh_group(prime: int, generator: int) -> str | None:
    """``ffdhe2048`` .. ``ffdhe8192`` for an RFC 7919 group, None for any other (custom) group."""
    if generator != 2:
        return None
    bits = prime.bit_length()
    if bits in _FFDHE_X and prime == ffdhe_prime(bits):
        return f"ffdhe{bits}"
    return None


# ------------------------------------------------------------------------------------------------
# Cipher suites: code, IANA name, OpenSSL name ("-" where OpenSSL has none).
# ------------------------------------------------------------------------------------------------
_SUITE_TABLE = """
0001 TLS_RSA_WITH_NULL_MD5 NULL-MD5
0002 TLS_RSA_WITH_NULL_SHA NULL-SHA
0003 TLS_RSA_EXPORT_WITH_RC4_40_MD5 EXP-RC4-MD5
0004 TLS_RSA_WITH_RC4_128_MD5 RC4-MD5
0005 TLS_RSA_WITH_RC4_128_SHA RC4-SHA
0006 TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5 EXP-RC2-CBC-MD5
0007 TLS_RSA_WITH_IDEA_CBC_SHA IDEA-CBC-SHA
0008 TLS_RSA_EXPORT_WITH_DES40_CBC_SHA EXP-DES-CBC-SHA
0009 TLS_RSA_WITH_DES_CBC_SHA DES-CBC-SHA
000A TLS_RSA_WITH_3DES_EDE_CBC_SHA DES-CBC3-SHA
000B TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA EXP-DH-DSS-DES-CBC-SHA
000C TLS_DH_DSS_WITH_DES_CBC_SHA DH-DSS-DES-CBC-SHA
000D TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA DH-DSS-DES-CBC3-SHA
000E TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA EXP-DH-RSA-DES-CBC-SHA
000F TLS_DH_RSA_WITH_DES_CBC_SHA DH-RSA-DES-CBC-SHA
0010 TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA DH-RSA-DES-CBC3-SHA
0011 TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA EXP-EDH-DSS-DES-CBC-SHA
0012 TLS_DHE_DSS_WITH_DES_CBC_SHA EDH-DSS-DES-CBC-SHA
0013 TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA EDH-DSS-DES-CBC3-SHA
0014 TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA EXP-EDH-RSA-DES-CBC-SHA
0015 TLS_DHE_RSA_WITH_DES_CBC_SHA EDH-RSA-DES-CBC-SHA
0016 TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA EDH-RSA-DES-CBC3-SHA
0017 TLS_DH_anon_EXPORT_WITH_RC4_40_MD5 EXP-ADH-RC4-MD5
0018 TLS_DH_anon_WITH_RC4_128_MD5 ADH-RC4-MD5
0019 TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA EXP-ADH-DES-CBC-SHA
001A TLS_DH_anon_WITH_DES_CBC_SHA ADH-DES-CBC-SHA
001B TLS_DH_anon_WITH_3DES_EDE_CBC_SHA ADH-DES-CBC3-SHA
001E TLS_KRB5_WITH_DES_CBC_SHA KRB5-DES-CBC-SHA
001F TLS_KRB5_WITH_3DES_EDE_CBC_SHA KRB5-DES-CBC3-SHA
0020 TLS_KRB5_WITH_RC4_128_SHA KRB5-RC4-SHA
0021 TLS_KRB5_WITH_IDEA_CBC_SHA KRB5-IDEA-CBC-SHA
0022 TLS_KRB5_WITH_DES_CBC_MD5 KRB5-DES-CBC-MD5
0023 TLS_KRB5_WITH_3DES_EDE_CBC_MD5 KRB5-DES-CBC3-MD5
0024 TLS_KRB5_WITH_RC4_128_MD5 KRB5-RC4-MD5
0025 TLS_KRB5_WITH_IDEA_CBC_MD5 KRB5-IDEA-CBC-MD5
0026 TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA EXP-KRB5-DES-CBC-SHA
0027 TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA EXP-KRB5-RC2-CBC-SHA
0028 TLS_KRB5_EXPORT_WITH_RC4_40_SHA EXP-KRB5-RC4-SHA
0029 TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5 EXP-KRB5-DES-CBC-MD5
002A TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5 EXP-KRB5-RC2-CBC-MD5
002B TLS_KRB5_EXPORT_WITH_RC4_40_MD5 EXP-KRB5-RC4-MD5
002C TLS_PSK_WITH_NULL_SHA PSK-NULL-SHA
002D TLS_DHE_PSK_WITH_NULL_SHA DHE-PSK-NULL-SHA
002E TLS_RSA_PSK_WITH_NULL_SHA RSA-PSK-NULL-SHA
002F TLS_RSA_WITH_AES_128_CBC_SHA AES128-SHA
0030 TLS_DH_DSS_WITH_AES_128_CBC_SHA DH-DSS-AES128-SHA
0031 TLS_DH_RSA_WITH_AES_128_CBC_SHA DH-RSA-AES128-SHA
0032 TLS_DHE_DSS_WITH_AES_128_CBC_SHA DHE-DSS-AES128-SHA
0033 TLS_DHE_RSA_WITH_AES_128_CBC_SHA DHE-RSA-AES128-SHA
0034 TLS_DH_anon_WITH_AES_128_CBC_SHA ADH-AES128-SHA
0035 TLS_RSA_WITH_AES_256_CBC_SHA AES256-SHA
0036 TLS_DH_DSS_WITH_AES_256_CBC_SHA DH-DSS-AES256-SHA
0037 TLS_DH_RSA_WITH_AES_256_CBC_SHA DH-RSA-AES256-SHA
0038 TLS_DHE_DSS_WITH_AES_256_CBC_SHA DHE-DSS-AES256-SHA
0039 TLS_DHE_RSA_WITH_AES_256_CBC_SHA DHE-RSA-AES256-SHA
003A TLS_DH_anon_WITH_AES_256_CBC_SHA ADH-AES256-SHA
003B TLS_RSA_WITH_NULL_SHA256 NULL-SHA256
003C TLS_RSA_WITH_AES_128_CBC_SHA256 AES128-SHA256
003D TLS_RSA_WITH_AES_256_CBC_SHA256 AES256-SHA256
003E TLS_DH_DSS_WITH_AES_128_CBC_SHA256 DH-DSS-AES128-SHA256
003F TLS_DH_RSA_WITH_AES_128_CBC_SHA256 DH-RSA-AES128-SHA256
0040 TLS_DHE_DSS_WITH_AES_128_CBC_SHA256 DHE-DSS-AES128-SHA256
0041 TLS_RSA_WITH_CAMELLIA_128_CBC_SHA CAMELLIA128-SHA
0042 TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA DH-DSS-CAMELLIA128-SHA
0043 TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA DH-RSA-CAMELLIA128-SHA
0044 TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA DHE-DSS-CAMELLIA128-SHA
0045 TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA DHE-RSA-CAMELLIA128-SHA
0046 TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA ADH-CAMELLIA128-SHA
0060 TLS_RSA_EXPORT1024_WITH_RC4_56_MD5 EXP1024-RC4-MD5
0061 TLS_RSA_EXPORT1024_WITH_RC2_56_MD5 EXP1024-RC2-CBC-MD5
0062 TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA EXP1024-DES-CBC-SHA
0063 TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA EXP1024-DHE-DSS-DES-CBC-SHA
0064 TLS_RSA_EXPORT1024_WITH_RC4_56_SHA EXP1024-RC4-SHA
0065 TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA EXP1024-DHE-DSS-RC4-SHA
0066 TLS_DHE_DSS_WITH_RC4_128_SHA DHE-DSS-RC4-SHA
0067 TLS_DHE_RSA_WITH_AES_128_CBC_SHA256 DHE-RSA-AES128-SHA256
0068 TLS_DH_DSS_WITH_AES_256_CBC_SHA256 DH-DSS-AES256-SHA256
0069 TLS_DH_RSA_WITH_AES_256_CBC_SHA256 DH-RSA-AES256-SHA256
006A TLS_DHE_DSS_WITH_AES_256_CBC_SHA256 DHE-DSS-AES256-SHA256
006B TLS_DHE_RSA_WITH_AES_256_CBC_SHA256 DHE-RSA-AES256-SHA256
006C TLS_DH_anon_WITH_AES_128_CBC_SHA256 ADH-AES128-SHA256
006D TLS_DH_anon_WITH_AES_256_CBC_SHA256 ADH-AES256-SHA256
0080 TLS_GOSTR341094_WITH_28147_CNT_IMIT GOST94-GOST89-GOST89
0081 TLS_GOSTR341001_WITH_28147_CNT_IMIT GOST2001-GOST89-GOST89
0082 TLS_GOSTR341094_WITH_NULL_GOSTR3411 GOST94-NULL-GOST94
0083 TLS_GOSTR341001_WITH_NULL_GOSTR3411 GOST2001-NULL-GOST94
0084 TLS_RSA_WITH_CAMELLIA_256_CBC_SHA CAMELLIA256-SHA
0085 TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA DH-DSS-CAMELLIA256-SHA
0086 TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA DH-RSA-CAMELLIA256-SHA
0087 TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA DHE-DSS-CAMELLIA256-SHA
0088 TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA DHE-RSA-CAMELLIA256-SHA
0089 TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA ADH-CAMELLIA256-SHA
008A TLS_PSK_WITH_RC4_128_SHA PSK-RC4-SHA
008B TLS_PSK_WITH_3DES_EDE_CBC_SHA PSK-3DES-EDE-CBC-SHA
008C TLS_PSK_WITH_AES_128_CBC_SHA PSK-AES128-CBC-SHA
008D TLS_PSK_WITH_AES_256_CBC_SHA PSK-AES256-CBC-SHA
008E TLS_DHE_PSK_WITH_RC4_128_SHA DHE-PSK-RC4-SHA
008F TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA DHE-PSK-3DES-EDE-CBC-SHA
0090 TLS_DHE_PSK_WITH_AES_128_CBC_SHA DHE-PSK-AES128-CBC-SHA
0091 TLS_DHE_PSK_WITH_AES_256_CBC_SHA DHE-PSK-AES256-CBC-SHA
0092 TLS_RSA_PSK_WITH_RC4_128_SHA RSA-PSK-RC4-SHA
0093 TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA RSA-PSK-3DES-EDE-CBC-SHA
0094 TLS_RSA_PSK_WITH_AES_128_CBC_SHA RSA-PSK-AES128-CBC-SHA
0095 TLS_RSA_PSK_WITH_AES_256_CBC_SHA RSA-PSK-AES256-CBC-SHA
0096 TLS_RSA_WITH_SEED_CBC_SHA SEED-SHA
0097 TLS_DH_DSS_WITH_SEED_CBC_SHA DH-DSS-SEED-SHA
0098 TLS_DH_RSA_WITH_SEED_CBC_SHA DH-RSA-SEED-SHA
0099 TLS_DHE_DSS_WITH_SEED_CBC_SHA DHE-DSS-SEED-SHA
009A TLS_DHE_RSA_WITH_SEED_CBC_SHA DHE-RSA-SEED-SHA
009B TLS_DH_anon_WITH_SEED_CBC_SHA ADH-SEED-SHA
009C TLS_RSA_WITH_AES_128_GCM_SHA256 AES128-GCM-SHA256
009D TLS_RSA_WITH_AES_256_GCM_SHA384 AES256-GCM-SHA384
009E TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 DHE-RSA-AES128-GCM-SHA256
009F TLS_DHE_RSA_WITH_AES_256_GCM_SHA384 DHE-RSA-AES256-GCM-SHA384
00A0 TLS_DH_RSA_WITH_AES_128_GCM_SHA256 DH-RSA-AES128-GCM-SHA256
00A1 TLS_DH_RSA_WITH_AES_256_GCM_SHA384 DH-RSA-AES256-GCM-SHA384
00A2 TLS_DHE_DSS_WITH_AES_128_GCM_SHA256 DHE-DSS-AES128-GCM-SHA256
00A3 TLS_DHE_DSS_WITH_AES_256_GCM_SHA384 DHE-DSS-AES256-GCM-SHA384
00A4 TLS_DH_DSS_WITH_AES_128_GCM_SHA256 DH-DSS-AES128-GCM-SHA256
00A5 TLS_DH_DSS_WITH_AES_256_GCM_SHA384 DH-DSS-AES256-GCM-SHA384
00A6 TLS_DH_anon_WITH_AES_128_GCM_SHA256 ADH-AES128-GCM-SHA256
00A7 TLS_DH_anon_WITH_AES_256_GCM_SHA384 ADH-AES256-GCM-SHA384
00A8 TLS_PSK_WITH_AES_128_GCM_SHA256 PSK-AES128-GCM-SHA256
00A9 TLS_PSK_WITH_AES_256_GCM_SHA384 PSK-AES256-GCM-SHA384
00AA TLS_DHE_PSK_WITH_AES_128_GCM_SHA256 DHE-PSK-AES128-GCM-SHA256
00AB TLS_DHE_PSK_WITH_AES_256_GCM_SHA384 DHE-PSK-AES256-GCM-SHA384
00AC TLS_RSA_PSK_WITH_AES_128_GCM_SHA256 RSA-PSK-AES128-GCM-SHA256
00AD TLS_RSA_PSK_WITH_AES_256_GCM_SHA384 RSA-PSK-AES256-GCM-SHA384
00AE TLS_PSK_WITH_AES_128_CBC_SHA256 PSK-AES128-CBC-SHA256
00AF TLS_PSK_WITH_AES_256_CBC_SHA384 PSK-AES256-CBC-SHA384
00B0 TLS_PSK_WITH_NULL_SHA256 PSK-NULL-SHA256
00B1 TLS_PSK_WITH_NULL_SHA384 PSK-NULL-SHA384
00B2 TLS_DHE_PSK_WITH_AES_128_CBC_SHA256 DHE-PSK-AES128-CBC-SHA256
00B3 TLS_DHE_PSK_WITH_AES_256_CBC_SHA384 DHE-PSK-AES256-CBC-SHA384
00B4 TLS_DHE_PSK_WITH_NULL_SHA256 DHE-PSK-NULL-SHA256
00B5 TLS_DHE_PSK_WITH_NULL_SHA384 DHE-PSK-NULL-SHA384
00B6 TLS_RSA_PSK_WITH_AES_128_CBC_SHA256 RSA-PSK-AES128-CBC-SHA256
00B7 TLS_RSA_PSK_WITH_AES_256_CBC_SHA384 RSA-PSK-AES256-CBC-SHA384
00B8 TLS_RSA_PSK_WITH_NULL_SHA256 RSA-PSK-NULL-SHA256
00B9 TLS_RSA_PSK_WITH_NULL_SHA384 RSA-PSK-NULL-SHA384
00BA TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256 CAMELLIA128-SHA256
00BB TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA256 DH-DSS-CAMELLIA128-SHA256
00BC TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA256 DH-RSA-CAMELLIA128-SHA256
00BD TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256 DHE-DSS-CAMELLIA128-SHA256
00BE TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256 DHE-RSA-CAMELLIA128-SHA256
00BF TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256 ADH-CAMELLIA128-SHA256
00C0 TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256 CAMELLIA256-SHA256
00C1 TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA256 DH-DSS-CAMELLIA256-SHA256
00C2 TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA256 DH-RSA-CAMELLIA256-SHA256
00C3 TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256 DHE-DSS-CAMELLIA256-SHA256
00C4 TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256 DHE-RSA-CAMELLIA256-SHA256
00C5 TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256 ADH-CAMELLIA256-SHA256
1301 TLS_AES_128_GCM_SHA256 TLS_AES_128_GCM_SHA256
1302 TLS_AES_256_GCM_SHA384 TLS_AES_256_GCM_SHA384
1303 TLS_CHACHA20_POLY1305_SHA256 TLS_CHACHA20_POLY1305_SHA256
1304 TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_SHA256
1305 TLS_AES_128_CCM_8_SHA256 TLS_AES_128_CCM_8_SHA256
16B7 TLS_CECPQ1_RSA_WITH_CHACHA20_POLY1305_SHA256 -
16B8 TLS_CECPQ1_ECDSA_WITH_CHACHA20_POLY1305_SHA256 -
16B9 TLS_CECPQ1_RSA_WITH_AES_256_GCM_SHA384 -
16BA TLS_CECPQ1_ECDSA_WITH_AES_256_GCM_SHA384 -
C001 TLS_ECDH_ECDSA_WITH_NULL_SHA ECDH-ECDSA-NULL-SHA
C002 TLS_ECDH_ECDSA_WITH_RC4_128_SHA ECDH-ECDSA-RC4-SHA
C003 TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA ECDH-ECDSA-DES-CBC3-SHA
C004 TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA ECDH-ECDSA-AES128-SHA
C005 TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA ECDH-ECDSA-AES256-SHA
C006 TLS_ECDHE_ECDSA_WITH_NULL_SHA ECDHE-ECDSA-NULL-SHA
C007 TLS_ECDHE_ECDSA_WITH_RC4_128_SHA ECDHE-ECDSA-RC4-SHA
C008 TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA ECDHE-ECDSA-DES-CBC3-SHA
C009 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA ECDHE-ECDSA-AES128-SHA
C00A TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA ECDHE-ECDSA-AES256-SHA
C00B TLS_ECDH_RSA_WITH_NULL_SHA ECDH-RSA-NULL-SHA
C00C TLS_ECDH_RSA_WITH_RC4_128_SHA ECDH-RSA-RC4-SHA
C00D TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA ECDH-RSA-DES-CBC3-SHA
C00E TLS_ECDH_RSA_WITH_AES_128_CBC_SHA ECDH-RSA-AES128-SHA
C00F TLS_ECDH_RSA_WITH_AES_256_CBC_SHA ECDH-RSA-AES256-SHA
C010 TLS_ECDHE_RSA_WITH_NULL_SHA ECDHE-RSA-NULL-SHA
C011 TLS_ECDHE_RSA_WITH_RC4_128_SHA ECDHE-RSA-RC4-SHA
C012 TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA ECDHE-RSA-DES-CBC3-SHA
C013 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA ECDHE-RSA-AES128-SHA
C014 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA ECDHE-RSA-AES256-SHA
C015 TLS_ECDH_anon_WITH_NULL_SHA AECDH-NULL-SHA
C016 TLS_ECDH_anon_WITH_RC4_128_SHA AECDH-RC4-SHA
C017 TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA AECDH-DES-CBC3-SHA
C018 TLS_ECDH_anon_WITH_AES_128_CBC_SHA AECDH-AES128-SHA
C019 TLS_ECDH_anon_WITH_AES_256_CBC_SHA AECDH-AES256-SHA
C01A TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA SRP-3DES-EDE-CBC-SHA
C01B TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA SRP-RSA-3DES-EDE-CBC-SHA
C01C TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA SRP-DSS-3DES-EDE-CBC-SHA
C01D TLS_SRP_SHA_WITH_AES_128_CBC_SHA SRP-AES-128-CBC-SHA
C01E TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA SRP-RSA-AES-128-CBC-SHA
C01F TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA SRP-DSS-AES-128-CBC-SHA
C020 TLS_SRP_SHA_WITH_AES_256_CBC_SHA SRP-AES-256-CBC-SHA
C021 TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA SRP-RSA-AES-256-CBC-SHA
C022 TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA SRP-DSS-AES-256-CBC-SHA
C023 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 ECDHE-ECDSA-AES128-SHA256
C024 TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384 ECDHE-ECDSA-AES256-SHA384
C025 TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256 ECDH-ECDSA-AES128-SHA256
C026 TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384 ECDH-ECDSA-AES256-SHA384
C027 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 ECDHE-RSA-AES128-SHA256
C028 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384 ECDHE-RSA-AES256-SHA384
C029 TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256 ECDH-RSA-AES128-SHA256
C02A TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384 ECDH-RSA-AES256-SHA384
C02B TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 ECDHE-ECDSA-AES128-GCM-SHA256
C02C TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 ECDHE-ECDSA-AES256-GCM-SHA384
C02D TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256 ECDH-ECDSA-AES128-GCM-SHA256
C02E TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384 ECDH-ECDSA-AES256-GCM-SHA384
C02F TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ECDHE-RSA-AES128-GCM-SHA256
C030 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 ECDHE-RSA-AES256-GCM-SHA384
C031 TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256 ECDH-RSA-AES128-GCM-SHA256
C032 TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384 ECDH-RSA-AES256-GCM-SHA384
C033 TLS_ECDHE_PSK_WITH_RC4_128_SHA ECDHE-PSK-RC4-SHA
C034 TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA ECDHE-PSK-3DES-EDE-CBC-SHA
C035 TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA ECDHE-PSK-AES128-CBC-SHA
C036 TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA ECDHE-PSK-AES256-CBC-SHA
C037 TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256 ECDHE-PSK-AES128-CBC-SHA256
C038 TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384 ECDHE-PSK-AES256-CBC-SHA384
C039 TLS_ECDHE_PSK_WITH_NULL_SHA ECDHE-PSK-NULL-SHA
C03A TLS_ECDHE_PSK_WITH_NULL_SHA256 ECDHE-PSK-NULL-SHA256
C03B TLS_ECDHE_PSK_WITH_NULL_SHA384 ECDHE-PSK-NULL-SHA384
C03C TLS_RSA_WITH_ARIA_128_CBC_SHA256 ARIA128-CBC-SHA256
C03D TLS_RSA_WITH_ARIA_256_CBC_SHA384 ARIA256-CBC-SHA384
C03E TLS_DH_DSS_WITH_ARIA_128_CBC_SHA256 -
C03F TLS_DH_DSS_WITH_ARIA_256_CBC_SHA384 -
C040 TLS_DH_RSA_WITH_ARIA_128_CBC_SHA256 -
C041 TLS_DH_RSA_WITH_ARIA_256_CBC_SHA384 -
C042 TLS_DHE_DSS_WITH_ARIA_128_CBC_SHA256 DHE-DSS-ARIA128-CBC-SHA256
C043 TLS_DHE_DSS_WITH_ARIA_256_CBC_SHA384 DHE-DSS-ARIA256-CBC-SHA384
C044 TLS_DHE_RSA_WITH_ARIA_128_CBC_SHA256 DHE-RSA-ARIA128-CBC-SHA256
C045 TLS_DHE_RSA_WITH_ARIA_256_CBC_SHA384 DHE-RSA-ARIA256-CBC-SHA384
C046 TLS_DH_anon_WITH_ARIA_128_CBC_SHA256 DH-anon-ARIA128-CBC-SHA256
C047 TLS_DH_anon_WITH_ARIA_256_CBC_SHA384 DH-anon-ARIA256-CBC-SHA384
C048 TLS_ECDHE_ECDSA_WITH_ARIA_128_CBC_SHA256 ECDHE-ECDSA-ARIA128-CBC-SHA256
C049 TLS_ECDHE_ECDSA_WITH_ARIA_256_CBC_SHA384 ECDHE-ECDSA-ARIA256-CBC-SHA384
C04A TLS_ECDH_ECDSA_WITH_ARIA_128_CBC_SHA256 -
C04B TLS_ECDH_ECDSA_WITH_ARIA_256_CBC_SHA384 -
C04C TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256 ECDHE-RSA-ARIA128-CBC-SHA256
C04D TLS_ECDHE_RSA_WITH_ARIA_256_CBC_SHA384 ECDHE-RSA-ARIA256-CBC-SHA384
C04E TLS_ECDH_RSA_WITH_ARIA_128_CBC_SHA256 -
C04F TLS_ECDH_RSA_WITH_ARIA_256_CBC_SHA384 -
C050 TLS_RSA_WITH_ARIA_128_GCM_SHA256 ARIA128-GCM-SHA256
C051 TLS_RSA_WITH_ARIA_256_GCM_SHA384 ARIA256-GCM-SHA384
C052 TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256 DHE-RSA-ARIA128-GCM-SHA256
C053 TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384 DHE-RSA-ARIA256-GCM-SHA384
C054 TLS_DH_RSA_WITH_ARIA_128_GCM_SHA256 DH-RSA-ARIA128-GCM-SHA256
C055 TLS_DH_RSA_WITH_ARIA_256_GCM_SHA384 DH-RSA-ARIA256-GCM-SHA384
C056 TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256 DHE-DSS-ARIA128-GCM-SHA256
C057 TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384 DHE-DSS-ARIA256-GCM-SHA384
C058 TLS_DH_DSS_WITH_ARIA_128_GCM_SHA256 DH-DSS-ARIA128-GCM-SHA256
C059 TLS_DH_DSS_WITH_ARIA_256_GCM_SHA384 DH-DSS-ARIA256-GCM-SHA384
C05A TLS_DH_anon_WITH_ARIA_128_GCM_SHA256 ADH-ARIA128-GCM-SHA256
C05B TLS_DH_anon_WITH_ARIA_256_GCM_SHA384 ADH-ARIA256-GCM-SHA384
C05C TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256 ECDHE-ECDSA-ARIA128-GCM-SHA256
C05D TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384 ECDHE-ECDSA-ARIA256-GCM-SHA384
C05E TLS_ECDH_ECDSA_WITH_ARIA_128_GCM_SHA256 ECDH-ECDSA-ARIA128-GCM-SHA256
C05F TLS_ECDH_ECDSA_WITH_ARIA_256_GCM_SHA384 ECDH-ECDSA-ARIA256-GCM-SHA384
C060 TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256 ECDHE-ARIA128-GCM-SHA256
C061 TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384 ECDHE-ARIA256-GCM-SHA384
C062 TLS_ECDH_RSA_WITH_ARIA_128_GCM_SHA256 ECDH-ARIA128-GCM-SHA256
C063 TLS_ECDH_RSA_WITH_ARIA_256_GCM_SHA384 ECDH-ARIA256-GCM-SHA384
C064 TLS_PSK_WITH_ARIA_128_CBC_SHA256 -
C065 TLS_PSK_WITH_ARIA_256_CBC_SHA384 -
C066 TLS_DHE_PSK_WITH_ARIA_128_CBC_SHA256 -
C067 TLS_DHE_PSK_WITH_ARIA_256_CBC_SHA384 -
C068 TLS_RSA_PSK_WITH_ARIA_128_CBC_SHA256 -
C069 TLS_RSA_PSK_WITH_ARIA_256_CBC_SHA384 -
C06A TLS_PSK_WITH_ARIA_128_GCM_SHA256 PSK-ARIA128-GCM-SHA256
C06B TLS_PSK_WITH_ARIA_256_GCM_SHA384 PSK-ARIA256-GCM-SHA384
C06C TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256 DHE-PSK-ARIA128-GCM-SHA256
C06D TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384 DHE-PSK-ARIA256-GCM-SHA384
C06E TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256 RSA-PSK-ARIA128-GCM-SHA256
C06F TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384 RSA-PSK-ARIA256-GCM-SHA384
C070 TLS_ECDHE_PSK_WITH_ARIA_128_CBC_SHA256 -
C071 TLS_ECDHE_PSK_WITH_ARIA_256_CBC_SHA384 -
C072 TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256 ECDHE-ECDSA-CAMELLIA128-SHA256
C073 TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384 ECDHE-ECDSA-CAMELLIA256-SHA384
C074 TLS_ECDH_ECDSA_WITH_CAMELLIA_128_CBC_SHA256 ECDH-ECDSA-CAMELLIA128-SHA256
C075 TLS_ECDH_ECDSA_WITH_CAMELLIA_256_CBC_SHA384 ECDH-ECDSA-CAMELLIA256-SHA384
C076 TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256 ECDHE-RSA-CAMELLIA128-SHA256
C077 TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384 ECDHE-RSA-CAMELLIA256-SHA384
C078 TLS_ECDH_RSA_WITH_CAMELLIA_128_CBC_SHA256 ECDH-RSA-CAMELLIA128-SHA256
C079 TLS_ECDH_RSA_WITH_CAMELLIA_256_CBC_SHA384 ECDH-RSA-CAMELLIA256-SHA384
C07A TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256 -
C07B TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384 -
C07C TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256 -
C07D TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384 -
C07E TLS_DH_RSA_WITH_CAMELLIA_128_GCM_SHA256 -
C07F TLS_DH_RSA_WITH_CAMELLIA_256_GCM_SHA384 -
C080 TLS_DHE_DSS_WITH_CAMELLIA_128_GCM_SHA256 -
C081 TLS_DHE_DSS_WITH_CAMELLIA_256_GCM_SHA384 -
C082 TLS_DH_DSS_WITH_CAMELLIA_128_GCM_SHA256 -
C083 TLS_DH_DSS_WITH_CAMELLIA_256_GCM_SHA384 -
C084 TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256 -
C085 TLS_DH_anon_WITH_CAMELLIA_256_GCM_SHA384 -
C086 TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256 -
C087 TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384 -
C088 TLS_ECDH_ECDSA_WITH_CAMELLIA_128_GCM_SHA256 -
C089 TLS_ECDH_ECDSA_WITH_CAMELLIA_256_GCM_SHA384 -
C08A TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256 -
C08B TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384 -
C08C TLS_ECDH_RSA_WITH_CAMELLIA_128_GCM_SHA256 -
C08D TLS_ECDH_RSA_WITH_CAMELLIA_256_GCM_SHA384 -
C08E TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256 -
C08F TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384 -
C090 TLS_DHE_PSK_WITH_CAMELLIA_128_GCM_SHA256 -
C091 TLS_DHE_PSK_WITH_CAMELLIA_256_GCM_SHA384 -
C092 TLS_RSA_PSK_WITH_CAMELLIA_128_GCM_SHA256 -
C093 TLS_RSA_PSK_WITH_CAMELLIA_256_GCM_SHA384 -
C094 TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256 PSK-CAMELLIA128-SHA256
C095 TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384 PSK-CAMELLIA256-SHA384
C096 TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256 DHE-PSK-CAMELLIA128-SHA256
C097 TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384 DHE-PSK-CAMELLIA256-SHA384
C098 TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256 RSA-PSK-CAMELLIA128-SHA256
C099 TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384 RSA-PSK-CAMELLIA256-SHA384
C09A TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256 ECDHE-PSK-CAMELLIA128-SHA256
C09B TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384 ECDHE-PSK-CAMELLIA256-SHA384
C09C TLS_RSA_WITH_AES_128_CCM AES128-CCM
C09D TLS_RSA_WITH_AES_256_CCM AES256-CCM
C09E TLS_DHE_RSA_WITH_AES_128_CCM DHE-RSA-AES128-CCM
C09F TLS_DHE_RSA_WITH_AES_256_CCM DHE-RSA-AES256-CCM
C0A0 TLS_RSA_WITH_AES_128_CCM_8 AES128-CCM8
C0A1 TLS_RSA_WITH_AES_256_CCM_8 AES256-CCM8
C0A2 TLS_DHE_RSA_WITH_AES_128_CCM_8 DHE-RSA-AES128-CCM8
C0A3 TLS_DHE_RSA_WITH_AES_256_CCM_8 DHE-RSA-AES256-CCM8
C0A4 TLS_PSK_WITH_AES_128_CCM PSK-AES128-CCM
C0A5 TLS_PSK_WITH_AES_256_CCM PSK-AES256-CCM
C0A6 TLS_DHE_PSK_WITH_AES_128_CCM DHE-PSK-AES128-CCM
C0A7 TLS_DHE_PSK_WITH_AES_256_CCM DHE-PSK-AES256-CCM
C0A8 TLS_PSK_WITH_AES_128_CCM_8 PSK-AES128-CCM8
C0A9 TLS_PSK_WITH_AES_256_CCM_8 PSK-AES256-CCM8
C0AA TLS_PSK_DHE_WITH_AES_128_CCM_8 DHE-PSK-AES128-CCM8
C0AB TLS_PSK_DHE_WITH_AES_256_CCM_8 DHE-PSK-AES256-CCM8
C0AC TLS_ECDHE_ECDSA_WITH_AES_128_CCM ECDHE-ECDSA-AES128-CCM
C0AD TLS_ECDHE_ECDSA_WITH_AES_256_CCM ECDHE-ECDSA-AES256-CCM
C0AE TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 ECDHE-ECDSA-AES128-CCM8
C0AF TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8 ECDHE-ECDSA-AES256-CCM8
CCA8 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 ECDHE-RSA-CHACHA20-POLY1305
CCA9 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 ECDHE-ECDSA-CHACHA20-POLY1305
CCAA TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256 DHE-RSA-CHACHA20-POLY1305
CCAB TLS_PSK_WITH_CHACHA20_POLY1305_SHA256 PSK-CHACHA20-POLY1305
CCAC TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256 ECDHE-PSK-CHACHA20-POLY1305
CCAD TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256 DHE-PSK-CHACHA20-POLY1305
CCAE TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256 RSA-PSK-CHACHA20-POLY1305
FF00 TLS_GOSTR341094_RSA_WITH_28147_CNT_MD5 GOST-MD5
FF01 TLS_RSA_WITH_28147_CNT_GOST94 GOST-GOST94
"""


@dataclass(frozen=True)
class Suite:
    code: int
    name: str
    openssl: str | None

    @property
    def hex(self) -> str:
        return f"0x{self.code:04X}"

    @property
    def tls13(self) -> bool:
        return 0x1301 <= self.code <= 0x13FF

    @property
    def key_exchange(self) -> str:
        """``TLS13``, ``ECDHE``, ``DHE``, ``RSA``, ``ECDH``, ``DH``, ``PSK`` ... from the IANA name."""
        if self.tls13:
            return "TLS13"
        body = self.name[4:].split("_WITH_", 1)[0]
        return body.split("_", 1)[0]

    @property
    def authentication(self) -> str:
        """``RSA``, ``ECDSA``, ``DSS``, ``anon``, ``PSK`` ... (``any`` for TLS 1.3)."""
        if self.tls13:
            return "any"
        body = self.name[4:].split("_WITH_", 1)[0].split("_")
        return body[1] if len(body) > 1 and body[0] in ("ECDHE", "DHE", "ECDH", "DH", "SRP") else body[0]

    @property
    def forward_secret(self) -> bool:
        return self.tls13 or self.key_exchange in ("ECDHE", "DHE")


def _load_suites() -> dict[int, Suite]:
    suites: dict[int, Suite] = {}
    for line in _SUITE_TABLE.strip().splitlines():
        code, name, openssl = line.split()
        suites[int(code, 16)] = Suite(int(code, 16), name, None if openssl == "-" else openssl)
    return suites


SUITES: dict[int, Suite] = _load_suites()
SUITES_BY_NAME: dict[str, Suite] = {suite.name: suite for suite in SUITES.values()}
TLS13_SUITES: tuple[int, ...] = tuple(code for code in SUITES if SUITES[code].tls13)
TLS12_SUITES: tuple[int, ...] = tuple(code for code in SUITES if not SUITES[code].tls13)


def suite(code: int) -> Suite:
    """The suite with this code; an unknown code gets a placeholder name."""
    return SUITES.get(code) or Suite(code, f"UNKNOWN_0x{code:04X}", None)


# ------------------------------------------------------------------------------------------------
# ClientHello
# ------------------------------------------------------------------------------------------------
def _u8(value: int) -> bytes:
    return struct.pack("!B", value)


def _u16(value: int) -> bytes:
    return struct.pack("!H", value)


def _u24(value: int) -> bytes:
    return struct.pack("!I", value)[1:]


def _vec8(data: bytes) -> bytes:
    return _u8(len(data)) + data


def _vec16(data: bytes) -> bytes:
    return _u16(len(data)) + data


def _extension(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _vec16(body)


def _x25519_public() -> bytes:
    if _HAS_X25519:
        return x25519.X25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return os.urandom(32)


@dataclass(frozen=True)
class Hello:
    """What one ClientHello offers. ``version`` is the highest version offered; for TLS 1.3 the
    legacy fields say TLS 1.2 and ``supported_versions`` carries the real offer."""

    version: str
    suites: tuple[int, ...]
    server_name: str | None = None
    groups: tuple[int, ...] = (29, 23, 30, 25, 24)
    signature_schemes: tuple[int, ...] = DEFAULT_SIGNATURE_SCHEMES
    compression: tuple[int, ...] = (COMPRESSION_NULL,)
    key_share_x25519: bool = True
    extended_master_secret: bool = True
    renegotiation_info: bool = True
    extensions: bool = True


def client_hello(hello: Hello) -> bytes:
    """The ClientHello as one TLS record, ready to send."""
    wire = VERSIONS[hello.version]
    tls13 = wire == 0x0304
    legacy = 0x0303 if tls13 else wire
    body = _u16(legacy) + os.urandom(32)
    body += _vec8(os.urandom(32) if tls13 else b"")
    body += _vec16(b"".join(_u16(code) for code in hello.suites))
    body += _vec8(bytes(hello.compression))
    extensions = b""
    if hello.extensions:
        if hello.server_name:
            name = hello.server_name.encode("idna")
            extensions += _extension(EXT_SERVER_NAME, _vec16(_u8(0) + _vec16(name)))
        if hello.groups:
            extensions += _extension(EXT_SUPPORTED_GROUPS, _vec16(b"".join(_u16(g) for g in hello.groups)))
        if any(g < 256 for g in hello.groups):
            extensions += _extension(EXT_EC_POINT_FORMATS, _vec8(b"\x00"))
        if wire >= 0x0303 and hello.signature_schemes:
            extensions += _extension(EXT_SIGNATURE_ALGORITHMS,
                                     _vec16(b"".join(_u16(s) for s in hello.signature_schemes)))
        extensions += _extension(EXT_SESSION_TICKET, b"")
        if hello.extended_master_secret:
            extensions += _extension(EXT_EXTENDED_MASTER_SECRET, b"")
        if hello.renegotiation_info:
            extensions += _extension(EXT_RENEGOTIATION_INFO, _vec8(b""))
        if tls13:
            extensions += _extension(EXT_SUPPORTED_VERSIONS, _vec8(_u16(0x0304)))
            extensions += _extension(EXT_PSK_KEY_EXCHANGE_MODES, _vec8(b"\x01"))
            shares = b""
            if hello.key_share_x25519 and 29 in hello.groups:
                shares = _u16(29) + _vec16(_x25519_public())
            extensions += _extension(EXT_KEY_SHARE, _vec16(shares))
        body += _vec16(extensions)
    message = _u8(1) + _u24(len(body)) + body
    # The record version of a first ClientHello is TLS 1.0 for anything newer (RFC 8446 5.1).
    record_version = 0x0300 if wire == 0x0300 else 0x0301
    return _u8(_HANDSHAKE) + _u16(record_version) + _vec16(message)


# ------------------------------------------------------------------------------------------------
# The server's first flight
# ------------------------------------------------------------------------------------------------
class WireError(Exception):
    """The server's answer is not well-formed TLS (or not TLS at all)."""


@dataclass
class ServerKeyExchange:
    """What the server's ServerKeyExchange (TLS 1.2 and older) says."""

    kind: str  # "ECDHE" or "DHE"
    group: str | None = None  # named curve or ffdhe group name; None for a custom DH group
    group_id: int | None = None
    dh_bits: int | None = None
    dh_prime: int | None = field(default=None, repr=False)
    dh_generator: int | None = None
    signature_scheme: int | None = None


@dataclass
class Flight:
    """The server's answer to one ClientHello, as far as it goes in the clear."""

    alert: tuple[int, int] | None = None
    version: str | None = None  # the negotiated version (supported_versions for TLS 1.3)
    suite: int | None = None
    compression: int | None = None
    session_id: bytes = b""
    extensions: dict[int, bytes] = field(default_factory=dict)
    hello_retry: bool = False
    selected_group: int | None = None  # TLS 1.3 key_share / HelloRetryRequest group
    certificates: list[bytes] = field(default_factory=list)
    key_exchange: ServerKeyExchange | None = None
    done: bool = False
    closed: bool = False

    @property
    def accepted(self) -> bool:
        """The server chose a version and suite (a HelloRetryRequest counts: it agreed to TLS 1.3)."""
        return self.suite is not None and self.version is not None

    @property
    def alert_name(self) -> str | None:
        if self.alert is None:
            return None
        return ALERTS.get(self.alert[1], f"alert {self.alert[1]}")

    @property
    def refusal(self) -> str:
        if self.alert is not None:
            return f"alert {self.alert_name}"
        if self.closed:
            return "connection closed"
        return "no ServerHello"


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""
        self.total = 0

    def _fill(self, size: int) -> bool:
        while len(self.buffer) < size:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete answer in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(max(4096, size - len(self.buffer)))
            if not chunk:
                return False
            self.total += len(chunk)
            if self.total > _MAX_FLIGHT:
                raise WireError("the server sent more than a handshake flight")
            self.buffer += chunk
        return True

    def record(self) -> tuple[int, int, bytes] | None:
        if not self._fill(5):
            return None
        kind, version, length = struct.unpack("!BHH", self.buffer[:5])
        if kind not in (_HANDSHAKE, _ALERT, _CHANGE_CIPHER_SPEC, _APPLICATION_DATA) or version >> 8 != 3:
            raise WireError(f"not a TLS record (starts with {self.buffer[:5].hex()})")
        if length > _MAX_RECORD:
            raise WireError("record too long")
        if not self._fill(5 + length):
            return None
        payload = self.buffer[5:5 + length]
        self.buffer = self.buffer[5 + length:]
        return kind, version, payload


class _Cursor:
    """Bounds-checked reads from one message body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise WireError("message shorter than its fields")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("!H", self.take(2))[0]

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vec8(self) -> bytes:
        return self.take(self.u8())

    def vec16(self) -> bytes:
        return self.take(self.u16())

    def vec24(self) -> bytes:
        return self.take(self.u24())

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def parse_server_hello(body: bytes, flight: Flight) -> None:
    cursor = _Cursor(body)
    legacy = cursor.u16()
    random = cursor.take(32)
    flight.session_id = cursor.vec8()
    flight.suite = cursor.u16()
    flight.compression = cursor.u8()
    if cursor.left:
        extensions = _Cursor(cursor.vec16())
        while extensions.left:
            kind = extensions.u16()
            flight.extensions[kind] = extensions.vec16()
    flight.hello_retry = random == HELLO_RETRY_RANDOM
    chosen = flight.extensions.get(EXT_SUPPORTED_VERSIONS)
    version = struct.unpack("!H", chosen[:2])[0] if chosen and len(chosen) >= 2 else legacy
    flight.version = VERSION_NAMES.get(version, f"0x{version:04x}")
    share = flight.extensions.get(EXT_KEY_SHARE)
    if share and len(share) >= 2:
        flight.selected_group = struct.unpack("!H", share[:2])[0]


def parse_server_key_exchange(body: bytes, flight: Flight) -> None:
    kind = suite(flight.suite or 0).key_exchange
    cursor = _Cursor(body)
    if kind == "ECDHE":
        curve_type = cursor.u8()
        if curve_type != 3:
            raise WireError(f"ServerKeyExchange with curve type {curve_type} (only named curves are in use)")
        group = cursor.u16()
        cursor.vec8()
        exchange = ServerKeyExchange(kind="ECDHE", group=GROUPS.get(group, f"group {group}"), group_id=group)
    elif kind == "DHE":
        prime = int.from_bytes(cursor.vec16(), "big")
        generator = int.from_bytes(cursor.vec16(), "big")
        cursor.vec16()
        name = identify_dh_group(prime, generator)
        exchange = ServerKeyExchange(kind="DHE", group=name, group_id=GROUP_IDS.get(name or ""),
                                     dh_bits=prime.bit_length(), dh_prime=prime, dh_generator=generator)
    else:
        return  # RSA/PSK key exchanges sign nothing the grader needs
    if flight.version == "TLSv1.2" and cursor.left >= 2:
        exchange.signature_scheme = cursor.u16()
    flight.key_exchange = exchange


def parse_certificates(body: bytes) -> list[bytes]:
    cursor = _Cursor(body)
    entries = _Cursor(cursor.vec24())
    out = []
    while entries.left:
        out.append(entries.vec24())
    return out


def read_flight(sock: socket.socket, *, timeout: float) -> Flight:
    """Read the server's answer up to ServerHelloDone (TLS 1.2 and older), the ServerHello (TLS 1.3,
    after which everything is encrypted), an alert, or the end of the connection."""
    flight = Flight()
    reader = _Reader(sock, time.monotonic() + timeout)
    pending = b""
    while True:
        try:
            record = reader.record()
        except (ConnectionResetError, BrokenPipeError):
            record = None
        if record is None:
            flight.closed = True
            return flight
        kind, _version, payload = record
        if kind == _ALERT:
            if len(payload) >= 2:
                flight.alert = (payload[0], payload[1])
            return flight
        if kind != _HANDSHAKE:
            return flight  # ChangeCipherSpec or encrypted data: the clear part is over
        pending += payload
        while len(pending) >= 4:
            msg_type = pending[0]
            length = int.from_bytes(pending[1:4], "big")
            if len(pending) < 4 + length:
                break
            body, pending = pending[4:4 + length], pending[4 + length:]
            if msg_type == _SERVER_HELLO:
                parse_server_hello(body, flight)
                if flight.hello_retry or flight.version == "TLSv1.3":
                    return flight
            elif msg_type == _CERTIFICATE:
                flight.certificates = parse_certificates(body)
            elif msg_type == _SERVER_KEY_EXCHANGE:
                parse_server_key_exchange(body, flight)
            elif msg_type == _SERVER_HELLO_DONE:
                flight.done = True
                return flight
            elif msg_type not in (_CERTIFICATE_REQUEST, _CERTIFICATE_STATUS):
                raise WireError(f"unexpected handshake message {msg_type} before ServerHelloDone")


def exchange(sock: socket.socket, hello: Hello, *, timeout: float) -> Flight:
    """Send one ClientHello on a connection ready for TLS and read the server's answer."""
    sock.settimeout(timeout)
    sock.sendall(client_hello(hello))
    return read_flight(sock, timeout=timeout)
