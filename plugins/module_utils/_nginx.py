# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An nginx site that serves small files over HTTPS: wanted state, compare, stage, ``nginx -t``, install, roll back.

The phases have the Postfix backend's names and order (the module's ``main()`` only wires them):

* ``desired_state()`` turns the request into one site file (a ``server`` block per host name, TLS
  settings from ``_profiles``, one exact-match ``location`` per file, ``location /`` answering 404,
  no redirect anywhere) and the files under ``<document_root>/<server_name>/``.
* ``check_certificates()`` reads the certificate and key files nginx will load: the key matches,
  the leaf is not expired and covers every ``server_name``. A site with a wrong certificate is
  refused before anything is written (a sender fetching an MTA-STS policy must be able to verify it).
* ``plan()`` compares by meaning: the site file as nginx tokens (comments and layout do not count),
  each served file by its bytes (the MTA-STS policy id is derived from those bytes), and lists files
  under the owned roots that are no longer served.
* ``stage()`` copies the configuration tree into a private temporary directory, points the copy's
  absolute paths at itself, writes the candidate site file there and runs ``nginx -T -c COPY``: nginx
  parses every file, loads the certificates and binds the listen addresses, without touching the
  running server. It also checks that the main configuration really includes the site file.
* ``install()`` writes the files (0644) and then the site file, atomically, runs ``nginx -t`` on the
  live tree once more and puts every previous file back on any failure.

Reloading nginx is the role handler's job (after its own ``nginx -t``), announced by the reload flag.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
import typing as t
from dataclasses import dataclass, field

from ansible_collections.postmaster.tls.plugins.module_utils import _commands, _crypto, _fileio, _pem, _profiles

Runner = t.Callable[[t.List[str]], t.Tuple[int, str, str]]

METHODS = ("GET", "HEAD", "POST")
HEADER = "# Managed by postmaster.tls.nginx_site ({name}); changes made here are overwritten.\n"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SERVER_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_URL_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_LISTEN = re.compile(r"^(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|\*):)?\d{1,5}$")
_DIRECTIVE = re.compile(r"^[a-z_][a-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Directives the module writes itself: extra_directives may not set them a second time.
_OWN_DIRECTIVES = frozenset({"listen", "server_name", "ssl_certificate", "ssl_certificate_key", "ssl_protocols",
                             "ssl_ciphers", "ssl_prefer_server_ciphers", "ssl_ecdh_curve", "root", "location"})


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
class NginxError(Exception):
    """The request or the nginx configuration is wrong; the message says what and how to fix it."""


class NginxCommandError(_commands.CommandError, NginxError):
    """nginx refused a configuration; carries the command and nginx's own words."""


class MissingFileError(NginxError):
    """A certificate or key file does not exist (check mode predicts instead of failing)."""


# --------------------------------------------------------------------------------------------------
# The request and the wanted state
# --------------------------------------------------------------------------------------------------
@dataclass
class Document:
    path: str
    content: bytes
    content_type: str
    methods: tuple[str, ...] = ("GET",)
    case_insensitive: bool = False


@dataclass
class Site:
    server_name: str
    documents: list[Document]


@dataclass
class Request:
    """The module's options, already type-checked by the argument spec."""

    name: str = "postmaster-tls"
    sites: list[dict[str, t.Any]] = field(default_factory=list)
    certificates: list[dict[str, t.Any]] = field(default_factory=list)
    state: str = "present"
    config_dir: str = "/etc/nginx"
    main_config: str | None = None
    site_path: str | None = None
    document_root: str = "/var/www/postmaster-tls"
    listen: list[str] = field(default_factory=lambda: ["443", "[::]:443"])
    profile: str = _profiles.DEFAULT_PROFILE
    extra_directives: dict[str, t.Any] = field(default_factory=dict)
    backup: bool = False
    reload_flag: str | None = None

    @property
    def main_path(self) -> str:
        return self.main_config or os.path.join(self.config_dir, "nginx.conf")

    @property
    def site_file(self) -> str:
        return self.site_path or os.path.join(self.config_dir, "conf.d", f"{self.name}.conf")


@dataclass
class Desired:
    sites: list[Site]
    config_text: str | None
    files: dict[str, bytes]
    roots: list[str]
    certificates: list[tuple[str, str]]


def _check_text(value: t.Any, *, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise NginxError(f"{what} must be a non-empty string, got {value!r}")
    if _CONTROL.search(value):
        raise NginxError(f"{what} {value!r} contains a control character (line break, tab, NUL, ...); remove it")
    return value.strip()


def _check_path(value: t.Any, *, what: str) -> str:
    text = _check_text(value, what=what)
    if not os.path.isabs(text) or re.search(r"[\s;{}#'\"$\\]", text) or "/../" in f"{text}/":
        raise NginxError(f"{what} {text!r} must be an absolute path without whitespace, quotes, '..' or the characters ;{{}}#$\\")
    return os.path.normpath(text)


def normalise_sites(raw: t.Sequence[t.Mapping[str, t.Any]]) -> list[Site]:
    sites: list[Site] = []
    seen: set[str] = set()
    for index, item in enumerate(raw or [], start=1):
        where = f"sites[{index}]"
        name = _check_text(item.get("server_name"), what=f"{where}.server_name").rstrip(".").lower()
        if not _SERVER_NAME.match(name):
            raise NginxError(f"{where}.server_name {item.get('server_name')!r} is not a host name (letters, digits, hyphens; "
                             "internationalised names in their xn-- form)")
        if name in seen:
            raise NginxError(f"{where}.server_name {name} is listed twice; give each host name one entry with all its documents")
        seen.add(name)
        documents: list[Document] = []
        paths: set[str] = set()
        for number, doc in enumerate(item.get("documents") or [], start=1):
            label = f"{where}.documents[{number}]"
            path = _check_text(doc.get("path"), what=f"{label}.path")
            if not _URL_PATH.match(path) or any(part in (".", "..") for part in path.split("/")):
                raise NginxError(f"{label}.path {path!r} must be an absolute URL path of letters, digits and ._~- "
                                 "(such as /.well-known/mta-sts.txt), without query, '..' or trailing slash")
            if path.lower() in paths:
                raise NginxError(f"{label}.path {path} is listed twice for {name}")
            paths.add(path.lower())
            content = doc.get("content")
            if not isinstance(content, str):
                raise NginxError(f"{label}.content must be the text to serve, got {type(content).__name__}")
            if "\x00" in content:
                raise NginxError(f"{label}.content contains a NUL byte; serve text files only")
            content_type = _check_text(doc.get("content_type") or "text/plain", what=f"{label}.content_type").lower()
            if not _CONTENT_TYPE.match(content_type):
                raise NginxError(f"{label}.content_type {content_type!r} is not a media type such as text/plain")
            methods = tuple(dict.fromkeys(str(m).upper() for m in (doc.get("methods") or ["GET"])))
            bad = [m for m in methods if m not in METHODS]
            if bad or "GET" not in methods:
                raise NginxError(f"{label}.methods {list(methods)!r}: allowed are GET (always, HEAD with it) and POST")
            documents.append(Document(path=path, content=content.encode("utf-8"), content_type=content_type,
                                      methods=methods, case_insensitive=bool(doc.get("case_insensitive"))))
        if not documents:
            raise NginxError(f"{where} ({name}) has no documents; list the files this host name serves")
        sites.append(Site(server_name=name, documents=documents))
    return sites


def normalise_certificates(raw: t.Sequence[t.Mapping[str, t.Any]]) -> list[tuple[str, str]]:
    pairs = []
    for index, item in enumerate(raw or [], start=1):
        cert = _check_path(item.get("certificate"), what=f"certificates[{index}].certificate")
        key = _check_path(item.get("key"), what=f"certificates[{index}].key")
        pairs.append((cert, key))
    return pairs


def check_extra(extra: t.Mapping[str, t.Any]) -> list[tuple[str, str]]:
    """``extra_directives`` as (name, value) lines; a value that would break the block is refused."""
    out = []
    for name, raw in extra.items():
        if not isinstance(name, str) or not _DIRECTIVE.match(name):
            raise NginxError(f"extra_directives: {name!r} is not an nginx directive name (lower-case letters, digits, _)")
        if name in _OWN_DIRECTIVES:
            raise NginxError(f"extra_directives: {name} is written by the module itself; use the module's own option for it")
        values = raw if isinstance(raw, list) else [raw]
        for value in values:
            if isinstance(value, bool):
                value = "on" if value else "off"
            text = _check_text(str(value), what=f"extra_directives.{name}")
            if re.search(r"[;{}#\\]", text) or text.count('"') % 2 or text.count("'") % 2:
                raise NginxError(f"extra_directives.{name} = {text!r} contains ; {{ }} # \\ or an unbalanced quote, which would "
                                 "end or break the server block; give one directive value")
            out.append((name, text))
    return out


def _location(doc: Document) -> list[str]:
    allowed = " ".join(method for method in doc.methods if method != "HEAD")
    if doc.case_insensitive:
        head = f"    location ~* ^{re.escape(doc.path)}$ {{"
    else:
        head = f"    location = {doc.path} {{"
    lines = [
        head,
        "        types { }",
        f"        default_type {doc.content_type};",
        f"        limit_except {allowed} {{ deny all; }}",
    ]
    if "POST" in doc.methods:
        # nginx's static handler answers POST with 405; the internal redirect turns it into a GET of the same file.
        lines.append(f"        error_page 405 =200 {doc.path};")
    lines += [f"        try_files {doc.path} =404;", "    }"]
    return lines


def render_config(request: Request, sites: list[Site], certificates: list[tuple[str, str]],
                  extra: list[tuple[str, str]]) -> str:
    profile = _profiles.get_profile(request.profile)
    protocols = " ".join(_profiles.protocols_at_or_above(profile.min_protocol))
    lines = [HEADER.format(name=request.name).rstrip("\n"),
             "# One server block per host name: HTTPS only, exact files, 404 for everything else, no redirects."]
    for site in sites:
        lines += ["server {"]
        lines += [f"    listen {address} ssl;" for address in request.listen]
        lines += [f"    server_name {site.server_name};"]
        for cert, key in certificates:
            lines += [f"    ssl_certificate {cert};", f"    ssl_certificate_key {key};"]
        lines += [f"    ssl_protocols {protocols};"]
        if profile.cipher_list:
            lines += [f"    ssl_ciphers {profile.cipher_list};"]
        lines += [f"    ssl_prefer_server_ciphers {'on' if profile.prefer_server_ciphers else 'off'};",
                  f"    ssl_ecdh_curve {profile.curves};",
                  f"    root {os.path.join(request.document_root, site.server_name)};"]
        lines += [f"    {name} {value};" for name, value in extra]
        for doc in site.documents:
            lines += _location(doc)
        lines += ["    location / {", "        return 404;", "    }", "}"]
    return "\n".join(lines) + "\n"


def desired_state(request: Request) -> Desired:
    """What the site file and the served files should hold; raises NginxError for bad input (nothing read yet)."""
    if not _NAME.match(request.name or ""):
        raise NginxError(f"name {request.name!r} must be a short file name (letters, digits, '.', '_', '-')")
    _profiles.get_profile(request.profile)
    config_dir = _check_path(request.config_dir, what="config_dir")
    request.config_dir = config_dir
    for what, path in (("main_config", request.main_path), ("site_path", request.site_file)):
        checked = _check_path(path, what=what)
        if os.path.commonpath([checked, config_dir]) != config_dir:
            raise NginxError(f"{what} {checked} is outside config_dir {config_dir}; the candidate check copies config_dir, "
                             "so both must be inside it")
    request.document_root = _check_path(request.document_root, what="document_root")
    if request.reload_flag is not None:
        request.reload_flag = _check_path(request.reload_flag, what="reload_flag")
    if not request.listen:
        raise NginxError("listen is empty; give at least one port or address:port such as 443 or [::]:443")
    for address in request.listen:
        if not isinstance(address, str) or not _LISTEN.match(address.strip()):
            raise NginxError(f"listen {address!r} must be a port or address:port (443, 192.0.2.1:443, [::]:443)")
    request.listen = [address.strip() for address in request.listen]
    if request.state == "absent":
        return Desired(sites=[], config_text=None, files={}, roots=[], certificates=[])
    sites = normalise_sites(request.sites)
    if not sites:
        raise NginxError("sites is empty; list at least one host name with its documents (or use state=absent)")
    certificates = normalise_certificates(request.certificates)
    if not certificates:
        raise NginxError("certificates is empty; give the certificate (full chain) and key files for the host names")
    extra = check_extra(request.extra_directives)
    files: dict[str, bytes] = {}
    for site in sites:
        root = os.path.join(request.document_root, site.server_name)
        for doc in site.documents:
            files[root + doc.path] = doc.content
    return Desired(sites=sites, config_text=render_config(request, sites, certificates, extra), files=files,
                   roots=[os.path.join(request.document_root, site.server_name) for site in sites], certificates=certificates)


# --------------------------------------------------------------------------------------------------
# Certificates nginx will load
# --------------------------------------------------------------------------------------------------
def check_certificates(desired: Desired, *, check_mode: bool) -> tuple[list[dict[str, t.Any]], list[str]]:
    """Facts about each certificate/key pair; refuses a mismatch, an expired leaf or a name not covered.

    A missing file fails a real run; in check mode it is a warning (an earlier task may create it).
    """
    facts: list[dict[str, t.Any]] = []
    warnings: list[str] = []
    names = [site.server_name for site in desired.sites]
    for index, (cert_path, key_path) in enumerate(desired.certificates, start=1):
        where = f"certificates[{index}]"
        cert_data = _fileio.read_bytes(cert_path)
        key_data = _fileio.read_bytes(key_path)
        missing = [path for path, data in ((cert_path, cert_data), (key_path, key_data)) if data is None]
        if missing:
            message = f"{where}: {', '.join(missing)} does not exist; issue and install the certificate first"
            if check_mode:
                warnings.append(f"{message} (check mode: assuming an earlier task creates it)")
                continue
            raise MissingFileError(message)
        cert_data, key_data = t.cast(bytes, cert_data), t.cast(bytes, key_data)
        for path, data in ((cert_path, cert_data), (key_path, key_data)):
            problem = _pem.cut_short(data, source=path)
            if problem:
                raise NginxError(f"{where}: {problem}")
        try:
            chain = _crypto.load_certificates(cert_data, source=cert_path)
            if b"ENCRYPTED" in key_data:
                raise NginxError(f"{where}: the key in {key_path} is passphrase-protected; nginx would ask for the passphrase "
                                 "at every start. Install an unencrypted copy readable by root only")
            key = _crypto.load_private_key(key_data, source=key_path)
        except _crypto.PEMError as exc:
            raise NginxError(f"{where}: {exc}") from None
        leaf = chain[0]
        if not _crypto.same_public_key(key.public_key(), leaf.public_key()):
            raise NginxError(f"{where}: the key in {key_path} does not belong to the certificate in {cert_path} "
                             f"({_crypto.name_to_string(leaf.subject)}); nginx would refuse to start. Give the matching pair")
        days = _crypto.days_remaining(leaf)
        if days < 0:
            raise NginxError(f"{where}: the certificate in {cert_path} expired {-days} days ago; renew it first")
        uncovered = [name for name in names if not _crypto.covers(leaf, name)]
        if uncovered:
            raise NginxError(f"{where}: the certificate in {cert_path} is for {', '.join(_crypto.dns_names(leaf)) or 'no DNS name'}, "
                             f"not {', '.join(uncovered)}; clients would refuse it. Issue a certificate that covers every "
                             "server_name (the mail_discovery role's certificate step does)")
        described = _crypto.describe_public_key(leaf.public_key())
        facts.append({
            "certificate": cert_path,
            "key": key_path,
            "key_type": described["type"],
            "names": _crypto.dns_names(leaf),
            "not_after": _crypto.not_valid_after(leaf).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days_remaining": days,
            "fingerprint_sha256": _crypto.cert_fingerprint_sha256(leaf),
            "chain_length": len(chain),
        })
    types = [fact["key_type"] for fact in facts]
    duplicates = sorted({kind for kind in types if types.count(kind) > 1})
    if duplicates:
        raise NginxError(f"certificates: two {', '.join(duplicates)} certificates; nginx serves one per key type, give one of each")
    return facts, warnings


# --------------------------------------------------------------------------------------------------
# Running nginx
# --------------------------------------------------------------------------------------------------
@dataclass
class Tools:
    """nginx's command line, through the module's run_command (argv lists, LC_ALL=C)."""

    run: Runner
    nginx: str

    def test(self, main_config: str, *, dump: bool = False) -> tuple[str, str]:
        argv = [self.nginx, "-T" if dump else "-t", "-c", main_config]
        rc, out, err = self.run(argv)
        if rc != 0:
            # "2026/12/03 10:00:00 [emerg] 455#455: <reason>" -> "<reason>": the time and pid say nothing here.
            lines = [re.sub(r"^.*?\[(?:emerg|alert|crit)\] (?:\d+#\d+: )?", "", line) for line in err.splitlines()
                     if "[emerg]" in line or "[alert]" in line or "[crit]" in line]
            detail = "; ".join(lines) or err.strip() or out.strip()
            raise NginxCommandError(f"nginx refused the configuration: {detail}", cmd=argv, rc=rc, stdout=out, stderr=err)
        return out, err

    def running(self, pid_file: str = "/run/nginx.pid") -> bool:
        data = _fileio.read_bytes(pid_file)
        if not data or not data.strip().isdigit():
            return False
        return os.path.exists(f"/proc/{int(data.strip())}")


# --------------------------------------------------------------------------------------------------
# Comparing by meaning
# --------------------------------------------------------------------------------------------------
def config_tokens(text: str) -> list[str]:
    """nginx's view of a configuration: tokens without comments and layout (quotes kept as written)."""
    tokens: list[str] = []
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|#[^\n]*|[;{}]|[^\s;{}#"\']+', text):
        token = match.group(0)
        if not token.startswith("#"):
            tokens.append(token)
    return tokens


def owned_roots(text: str | None, document_root: str) -> list[str]:
    """The ``root`` directories under ``document_root`` that a (previous) site file of ours names."""
    if not text:
        return []
    tokens = config_tokens(text)
    roots = []
    for index, token in enumerate(tokens[:-1]):
        if token == "root":
            path = os.path.normpath(tokens[index + 1])
            if os.path.dirname(path) == document_root and path not in roots:
                roots.append(path)
    return roots


@dataclass
class Plan:
    config_before: str | None
    config_changed: bool
    write_files: dict[str, bytes]
    remove_files: list[str]
    file_before: dict[str, bytes | None]

    @property
    def changed(self) -> bool:
        return self.config_changed or bool(self.write_files) or bool(self.remove_files)


def _read_text(path: str) -> str | None:
    try:
        data = _fileio.read_bytes(path)
    except _fileio.FileIOError as exc:
        raise NginxError(str(exc)) from None
    return None if data is None else data.decode("utf-8", "replace")


def plan(module: t.Any, request: Request, desired: Desired) -> Plan:
    before = _read_text(request.site_file)
    if desired.config_text is None:
        config_changed = before is not None
    else:
        config_changed = before is None or config_tokens(before) != config_tokens(desired.config_text)
    write_files: dict[str, bytes] = {}
    file_before: dict[str, bytes | None] = {}
    for path, content in desired.files.items():
        try:
            current = _fileio.read_bytes(path)
        except _fileio.FileIOError as exc:
            raise NginxError(str(exc)) from None
        file_before[path] = current
        if current != content or _fileio.attributes_differ(module, path, mode=0o644):
            write_files[path] = content
    remove: list[str] = []
    for root in dict.fromkeys(owned_roots(before, request.document_root) + desired.roots):
        for directory, _dirs, names in os.walk(root):
            for name in names:
                path = os.path.join(directory, name)
                if path not in desired.files:
                    remove.append(path)
                    file_before[path] = _fileio.read_bytes(path)
    return Plan(config_before=before, config_changed=config_changed, write_files=write_files, remove_files=sorted(remove),
                file_before=file_before)


# --------------------------------------------------------------------------------------------------
# Staging and validating the candidate
# --------------------------------------------------------------------------------------------------
@dataclass
class Candidate:
    directory: str
    test_output: list[str]


def _point_at(tree: str, config_dir: str) -> None:
    """Make the copy refer to itself: every ``<config_dir>/`` in its files becomes ``<tree>/``."""
    old = (config_dir.rstrip("/") + "/").encode()
    new = (tree.rstrip("/") + "/").encode()
    for directory, _dirs, names in os.walk(tree):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                data = handle.read()
            if old in data:
                with open(path, "wb") as handle:
                    handle.write(data.replace(old, new))


def stage(tools: Tools, request: Request, desired: Desired, *, tmpdir: str | None) -> Candidate:
    """Validate the configuration with the candidate site file on a private copy of config_dir."""
    if not os.path.isfile(request.main_path):
        raise NginxError(f"{request.main_path} does not exist; is nginx installed (the role's mail_discovery_install does) "
                         "and config_dir right?")
    directory = tempfile.mkdtemp(prefix="postmaster-nginx-", dir=tmpdir)
    os.chmod(directory, 0o700)
    tree = os.path.join(directory, "conf")
    try:
        shutil.copytree(request.config_dir, tree, symlinks=False, ignore_dangling_symlinks=True)
        _point_at(tree, request.config_dir)
        site_copy = os.path.join(tree, os.path.relpath(request.site_file, request.config_dir))
        main_copy = os.path.join(tree, os.path.relpath(request.main_path, request.config_dir))
        if desired.config_text is None:
            if os.path.exists(site_copy):
                os.unlink(site_copy)
        else:
            os.makedirs(os.path.dirname(site_copy), exist_ok=True)
            with open(site_copy, "w", encoding="utf-8") as handle:
                handle.write(desired.config_text)
        try:
            out, err = tools.test(main_copy, dump=True)
        except NginxCommandError as exc:
            raise NginxCommandError(str(exc).replace(tree, request.config_dir), cmd=[tools.nginx, "-T", "-c", request.main_path],
                                    rc=exc.rc, stdout="", stderr=exc.stderr.replace(tree, request.config_dir)) from None
        if desired.config_text is not None and f"# configuration file {site_copy}:" not in out:
            raise NginxError(f"nginx does not read {request.site_file}: {request.main_path} includes no such file. Set site_path to a "
                             f"file it includes (on Debian {os.path.join(request.config_dir, 'conf.d', '<name>.conf')})")
        lines = [line.replace(tree, request.config_dir) for line in err.splitlines() if line.strip()]
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Candidate(directory=directory, test_output=lines)


# --------------------------------------------------------------------------------------------------
# Going live
# --------------------------------------------------------------------------------------------------
def install(module: t.Any, tools: Tools, request: Request, desired: Desired, result_plan: Plan) -> dict[str, str]:
    """Make the validated state live; on any failure put every previous file back and re-raise."""
    rollback = _fileio.Snapshot()
    backups: dict[str, str] = {}
    try:
        for path, content in sorted(result_plan.write_files.items()):
            rollback.directories += _fileio.make_directory(module, os.path.dirname(path), mode=0o755)
            rollback.take(path)
            _fileio.atomic_write(module, path, content, mode=0o644)
        for path in result_plan.remove_files:
            rollback.take(path)
            os.unlink(path)
        if result_plan.config_changed:
            rollback.take(request.site_file)
            if desired.config_text is None:
                if os.path.exists(request.site_file):
                    if request.backup:
                        backups["site"] = module.backup_local(request.site_file)
                    os.unlink(request.site_file)
            else:
                backup = _fileio.atomic_write(module, request.site_file, desired.config_text.encode("utf-8"), mode=0o644,
                                              backup=request.backup)
                if backup:
                    backups["site"] = backup
            tools.test(request.main_path)
    except BaseException as exc:
        problems = rollback.restore(functools.partial(_fileio.atomic_write, module))
        if problems and isinstance(exc, NginxError):
            raise NginxError(f"{exc}; restoring the previous files also failed: {'; '.join(problems)}") from exc
        if isinstance(exc, NginxCommandError):
            raise NginxCommandError(f"{exc} (on the live configuration after the update); the previous files were restored",
                                    cmd=exc.cmd, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr) from None
        raise
    return backups


# --------------------------------------------------------------------------------------------------
# One run, start to finish
# --------------------------------------------------------------------------------------------------
def _sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


@dataclass
class Outcome:
    changed: bool
    request: Request
    desired: Desired
    plan: Plan
    candidate: Candidate | None
    certificates: list[dict[str, t.Any]]
    warnings: list[str]
    backup_files: dict[str, str]

    def diff(self) -> list[dict[str, str]]:
        """The site file, and each served file that changes, before and after (public text only)."""
        out = []
        if self.plan.config_changed:
            out.append({"before_header": self.request.site_file, "after_header": self.request.site_file,
                        "before": self.plan.config_before or "", "after": self.desired.config_text or ""})
        for path in sorted(self.plan.write_files):
            before = self.plan.file_before.get(path)
            out.append({"before_header": path, "after_header": path, "before": (before or b"").decode("utf-8", "replace"),
                        "after": self.plan.write_files[path].decode("utf-8", "replace")})
        for path in self.plan.remove_files:
            out.append({"before_header": path, "after_header": f"{path} (removed)",
                        "before": (self.plan.file_before.get(path) or b"").decode("utf-8", "replace"), "after": ""})
        return out

    def result(self) -> dict[str, t.Any]:
        sites = []
        for site in self.desired.sites:
            root = os.path.join(self.request.document_root, site.server_name)
            sites.append({"server_name": site.server_name, "root": root, "documents": [
                {"path": doc.path, "file": root + doc.path, "content_type": doc.content_type, "methods": list(doc.methods),
                 "sha256": _sha256(doc.content)} for doc in site.documents]})
        result: dict[str, t.Any] = {
            "changed": self.changed,
            "site_path": self.request.site_file,
            "document_root": self.request.document_root,
            "sites": sites,
            "config_changed": self.plan.config_changed,
            "files_changed": sorted(self.plan.write_files),
            "files_removed": self.plan.remove_files,
            "certificates": self.certificates,
            "nginx_test": self.candidate.test_output if self.candidate is not None else [],
        }
        if self.backup_files:
            result["backup_files"] = self.backup_files
        return result


def run(module: t.Any, tools: Tools, request: Request, *, check_mode: bool, tmpdir: str | None) -> Outcome:
    """Check the inputs, plan, stage and validate the candidate, and (unless check mode) install it."""
    desired = desired_state(request)
    certificates, warnings = check_certificates(desired, check_mode=check_mode)
    result_plan = plan(module, request, desired)
    candidate = None
    backups: dict[str, str] = {}
    try:
        # Served files are read per request; only a new site file needs nginx's check and a reload.
        if result_plan.config_changed:
            if warnings:
                warnings.append("check mode: the candidate configuration was not tested with nginx -t (its certificate files "
                                "do not exist yet)")
            else:
                candidate = stage(tools, request, desired, tmpdir=tmpdir)
        if result_plan.changed and not check_mode:
            if request.reload_flag and result_plan.config_changed:
                _fileio.raise_flag(request.reload_flag)
            backups = install(module, tools, request, desired, result_plan)
    finally:
        if candidate is not None:
            shutil.rmtree(candidate.directory, ignore_errors=True)
    return Outcome(changed=result_plan.changed, request=request, desired=desired, plan=result_plan, candidate=candidate,
                   certificates=certificates, warnings=warnings, backup_files=backups)


__all__ = ["NginxError", "NginxCommandError", "MissingFileError", "Request", "Desired", "Tools", "Plan", "Candidate", "Outcome",
           "desired_state", "check_certificates", "plan", "stage", "install", "run", "config_tokens", "render_config"]
