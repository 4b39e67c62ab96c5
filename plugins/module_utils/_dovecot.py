# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dovecot TLS settings for Dovecot 2.3 and 2.4 from one version-neutral description.

The module owns exactly one drop-in file in ``conf.d`` (``99-postmaster-tls.conf`` by default), which
``!include conf.d/*.conf`` reads last, so the distribution's files stay as shipped. A run (``run()``) has the
phases and names of ``_postfix`` and reaches the host through the same ``_service.Host``:

* ``desired_state()``: detect the series (``dovecot --version``) and render the drop-in with its names
  (2.3 ``ssl_cert = </path``; 2.4 ``ssl_server_cert_file = /path``, see Dovecot's "Upgrading 2.3 to
  2.4", converted settings);
* ``served_certificates()``: every certificate/key pair checked as a TLS client will see it
  (``_service.served_certificate``, shared with Postfix), the alternative certificate of the other key type,
  and no key readable by Dovecot's unprivileged users (Dovecot reads keys as root before it drops privileges);
* ``plan()``: read the configuration as it would be with the new drop-in (nothing written), find settings
  elsewhere that would still override it (set later at top level, or inside a
  ``protocol``/``local``/``remote``/``local_name`` filter), comment them out when asked, and compare every
  file that would change with the disk;
* ``stage()``: apply the plan to a private copy of the configuration directory, let ``doveconf -c CANDIDATE``
  parse it (``-x`` makes it open every referenced file) and check with ``doveconf -f FILTER NAME...`` that the
  effective values are the intended ones; check mode stops here;
* ``install()``: write the changed files atomically, check the live configuration once more and put the
  previous files back if Dovecot refuses it.

Reloading Dovecot is the role handler's job. Private key bytes never leave the key file: only
fingerprints, key types and paths appear in results, diffs and messages.
"""

from __future__ import annotations

import fnmatch
import glob
import grp
import os
import pwd
import re
import shutil
import stat
import tempfile
import typing as t
from dataclasses import dataclass, field

from ansible_collections.postmaster.tls.plugins.module_utils import _commands, _crypto, _fileio, _pem, _profiles, _sasl, _service, _validate

Runner = t.Callable[[t.List[str]], t.Tuple[int, str, str]]
SslMode = t.Literal["required", "yes"]
ConflictPolicy = t.Literal["comment_out", "warn", "fail"]
KeyPermissionPolicy = t.Literal["fail", "warn"]

# Sections whose settings override the global value for some connections. Settings inside any other
# section (service, inet_listener, passdb, namespace, ...) are other things that share a name, such as
# the listener flag `inet_listener imaps { ssl = yes }`.
FILTER_KINDS = frozenset({"protocol", "local", "remote", "local_name"})
# Dovecot 2.4 named filters that only group settings: `ssl_server { cert_file = x }` is
# `ssl_server_cert_file = x`.
GROUPING_FILTERS = frozenset({"ssl_server", "ssl_client"})
# Protocols whose effective values are checked besides the global ones (a `protocol imap { }` filter
# anywhere would override the drop-in for that protocol only).
CHECKED_PROTOCOLS = ("imap", "pop3", "submission")

COMMENT_MARKER = "#[postmaster.tls] overridden by {dropin}: "
_MAX_INCLUDE_DEPTH = 20
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._+@=,:/-]*$")
_HOSTNAME = re.compile(r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Settings whose values are secrets: refused in `extra` (the drop-in is world-readable) and masked in
# the diff of any file this module edits.
_SECRET_NAME = re.compile(r"(password|passwd|secret)", re.IGNORECASE)
_SECRET_LINE = re.compile(r"^(?P<head>[^=]*?[A-Za-z0-9_/]*(?:password|passwd|secret)[A-Za-z0-9_/]*\s*=\s*)(?P<value>\S.*)$",
                          re.IGNORECASE)


class DovecotError(Exception):
    """Something about the Dovecot configuration or the request is wrong; the message says what and how to fix it."""


class DovecotCommandError(_commands.CommandError, DovecotError):
    """``dovecot``/``doveconf`` failed; carries the command and Dovecot's own output."""


# ---------------------------------------------------------------------------------------------
# Versions and setting names
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DovecotVersion:
    text: str
    major: int
    minor: int

    @property
    def series(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def is_24(self) -> bool:
        return (self.major, self.minor) >= (2, 4)


def parse_version(output: str) -> DovecotVersion:
    """``dovecot --version`` output (``2.3.19.1 (9b53102964)``, ``2.4.1-4 (7d8c0e5759)``) as a version."""
    text = output.strip().splitlines()[0].strip() if output.strip() else ""
    match = re.match(r"^(\d+)\.(\d+)", text)
    if not match:
        raise DovecotError(f"cannot read the Dovecot version from {output.strip()!r}; is Dovecot installed?")
    version = DovecotVersion(text=text.split(" ")[0], major=int(match.group(1)), minor=int(match.group(2)))
    if (version.major, version.minor) < (2, 3):
        raise DovecotError(f"Dovecot {version.text} is too old; this module supports Dovecot 2.3 and 2.4")
    return version


@dataclass(frozen=True)
class SettingNames:
    """Where Dovecot 2.3 and 2.4 differ: names, file-value syntax and a few value spellings."""

    series: str
    cert: str
    key: str
    alt_cert: str
    alt_key: str
    dh: str
    ca: str
    request_client_cert: str
    require_crl: str
    prefer_ciphers: str
    cleartext: str
    cleartext_denied: str
    file_prefix: str
    local_name_filter: str
    prefer_server: str
    prefer_client: str

    def file_value(self, path: str) -> str:
        return f"{self.file_prefix}{path}"

    def query_name(self, name: str) -> str:
        """The name to ask doveconf for: 2.4 shows ``ssl_server_*`` settings inside ``ssl_server { }``."""
        for group in GROUPING_FILTERS:
            if self.series != "2.3" and name.startswith(group + "_"):
                return f"{group}/{name[len(group) + 1:]}"
        return name

    @property
    def certificate_settings(self) -> frozenset[str]:
        return frozenset({self.cert, self.key, self.alt_cert, self.alt_key})


NAMES_23 = SettingNames(
    series="2.3", cert="ssl_cert", key="ssl_key", alt_cert="ssl_alt_cert", alt_key="ssl_alt_key", dh="ssl_dh",
    ca="ssl_ca", request_client_cert="ssl_verify_client_cert", require_crl="ssl_require_crl",
    prefer_ciphers="ssl_prefer_server_ciphers", cleartext="disable_plaintext_auth", cleartext_denied="yes",
    file_prefix="<", local_name_filter="lname", prefer_server="yes", prefer_client="no",
)
NAMES_24 = SettingNames(
    series="2.4", cert="ssl_server_cert_file", key="ssl_server_key_file", alt_cert="ssl_server_alt_cert_file",
    alt_key="ssl_server_alt_key_file", dh="ssl_server_dh_file", ca="ssl_server_ca_file",
    request_client_cert="ssl_server_request_client_cert", require_crl="ssl_server_require_crl",
    prefer_ciphers="ssl_server_prefer_ciphers", cleartext="auth_allow_cleartext", cleartext_denied="no",
    file_prefix="", local_name_filter="local_name", prefer_server="server", prefer_client="client",
)


def names_for(version: DovecotVersion) -> SettingNames:
    return NAMES_24 if version.is_24 else NAMES_23


# ---------------------------------------------------------------------------------------------
# The request (version-neutral) and its rendering
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CertKeyPair:
    cert_path: str
    key_path: str


@dataclass(frozen=True)
class LocalName:
    name: str
    main: CertKeyPair
    alt: CertKeyPair | None = None


@dataclass(frozen=True)
class ClientCA:
    path: str
    request_cert: bool = True
    require_cert: bool = False
    require_crl: bool = True


@dataclass(frozen=True)
class TLSRequest:
    main: CertKeyPair
    profile: _profiles.TLSProfile
    ssl: SslMode = "required"
    alt: CertKeyPair | None = None
    dh_path: str | None = None
    local_names: tuple[LocalName, ...] = ()
    client_ca: ClientCA | None = None
    extra: tuple[tuple[str, str], ...] = ()
    # Where Dovecot's auth service listens for Postfix (service auth { unix_listener PATH }); None: no listener.
    postfix_auth_path: str | None = None

    def pairs(self) -> list[tuple[str, CertKeyPair]]:
        """Every certificate/key pair with a label for messages."""
        out = [("certificate", self.main)]
        if self.alt:
            out.append(("alternative certificate", self.alt))
        for local in self.local_names:
            out.append((f"local_name {local.name} certificate", local.main))
            if local.alt:
                out.append((f"local_name {local.name} alternative certificate", local.alt))
        return out

    def referenced_files(self) -> list[str]:
        files = [path for _label, pair in self.pairs() for path in (pair.cert_path, pair.key_path)]
        if self.dh_path:
            files.append(self.dh_path)
        if self.client_ca:
            files.append(self.client_ca.path)
        return files


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def extra_value(value: t.Any) -> str:
    """A user-given extra setting's value as Dovecot text (booleans as yes/no)."""
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, (list, tuple)):
        return " ".join(str(item) for item in value)
    return "" if value is None else str(value)


def validate_request(request: TLSRequest, names: SettingNames) -> None:
    """Refuse input that Dovecot would misread, before anything is looked at on disk."""
    for path in request.referenced_files():
        if not _SAFE_PATH.match(path) or "//" in path:
            raise DovecotError(
                f"path {path!r} cannot be written into a Dovecot setting: use an absolute path made of letters,"
                " digits and . _ - + @ = , : / only (no spaces, quotes, '%', '$' or '#')"
            )
    seen: set[str] = set()
    for local in request.local_names:
        if not _HOSTNAME.match(local.name):
            raise DovecotError(f"local_names: {local.name!r} is not a host name (a wildcard is allowed only as '*.' in front)")
        if local.name.lower() in seen:
            raise DovecotError(f"local_names: {local.name!r} is listed twice; give each name once")
        seen.add(local.name.lower())
    managed = set(managed_settings(request, names))
    for name, value in request.extra:
        if not _SETTING_NAME.match(name):
            raise DovecotError(f"extra: {name!r} is not a Dovecot setting name (lower-case letters, digits and '_')")
        if name in managed:
            option = option_for(name, names)
            raise DovecotError(f"extra: {name} is set by this module from its option {option}, where it is checked; use {option} "
                               "instead of extra")
        if _SECRET_NAME.search(name):
            raise DovecotError(
                f"extra: {name} is a secret and the drop-in is readable by everyone; set it in a root-only file"
                " that dovecot.conf includes"
            )
        if "\n" in value or "\r" in value:
            raise DovecotError(f"extra: the value of {name} spans several lines; Dovecot settings are one line")
    check_extra(request, names)
    if request.postfix_auth_path is not None and (not _SAFE_PATH.match(request.postfix_auth_path) or "//" in request.postfix_auth_path):
        raise DovecotError(f"postfix_auth_path {request.postfix_auth_path!r} cannot be written into a Dovecot setting: use an absolute "
                           "path made of letters, digits and . _ - + @ = , : / only")


# ---------------------------------------------------------------------------------------------
# What a value may hold, and files whose content must be of one kind
# ---------------------------------------------------------------------------------------------
def value_problem(value: str) -> str | None:
    """Why Dovecot would read ``value`` (written as ``name = value``) as something else, or None.

    Dovecot's parser joins a line ending in a backslash with the next one (that setting is lost while
    doveconf passes), cuts a value at ``#`` (a comment), takes a line ending in ``{`` as the start of a
    section, and keeps an unbalanced quote as part of the value.
    """
    controls = _validate.control_characters(value)
    if controls:
        return f"it contains the control character(s) {', '.join(controls)}"
    text = value.strip()
    if text.endswith("\\"):
        return "it ends in a backslash, which joins the next line of the file to this setting (that setting would be lost)"
    quote = text[:1] if text[:1] in "\"'" else ""
    if quote:
        inner = text[1:-1] if len(text) >= 2 and text.endswith(quote) else None
        if inner is None or re.search(r"(?<!\\)(?:\\\\)*" + re.escape(quote), inner) or re.search(r"(?<!\\)(?:\\\\)*\\$", inner):
            return f"it opens a {quote} quote that does not close at its end"
        return None
    if "\"" in text or "'" in text:
        return "it holds a quote character inside an unquoted value; quote the whole value or leave the quotes out"
    if "#" in text:
        return "it holds '#', which starts a comment in Dovecot's configuration (the rest would be cut off)"
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0 or text.endswith("{"):
        return "its braces do not pair up (a '{' at the end of a line starts a section, a '}' ends one)"
    return None


def modelled_names(names: SettingNames) -> frozenset[str]:
    """Every setting this module writes from its own options, whether or not this request uses it."""
    return frozenset({
        "ssl", "ssl_min_protocol", "ssl_cipher_list", "ssl_curve_list", "auth_ssl_require_client_cert", names.cert,
        names.key, names.alt_cert, names.alt_key, names.dh, names.ca, names.request_client_cert, names.require_crl,
        names.prefer_ciphers, names.cleartext,
    })


_OPTION_FOR = {"dh": "dh_path", "ca": "client_ca", "request_client_cert": "client_ca.request_cert",
               "require_crl": "client_ca.require_crl", "cert": "cert_path", "key": "key_path", "alt_cert": "alt_cert_path",
               "alt_key": "alt_key_path", "prefer_ciphers": "profile", "cleartext": "ssl"}
_FIXED_OPTION_FOR = {"ssl": "ssl", "auth_ssl_require_client_cert": "client_ca.require_cert"}


def option_for(name: str, names: SettingNames) -> str:
    """The module option that writes the Dovecot setting ``name``."""
    field_name = next((key for key in _OPTION_FOR if getattr(names, key) == name), "")
    return _OPTION_FOR.get(field_name) or _FIXED_OPTION_FOR.get(name, "profile")


def check_extra(request: TLSRequest, names: SettingNames) -> None:
    """``extra``: a modelled setting only through its option, file settings with a path (CA files of CA
    certificates), and every value one that Dovecot reads as written."""
    modelled = modelled_names(names)
    for name, value in request.extra:
        if name in modelled:
            option = option_for(name, names)
            raise DovecotError(f"extra: {name} is set by this module from its option {option}, where it is checked; use {option} "
                               "instead of extra")
        problem = value_problem(value)
        if problem:
            raise DovecotError(f"extra: {name} = {value!r} cannot be written as a Dovecot setting: {problem}")
        path = value.strip()[1:].strip() if value.strip().startswith("<") else value.strip()
        if value.strip().startswith("<") or name.endswith(("_file", "_dir")):
            if path and (not _SAFE_PATH.match(path) or "//" in path):
                raise DovecotError(f"extra: {name} = {value!r} is not a file path Dovecot can be given: use an absolute path made "
                                   "of letters, digits and . _ - + @ = , : / only")
        if name.endswith("ca_file") and path and os.path.isfile(path):
            try:
                _validate.ca_certificates_file(f"extra: {name}", path)
            except _validate.InputError as exc:
                raise DovecotError(str(exc)) from None


def check_file_contents(request: TLSRequest) -> None:
    """The DH and CA files hold what their settings mean (Dovecot fails at its next reload otherwise, and any
    readable file would pass doveconf). Missing files are the caller's business (check mode)."""
    try:
        if request.dh_path and os.path.isfile(request.dh_path):
            _validate.dh_parameters_file("dh_path", request.dh_path)
        if request.client_ca and os.path.isfile(request.client_ca.path):
            _validate.ca_certificates_file("client_ca.path", request.client_ca.path, crls=request.client_ca.require_crl)
    except _validate.InputError as exc:
        raise DovecotError(str(exc)) from None


def resolve_postfix_auth(mode: str, path: str) -> str | None:
    """The listener path for ``postfix_auth`` (auto/present/absent), or None for no listener.

    ``auto`` gives Postfix a listener when Postfix is installed here: its user exists and the directory the
    socket goes into (the queue's ``private``) is there. ``present`` requires both.
    """
    if mode == "absent":
        return None
    try:
        pwd.getpwnam(_sasl.LISTENER_USER)
        has_user = True
    except KeyError:
        has_user = False
    directory = os.path.dirname(path)
    if has_user and os.path.isdir(directory):
        return path
    if mode == "auto":
        return None
    missing = ([] if has_user else [f"the user {_sasl.LISTENER_USER}"]) + ([] if os.path.isdir(directory) else [f"the directory {directory}"])
    raise DovecotError(f"postfix_auth=present, but {' and '.join(missing)} does not exist (is Postfix installed here?); install "
                       "Postfix first, set postfix_auth_path to its queue directory's private/auth, or set postfix_auth=absent")


def global_settings(request: TLSRequest, names: SettingNames) -> list[tuple[str, str]]:
    """The top-level settings of the drop-in, in file order (without ``extra``)."""
    profile = request.profile
    alt = request.alt
    out: list[tuple[str, str]] = [
        ("ssl", request.ssl),
        (names.cert, names.file_value(request.main.cert_path)),
        (names.key, names.file_value(request.main.key_path)),
        # Always written, empty without an alternative, so no alternative certificate set elsewhere lingers.
        (names.alt_cert, names.file_value(alt.cert_path) if alt else ""),
        (names.alt_key, names.file_value(alt.key_path) if alt else ""),
    ]
    if request.dh_path:
        out.append((names.dh, names.file_value(request.dh_path)))
    out.append(("ssl_min_protocol", profile.min_protocol))
    if profile.cipher_list is not None:
        out.append(("ssl_cipher_list", profile.cipher_list))
    out.append((names.prefer_ciphers, names.prefer_server if profile.prefer_server_ciphers else names.prefer_client))
    out.append(("ssl_curve_list", profile.curves))
    out.append((names.cleartext, names.cleartext_denied))
    if request.client_ca:
        ca = request.client_ca
        out.extend(
            [
                (names.ca, names.file_value(ca.path)),
                (names.request_client_cert, _yes_no(ca.request_cert)),
                ("auth_ssl_require_client_cert", _yes_no(ca.require_cert)),
                (names.require_crl, _yes_no(ca.require_crl)),
            ]
        )
    return out


def local_name_settings(local: LocalName, names: SettingNames) -> list[tuple[str, str]]:
    return [
        (names.cert, names.file_value(local.main.cert_path)),
        (names.key, names.file_value(local.main.key_path)),
        # Empty unless given: otherwise the global alternative certificate would answer for this name.
        (names.alt_cert, names.file_value(local.alt.cert_path) if local.alt else ""),
        (names.alt_key, names.file_value(local.alt.key_path) if local.alt else ""),
    ]


def managed_settings(request: TLSRequest, names: SettingNames) -> list[str]:
    return [name for name, _value in global_settings(request, names)]


def _line(name: str, value: str, indent: str = "") -> str:
    return f"{indent}{name} = {value}".rstrip() + "\n"


def render_dropin(request: TLSRequest, names: SettingNames) -> str:
    """The whole drop-in file. Deterministic: the same request gives the same bytes."""
    profile = request.profile
    parts = [
        "# Managed by postmaster.tls (module postmaster.tls.dovecot_tls). Local changes are overwritten.\n",
        f"# Dovecot {names.series} setting names. TLS profile {profile.name}: {profile.description}.\n",
        "# The distribution's files stay as shipped; this file is read after them, so its values win.\n",
        "\n",
    ]
    parts.extend(_line(name, value) for name, value in global_settings(request, names))
    if request.extra:
        parts.append("\n# Extra settings passed through unchanged (option extra).\n")
        parts.extend(_line(name, value) for name, value in request.extra)
    for local in request.local_names:
        parts.append(f"\nlocal_name {local.name} {{\n")
        parts.extend(_line(name, value, "  ") for name, value in local_name_settings(local, names))
        parts.append("}\n")
    if request.postfix_auth_path:
        parts.append("\n# Postfix authenticates submission clients (SMTP AUTH on 587 and 465) here (option postfix_auth).\n")
        parts.append(_sasl.dovecot_listener_section(request.postfix_auth_path))
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Reading Dovecot's configuration files (to find settings that would override the drop-in)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Assignment:
    path: str
    first_line: int
    last_line: int
    section: tuple[tuple[str, str], ...]
    name: str
    value: str
    order: int


@dataclass
class ScanResult:
    assignments: list[Assignment] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    file_end: dict[str, int] = field(default_factory=dict)


def _strip_comment(line: str) -> str:
    """Dovecot treats '#' outside quotes as the start of a comment."""
    quote = ""
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\":
                index += 1  # the escaped character cannot end the quote
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:index]
        index += 1
    return line


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def _logical_lines(text: str) -> t.Iterator[tuple[int, int, str]]:
    """(first line, last line, text) with backslash continuations joined (1-based line numbers)."""
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        stripped = raw.rstrip()
        if stripped.endswith("\\") and not stripped.lstrip().startswith("#"):
            pending += stripped[:-1] + " "
            continue
        yield start, number, pending + raw
        pending = ""
    if pending:
        yield start, start, pending


def _flatten_name(name: str, section: tuple[tuple[str, str], ...]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Dovecot 2.4 spellings of one setting: ``ssl_server { cert_file }`` and ``ssl_server/cert_file``."""
    prefix = ""
    kept = []
    for kind, arg in section:
        if kind in GROUPING_FILTERS and not arg:
            prefix = f"{kind}_"
        else:
            kept.append((kind, arg))
    if "/" in name:
        head, _sep, tail = name.partition("/")
        if head in GROUPING_FILTERS:
            name = f"{head}_{tail}"
    elif prefix and not name.startswith(prefix):
        name = prefix + name
    return name, tuple(kept)


class _Scanner:
    def __init__(self, overrides: dict[str, str]) -> None:
        self.result = ScanResult()
        self.order = 0
        self.overrides = {os.path.normpath(path): text for path, text in overrides.items()}

    def _included(self, pattern: str) -> list[str]:
        found = {path for path in glob.glob(pattern) if os.path.isfile(path)}
        found.update(path for path in self.overrides if fnmatch.fnmatchcase(path, pattern))
        return sorted(found)

    def scan(self, path: str, section: list[tuple[str, str]], depth: int) -> None:
        if depth > _MAX_INCLUDE_DEPTH:
            raise DovecotError(f"{path}: includes nested more than {_MAX_INCLUDE_DEPTH} deep (an include loop?)")
        path = os.path.normpath(path)
        data = self.overrides[path].encode("utf-8", "surrogateescape") if path in self.overrides else _fileio.read_bytes(path)
        if data is None:
            raise DovecotError(f"{path} does not exist")
        self.result.files.append(path)
        text = data.decode("utf-8", errors="replace")
        for first, last, raw in _logical_lines(text):
            line = _strip_comment(raw).strip()
            if not line:
                continue
            if line.startswith("!include"):
                keyword, _sep, pattern = line.partition(" ")
                pattern = _unquote(pattern)
                if not os.path.isabs(pattern):
                    pattern = os.path.join(os.path.dirname(path), pattern)
                matches = self._included(os.path.normpath(pattern))
                if not matches and keyword == "!include" and not glob.has_magic(pattern):
                    raise DovecotError(f"{path} line {first}: included file {pattern} does not exist")
                for match in matches:
                    self.scan(match, list(section), depth + 1)
            elif line == "}":
                if section:
                    section.pop()
            elif line.endswith("{"):
                head = line[:-1].strip()
                kind, _sep, arg = head.partition(" ")
                section.append((kind, _unquote(arg)))
            elif "=" in line:
                name, _sep, value = line.partition("=")
                flat, kept = _flatten_name(name.strip(), tuple(section))
                self.order += 1
                self.result.assignments.append(
                    Assignment(path=path, first_line=first, last_line=last, section=kept, name=flat,
                               value=_unquote(value), order=self.order)
                )
        self.result.file_end[path] = self.order


def scan_config(main_conf: str, *, overrides: dict[str, str] | None = None) -> ScanResult:
    """Every assignment in ``main_conf`` and the files it includes, in the order Dovecot reads them.

    ``overrides`` are files as they would be (path: text), read instead of the disk (and found by includes even
    when they do not exist yet): the configuration as it would be after a change, without writing anything.
    """
    scanner = _Scanner(overrides or {})
    scanner.scan(main_conf, [], 0)
    return scanner.result


@dataclass(frozen=True)
class Conflict:
    path: str
    first_line: int
    last_line: int
    setting: str
    value: str
    section: str
    reason: str

    def describe(self) -> str:
        where = f" inside '{self.section}'" if self.section else ""
        return f"{self.path} line {self.first_line} sets {self.setting} = {self.value}{where} ({self.reason})"


def _section_text(section: tuple[tuple[str, str], ...]) -> str:
    return " / ".join(f"{kind} {arg}".strip() for kind, arg in section)


def find_conflicts(scan: ScanResult, *, dropin: str, managed: t.Iterable[str], names: SettingNames,
                   local_names: t.Iterable[str]) -> list[Conflict]:
    """Settings outside the drop-in that would still win over it for some or all connections."""
    managed_set = set(managed)
    our_names = {name.lower() for name in local_names}
    dropin_end = scan.file_end.get(dropin, 0)
    out = []
    for item in scan.assignments:
        if item.path == dropin or item.name not in managed_set:
            continue
        kinds = [kind for kind, _arg in item.section]
        if any(kind not in FILTER_KINDS for kind in kinds):
            continue
        later = item.order > dropin_end
        if not item.section:
            if not later:
                continue
            reason = "read after the drop-in, so it wins"
        else:
            lnames = [arg.lower() for kind, arg in item.section if kind == "local_name"]
            if lnames and item.name in names.certificate_settings:
                # SNI certificates for names this module does not manage are the administrator's business.
                if lnames[-1] not in our_names or not later:
                    continue
                reason = "a local_name block read after the drop-in's block for the same name"
            else:
                reason = "a filter block, which overrides the global value for the connections it matches"
        out.append(Conflict(path=item.path, first_line=item.first_line, last_line=item.last_line, setting=item.name,
                            value=item.value, section=_section_text(item.section), reason=reason))
    return out


def comment_out(text: str, conflicts: t.Iterable[Conflict], *, dropin_name: str) -> str:
    """``text`` with the conflicting lines commented out behind a marker that names the drop-in."""
    lines = text.splitlines(keepends=True)
    marker = COMMENT_MARKER.format(dropin=dropin_name)
    for conflict in conflicts:
        for index in range(conflict.first_line - 1, conflict.last_line):
            if not lines[index].startswith(marker):
                lines[index] = marker + lines[index]
    return "".join(lines)


# ---------------------------------------------------------------------------------------------
# doveconf
# ---------------------------------------------------------------------------------------------
def parse_doveconf_output(output: str) -> dict[str, str]:
    """``doveconf NAME...`` output as {name: value}; block nesting becomes ``a/b`` (2.4's ``ssl_server { }``)."""
    values: dict[str, str] = {}
    stack: list[str] = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "}":
            if stack:
                stack.pop()
        elif line.endswith("{"):
            stack.append(line[:-1].strip().split(" ")[0])
        elif "=" in line:
            name, _sep, value = line.partition("=")
            values["/".join([*stack, name.strip()])] = _unquote(value.strip())
    return values


def _map_paths(text: str, candidate_dir: str, real_dir: str) -> str:
    return text.replace(candidate_dir.rstrip("/") + "/", real_dir.rstrip("/") + "/").strip()


class Doveconf:
    """Runs ``doveconf`` (through the module's run_command) against one main configuration file."""

    def __init__(self, runner: Runner, doveconf: str = "doveconf") -> None:
        self.runner = runner
        self.doveconf = doveconf

    def query(self, conf: str, names: SettingNames, settings: t.Sequence[str], *,
              filters: t.Sequence[str] = ()) -> dict[str, str]:
        """Effective values of ``settings`` (our names) for the connections ``filters`` describe."""
        argv = [self.doveconf, "-c", conf]
        for flt in filters:
            argv += ["-f", flt]
        argv += [names.query_name(name) for name in settings]
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise DovecotCommandError(f"doveconf could not report {', '.join(settings)}: {err.strip() or out.strip()}",
                                      cmd=argv, rc=rc, stdout=out, stderr=err)
        parsed = parse_doveconf_output(out)
        return {name: parsed.get(names.query_name(name), "") for name in settings}

    def check(self, conf: str, *, read_files: bool) -> tuple[list[str], int, str, str]:
        """Parse the whole configuration and check every setting's value, as Dovecot does when it starts;
        with ``read_files`` also open every ``<file`` / ``*_file`` value.

        Two runs: asked for one harmless value (``-h ssl``), doveconf parses but does not check the values
        (``ssl_options = bogus`` passes), so a second run prints every setting (``-n``), which checks them
        all. Its output is never kept (it can hold passwords); the first run is the one with ``-x``, which
        would print the contents of the files it reads, private keys included.
        """
        argv = [self.doveconf, "-c", conf]
        if read_files:
            argv.append("-x")
        argv += ["-h", "ssl"]
        rc, out, err = self.runner(argv)
        if rc != 0:
            return argv, rc, out, err
        argv = [self.doveconf, "-c", conf, "-n"]
        rc, _settings, err = self.runner(argv)
        return argv, rc, "", err


def detect_version(runner: Runner, dovecot: str = "dovecot") -> DovecotVersion:
    argv = [dovecot, "--version"]
    rc, out, err = runner(argv)
    if rc != 0:
        raise DovecotCommandError(f"'dovecot --version' failed: {err.strip() or out.strip()}", cmd=argv, rc=rc, stdout=out, stderr=err)
    return parse_version(out)


def expected_contexts(request: TLSRequest, names: SettingNames) -> list[tuple[str, list[str], dict[str, str]]]:
    """(label, doveconf filters, expected values) for every set of connections that is checked."""
    expected = dict(global_settings(request, names))
    contexts = [("global", [], expected)]
    contexts.extend((f"protocol {proto}", [f"protocol={proto}"], expected) for proto in CHECKED_PROTOCOLS)
    for local in request.local_names:
        overlay = dict(expected)
        overlay.update(local_name_settings(local, names))
        # A wildcard block answers for any one label in front; ask for a concrete name under it.
        probe = local.name.replace("*", "postmaster-tls-probe", 1)
        contexts.append((f"local_name {local.name}", [f"{names.local_name_filter}={probe}"], overlay))
    return contexts


@dataclass(frozen=True)
class Mismatch:
    context: str
    setting: str
    expected: str
    effective: str

    def describe(self) -> str:
        return f"{self.context}: {self.setting} is {self.effective!r}, expected {self.expected!r}"


def effective_mismatches(doveconf: Doveconf, conf: str, request: TLSRequest, names: SettingNames
                         ) -> tuple[dict[str, str], list[Mismatch]]:
    """Ask doveconf for every managed value in every checked context; return global values and mismatches."""
    mismatches: list[Mismatch] = []
    global_values: dict[str, str] = {}
    for label, filters, expected in expected_contexts(request, names):
        values = doveconf.query(conf, names, list(expected), filters=filters)
        if label == "global":
            global_values = values
        for name, want in expected.items():
            if values.get(name, "") != want:
                mismatches.append(Mismatch(context=label, setting=name, expected=want, effective=values.get(name, "")))
    return global_values, mismatches


# ---------------------------------------------------------------------------------------------
# Certificates, keys and key permissions
# ---------------------------------------------------------------------------------------------
def inspect_pair(label: str, pair: CertKeyPair, *, check_mode: bool, warnings: list[str]) -> dict[str, t.Any] | None:
    """Facts about one certificate/key pair (``_service.served_certificate`` plus ``label``); raise when they cannot
    work together or clients would refuse the certificate.

    In check mode a missing file is a warning (an earlier task may be about to create it) and None is
    returned; in a real run it is an error.
    """
    cert_data = _fileio.read_bytes(pair.cert_path)
    key_data = _fileio.read_bytes(pair.key_path)
    missing = [path for path, data in ((pair.cert_path, cert_data), (pair.key_path, key_data)) if data is None]
    if missing:
        text = f"{label}: {' and '.join(missing)} does not exist"
        if check_mode:
            warnings.append(f"{text}; check mode predicts the change, but a real run fails unless the file is created first")
            return None
        raise DovecotError(f"{text}; create it first (for example with postmaster.tls.certificate_install) or fix the path")
    if cert_data is None or key_data is None:  # pragma: no cover - handled above; narrows the types
        raise DovecotError(f"{label}: cannot read {pair.cert_path} or {pair.key_path}")
    for path, data in ((pair.cert_path, cert_data), (pair.key_path, key_data)):
        problem = _pem.cut_short(data, source=path)
        if problem:
            raise DovecotError(f"{label}: {problem}")
    try:
        chain = _crypto.load_certificates(cert_data, source=pair.cert_path)
        key = _crypto.load_private_key(key_data, source=pair.key_path)
    except _crypto.KeyPassphraseError:
        raise DovecotError(
            f"{label}: the private key {pair.key_path} is encrypted; Dovecot would ask for a passphrase at every start."
            " Deploy it unencrypted (mode 0600, owner root)"
        ) from None
    except _crypto.PEMError as exc:
        raise DovecotError(f"{label}: {exc}") from None
    try:
        facts, chain_warnings = _service.served_certificate(chain, key, cert_path=pair.cert_path, key_path=pair.key_path,
                                                            key_where=pair.key_path, cert_where=pair.cert_path,
                                                            fix="deploy the matching pair")
    except _service.ServedCertificateError as exc:
        raise DovecotError(f"{label}: {exc}") from None
    warnings.extend(chain_warnings)
    return {"label": label, **facts}


def check_alt_types(main: dict[str, t.Any] | None, alt: dict[str, t.Any] | None) -> None:
    if main and alt and main["key_type"] == alt["key_type"]:
        raise DovecotError(
            f"{alt['label']}: {alt['path']} has the same key type ({alt['key_type'].upper()}) as the main certificate;"
            " the alternative certificate is for the other key type (RSA next to ECDSA)"
        )


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def lookup_accounts(users: t.Iterable[str]) -> list[Account]:
    out = []
    for user in users:
        if not user:
            continue
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue
        out.append(Account(name=user, uid=entry.pw_uid, gid=entry.pw_gid))
    return out


def _group(gid: int) -> tuple[str, list[str]]:
    try:
        entry = grp.getgrgid(gid)
    except KeyError:
        return str(gid), []
    return entry.gr_name, list(entry.gr_mem)


def key_permission_problems(path: str, *, unprivileged: t.Sequence[Account], allowed_group: str | None,
                            group_lookup: t.Callable[[int], tuple[str, list[str]]] = _group) -> list[str]:
    """Why ``path`` could be read by someone who should not, or [] when only root (and the allowed group) can."""
    st = os.stat(path)
    mode = stat.S_IMODE(st.st_mode)
    problems = []
    if mode & stat.S_IROTH:
        problems.append(f"{path} is readable by everyone (mode {mode:04o})")
    for account in unprivileged:
        if st.st_uid == account.uid and mode & stat.S_IRUSR:
            problems.append(f"{path} is owned by Dovecot's unprivileged user {account.name}")
    if mode & stat.S_IRGRP:
        group_name, members = group_lookup(st.st_gid)
        readers = [account.name for account in unprivileged if account.gid == st.st_gid or account.name in members]
        if readers:
            problems.append(f"{path} is readable by group {group_name}, which Dovecot's unprivileged user {readers[0]} belongs to")
        elif group_name != allowed_group:
            allowed = f"only group {allowed_group} may read it" if allowed_group else "no group may read it"
            problems.append(f"{path} is readable by group {group_name} (mode {mode:04o}); {allowed}")
    return problems


def master_running(host: _service.Host, doveconf_bin: str, config_path: str) -> bool | None:
    """Whether the Dovecot master of ``config_path`` runs: its pid file under base_dir names a live
    process. None when doveconf cannot say where base_dir is."""
    rc, out, _err = host.run([doveconf_bin, "-c", config_path, "-h", "base_dir"])
    if rc != 0 or not out.strip():
        return None
    try:
        with open(os.path.join(out.strip(), "master.pid"), encoding="ascii") as handle:
            pid = int(handle.read().strip() or "0")
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------------------------
# One run, start to finish: the phases of _postfix (wanted state, served certificates, plan, stage and
# validate, install, roll back) with the same host interface (_service.Host)
# ---------------------------------------------------------------------------------------------
@dataclass
class Request:
    """The module's options, already type-checked by the argument spec; ``tls`` is the version-neutral part."""

    tls: TLSRequest
    config_path: str = "/etc/dovecot/dovecot.conf"
    dropin_path: str = "/etc/dovecot/conf.d/99-postmaster-tls.conf"
    conflicts: ConflictPolicy = "comment_out"
    key_group: str | None = "ssl-cert"
    key_permissions: KeyPermissionPolicy = "fail"
    backup: bool = False
    dovecot_bin: str = "dovecot"
    doveconf_bin: str = "doveconf"
    reload_flag: str | None = None

    @property
    def config_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.config_path))


@dataclass
class Desired:
    """What the drop-in should say for the Dovecot series found on the host."""

    version: DovecotVersion
    names: SettingNames
    settings: dict[str, str]
    dropin_text: str


def desired_state(request: Request, version: DovecotVersion) -> Desired:
    """The drop-in for this series; raises DovecotError for bad input (nothing on disk read yet)."""
    names = names_for(version)
    validate_request(request.tls, names)
    return Desired(version=version, names=names, settings=dict(global_settings(request.tls, names)),
                   dropin_text=render_dropin(request.tls, names))


def _unprivileged_users(doveconf: Doveconf, conf: str) -> list[Account]:
    argv = [doveconf.doveconf, "-c", conf, "-h", "default_internal_user", "default_login_user"]
    rc, out, _err = doveconf.runner(argv)
    users = out.split() if rc == 0 else []
    return lookup_accounts(users or ["dovecot", "dovenull"])


@dataclass
class ServedCertificates:
    certificates: list[dict[str, t.Any]]
    warnings: list[str]
    all_files_present: bool


def served_certificates(request: Request, doveconf: Doveconf, *, check_mode: bool) -> ServedCertificates:
    """Check every certificate/key pair and referenced file as a TLS client and Dovecot will use them.

    A missing file fails a real run; in check mode it is a warning (an earlier task may create it).
    """
    tls = request.tls
    warnings: list[str] = []
    by_label = {label: inspect_pair(label, pair, check_mode=check_mode, warnings=warnings) for label, pair in tls.pairs()}
    certificates = [facts for facts in by_label.values() if facts]
    check_alt_types(by_label.get("certificate"), by_label.get("alternative certificate"))
    for local in tls.local_names:
        check_alt_types(by_label.get(f"local_name {local.name} certificate"),
                        by_label.get(f"local_name {local.name} alternative certificate"))
    other_files = ([tls.dh_path] if tls.dh_path else []) + ([tls.client_ca.path] if tls.client_ca else [])
    missing_other = [path for path in other_files if not os.path.isfile(path)]
    if missing_other:
        text = f"{' and '.join(missing_other)} does not exist"
        if not check_mode:
            raise DovecotError(f"{text}; create it first or fix the path")
        warnings.append(f"{text}; check mode predicts the change, but a real run fails unless it is created first")
    check_file_contents(tls)
    accounts = _unprivileged_users(doveconf, request.config_path)
    problems = [problem for facts in certificates
                for problem in key_permission_problems(facts["key_path"], unprivileged=accounts, allowed_group=request.key_group)]
    if problems:
        text = "; ".join(problems)
        advice = "make each key file mode 0600 owned by root (or 0640 with group key_group); Dovecot reads keys as root"
        if request.key_permissions != "warn":
            raise DovecotError(f"private key permissions: {text}; {advice} (or set key_permissions=warn)")
        warnings.append(f"private key permissions: {text}; {advice}")
    return ServedCertificates(certificates=certificates, warnings=warnings,
                              all_files_present=len(certificates) == len(tls.pairs()) and not missing_other)


@dataclass
class FileChange:
    path: str
    before: bytes | None
    after: bytes


@dataclass
class Plan:
    """The files that differ from what is wanted, and the settings elsewhere that would override the drop-in."""

    changes: list[FileChange]
    conflicts: list[Conflict]
    warnings: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _inside(path: str, directory: str) -> bool:
    directory = os.path.abspath(directory).rstrip("/") + "/"
    return os.path.abspath(path).startswith(directory)


def neutralise(request: Request, conflicts: list[Conflict], warnings: list[str]) -> dict[str, str]:
    """What the conflicts policy does about settings that would override the drop-in: the new text of every file
    to comment them out in (``comment_out``), a warning (``warn``), or a refusal (``fail``)."""
    if not conflicts:
        return {}
    listing = "; ".join(c.describe() for c in conflicts)
    if request.conflicts == "fail":
        raise DovecotError(f"other Dovecot configuration would override the drop-in: {listing}."
                           " Remove those settings, or set conflicts=comment_out to have them commented out")
    if request.conflicts == "warn":
        warnings.append(f"other Dovecot configuration overrides the drop-in (left as is, conflicts=warn): {listing}")
        return {}
    by_file: dict[str, list[Conflict]] = {}
    for conflict in conflicts:
        if not _inside(conflict.path, request.config_dir):
            raise DovecotError(f"{conflict.describe()}; the file is outside {request.config_dir}, so it is not commented out "
                               "automatically: remove the setting there")
        if os.path.islink(conflict.path):
            raise DovecotError(f"{conflict.describe()}; {conflict.path} is a symbolic link, so it is not commented out "
                               "automatically: remove the setting in the file it points to")
        by_file.setdefault(conflict.path, []).append(conflict)
    dropin_name = os.path.relpath(request.dropin_path, request.config_dir)
    texts = {path: comment_out((_fileio.read_bytes(path) or b"").decode("utf-8", errors="surrogateescape"), items,
                               dropin_name=dropin_name) for path, items in by_file.items()}
    warnings.append(f"commented out settings that would override the drop-in: {listing}")
    return texts


def plan(request: Request, desired: Desired) -> Plan:
    """Read the configuration as it would be with the new drop-in (nothing written), find what would still override
    it, and compare every file that would change with what is on disk."""
    if not os.path.isdir(os.path.dirname(request.dropin_path)):
        raise DovecotError(f"directory {os.path.dirname(request.dropin_path)} does not exist; create it or choose another dropin_path")
    scan = scan_config(request.config_path, overrides={request.dropin_path: desired.dropin_text})
    if os.path.normpath(request.dropin_path) not in scan.file_end:
        raise DovecotError(f"{request.config_path} does not include {request.dropin_path} (Debian's dovecot.conf has"
                           " '!include conf.d/*.conf'); restore that include or choose a dropin_path it reads")
    conflicts = find_conflicts(scan, dropin=os.path.normpath(request.dropin_path), managed=list(desired.settings),
                               names=desired.names, local_names=[local.name for local in request.tls.local_names])
    warnings: list[str] = []
    wanted = {request.dropin_path: desired.dropin_text, **neutralise(request, conflicts, warnings)}
    changes = []
    for path, text in wanted.items():
        before = _fileio.read_bytes(path)
        after = text.encode("utf-8", errors="surrogateescape")
        if before != after:
            changes.append(FileChange(path=path, before=before, after=after))
    return Plan(changes=changes, conflicts=conflicts, warnings=warnings)


def _copy_config_dir(real_dir: str, candidate_dir: str) -> None:
    """A private copy of the configuration directory; includes that name the real directory by absolute path
    are pointed at the copy, so the candidate is read in full."""
    shutil.copytree(real_dir, candidate_dir, symlinks=True)
    real_prefix = real_dir.rstrip("/") + "/"
    pattern = re.compile(r"^(\s*!include(?:_try)?\s+\"?)" + re.escape(real_prefix), re.MULTILINE)
    for root, _dirs, files in os.walk(candidate_dir):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            data = _fileio.read_bytes(path) or b""
            if b"!include" not in data:
                continue
            text = data.decode("utf-8", errors="surrogateescape")
            new = pattern.sub(lambda m: m.group(1) + candidate_dir.rstrip("/") + "/", text)
            if new != text:
                with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
                    handle.write(new)


@dataclass
class Candidate:
    """The validated copy of the configuration directory with the planned changes, and what doveconf reads there."""

    directory: str
    effective: dict[str, str]
    warnings: list[str]


def stage(request: Request, desired: Desired, result_plan: Plan, doveconf: Doveconf, *, read_files: bool,
          tmpdir: str | None) -> Candidate:
    """Apply the plan to a private copy of the configuration directory and validate that copy with doveconf: Dovecot
    must parse it (opening every referenced file when they all exist) and report the intended values everywhere."""
    real_dir = request.config_dir
    work = tempfile.mkdtemp(prefix="postmaster-dovecot-", dir=tmpdir)
    os.chmod(work, 0o700)
    directory = os.path.join(work, "conf")
    try:
        _copy_config_dir(real_dir, directory)
        for change in result_plan.changes:
            path = os.path.join(directory, os.path.relpath(change.path, real_dir))
            if os.path.lexists(path):
                os.unlink(path)  # never write through a link into the live tree
            with open(path, "wb") as handle:
                handle.write(change.after)
        conf = os.path.join(directory, os.path.relpath(request.config_path, real_dir))
        argv, rc, out, err = doveconf.check(conf, read_files=read_files)
        if rc != 0:
            message = _map_paths(err or out, directory, real_dir)
            hint = ""
            if "dovecot_config_version" in message or "dovecot_storage_version" in message:
                hint = (" (Dovecot 2.4 needs 'dovecot_config_version' and 'dovecot_storage_version' as the first settings"
                        f" of {request.config_path}; Debian 13's shipped dovecot.conf has them)")
            raise DovecotCommandError(f"Dovecot refuses the new configuration, nothing was changed: {message}{hint}",
                                      cmd=[_map_paths(arg, directory, real_dir) for arg in argv], rc=rc, stdout="", stderr=message)
        try:
            effective, mismatches = effective_mismatches(doveconf, conf, request.tls, desired.names)
        except DovecotCommandError as exc:
            raise DovecotCommandError(_map_paths(str(exc), directory, real_dir), cmd=[_map_paths(arg, directory, real_dir) for arg in exc.cmd],
                                      rc=exc.rc, stdout="", stderr=_map_paths(exc.stderr, directory, real_dir)) from None
        listing = "; ".join(m.describe() for m in mismatches)
        if mismatches and request.conflicts != "warn":
            raise DovecotError(f"the drop-in would not take effect, nothing was changed: {listing}. Another setting overrides it;"
                               " find it with 'doveconf -n' and remove it")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    warnings = [f"the drop-in does not take effect everywhere: {listing}"] if mismatches else []
    return Candidate(directory=work, effective=effective, warnings=warnings)


def install(host: _service.Host, request: Request, result_plan: Plan, doveconf: Doveconf) -> dict[str, str]:
    """Write the changed files atomically (keeping each file's owner, group and mode), check the live configuration,
    and put every previous file back if Dovecot refuses it or a write fails."""
    snapshot = _fileio.Snapshot()
    backup_files: dict[str, str] = {}
    try:
        for change in result_plan.changes:
            snapshot.take(change.path)
            saved = snapshot.files[change.path]
            existed = saved.content is not None
            backup = host.write(change.path, change.after, mode=saved.mode if existed else 0o644,
                                owner=saved.uid if existed else None, group=saved.gid if existed else None, backup=request.backup)
            if backup:
                backup_files[change.path] = backup
        argv, rc, out, err = doveconf.check(request.config_path, read_files=True)
        if rc != 0:
            raise DovecotCommandError(
                f"Dovecot refuses the configuration after the change; the previous files were restored: {(err or out).strip()}",
                cmd=argv, rc=rc, stdout="", stderr=err,
            )
    except (DovecotError, _fileio.FileIOError, OSError) as exc:
        problems = snapshot.restore(host.write)
        if problems:
            raise DovecotError(f"{exc}; restoring the previous files also failed: {'; '.join(problems)}") from exc
        raise
    return backup_files


def mask_secrets(text: str) -> str:
    """``text`` with the values of password-like settings replaced, for diffs of files edited here."""
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _SECRET_LINE.match(body)
        if match:
            line = match.group("head") + "********" + line[len(body):]
        lines.append(line)
    return "".join(lines)


@dataclass
class Outcome(_service.Outcome):
    request: Request
    desired: Desired
    plan: Plan
    effective: dict[str, str]
    certificates: list[dict[str, t.Any]]

    def diff(self) -> list[dict[str, str]]:
        """Every changed file before and after (the drop-in, files whose conflicting lines were commented out);
        password-like values masked, no key material."""
        return [
            {
                "before_header": change.path if change.before is not None else f"{change.path} (absent)",
                "after_header": change.path,
                "before": mask_secrets((change.before or b"").decode("utf-8", errors="replace")),
                "after": mask_secrets(change.after.decode("utf-8", errors="replace")),
            }
            for change in self.plan.changes
        ]

    def result(self) -> dict[str, t.Any]:
        action = {"comment_out": "commented out", "warn": "left as is"}.get(self.request.conflicts, "refused")
        result: dict[str, t.Any] = {
            "changed": self.changed,
            "path": self.request.dropin_path,
            "config_path": self.request.config_path,
            "dovecot_version": self.desired.version.text,
            "dovecot_series": self.desired.version.series,
            "settings": dict(self.desired.settings),
            "effective": self.effective,
            "conflicts": [{"path": c.path, "line": c.first_line, "setting": c.setting, "value": c.value, "section": c.section,
                           "reason": c.reason, "action": action} for c in self.plan.conflicts],
            "certificates": self.certificates,
            "changed_files": [change.path for change in self.plan.changes],
            "reload_flag": self.request.reload_flag,
            "postfix_auth": self.request.tls.postfix_auth_path,
        }
        if self.backup_files:
            result["backup_files"] = self.backup_files
        return result


def run(host: _service.Host, request: Request) -> Outcome:
    """Check the inputs, plan, stage and validate the candidate, and (unless check mode) install it."""
    if not _inside(request.dropin_path, request.config_dir):
        raise DovecotError(f"dropin_path {request.dropin_path} must be inside {request.config_dir}, the directory of {request.config_path}")
    if not os.path.isfile(request.config_path):
        raise DovecotError(f"{request.config_path} does not exist; install Dovecot first (the role does it with dovecot_install=true)")
    desired = desired_state(request, detect_version(host.run, request.dovecot_bin))
    doveconf = Doveconf(host.run, request.doveconf_bin)
    # Certificates and keys before anything else: bad input fails before any file is looked at for a change.
    served = served_certificates(request, doveconf, check_mode=host.check_mode)
    result_plan = plan(request, desired)
    candidate = stage(request, desired, result_plan, doveconf, read_files=served.all_files_present, tmpdir=host.tmpdir)
    try:
        backups: dict[str, str] = {}
        if result_plan.changed and not host.check_mode:
            if request.reload_flag:
                # Before a file changes: the next run still reloads if this one stops before the handler.
                _fileio.raise_flag(request.reload_flag)
            backups = install(host, request, result_plan, doveconf)
    finally:
        shutil.rmtree(candidate.directory, ignore_errors=True)
    return Outcome(changed=result_plan.changed, request=request, desired=desired, plan=result_plan, effective=candidate.effective,
                   certificates=served.certificates, warnings=served.warnings + result_plan.warnings + candidate.warnings,
                   backup_files=backups)
