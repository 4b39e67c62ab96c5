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

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto, _discovery

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509

MTA_STS_MODES = _discovery.MTA_STS_MODES
MTA_STS_MAX_AGE = _discovery.MTA_STS_MAX_AGE
_HEX = re.compile(r"^[0-9a-f]+$")
_DIGEST_LENGTH = {1: 64, 2: 128}


# ------------------------------------------------------------------------------------------------
# Shared checks
# ------------------------------------------------------------------------------------------------
def _hostname(value: t.Any, *, what: str, wildcard: bool = False) -> str:
    """A DNS name, lower-case, without the trailing dot; a leading ``*.`` only when ``wildcard``."""
    try:
        return _discovery.hostname(value, what=what, wildcard=wildcard)
    except _discovery.DiscoveryError as exc:
        raise AnsibleFilterError(str(exc)) from None


def _ttl(value: t.Any) -> str:
    try:
        return _discovery.ttl_text(value)
    except _discovery.DiscoveryError as exc:
        raise AnsibleFilterError(str(exc)) from None


def _int_choice(value: t.Any, *, what: str, choices: tuple[int, ...]) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number not in choices:
        raise AnsibleFilterError(f"{what} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return number


def _txt(text: str) -> str:
    return _discovery.txt_rdata(text)


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
    try:
        return _discovery.mta_sts_policy(mx, mode=mode, max_age=max_age, newline=newline)
    except _discovery.DiscoveryError as exc:
        raise AnsibleFilterError(str(exc)) from None


def mta_sts_id(policy: t.Any) -> str:
    """A policy id (1 to 32 letters and digits) that changes exactly when the policy text changes."""
    try:
        return _discovery.mta_sts_id(to_text(policy) if isinstance(policy, (str, bytes)) else policy)
    except _discovery.DiscoveryError as exc:
        raise AnsibleFilterError(str(exc)) from None


def mta_sts_record(policy: t.Any, domain: str, ttl: t.Any = None) -> str:
    """``_mta-sts.<domain>. [ttl] IN TXT "v=STSv1; id=<id>"``."""
    try:
        return _discovery.mta_sts_record(to_text(policy) if isinstance(policy, (str, bytes)) else policy, domain, ttl=ttl)
    except _discovery.DiscoveryError as exc:
        raise AnsibleFilterError(str(exc)) from None


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
