# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Input checks every module runs before it looks at anything: the argument spec gives each option a type, this gives it a meaning.

Every string a module receives ends up somewhere that gives some characters a meaning: a line of
main.cf or master.cf, a Dovecot setting, an SMTP command, an argv element. So:

* ``checked_module(Rules(...), argument_spec=..., ...)`` builds the AnsibleModule and walks every option (nested dictionaries and lists, the keys of
  free-form dictionaries too) and refuses control characters anywhere (CR, LF, NUL, TAB, DEL, the C1
  range, Unicode line and paragraph separators), except line breaks and tabs in the options a module
  declares multi-line (PEM content). Then it runs the module's own per-option checks. The first
  problem fails the task with a message naming the option and the value (or "value hidden" for
  ``no_log`` options) and saying what would be accepted; nothing has been read or written yet.
* The checks themselves: host names, EHLO names, addresses, absolute paths, paths that go into a
  Postfix list, numbers with a floor, OpenSSL cipher strings (a strict character class, then the
  host's own OpenSSL through Python's ``ssl``, never as a command-line argument), and files whose
  content must be of one kind (PEM Diffie-Hellman parameters, PEM CA certificates).

Options are named as a playbook spells them: ``endpoints[2].host``, ``extra.smtpd_tls_ciphers``,
``chain_files[1]`` (list positions count from 1). Rule patterns use ``[]`` for "every element" and
``*`` for "every key of a free-form dictionary": ``endpoints[].host``, ``extra.*``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import typing as t
import unicodedata
import warnings
from dataclasses import dataclass, field

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.postmaster.tls.plugins.module_utils import _crypto

if _crypto.HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dh

Check = t.Callable[[str, t.Any], None]

MULTILINE_ALLOWED = "\n\r\t"
_NAMED_CONTROLS = {"\x00": "NUL", "\t": "TAB", "\n": "LF", "\r": "CR", "\x0b": "VT", "\x0c": "FF", "\x1b": "ESC",
                   "\x7f": "DEL", "\x85": "NEL", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR"}
_SECRET_KEY = re.compile(r"(password|passwd|passphrase|secret)", re.IGNORECASE)
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# OpenSSL cipher strings: names (ECDHE-RSA-AES128-GCM-SHA256, TLS_AES_128_GCM_SHA256, kEECDH+aECDSA, TLSv1.2),
# the operators ! - + and @STRENGTH / @SECLEVEL=N, separated by colons, commas or spaces.
_CIPHER_STRING = re.compile(r"^[A-Za-z0-9_.+!@=:, -]+$")
_CIPHER_ELEMENT = re.compile(r"^(?:[!+-]?[A-Za-z0-9_.]+(?:[+-][A-Za-z0-9_.]+)*|@STRENGTH|@SECLEVEL=[0-5])$")
_MIN_DH_BITS = 2048


class InputError(ValueError):
    """An option's value is refused; the message names the option, the value and what would be accepted."""


# ------------------------------------------------------------------------------------------------
# Control characters and how a value is shown
# ------------------------------------------------------------------------------------------------
def is_control(char: str) -> bool:
    """C0/C1 controls, DEL and the Unicode line/paragraph separators (all of which split or end a line somewhere)."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def control_characters(text: str, *, allow: str = "") -> list[str]:
    """The distinct control characters in ``text`` that ``allow`` does not list, by name (``CR``, ``U+0001``)."""
    found: list[str] = []
    for char in text:
        if char in allow or not is_control(char):
            continue
        name = _NAMED_CONTROLS.get(char, f"U+{ord(char):04X}")
        if name not in found:
            found.append(name)
    return found


def shown(value: t.Any, *, secret: bool = False, limit: int = 80) -> str:
    """``value`` for a message: its repr (control characters escaped), shortened; never a secret's."""
    if secret:
        return "(value hidden: the option is a secret)"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def refuse_control(option: str, value: str, *, allow: str = "", secret: bool = False) -> None:
    found = control_characters(value, allow=allow)
    if found:
        what = "line breaks and tabs are allowed here, other" if allow else "no"
        raise InputError(
            f"{option}: {shown(value, secret=secret)} contains the control character(s) {', '.join(found)}; {what} control "
            "characters are accepted (they would end a configuration line or a protocol command, or cut an argument short)"
        )


# ------------------------------------------------------------------------------------------------
# The walk over a module's options
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """What a module adds to the universal control-character rule.

    ``multiline``: option patterns whose text may hold line breaks and tabs (PEM content).
    ``checks``: option pattern -> check(option, value), run after the control-character rule.
    """

    multiline: tuple[str, ...] = ()
    checks: dict[str, Check] = field(default_factory=dict)


def _walk(option: str, pattern: str, value: t.Any, spec: dict[str, t.Any] | None, secret: bool, rules: Rules) -> None:
    if value is None:
        return
    if isinstance(value, str):
        refuse_control(option, value, allow=MULTILINE_ALLOWED if pattern in rules.multiline else "", secret=secret)
    elif isinstance(value, dict):
        suboptions = (spec or {}).get("options")
        for key, item in value.items():
            name = str(key)
            if suboptions is not None and name in suboptions:
                sub = suboptions[name]
                _walk(f"{option}.{name}", f"{pattern}.{name}", item, sub, secret or bool(sub.get("no_log")), rules)
            else:
                # A free-form dictionary (extra settings, SNI maps): its keys reach the files too.
                refuse_control(f"{option} key", name)
                hidden = secret or _SECRET_KEY.search(name) is not None
                _walk(f"{option}.{name}", f"{pattern}.*", item, None, hidden, rules)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value, start=1):
            _walk(f"{option}[{index}]", f"{pattern}[]", item, spec, secret, rules)
    check = rules.checks.get(pattern)
    if check is not None:
        check(option, value)


def check_params(params: dict[str, t.Any], spec: dict[str, dict[str, t.Any]], rules: Rules | None = None) -> None:
    """Run the universal rule and ``rules`` over ``params`` (as validated by ``spec``); raise InputError."""
    rules = rules or Rules()
    for name, entry in spec.items():
        _walk(name, name, params.get(name), entry, bool(entry.get("no_log")), rules)


def check_module(module: t.Any, rules: Rules | None = None) -> None:
    """``check_params`` on an AnsibleModule's options; a refusal fails the task before anything else runs."""
    try:
        check_params(module.params, module.argument_spec, rules)
    except InputError as exc:
        module.fail_json(msg=str(exc))


def checked_module(rules: Rules | None = None, **kwargs: t.Any) -> AnsibleModule:
    """``AnsibleModule(**kwargs)`` whose options pass ``check_params`` as soon as their types are validated.

    AnsibleModule logs its invocation to syslog right after validating the types, and syslog refuses a
    NUL byte ("Failed to log to syslog (embedded null character)", naming no option): the check runs
    just before that, so the message names the option and the value.
    """

    class CheckedModule(AnsibleModule):
        def _log_invocation(self) -> None:
            check_module(self, rules)
            super()._log_invocation()

    module = CheckedModule(**kwargs)
    check_module(module, rules)  # also when no_log left out the logging (and with it the check above)
    return module


def each(check: Check) -> Check:
    """``check`` for every element of a list option (for options whose list is checked as a whole)."""

    def run(option: str, value: t.Any) -> None:
        for index, item in enumerate(value or [], start=1):
            if item is not None:
                check(f"{option}[{index}]", item)

    return run


# ------------------------------------------------------------------------------------------------
# Names, addresses, paths, numbers
# ------------------------------------------------------------------------------------------------
def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_dns_name(text: str, *, wildcard: bool = False) -> bool:
    """A DNS host name in A-label form (letters, digits, hyphens; 253 characters at most); ``*.`` in front when
    ``wildcard``. A trailing dot is accepted."""
    if wildcard and text.startswith("*."):
        text = text[2:]
    text = text[:-1] if text.endswith(".") else text
    if not text or len(text) > 253:
        return False
    return all(_LABEL.match(label) for label in text.split("."))


def dns_name(option: str, value: t.Any, *, wildcard: bool = False) -> None:
    if not isinstance(value, str) or not is_dns_name(value, wildcard=wildcard):
        extra = " (a wildcard only as '*.' in front)" if wildcard else ""
        raise InputError(f"{option}: {shown(value)} is not a DNS name{extra}; use letters, digits, hyphens and dots, "
                         "with internationalised names in their xn-- form")


def wildcard_dns_name(option: str, value: t.Any) -> None:
    dns_name(option, value, wildcard=True)


def host(option: str, value: t.Any) -> None:
    """A host to connect to: a DNS name or an IP address."""
    if not isinstance(value, str) or not (is_dns_name(value) or _is_address(value)):
        raise InputError(f"{option}: {shown(value)} is neither a DNS name nor an IP address")


def name_or_address(option: str, value: t.Any) -> None:
    """A name a certificate may cover: a DNS name (a wildcard as '*.' in front) or an IP address."""
    if not isinstance(value, str) or not (is_dns_name(value, wildcard=True) or _is_address(value)):
        raise InputError(f"{option}: {shown(value)} is neither a DNS name (a wildcard only as '*.' in front) nor an IP address")


def ip_address(option: str, value: t.Any) -> None:
    if not isinstance(value, str) or not _is_address(value):
        raise InputError(f"{option}: {shown(value)} is not an IP address (such as 127.0.0.2 or ::1)")


def ehlo_name(option: str, value: t.Any) -> None:
    """What RFC 5321 allows after EHLO: a domain, or an address literal ``[192.0.2.1]`` / ``[IPv6:2001:db8::1]``."""
    if isinstance(value, str):
        if is_dns_name(value):
            return
        if value.startswith("[") and value.endswith("]"):
            inner = value[1:-1]
            if inner.lower().startswith("ipv6:"):
                inner = inner[5:]
                try:
                    if isinstance(ipaddress.ip_address(inner), ipaddress.IPv6Address):
                        return
                except ValueError:
                    pass
            else:
                try:
                    if isinstance(ipaddress.ip_address(inner), ipaddress.IPv4Address):
                        return
                except ValueError:
                    pass
    raise InputError(f"{option}: {shown(value)} is not an EHLO name; give a domain (mail.example.org) or an address literal "
                     "([192.0.2.1], [IPv6:2001:db8::1])")


def absolute_path(option: str, value: t.Any) -> None:
    if not isinstance(value, str) or not os.path.isabs(value):
        raise InputError(f"{option}: {shown(value)} is not an absolute path; give the full path from /")


def absolute_path_or_empty(option: str, value: t.Any) -> None:
    """An absolute path, or "" for none (an option whose unset value means a default and "" means off)."""
    if value != "":
        absolute_path(option, value)


def postfix_list_path(option: str, value: t.Any) -> None:
    """A file that goes into a Postfix list (commas and whitespace separate the elements, ``$`` expands)."""
    absolute_path(option, value)
    for char, why in ((",", "a comma"), (" ", "a space"), ("$", "a '$'")):
        if char in value:
            raise InputError(
                f"{option}: {shown(value)} contains {why}; Postfix would read it as "
                + ("more than one path" if char != "$" else "a parameter reference")
                + ", so it cannot be checked or used as given. Rename the file or link it from a path without commas, "
                "spaces or '$'"
            )
    if re.search(r"\s", value):
        raise InputError(f"{option}: {shown(value)} contains whitespace; Postfix would read it as more than one path")


def at_least(floor: float, *, what: str = "") -> Check:
    def run(option: str, value: t.Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < floor:
            raise InputError(f"{option}: {shown(value)} is below the minimum {floor:g}{what}")

    return run


def positive(option: str, value: t.Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(f"{option}: {shown(value)} must be a positive number")


# ------------------------------------------------------------------------------------------------
# OpenSSL cipher strings
# ------------------------------------------------------------------------------------------------
def cipher_string_problem(value: str) -> str | None:
    """Why ``value`` is not an OpenSSL cipher string by its spelling alone (None when it looks like one)."""
    if not value.strip():
        return "it is empty"
    if not _CIPHER_STRING.match(value):
        bad = sorted({char for char in value if not re.match(r"[A-Za-z0-9_.+!@=:, -]", char)})
        return f"it contains {', '.join(repr(c) for c in bad)}, which no OpenSSL cipher string holds"
    for element in (part for part in re.split(r"[:, ]+", value) if part):
        if not _CIPHER_ELEMENT.match(element):
            return f"{element!r} is not a cipher name, alias or operator"
    return None


def openssl_cipher_problem(value: str) -> str | None:
    """OpenSSL's complaint about ``value`` as a TLS 1.2-and-older cipher list (this host's library, never a command)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.set_ciphers(value)
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", None) or (exc.args[0] if exc.args else str(exc))
        return f"OpenSSL selects no cipher from it ({str(reason).rstrip('.')})"
    return None


def cipher_list(option: str, value: t.Any) -> None:
    """An OpenSSL cipher list: spelled as one and accepted by this host's OpenSSL."""
    if not isinstance(value, str):
        raise InputError(f"{option}: {shown(value)} is not an OpenSSL cipher list")
    problem = cipher_string_problem(value) or openssl_cipher_problem(value)
    if problem:
        raise InputError(f"{option}: {shown(value)} is not an OpenSSL cipher list: {problem}; give names or aliases such as "
                         "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256 or HIGH:!aNULL")


def cipher_names(option: str, value: t.Any) -> None:
    """Cipher names or aliases to exclude (Postfix ``*_exclude_ciphers``): spelled as OpenSSL spells them."""
    if not isinstance(value, str):
        raise InputError(f"{option}: {shown(value)} is not a list of OpenSSL cipher names")
    problem = cipher_string_problem(value)
    if problem:
        raise InputError(f"{option}: {shown(value)} is not a list of OpenSSL cipher names or aliases: {problem}; "
                         "give names such as aNULL, RC4, MD5")


# ------------------------------------------------------------------------------------------------
# Files whose content must be of one kind
# ------------------------------------------------------------------------------------------------
def _read(option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{option}: cannot read {path}: {exc.strerror}") from None


_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 .]+)-----")


def _pem_labels(data: bytes) -> list[str]:
    """The label of every PEM block that begins in ``data`` (``X9.42 DH PARAMETERS`` included)."""
    return [match.group(1).decode("ascii") for match in _PEM_BEGIN.finditer(data)]


def dh_parameters_file(option: str, path: str) -> None:
    """``path`` holds PEM Diffie-Hellman parameters (one ``DH PARAMETERS`` block) of at least 2048 bits.

    The file's content is never quoted in a message: a wrong path could point at any file.
    """
    data = _read(option, path)
    labels = _pem_labels(data)
    if labels not in (["DH PARAMETERS"], ["X9.42 DH PARAMETERS"]):
        found = f"PEM block(s) {', '.join(repr(label) for label in labels)}" if labels else "no PEM block"
        raise InputError(f"{option}: {path} is not a file of PEM Diffie-Hellman parameters (it holds {found}, expected one "
                         "'-----BEGIN DH PARAMETERS-----' block); make one with 'openssl dhparam -out FILE 2048'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography deprecates finite-field DH; reading parameters is all this does
        try:
            params = serialization.load_pem_parameters(data)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{option}: {path} holds a DH PARAMETERS block that does not parse ({exc}); make a new one with "
                             "'openssl dhparam -out FILE 2048'") from None
        if not isinstance(params, dh.DHParameters):
            raise InputError(f"{option}: {path} does not hold Diffie-Hellman parameters")
        bits = params.parameter_numbers().p.bit_length()
    if bits < _MIN_DH_BITS:
        raise InputError(f"{option}: the Diffie-Hellman parameters in {path} have {bits} bits, fewer than {_MIN_DH_BITS}; "
                         "make new ones with 'openssl dhparam -out FILE 2048'")


def ca_certificates_file(option: str, path: str, *, crls: bool = False) -> int:
    """``path`` holds PEM CA certificates only (and CRLs when ``crls``); returns how many certificates.

    A certificate that says it is not a CA (basicConstraints CA:FALSE) is refused; an old v1 root
    without basicConstraints is accepted, as TLS libraries accept it as a trust anchor.
    """
    data = _read(option, path)
    allowed = {"CERTIFICATE", "TRUSTED CERTIFICATE"} | ({"X509 CRL"} if crls else set())
    labels = _pem_labels(data)
    others = sorted(set(labels) - allowed)
    expected = "PEM CA certificates" + (" and their CRLs" if crls else "")
    if not labels or others:
        found = f"PEM block(s) {', '.join(repr(label) for label in others)}" if others else "no PEM block"
        raise InputError(f"{option}: {path} is not a file of {expected} (it holds {found}); give a file of "
                         "'-----BEGIN CERTIFICATE-----' blocks of the issuing CAs")
    blocks = _crypto.pem_blocks(data, labels=("CERTIFICATE", "TRUSTED CERTIFICATE"))
    if not blocks:
        raise InputError(f"{option}: {path} holds no certificate; give the CA certificates the CRLs belong to")
    for index, (_label, block) in enumerate(blocks, start=1):
        try:
            cert = x509.load_pem_x509_certificate(block)
        except ValueError as exc:
            raise InputError(f"{option}: certificate {index} in {path} does not parse ({exc}); copy the file again") from None
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            continue
        if not constraints.ca:
            raise InputError(f"{option}: certificate {index} in {path} ({_crypto.name_to_string(cert.subject)}) is not a CA "
                             "certificate (basicConstraints CA:FALSE); give the certificates of the issuing CAs")
    return len(blocks)


__all__ = [
    "Check", "InputError", "Rules", "MULTILINE_ALLOWED",
    "is_control", "control_characters", "shown", "refuse_control", "check_params", "check_module", "checked_module", "each",
    "is_dns_name", "dns_name", "wildcard_dns_name", "host", "name_or_address", "ip_address", "ehlo_name",
    "absolute_path", "postfix_list_path", "at_least", "positive",
    "cipher_string_problem", "openssl_cipher_problem", "cipher_list", "cipher_names",
    "dh_parameters_file", "ca_certificates_file",
]
