# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS records that protect MX-to-MX mail from downgrades: DANE TLSA, MTA-STS and TLS-RPT.

The filters only compute text (zone-file lines, the MTA-STS policy file); publishing is left to the
DNS pipeline. Documentation lives next to this file, one ``<filter>.yml`` per filter, as
ansible-core and community.general do it.

* ``tlsa_rdata`` / ``tlsa_records``: RFC 6698 / RFC 7672 records ("3 1 1" by default: DANE-EE,
  SubjectPublicKeyInfo, SHA-256). ``tlsa_records`` takes a list of keys so that a rollover publishes
  the current and the next key side by side (Postfix TLS_README, "DANE TLSA record rollover").
* ``mta_sts_policy``, ``mta_sts_id``, ``mta_sts_record``: RFC 8461. The id is derived from the
  policy text, so it changes exactly when the text changes.
* ``tls_rpt_record``: RFC 8460.
"""

from __future__ import annotations

import hashlib
import re
import typing as t
from urllib.parse import quote

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509

MTA_STS_MODES = ("none", "testing", "enforce")
MTA_STS_MAX_AGE = 31557600  # RFC 8461 3.2: at most one year
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_HEX = re.compile(r"^[0-9a-f]+$")
_DIGEST_LENGTH = {1: 64, 2: 128}


# ------------------------------------------------------------------------------------------------
# Shared checks
# ------------------------------------------------------------------------------------------------
def _hostname(value: t.Any, *, what: str, wildcard: bool = False) -> str:
    """A DNS name, lower-case, without the trailing dot; a leading ``*.`` only when ``wildcard``."""
    if not isinstance(value, str) or not value.strip():
        raise AnsibleFilterError(f"{what} must be a host name, got {value!r}")
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if wildcard and labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            raise AnsibleFilterError(f"{what} {value!r}: a wildcard needs at least two labels after '*.'")
    if len(name) > 253 or len(labels) < 1 or not all(_LABEL.match(label) for label in labels):
        raise AnsibleFilterError(
            f"{what} {value!r} is not a valid host name (letters, digits and hyphens in dot-separated labels"
            + (", optionally starting with '*.'" if wildcard else "") + ")"
        )
    return name


def _ttl(value: t.Any) -> str:
    if value is None or value == "":
        return ""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"ttl must be a whole number of seconds, got {value!r}") from None
    if not 0 <= number <= 2147483647:
        raise AnsibleFilterError(f"ttl {number} is out of range 0-2147483647")
    return f" {number}"


def _int_choice(value: t.Any, *, what: str, choices: tuple[int, ...]) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number not in choices:
        raise AnsibleFilterError(f"{what} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return number


def _txt(text: str) -> str:
    """A TXT RDATA in zone-file syntax: quoted, escaped, split into strings of at most 255 bytes."""
    data = text.encode("utf-8")
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    out = []
    for chunk in chunks:
        escaped = chunk.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'"{escaped}"')
    return " ".join(out)


# ------------------------------------------------------------------------------------------------
# TLSA
# ------------------------------------------------------------------------------------------------
def _require_crypto() -> None:
    if not _crypto.HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError("the TLSA filters need the Python library cryptography (>= 3.4) on the controller")


def _association_data(item: t.Any, *, selector: int, matching_type: int) -> str:
    """The certificate association data (hex) of one item, for the given selector and matching type."""
    if isinstance(item, dict):
        key = {(1, 1): "spki_sha256", (0, 1): "fingerprint_sha256"}.get((selector, matching_type))
        if key is None or not item.get(key):
            raise AnsibleFilterError(
                f"a dictionary input needs a {key or 'spki_sha256 or fingerprint_sha256'} key for TLSA selector {selector} "
                f"matching type {matching_type} (as returned by postmaster.tls modules); pass the PEM text for other combinations"
            )
        item = item[key]
    if not isinstance(item, (str, bytes)):
        raise AnsibleFilterError(f"TLSA input must be PEM text, a hex digest or a module result, got {type(item).__name__}")
    text = to_text(item).strip()
    if "-----BEGIN" not in text:
        digest = text.replace(":", "").lower()
        expected = _DIGEST_LENGTH.get(matching_type)
        if expected and len(digest) == expected and _HEX.match(digest):
            return digest
        raise AnsibleFilterError(
            f"TLSA input {text[:40]!r} is neither PEM (certificate, public key or CSR) nor a "
            f"{expected or 'SHA-256/SHA-512'}-digit hex digest for matching type {matching_type}"
        )
    if "PRIVATE KEY-----" in text:
        raise AnsibleFilterError(
            "TLSA input is a private key; private keys do not belong in templates. Pass the public key "
            "(openssl pkey -pubout), the CSR, the certificate, or the spki_sha256 returned by postmaster.tls.private_key"
        )
    _require_crypto()
    data = to_bytes(text)
    if "-----BEGIN CERTIFICATE-----" in text:
        cert = _crypto.load_certificate(data, source="TLSA input")
        der = cert.public_bytes(_serialization().Encoding.DER) if selector == 0 else _crypto.public_key_der(cert.public_key())
    elif selector == 0:
        raise AnsibleFilterError("TLSA selector 0 (full certificate) needs a certificate, not a public key or CSR")
    elif "-----BEGIN PUBLIC KEY-----" in text:
        try:
            public_key = _serialization().load_pem_public_key(data)
        except ValueError as exc:
            raise AnsibleFilterError(f"TLSA input: the public key does not parse ({exc})") from None
        der = _crypto.public_key_der(public_key)
    elif "-----BEGIN CERTIFICATE REQUEST-----" in text or "-----BEGIN NEW CERTIFICATE REQUEST-----" in text:
        try:
            csr = x509.load_pem_x509_csr(data)
        except ValueError as exc:
            raise AnsibleFilterError(f"TLSA input: the CSR does not parse ({exc})") from None
        der = _crypto.public_key_der(csr.public_key())
    else:
        raise AnsibleFilterError("TLSA input: PEM block is not a CERTIFICATE, PUBLIC KEY or CERTIFICATE REQUEST")
    if matching_type == 0:
        return der.hex()
    return hashlib.new("sha256" if matching_type == 1 else "sha512", der).hexdigest()


def _serialization():
    from cryptography.hazmat.primitives import serialization

    return serialization


def tlsa_rdata(data: t.Any, usage: int = 3, selector: int = 1, matching_type: int = 1) -> str:
    """``"3 1 1 <hex>"`` for one certificate, public key, CSR, digest or module result."""
    usage = _int_choice(usage, what="usage", choices=(0, 1, 2, 3))
    selector = _int_choice(selector, what="selector", choices=(0, 1))
    matching_type = _int_choice(matching_type, what="matching_type", choices=(0, 1, 2))
    try:
        association = _association_data(data, selector=selector, matching_type=matching_type)
    except _crypto.PEMError as exc:
        raise AnsibleFilterError(str(exc)) from None
    return f"{usage} {selector} {matching_type} {association}"


def tlsa_records(
    data: t.Any,
    name: str,
    ports: t.Any = (25,),
    usage: int = 3,
    selector: int = 1,
    matching_type: int = 1,
    ttl: t.Any = None,
    protocol: str = "tcp",
) -> list[str]:
    """Zone-file lines ``_25._tcp.<name>. [ttl] IN TLSA ...``, one per port and distinct key.

    ``data`` may be a list: the current key first, then the next one(s), for a rollover.
    """
    host = _hostname(name, what="name")
    if protocol not in ("tcp", "udp", "sctp"):
        raise AnsibleFilterError(f"protocol must be tcp, udp or sctp, got {protocol!r}")
    port_list = [ports] if isinstance(ports, (int, str)) else list(ports or [])
    if not port_list:
        raise AnsibleFilterError("ports must name at least one port, such as [25]")
    numbers = []
    for port in port_list:
        try:
            number = int(port)
        except (TypeError, ValueError):
            number = 0
        if not 0 < number < 65536:
            raise AnsibleFilterError(f"port {port!r} is not a TCP port number")
        numbers.append(number)
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    if not items:
        raise AnsibleFilterError("tlsa_records needs at least one certificate, key or digest")
    rdatas: list[str] = []
    for item in items:
        rdata = tlsa_rdata(item, usage=usage, selector=selector, matching_type=matching_type)
        if rdata not in rdatas:
            rdatas.append(rdata)
    suffix = _ttl(ttl)
    return [f"_{port}._{protocol}.{host}.{suffix} IN TLSA {rdata}" for port in dict.fromkeys(numbers) for rdata in rdatas]


# ------------------------------------------------------------------------------------------------
# MTA-STS and TLS-RPT
# ------------------------------------------------------------------------------------------------
def mta_sts_policy(mx: t.Any, mode: str = "testing", max_age: t.Any = 604800, newline: str = "lf") -> str:
    """The policy file served at ``https://mta-sts.<domain>/.well-known/mta-sts.txt``."""
    if mode not in MTA_STS_MODES:
        raise AnsibleFilterError(f"mode must be one of {', '.join(MTA_STS_MODES)}, got {mode!r}")
    try:
        age = int(max_age)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"max_age must be a whole number of seconds, got {max_age!r}") from None
    if not 0 <= age <= MTA_STS_MAX_AGE:
        raise AnsibleFilterError(f"max_age {age} is out of range 0-{MTA_STS_MAX_AGE} (RFC 8461 allows at most one year)")
    if newline not in ("lf", "crlf"):
        raise AnsibleFilterError(f"newline must be lf or crlf, got {newline!r}")
    names = [mx] if isinstance(mx, str) else list(mx or [])
    patterns = list(dict.fromkeys(_hostname(name, what="mx", wildcard=True) for name in names))
    if mode != "none" and not patterns:
        raise AnsibleFilterError(f"mode {mode} needs at least one mx host name (RFC 8461 3.2)")
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {pattern}" for pattern in patterns), f"max_age: {age}"]
    end = "\r\n" if newline == "crlf" else "\n"
    return end.join(lines) + end


def mta_sts_id(policy: t.Any) -> str:
    """A policy id (1 to 32 letters and digits) that changes exactly when the policy text changes."""
    if not isinstance(policy, (str, bytes)) or not to_text(policy).strip():
        raise AnsibleFilterError("mta_sts_id needs the policy text (the output of postmaster.tls.mta_sts_policy)")
    # 128 bits of SHA-256 in hex: letters and digits only, as RFC 8461 3.1 requires.
    return hashlib.sha256(to_bytes(policy)).hexdigest()[:32]


def mta_sts_record(policy: t.Any, domain: str, ttl: t.Any = None) -> str:
    """``_mta-sts.<domain>. [ttl] IN TXT "v=STSv1; id=<id>"``."""
    host = _hostname(domain, what="domain")
    return f"_mta-sts.{host}.{_ttl(ttl)} IN TXT {_txt(f'v=STSv1; id={mta_sts_id(policy)}')}"


def _rua_uri(value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AnsibleFilterError(f"rua entries must be mail addresses or https URLs, got {value!r}")
    text = value.strip()
    if text.lower().startswith("https://"):
        uri = text
    else:
        address = text[7:] if text.lower().startswith("mailto:") else text
        local, sep, domain = address.rpartition("@")
        if not sep or not local or not domain:
            raise AnsibleFilterError(f"rua entry {value!r} is neither a mail address nor an https:// URL")
        _hostname(domain, what=f"rua domain of {value!r}")
        uri = f"mailto:{local}@{domain.lower()}"
    # RFC 8460 3: ',', '!' and ';' inside a URI must be percent-encoded there.
    return quote(uri, safe=":/?#[]@$&'()*+=-._~%")


def tls_rpt_record(rua: t.Any, domain: str, ttl: t.Any = None) -> str:
    """``_smtp._tls.<domain>. [ttl] IN TXT "v=TLSRPTv1; rua=mailto:..."``."""
    host = _hostname(domain, what="domain")
    entries = [rua] if isinstance(rua, str) else list(rua or [])
    if not entries:
        raise AnsibleFilterError("tls_rpt_record needs at least one reporting address (rua)")
    uris = ",".join(dict.fromkeys(_rua_uri(entry) for entry in entries))
    return f"_smtp._tls.{host}.{_ttl(ttl)} IN TXT {_txt(f'v=TLSRPTv1; rua={uris}')}"


class FilterModule:
    """DANE TLSA, MTA-STS and TLS-RPT record filters."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "tlsa_rdata": tlsa_rdata,
            "tlsa_records": tlsa_records,
            "mta_sts_policy": mta_sts_policy,
            "mta_sts_id": mta_sts_id,
            "mta_sts_record": mta_sts_record,
            "tls_rpt_record": tls_rpt_record,
        }
