# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Postfix TLS settings through ``postconf``: read, compare by meaning, stage, validate, install.

How a run goes (the module's ``main()`` only wires these together):

* ``desired_state()`` turns the request and one row of ``_profiles`` into main.cf parameters and the
  ``submission``/``submissions`` master.cf entries. Every parameter the module manages is written
  explicitly to main.cf, even when its value equals Postfix's built-in default: ``postconf -n`` then
  documents the TLS policy, and a Postfix upgrade that changes a default cannot change it silently.
  A parameter the module wants at its default (a legacy certificate setting, an unused cipher list)
  is removed with ``postconf -X``.
* ``plan()`` reads the live configuration (``postconf -n``, ``postconf -M``) and compares values by
  meaning: list parameters are token lists (commas and whitespace separate), protocol lists are
  sets, booleans ignore case. Only what differs becomes a ``postconf`` command.
* ``stage()`` copies main.cf and master.cf into a private temporary directory and runs those
  commands there (``postconf -c CANDIDATE -e NAME=VALUE``, one argv element each, never a shell),
  reads the candidate back, refuses parameters Postfix does not know (``postconf -n`` warns about
  them) and runs ``postfix -c CANDIDATE check``. Nothing live has changed at this point; check mode
  stops here with an exact prediction and the full diff.
* ``install()`` rebuilds the SNI table when needed (``postmap -F`` into a temporary sibling, checked
  with ``postmap -F -q``, then renamed), writes the validated candidate files atomically, checks the
  live result once more and puts the previous main.cf/master.cf (and SNI table) back on any failure.

Reloading Postfix is the role handler's job. Private key bytes are read to check key/certificate
pairs and SNI tables but never leave this module: results carry paths, fingerprints and key facts.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import stat
import tempfile
import typing as t
from dataclasses import dataclass, field

from ansible_collections.postmaster.tls.plugins.module_utils import _chain, _commands, _crypto, _fileio, _pem, _profiles

Runner = t.Callable[[t.List[str]], t.Tuple[int, str, str]]
ServiceState = t.Literal["present", "absent", "unmanaged"]

# --------------------------------------------------------------------------------------------------
# Vocabulary: what Postfix accepts for the settings this module writes or checks
# --------------------------------------------------------------------------------------------------
SERVER_SECURITY_LEVELS = ("none", "may", "encrypt")
CLIENT_SECURITY_LEVELS = ("none", "may", "encrypt", "dane", "dane-only", "fingerprint", "verify", "secure")
DANE_LEVELS = frozenset({"dane", "dane-only"})
CIPHER_GRADES = frozenset({"export", "low", "medium", "high", "null"})
_PROTOCOL_NAMES = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_PROTOCOL_TOKEN = re.compile(
    r"^(?:!?(?:%s)|(?:>=|<=)(?:%s))$" % ("|".join(re.escape(p) for p in _PROTOCOL_NAMES), "|".join(re.escape(p) for p in _PROTOCOL_NAMES[1:]))
)
# Parameters whose value is a list: Postfix separates list elements with commas and/or whitespace.
_LIST_SUFFIXES = ("_maps", "_restrictions", "_protocols", "_chain_files", "_curves", "_groups", "_exclude_ciphers",
                  "_domains", "_networks", "_checks", "_classes", "_mech_filter", "_auto_curves")
_LIST_NAMES = frozenset({"mynetworks", "mydestination", "inet_protocols", "inet_interfaces", "authorized_submit_users"})
_BOOL_NAMES = frozenset({
    "smtpd_tls_auth_only", "tls_preempt_cipherlist", "smtpd_tls_received_header", "smtpd_tls_wrappermode",
    "smtp_tls_wrappermode", "smtpd_sasl_auth_enable", "smtpd_tls_ask_ccert", "smtpd_tls_req_ccert",
    "smtp_tls_connection_reuse", "smtpd_use_tls", "smtpd_enforce_tls", "smtp_use_tls", "smtp_enforce_tls",
    "smtp_tls_note_starttls_offer", "smtp_tls_enforce_peername", "smtp_sasl_auth_enable", "tls_append_default_CA",
    "tls_fast_shutdown_enable", "smtpd_tls_always_issue_session_ids", "smtp_tls_force_insecure_host_tlsa_lookup",
})
# Certificate settings that smtpd_tls_chain_files replaces; Postfix logs a warning for each one left set.
LEGACY_CERT_PARAMETERS = ("smtpd_tls_cert_file", "smtpd_tls_key_file", "smtpd_tls_eccert_file", "smtpd_tls_eckey_file",
                          "smtpd_tls_dcert_file", "smtpd_tls_dkey_file")
SESSION_CACHE = {
    "smtpd_tls_session_cache_database": "btree:${data_directory}/smtpd_scache",
    "smtp_tls_session_cache_database": "btree:${data_directory}/smtp_scache",
}
SNI_MAP_SUFFIXES = {"hash": ".db", "btree": ".db", "cdb": ".cdb", "lmdb": ".lmdb"}
SNI_MAP_HEADER = "# Managed by postmaster.tls.postfix_tls: SNI name -> chain files (key first). Built with postmap -F.\n"

_PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SNI_NAME = re.compile(r"^\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_UNUSED = re.compile(r"unused parameter: ([A-Za-z0-9_]+)=")
_SERVICE_FIELDS = ("name", "type", "private", "unpriv", "chroot", "wakeup", "maxproc", "command")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
class PostfixError(Exception):
    """The request or the Postfix configuration is wrong; the message says what and how to fix it."""


class PostfixCommandError(_commands.CommandError, PostfixError):
    """A Postfix tool failed; carries the command and Postfix's own output."""


class MissingFileError(PostfixError):
    """A referenced file does not exist (check mode may predict instead of failing)."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


# --------------------------------------------------------------------------------------------------
# Values: rendering, comparing by meaning, checking
# --------------------------------------------------------------------------------------------------
def is_list_parameter(name: str) -> bool:
    return name in _LIST_NAMES or name.endswith(_LIST_SUFFIXES)


def is_bool_parameter(name: str) -> bool:
    return name in _BOOL_NAMES or name.endswith("_enable")


def is_cipherlist_parameter(name: str) -> bool:
    return re.match(r"^tls_(high|medium|low|export|null)_cipherlist$", name) is not None


def is_protocol_parameter(name: str) -> bool:
    return name.endswith("_protocols") and name != "inet_protocols"


def render_value(name: str, value: t.Any, *, for_service: bool = False) -> str | None:
    """A YAML value as Postfix text: booleans as yes/no, lists joined, None kept (means "remove").

    master.cf ``-o`` values cannot contain whitespace, so lists are joined with commas there.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        joiner = "," if for_service else ", "
        return joiner.join(str(item).strip() for item in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def tokens(name: str, value: str) -> list[str]:
    """The elements of a list parameter, as Postfix splits them (commas and/or whitespace)."""
    separators = r"[\s,:]+" if is_protocol_parameter(name) or is_cipherlist_parameter(name) else r"[\s,]+"
    return [item for item in re.split(separators, value.strip()) if item]


def same_value(name: str, current: str | None, desired: str | None) -> bool:
    """True when two main.cf/master.cf values mean the same to Postfix."""
    if current is None or desired is None:
        return current is None and desired is None
    if is_protocol_parameter(name):
        return set(tokens(name, current)) == set(tokens(name, desired))
    if is_list_parameter(name) or is_cipherlist_parameter(name):
        return tokens(name, current) == tokens(name, desired)
    if is_bool_parameter(name):
        return current.strip().lower() == desired.strip().lower()
    return " ".join(current.split()) == " ".join(desired.split())


def check_value(name: str, value: str | None, *, where: str) -> None:
    """Refuse values that Postfix would accept in main.cf and then silently disable TLS over.

    A bad protocol list or cipher grade does not stop Postfix: smtpd logs a warning and offers no
    STARTTLS at all, so port 25 falls back to plaintext. Catch these before anything is written.
    """
    if value is None:
        return
    if "\n" in value or "\r" in value:
        raise PostfixError(f"{where}: the value of {name} contains a line break; give it on one line")
    if not _PARAM_NAME.match(name):
        raise PostfixError(f"{where}: {name!r} is not a Postfix parameter name (letters, digits and underscores)")
    if "$" in value:
        return  # A $reference is expanded by Postfix at run time; it cannot be checked here.
    if is_protocol_parameter(name):
        bad = [item for item in tokens(name, value) if not _PROTOCOL_TOKEN.match(item)]
        if bad:
            raise PostfixError(
                f"{where}: {name} = {value!r} has unknown protocol name(s) {', '.join(repr(b) for b in bad)}; Postfix would disable TLS "
                "altogether. Use names such as TLSv1.2 and TLSv1.3, exclusions such as !TLSv1.1, or a range such as >=TLSv1.2"
            )
    elif name.endswith(("_tls_ciphers", "_tls_mandatory_ciphers")):
        if value.strip().lower() not in CIPHER_GRADES:
            raise PostfixError(f"{where}: {name} = {value!r} is not a cipher grade; choose one of {', '.join(sorted(CIPHER_GRADES))}")
    elif name == "smtpd_tls_security_level":
        if value.strip() not in SERVER_SECURITY_LEVELS:
            raise PostfixError(f"{where}: {name} = {value!r} is not a server TLS level; choose one of {', '.join(SERVER_SECURITY_LEVELS)}")
    elif name.endswith("_tls_security_level"):
        if value.strip() not in CLIENT_SECURITY_LEVELS:
            raise PostfixError(f"{where}: {name} = {value!r} is not a client TLS level; choose one of {', '.join(CLIENT_SECURITY_LEVELS)}")
    elif name.endswith("_tls_loglevel"):
        if not value.strip().isdigit() or int(value) > 4:
            raise PostfixError(f"{where}: {name} = {value!r} is not a TLS log level; use 0, 1, 2, 3 or 4")
    elif is_bool_parameter(name):
        if value.strip().lower() not in ("yes", "no"):
            raise PostfixError(f"{where}: {name} = {value!r} is not a Postfix boolean; use yes or no (or true/false in YAML)")


def check_service_value(name: str, value: str | None, *, service: str) -> None:
    where = f"service_options for {service}"
    check_value(name, value, where=where)
    if value is not None and re.search(r"\s", value):
        raise PostfixError(
            f"{where}: {name} = {value!r} contains whitespace, which a master.cf -o value cannot hold; "
            "separate list elements with commas (or give a YAML list), or set the value in main.cf through extra "
            "and refer to it as $name"
        )


# --------------------------------------------------------------------------------------------------
# Chain files (smtpd_tls_chain_files and SNI table values)
# --------------------------------------------------------------------------------------------------
@dataclass
class ChainFacts:
    """What a list of chain files serves, one entry per private key; no key material."""

    entries: list[dict[str, t.Any]]
    warnings: list[str]


def _key_algorithm(public_key) -> str:
    return str(_crypto.describe_public_key(public_key)["type"])


def inspect_chain_files(paths: t.Sequence[str], *, label: str) -> ChainFacts:
    """Check ``paths`` the way Postfix will read them and describe what they serve.

    Postfix concatenates the files in order and wants ``key1, cert1, [chain1], key2, cert2, ...``:
    each private key immediately before its own certificate, at most one key per algorithm, no
    passphrase. A file that breaks these rules does not stop Postfix; it disables TLS.
    """
    objects: list[tuple[str, bytes, str]] = []
    warnings: list[str] = []
    for path in paths:
        if "$" in path or not os.path.isabs(path):
            raise PostfixError(f"{label}: {path!r} must be an absolute path without $variables, so it can be checked before use")
        try:
            data = _fileio.read_bytes(path)
        except _fileio.FileIOError as exc:
            raise PostfixError(f"{label}: {exc}") from exc
        if data is None:
            raise MissingFileError(f"{label}: {path} does not exist; install the certificate first (combined file: key, then "
                                   "certificate, then intermediates)", path=path)
        problem = _pem.cut_short(data, source=path)
        if problem:
            raise PostfixError(f"{label}: {problem}")
        blocks = _crypto.pem_blocks(data)
        if not blocks:
            raise PostfixError(f"{label}: {path} holds no PEM objects; expected a private key followed by its certificate chain")
        for pem_label, block in blocks:
            if pem_label == "ENCRYPTED PRIVATE KEY" or (pem_label.endswith("PRIVATE KEY") and b"ENCRYPTED" in block):
                raise PostfixError(f"{label}: the private key in {path} is passphrase-protected; Postfix cannot read encrypted keys, "
                                   "install an unencrypted copy readable by root only")
            if pem_label.endswith("PRIVATE KEY"):
                objects.append(("key", block, path))
            elif pem_label in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
                objects.append(("cert", block, path))
            else:
                raise PostfixError(f"{label}: {path} holds a '{pem_label}' PEM object; a chain file holds only private keys and certificates")
        if any(kind == "key" for kind, _block, owner in objects if owner == path):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o004:
                warnings.append(f"{path} holds a private key and is world-readable (mode {mode:04o}); make it 0600 or 0640 with a group")

    if objects and objects[0][0] != "key":
        raise PostfixError(
            f"{label}: {objects[0][2]} starts with a certificate; Postfix needs each private key immediately before its certificate "
            "(key first, then the leaf certificate, then intermediates), as in certificate_install's combined.pem"
        )
    entries: list[dict[str, t.Any]] = []
    seen: dict[str, str] = {}
    index = 0
    while index < len(objects):
        _kind, key_block, key_path = objects[index]
        certs = []
        index += 1
        while index < len(objects) and objects[index][0] == "cert":
            certs.append(objects[index])
            index += 1
        if not certs:
            raise PostfixError(f"{label}: the private key in {key_path} is not followed by its certificate; put the leaf certificate "
                               "right after the key")
        try:
            key = _crypto.load_private_key(key_block, source=f"private key in {key_path}")
            chain = [_crypto.load_certificate(block, source=cert_path) for _k, block, cert_path in certs]
        except _crypto.PEMError as exc:
            raise PostfixError(f"{label}: {exc}") from exc
        leaf = chain[0]
        leaf_path = certs[0][2]
        if not _crypto.same_public_key(key.public_key(), leaf.public_key()):
            raise PostfixError(
                f"{label}: the private key in {key_path} does not match the certificate that follows it in {leaf_path} "
                f"({_crypto.name_to_string(leaf.subject)}); Postfix would refuse TLS. Rebuild the file from the matching key and certificate"
            )
        algorithm = _key_algorithm(leaf.public_key())
        if algorithm in seen:
            raise PostfixError(
                f"{label}: two {algorithm.upper()} keys ({seen[algorithm]} and {key_path}); Postfix serves at most one key per algorithm "
                "(one RSA, one ECDSA, ...). Remove one of them"
            )
        seen[algorithm] = key_path
        for child, parent in zip(chain, chain[1:]):
            if not _crypto.is_signed_by(child, parent):
                warnings.append(f"{leaf_path}: {_crypto.name_to_string(child.subject)} is not signed by the next certificate "
                                f"({_crypto.name_to_string(parent.subject)}); clients may not build the chain")
        try:
            _chain.check_served_leaf(leaf)
        except _chain.InstallCheckError as exc:
            raise PostfixError(f"{label}: {leaf_path}: {exc}") from None
        days = _crypto.days_remaining(leaf)
        facts = _crypto.describe_public_key(leaf.public_key())
        entries.append({
            "path": leaf_path,
            "key_path": key_path,
            "key_type": algorithm,
            "key_size": facts.get("size"),
            "subject": _crypto.name_to_string(leaf.subject),
            "names": _crypto.dns_names(leaf),
            "not_after": _crypto.not_valid_after(leaf).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "days_remaining": days,
            "fingerprint_sha256": _crypto.cert_fingerprint_sha256(leaf),
            "spki_sha256": _crypto.spki_sha256(leaf.public_key()),
            "chain_length": len(chain),
        })
    return ChainFacts(entries=entries, warnings=warnings)


# --------------------------------------------------------------------------------------------------
# The request and the desired state
# --------------------------------------------------------------------------------------------------
@dataclass
class Request:
    """The module's options, already type-checked by the argument spec."""

    config_dir: str = "/etc/postfix"
    profile: str = _profiles.DEFAULT_PROFILE
    chain_files: list[str] | None = None
    security_level: str = "may"
    opportunistic_min_protocol: str | None = None
    client_security_level: str = "may"
    client_min_protocol: str | None = None
    client_mandatory_min_protocol: str | None = None
    submission: ServiceState = "present"
    submissions: ServiceState = "present"
    service_options: dict[str, t.Any] = field(default_factory=dict)
    sni_maps: dict[str, t.Any] | None = None
    sni_map_path: str | None = None
    sni_map_type: str | None = None
    log_level: int = 1
    received_header: bool = True
    session_cache: bool = True
    extra: dict[str, t.Any] = field(default_factory=dict)
    backup: bool = False
    reload_flag: str | None = None


@dataclass
class ServiceSpec:
    """One master.cf service the module manages, and the ``-o`` overrides it owns there."""

    name: str
    state: ServiceState
    overrides: dict[str, str | None]
    type: str = "inet"

    @property
    def key(self) -> str:
        return f"{self.name}/{self.type}"


@dataclass
class Desired:
    parameters: dict[str, str | None]
    services: list[ServiceSpec]
    profile: _profiles.TLSProfile
    floors: dict[str, str]
    sni: dict[str, list[str]] | None = None
    sni_map: str | None = None


def profile_parameters(profile: _profiles.TLSProfile, *, opportunistic_min_protocol: str | None = None,
                       client_min_protocol: str | None = None, client_mandatory_min_protocol: str | None = None,
                       security_level: str = "may", client_security_level: str = "may", log_level: int = 1,
                       received_header: bool = True, session_cache: bool = True) -> dict[str, str | None]:
    """main.cf parameters for one profile row (``None`` = remove, i.e. Postfix's default).

    Port 25 is opportunistic: ``smtpd_tls_protocols`` gets the opportunistic floor (TLS 1.2 even under
    ``modern``), while the mandatory-TLS services (587 with ``encrypt``, 465 in wrapper mode) use
    ``smtpd_tls_mandatory_protocols`` and ``smtpd_tls_mandatory_ciphers``: the profile's full floor.
    The outbound client keeps the library floor for opportunistic TLS; a stricter floor would make
    Postfix retry old peers in plaintext.
    """
    yes_no = {True: "yes", False: "no"}
    curves = " ".join(part for part in profile.curves.split(":") if part)
    params: dict[str, str | None] = {
        "smtpd_tls_security_level": security_level,
        "smtpd_tls_auth_only": "yes",
        "smtpd_tls_protocols": _profiles.postfix_protocol_floor(opportunistic_min_protocol or profile.opportunistic_min_protocol),
        "smtpd_tls_mandatory_protocols": _profiles.postfix_protocol_floor(profile.min_protocol),
        "smtpd_tls_ciphers": "high",
        "smtpd_tls_mandatory_ciphers": "high",
        "tls_high_cipherlist": profile.cipher_list,
        "tls_preempt_cipherlist": yes_no[profile.prefer_server_ciphers],
        "tls_eecdh_auto_curves": curves,
        "smtpd_tls_loglevel": str(log_level),
        "smtpd_tls_received_header": yes_no[received_header],
        "smtpd_tls_session_cache_database": SESSION_CACHE["smtpd_tls_session_cache_database"] if session_cache else None,
        "smtp_tls_security_level": client_security_level,
        "smtp_tls_protocols": _profiles.postfix_protocol_floor(client_min_protocol or profile.client_min_protocol),
        "smtp_tls_mandatory_protocols": _profiles.postfix_protocol_floor(client_mandatory_min_protocol or profile.client_mandatory_min_protocol),
        "smtp_tls_loglevel": str(log_level),
        "smtp_tls_session_cache_database": SESSION_CACHE["smtp_tls_session_cache_database"] if session_cache else None,
    }
    if client_security_level in DANE_LEVELS:
        # DANE needs DNSSEC-validated answers: without this Postfix treats every TLSA lookup as insecure.
        params["smtp_dns_support_level"] = "dnssec"
    return params


def submission_overrides() -> dict[str, dict[str, str | None]]:
    """The ``-o`` overrides of the two submission services (STARTTLS required on 587, TLS from the
    first byte on 465, SASL on, AUTH only inside TLS). Both are mandatory TLS, so Postfix applies
    ``smtpd_tls_mandatory_protocols`` and ``smtpd_tls_mandatory_ciphers`` to them."""
    return {
        "submission": {
            "syslog_name": "postfix/submission",
            "smtpd_tls_security_level": "encrypt",
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_tls_auth_only": "yes",
        },
        "submissions": {
            "syslog_name": "postfix/submissions",
            "smtpd_tls_wrappermode": "yes",
            "smtpd_sasl_auth_enable": "yes",
        },
    }


def desired_state(request: Request) -> Desired:
    """What main.cf and master.cf should say; raises PostfixError for bad input (nothing read yet)."""
    profile = _profiles.get_profile(request.profile)
    params = profile_parameters(
        profile,
        opportunistic_min_protocol=request.opportunistic_min_protocol,
        client_min_protocol=request.client_min_protocol,
        client_mandatory_min_protocol=request.client_mandatory_min_protocol,
        security_level=request.security_level,
        client_security_level=request.client_security_level,
        log_level=request.log_level,
        received_header=request.received_header,
        session_cache=request.session_cache,
    )
    if request.chain_files is not None:
        if not request.chain_files:
            raise PostfixError("chain_files is empty; list at least one combined file (private key, then certificate chain)")
        params = {"smtpd_tls_chain_files": ", ".join(request.chain_files), **params}
        for legacy in LEGACY_CERT_PARAMETERS:
            params[legacy] = None

    sni: dict[str, list[str]] | None = None
    sni_map = None
    if request.sni_maps is not None:
        sni = normalise_sni(request.sni_maps)
        map_type = request.sni_map_type or "hash"
        map_path = request.sni_map_path or os.path.join(request.config_dir, "tls_server_sni_map")
        if not os.path.isabs(map_path) or re.search(r"[\s,$]", map_path):
            raise PostfixError(f"sni_map_path {map_path!r} must be an absolute path without whitespace, commas or $")
        sni_map = f"{map_type}:{map_path}"
        params["tls_server_sni_maps"] = sni_map if sni else None

    for name, raw in request.extra.items():
        value = render_value(name, raw)
        check_value(name, value, where="extra")
        params[name] = value  # extra wins over the modelled value: it is the escape hatch.
    for name, value in params.items():
        check_value(name, value, where="desired settings")

    defaults = submission_overrides()
    services = []
    for service_name, state in (("submission", request.submission), ("submissions", request.submissions)):
        if state == "unmanaged":
            continue
        overrides: dict[str, str | None] = dict(defaults[service_name])
        for name, raw in request.service_options.items():
            value = render_value(name, raw, for_service=True)
            check_service_value(name, value, service=service_name)
            overrides[name] = value
        services.append(ServiceSpec(name=service_name, state=state, overrides=overrides))

    floors = {
        "opportunistic": request.opportunistic_min_protocol or profile.opportunistic_min_protocol,
        "mandatory": profile.min_protocol,
        "client": request.client_min_protocol or profile.client_min_protocol,
        "client_mandatory": request.client_mandatory_min_protocol or profile.client_mandatory_min_protocol,
    }
    return Desired(parameters=params, services=services, profile=profile, floors=floors, sni=sni, sni_map=sni_map)


def normalise_sni(raw: dict[str, t.Any]) -> dict[str, list[str]]:
    """SNI names (lower case, optional leading dot for "any subdomain") to lists of chain files."""
    out: dict[str, list[str]] = {}
    for name, files in raw.items():
        key = str(name).strip().lower().rstrip(".") if not str(name).startswith(".") else "." + str(name).strip().lower().strip(".")
        if not _SNI_NAME.match(key):
            raise PostfixError(f"sni_maps: {name!r} is not a DNS name (IDNA A-label form, or .example.org for every subdomain)")
        if isinstance(files, str):
            files = [part for part in re.split(r"[\s,]+", files) if part]
        if not isinstance(files, (list, tuple)) or not files:
            raise PostfixError(f"sni_maps: {name!r} needs a list of chain files (each a private key followed by its certificates)")
        paths = [str(path) for path in files]
        for path in paths:
            if not os.path.isabs(path) or re.search(r"[\s,$]", path):
                raise PostfixError(f"sni_maps: {path!r} for {name} must be an absolute path without whitespace, commas or $")
        if key in out:
            raise PostfixError(f"sni_maps: {name!r} is listed twice")
        out[key] = paths
    return out


# --------------------------------------------------------------------------------------------------
# master.cf entries
# --------------------------------------------------------------------------------------------------
@dataclass
class ServiceEntry:
    """One master.cf entry as ``postconf -M`` prints it."""

    fields: tuple[str, ...]
    overrides: dict[str, str]
    other_args: list[str]

    @property
    def command(self) -> str:
        return self.fields[7]

    @property
    def type(self) -> str:
        return self.fields[1]

    @classmethod
    def parse(cls, line: str) -> ServiceEntry:
        parts = line.split()
        if len(parts) < 8:
            raise PostfixError(f"cannot parse master.cf entry {line!r}")
        overrides: dict[str, str] = {}
        other: list[str] = []
        args = parts[8:]
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "-o" and index + 1 < len(args):
                index += 1
                if args[index] == "{":
                    inner = []
                    index += 1
                    while index < len(args) and args[index] != "}":
                        inner.append(args[index])
                        index += 1
                    name, _sep, value = " ".join(inner).partition("=")
                    overrides[name.strip()] = value.strip()
                else:
                    name, _sep, value = args[index].partition("=")
                    overrides[name] = value
            elif arg.startswith("-o") and "=" in arg:
                name, _sep, value = arg[2:].partition("=")
                overrides[name] = value
            else:
                other.append(arg)
            index += 1
        return cls(fields=tuple(parts[:8]), overrides=overrides, other_args=other)

    def render(self) -> str:
        """One line for ``postconf -M name/type=LINE``; values with whitespace use Postfix's braces."""
        out = list(self.fields) + list(self.other_args)
        for name, value in self.overrides.items():
            if re.search(r"\s", value):
                out += ["-o", "{", f"{name} = {value}", "}"]
            else:
                out += ["-o", f"{name}={value}"]
        return " ".join(out)


# --------------------------------------------------------------------------------------------------
# Running Postfix's tools
# --------------------------------------------------------------------------------------------------
@dataclass
class Tools:
    """Postfix's command-line tools, run through the module's run_command (argv lists, LC_ALL=C)."""

    run: Runner
    postconf: str
    postfix: str | None = None
    postmap: str | None = None
    openssl: str | None = None
    script: str | None = None

    def call(self, argv: list[str], *, what: str) -> tuple[str, str]:
        rc, out, err = self.run(argv)
        if rc != 0:
            detail = (err or out).strip()
            raise PostfixCommandError(f"{what} failed (rc={rc}): {detail}", cmd=argv, rc=rc, stdout=out, stderr=err)
        return out, err

    def explicit(self, config_dir: str) -> tuple[dict[str, str], list[str]]:
        """Parameters set in main.cf (``postconf -n``) and postconf's warnings about them."""
        out, err = self.call([self.postconf, "-c", config_dir, "-n"], what="postconf -n")
        return parse_parameters(out), warning_lines(err)

    def values(self, config_dir: str, names: t.Sequence[str], *, defaults: bool = False) -> dict[str, str]:
        """Effective (or built-in default) values of ``names``; unknown names are left out."""
        if not names:
            return {}
        argv = [self.postconf, "-c", config_dir] + (["-d"] if defaults else []) + list(names)
        rc, out, _err = self.run(argv)
        # postconf exits 0 and warns for unknown names; a failure here leaves the values unknown.
        return parse_parameters(out) if rc == 0 else {}

    def service(self, config_dir: str, key: str) -> ServiceEntry | None:
        out, _err = self.call([self.postconf, "-c", config_dir, "-M", key], what=f"postconf -M {key}")
        line = " ".join(out.split("\n")).strip()
        return ServiceEntry.parse(line) if line else None

    def service_text(self, config_dir: str, key: str) -> str:
        out, _err = self.call([self.postconf, "-c", config_dir, "-Mf", key], what=f"postconf -Mf {key}")
        return out.rstrip("\n") + "\n" if out.strip() else ""

    def map_types(self) -> set[str]:
        out, _err = self.call([self.postconf, "-m"], what="postconf -m")
        return {line.strip() for line in out.splitlines() if line.strip()}

    def running(self, config_dir: str) -> bool | None:
        """Whether the Postfix master of ``config_dir`` runs (``postfix status``); None when unknown."""
        if not self.postfix:
            return None
        rc, _out, _err = self.run([self.postfix, "-c", config_dir, "status"])
        return rc == 0

    def check(self, config_dir: str) -> list[str]:
        """``postfix -c DIR check``; raises with Postfix's own message when it refuses the directory.

        postfix(1) prints its messages only to a terminal (otherwise they go to syslog, which a
        container or a fresh host may not have). The verdict comes from a plain run; when that
        fails, the check runs once more under ``script`` (a pseudo-terminal) to capture the message.
        """
        if not self.postfix:
            return []
        command = [self.postfix, "-c", config_dir, "check"]
        rc, out, err = self.run(command)
        if rc == 0:
            return warning_lines(err)
        lines = [line.strip() for line in (out + "\n" + err).splitlines() if line.strip()]
        if not lines and self.script:
            _rc, tty_out, tty_err = self.run([self.script, "-qec", shlex.join(command), "/dev/null"])
            lines = [line.strip() for line in (tty_out + "\n" + tty_err).replace("\r", "").splitlines() if line.strip()]
        important = [line for line in lines if "fatal:" in line or "error:" in line] or lines
        detail = "; ".join(important) or f"exit status {rc}; Postfix logged the reason to the mail log"
        raise PostfixCommandError(f"postfix check refused the new configuration: {detail}", cmd=command, rc=rc, stdout=out, stderr=err)

    def map_query(self, map_spec: str, key: str) -> str | None:
        rc, out, err = self.run([self.postmap or "postmap", "-F", "-q", key, map_spec])
        if rc == 1 and not err.strip():
            return None  # postmap -q: exit status 1 means "not found"
        if rc != 0:
            return None
        return out

    def build_map(self, map_spec: str) -> None:
        self.call([self.postmap or "postmap", "-F", map_spec], what=f"postmap -F {map_spec}")

    def cipher_list_ok(self, cipher_list: str) -> str | None:
        """OpenSSL's complaint about a cipher list, or None when it is usable (or openssl is absent)."""
        if not self.openssl:
            return None
        rc, out, err = self.run([self.openssl, "ciphers", cipher_list])
        if rc != 0:
            return (err or out).strip().splitlines()[0] if (err or out).strip() else f"exit status {rc}"
        return None


def parse_parameters(text: str) -> dict[str, str]:
    """``name = value`` lines (postconf output) into a dict; ``name =`` is the empty string."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(" =")
        if not sep or not _PARAM_NAME.match(name):
            continue
        out[name] = value[1:] if value.startswith(" ") else value
    return out


def warning_lines(text: str) -> list[str]:
    """Distinct warning/fatal lines of a Postfix tool's stderr (postfix check repeats them)."""
    seen: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if ("warning:" in line or "fatal:" in line) and line not in seen:
            seen.append(line)
    return seen


# --------------------------------------------------------------------------------------------------
# Planning: what differs, and the postconf commands that fix it
# --------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    parameter_changes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    set_args: list[str] = field(default_factory=list)
    remove_args: list[str] = field(default_factory=list)
    service_commands: list[list[str]] = field(default_factory=list)
    service_keys: list[str] = field(default_factory=list)
    sni_rebuild: bool = False
    sni_reasons: list[str] = field(default_factory=list)
    sni_text: str | None = None
    sni_before: str = ""

    @property
    def config_changed(self) -> bool:
        return bool(self.set_args or self.remove_args or self.service_commands)

    @property
    def changed(self) -> bool:
        return self.config_changed or self.sni_rebuild

    def commands(self, postconf: str = "postconf") -> list[list[str]]:
        """The postconf commands, as they would run against the live directory (for the result)."""
        out = []
        out += [[postconf, "-e", arg] for arg in self.set_args]
        if self.remove_args:
            out.append([postconf, "-X"] + self.remove_args)
        out += [[postconf] + cmd for cmd in self.service_commands]
        return out


def plan_parameters(current: dict[str, str], desired: dict[str, str | None], plan: Plan) -> None:
    for name, value in desired.items():
        before = current.get(name)
        if value is None:
            if before is not None:
                plan.remove_args.append(name)
                plan.parameter_changes[name] = {"before": before, "after": None}
        elif before is None or not same_value(name, before, value):
            plan.set_args.append(f"{name}={value}")
            plan.parameter_changes[name] = {"before": before, "after": value}


def plan_service(spec: ServiceSpec, current: ServiceEntry | None, template: ServiceEntry | None, plan: Plan) -> None:
    """Commands that make one master.cf entry match ``spec``, touching no other service."""
    key = spec.key
    commands: list[list[str]] = []
    if spec.state == "absent":
        if current is not None:
            commands.append(["-MX", key])
    else:
        wanted = {name: value for name, value in spec.overrides.items() if value is not None}
        if current is None:
            # New entry: privilege and chroot columns as the distribution's own smtpd (smtp/inet) has them.
            base = template.fields[2:5] if template is not None else ("n", "-", "n")
            entry = ServiceEntry(fields=(spec.name, spec.type, *base, "-", "-", "smtpd"), overrides=wanted, other_args=[])
            commands.append(["-M", f"{key}={entry.render()}"])
        else:
            if current.command != "smtpd":
                fields = current.fields[:7] + ("smtpd",)
                entry = ServiceEntry(fields=fields, overrides=dict(current.overrides), other_args=list(current.other_args))
                commands.append(["-M", f"{key}={entry.render()}"])
            set_args = [f"{key}/{name}={value}" for name, value in wanted.items()
                        if name not in current.overrides or not same_value(name, current.overrides[name], value)]
            remove_args = [f"{key}/{name}" for name, value in spec.overrides.items() if value is None and name in current.overrides]
            if set_args:
                commands.append(["-P"] + set_args)
            if remove_args:
                commands.append(["-PX"] + remove_args)
    if commands:
        plan.service_commands += commands
        plan.service_keys.append(key)


def sni_source_text(sni: dict[str, list[str]]) -> str:
    lines = [f"{name} {', '.join(paths)}" for name, paths in sorted(sni.items())]
    return SNI_MAP_HEADER + "".join(line + "\n" for line in lines)


def _pem_sequence(data: bytes) -> list[bytes]:
    return [block.strip() for _label, block in _crypto.pem_blocks(data)]


def sni_table_is_current(tools: Tools, sni: dict[str, list[str]], map_type: str, map_path: str) -> list[str]:
    """Reasons the compiled SNI table differs from what the chain files hold now ([] = current).

    ``postmap -F`` stores the files' content, not their names, so a renewed certificate needs a
    rebuild even when the source file did not change: compare what ``postmap -F -q`` returns.
    """
    reasons = []
    source = _fileio.read_bytes(map_path)
    if source is None or source.decode("utf-8", "replace") != sni_source_text(sni):
        reasons.append(f"{map_path} lists other names or files")
    if not os.path.exists(map_path + SNI_MAP_SUFFIXES[map_type]):
        reasons.append(f"{map_path}{SNI_MAP_SUFFIXES[map_type]} does not exist")
        return reasons
    for name, paths in sorted(sni.items()):
        stored = tools.map_query(f"{map_type}:{map_path}", name)
        wanted = b"".join((_fileio.read_bytes(path) or b"") for path in paths)
        if stored is None or _pem_sequence(stored.encode("ascii", "replace")) != _pem_sequence(wanted):
            reasons.append(f"the table entry for {name} does not hold the current content of {', '.join(paths)}")
    return reasons


def plan(tools: Tools, request: Request, desired: Desired) -> tuple[Plan, dict[str, t.Any]]:
    """Compare the live configuration with ``desired``; returns the plan and facts for the result."""
    result_plan = Plan()
    current, _warnings = tools.explicit(request.config_dir)
    plan_parameters(current, desired.parameters, result_plan)
    # Parameters set for the first time: show what Postfix used until now (its built-in default).
    unset = [name for name, change in result_plan.parameter_changes.items() if change["before"] is None]
    for name, value in tools.values(request.config_dir, unset, defaults=True).items():
        result_plan.parameter_changes[name]["default"] = value

    template = tools.service(request.config_dir, "smtp/inet")
    for spec in desired.services:
        plan_service(spec, tools.service(request.config_dir, spec.key), template, result_plan)

    facts: dict[str, t.Any] = {}
    if desired.sni is not None and desired.sni_map is not None:
        map_type, _sep, map_path = desired.sni_map.partition(":")
        previous = _fileio.read_bytes(map_path)
        result_plan.sni_before = previous.decode("utf-8", "replace") if previous else ""
        if desired.sni:
            missing = [path for paths in desired.sni.values() for path in paths if not os.path.exists(path)]
            if missing:
                result_plan.sni_rebuild = True
                result_plan.sni_reasons = [f"{path} does not exist yet" for path in missing]
            else:
                result_plan.sni_reasons = sni_table_is_current(tools, desired.sni, map_type, map_path)
                result_plan.sni_rebuild = bool(result_plan.sni_reasons)
            result_plan.sni_text = sni_source_text(desired.sni)
        else:
            existing = [p for p in (map_path, map_path + SNI_MAP_SUFFIXES[map_type]) if os.path.exists(p)]
            if existing:
                result_plan.sni_rebuild = True
                result_plan.sni_reasons = [f"remove {', '.join(existing)} (no SNI names left)"]
        facts["sni_map"] = {"map": desired.sni_map, "names": sorted(desired.sni), "rebuilt": result_plan.sni_rebuild,
                            "reasons": result_plan.sni_reasons}
    return result_plan, facts


# --------------------------------------------------------------------------------------------------
# Staging and validating the candidate
# --------------------------------------------------------------------------------------------------
@dataclass
class Candidate:
    directory: str
    main_before: bytes
    master_before: bytes
    main_after: bytes
    master_after: bytes
    services_before: dict[str, str]
    services_after: dict[str, str]
    postconf_warnings: list[str]


def _ours(desired: Desired) -> set[str]:
    names = set(desired.parameters)
    for spec in desired.services:
        names.update(spec.overrides)
    return names


def stage(tools: Tools, request: Request, desired: Desired, result_plan: Plan, *, tmpdir: str | None) -> Candidate:
    """Apply the plan to a private copy of main.cf/master.cf and validate that copy with Postfix."""
    main_path = os.path.join(request.config_dir, "main.cf")
    master_path = os.path.join(request.config_dir, "master.cf")
    main_before = _read_config(main_path)
    master_before = _read_config(master_path)
    directory = tempfile.mkdtemp(prefix="postmaster-postfix-", dir=tmpdir)
    os.chmod(directory, 0o700)
    for path, data in ((main_path, main_before), (master_path, master_before)):
        with open(os.path.join(directory, os.path.basename(path)), "wb") as handle:
            handle.write(data)
    try:
        # One parameter per call: postconf appends several new parameters in hash order, one at a time
        # keeps main.cf in the module's (readable) order.
        for arg in result_plan.set_args:
            tools.call([tools.postconf, "-c", directory, "-e", arg], what="postconf -e")
        if result_plan.remove_args:
            tools.call([tools.postconf, "-c", directory, "-X"] + result_plan.remove_args, what="postconf -X")
        for command in result_plan.service_commands:
            tools.call([tools.postconf, "-c", directory] + command, what=f"postconf {command[0]}")
    except PostfixCommandError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise PostfixCommandError(str(exc).replace(directory, request.config_dir), cmd=exc.cmd, rc=exc.rc,
                                  stdout=exc.stdout, stderr=exc.stderr) from None
    try:
        after, warnings = tools.explicit(directory)
        warnings = [line.replace(directory, request.config_dir) for line in warnings]
        unknown = sorted({match.group(1) for line in warnings for match in [_UNUSED.search(line)] if match} & _ours(desired))
        if unknown:
            raise PostfixError(
                f"Postfix does not know the parameter(s) {', '.join(unknown)} (postconf: "
                f"{'; '.join(line for line in warnings if any(name in line for name in unknown))}); check the spelling "
                "against postconf(5) for this Postfix version. Nothing was changed"
            )
        for name, value in desired.parameters.items():
            if not same_value(name, after.get(name), value):
                raise PostfixError(f"postconf did not store {name} as intended (wanted {value!r}, got {after.get(name)!r}); nothing was changed")
        check_warnings = [line.replace(directory, request.config_dir) for line in tools.check(directory)]
        keys = [spec.key for spec in desired.services]
        candidate = Candidate(
            directory=directory,
            main_before=main_before,
            master_before=master_before,
            main_after=_read_config(os.path.join(directory, "main.cf")),
            master_after=_read_config(os.path.join(directory, "master.cf")),
            services_before={key: tools.service_text(request.config_dir, key) for key in keys},
            services_after={key: tools.service_text(directory, key) for key in keys},
            postconf_warnings=sorted(set(warnings + check_warnings)),
        )
    except PostfixCommandError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise PostfixCommandError(str(exc).replace(directory, request.config_dir), cmd=exc.cmd, rc=exc.rc,
                                  stdout=exc.stdout, stderr=exc.stderr) from None
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return candidate


def _read_config(path: str) -> bytes:
    try:
        data = _fileio.read_bytes(path)
    except _fileio.FileIOError as exc:
        raise PostfixError(str(exc)) from exc
    if data is None:
        raise PostfixError(f"{path} does not exist; is Postfix installed and config_dir right?")
    return data


# --------------------------------------------------------------------------------------------------
# Going live
# --------------------------------------------------------------------------------------------------
# Previous bytes of every file install() may replace (None: did not exist).
Snapshot = _fileio.Snapshot


def build_sni_table(module: t.Any, tools: Tools, map_spec: str, text: str, sni: dict[str, list[str]], snapshot: Snapshot) -> None:
    """Write the SNI source and its ``postmap -F`` table next to the target, check it, then rename both.

    The table holds private keys (``-F`` stores the files' content): source and table are 0600.
    """
    map_type, _sep, map_path = map_spec.partition(":")
    suffix = SNI_MAP_SUFFIXES[map_type]
    directory = os.path.dirname(map_path)
    _fileio.check_writable_dir(map_path)
    fd, tmp_source = tempfile.mkstemp(prefix=f".{os.path.basename(map_path)}.", suffix=".tmp", dir=directory)
    module.add_cleanup_file(tmp_source)
    module.add_cleanup_file(tmp_source + suffix)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tools.build_map(f"{map_type}:{tmp_source}")
    os.chmod(tmp_source + suffix, 0o600)
    for name, paths in sni.items():
        stored = tools.map_query(f"{map_type}:{tmp_source}", name)
        wanted = b"".join((_fileio.read_bytes(path) or b"") for path in paths)
        if stored is None or _pem_sequence(stored.encode("ascii", "replace")) != _pem_sequence(wanted):
            raise PostfixError(f"the new SNI table does not return the chain for {name}; {map_path} was left as it was")
    snapshot.take(map_path)
    snapshot.take(map_path + suffix)
    os.replace(tmp_source + suffix, map_path + suffix)
    os.replace(tmp_source, map_path)
    for stale in glob.glob(tmp_source + "*"):
        os.unlink(stale)


def remove_sni_table(map_spec: str, snapshot: Snapshot) -> None:
    map_type, _sep, map_path = map_spec.partition(":")
    for path in (map_path, map_path + SNI_MAP_SUFFIXES[map_type]):
        if os.path.exists(path):
            snapshot.take(path)
            os.unlink(path)


def install(module: t.Any, tools: Tools, request: Request, desired: Desired, result_plan: Plan,
            candidate: Candidate | None) -> dict[str, str]:
    """Make the validated candidate live; on any failure put every previous file back and re-raise."""
    snapshot = Snapshot()
    backups: dict[str, str] = {}
    try:
        if result_plan.sni_rebuild and desired.sni_map is not None:
            if desired.sni:
                build_sni_table(module, tools, desired.sni_map, result_plan.sni_text or "", desired.sni, snapshot)
            else:
                remove_sni_table(desired.sni_map, snapshot)
        if candidate is not None and result_plan.config_changed:
            for name, before, after in (("main.cf", candidate.main_before, candidate.main_after),
                                        ("master.cf", candidate.master_before, candidate.master_after)):
                path = os.path.join(request.config_dir, name)
                if before == after:
                    continue
                if _fileio.read_bytes(path) != before:
                    raise PostfixError(f"{path} changed while this task was running; nothing was changed, run the task again")
                info = os.stat(path)
                snapshot.take(path)
                backup = _fileio.atomic_write(module, path, after, mode=stat.S_IMODE(info.st_mode), owner=str(info.st_uid),
                                              group=str(info.st_gid), backup=request.backup)
                if backup:
                    backups[name.replace(".", "_")] = backup
            live, _warnings = tools.explicit(request.config_dir)
            wrong = [name for name, value in desired.parameters.items() if not same_value(name, live.get(name), value)]
            if wrong:
                raise PostfixError(f"after the update Postfix reads other values for {', '.join(wrong)}; the previous files were restored")
    except BaseException as exc:
        problems = snapshot.restore()
        if problems and isinstance(exc, PostfixError):
            raise PostfixError(f"{exc}; restoring the previous files also failed: {'; '.join(problems)}") from exc
        raise
    return backups


# --------------------------------------------------------------------------------------------------
# Inputs that need the host: certificate files, map types, cipher lists
# --------------------------------------------------------------------------------------------------
def resolve_sni_map_type(tools: Tools, request: Request) -> None:
    """Default the SNI table type to Postfix's default_database_type, and refuse types Postfix lacks."""
    if request.sni_maps is None:
        return
    if not request.sni_map_type:
        configured = tools.values(request.config_dir, ["default_database_type"]).get("default_database_type", "hash")
        if configured not in SNI_MAP_SUFFIXES:
            raise PostfixError(f"default_database_type is {configured!r}, which this module cannot build SNI tables for; "
                               f"set sni_map_type to one of {', '.join(sorted(SNI_MAP_SUFFIXES))}")
        request.sni_map_type = configured
    available = tools.map_types()
    if request.sni_map_type not in available:
        raise PostfixError(f"this Postfix has no {request.sni_map_type!r} tables (postconf -m lists {', '.join(sorted(available))}); "
                           "choose another sni_map_type or install the map type's package")


def certificate_facts(request: Request, desired: Desired, *, check_mode: bool) -> tuple[dict[str, t.Any], list[str]]:
    """Check every chain file the configuration will use; describe what each serves.

    A missing file fails a real run. In check mode it is a warning (an earlier task of the same
    play may create it), and the prediction stays "changed".
    """
    warnings: list[str] = []
    facts: dict[str, t.Any] = {"certificates": [], "sni_certificates": {}}
    chain_value = desired.parameters.get("smtpd_tls_chain_files")
    manages_chain = request.chain_files is not None or "smtpd_tls_chain_files" in request.extra
    if manages_chain and chain_value:
        try:
            inspected = inspect_chain_files(tokens("smtpd_tls_chain_files", chain_value), label="chain_files")
            facts["certificates"] = inspected.entries
            warnings += inspected.warnings
        except MissingFileError as exc:
            if not check_mode:
                raise
            warnings.append(f"{exc} (check mode: assuming an earlier task creates it)")
    for name, paths in sorted((desired.sni or {}).items()):
        try:
            inspected = inspect_chain_files(paths, label=f"sni_maps[{name}]")
        except MissingFileError as exc:
            if not check_mode:
                raise
            warnings.append(f"{exc} (check mode: assuming an earlier task creates it)")
            continue
        warnings += inspected.warnings
        facts["sni_certificates"][name] = inspected.entries
        host = name.lstrip(".")
        probe = host if not name.startswith(".") else f"sub.{host}"
        for entry in inspected.entries:
            if not any(_crypto.name_matches(pattern, probe) for pattern in entry["names"]):
                warnings.append(f"sni_maps[{name}]: the {entry['key_type'].upper()} certificate in {entry['path']} is for "
                                f"{', '.join(entry['names']) or entry['subject']}, not {name}; clients asking for {host} will not trust it")
    return facts, warnings


def check_cipher_lists(tools: Tools, desired: Desired) -> None:
    """Let OpenSSL parse every cipher list before Postfix does (a list it rejects disables TLS)."""
    for name, value in desired.parameters.items():
        if is_cipherlist_parameter(name) and value and "$" not in value:
            problem = tools.cipher_list_ok(value)
            if problem:
                raise PostfixError(f"{name}: OpenSSL does not accept the cipher list {value!r} ({problem}); fix the list")


# --------------------------------------------------------------------------------------------------
# Checks that only produce warnings
# --------------------------------------------------------------------------------------------------
def sasl_warnings(tools: Tools, request: Request, desired: Desired) -> list[str]:
    """Warn when a submission service enables SASL without a working backend: smtpd then exits on
    every connection ("fatal: no SASL authentication mechanisms") and the port is dead."""
    services = [spec for spec in desired.services if spec.state == "present" and (spec.overrides.get("smtpd_sasl_auth_enable") or "").lower() == "yes"]
    if not services:
        return []
    values = tools.values(request.config_dir, ["smtpd_sasl_type", "smtpd_sasl_path", "queue_directory"])
    out = []
    for spec in services:
        sasl_type = spec.overrides.get("smtpd_sasl_type") or desired.parameters.get("smtpd_sasl_type") or values.get("smtpd_sasl_type", "cyrus")
        sasl_path = spec.overrides.get("smtpd_sasl_path") or desired.parameters.get("smtpd_sasl_path") or values.get("smtpd_sasl_path", "smtpd")
        if sasl_type == "dovecot":
            socket_path = sasl_path if sasl_path.startswith("/") else os.path.join(values.get("queue_directory", "/var/spool/postfix"), sasl_path)
            if "$" not in socket_path and not os.path.exists(socket_path) and not sasl_path.startswith(("inet:", "unix:")):
                out.append(f"{spec.key}: SASL uses Dovecot at {socket_path}, which does not exist yet; smtpd refuses every connection "
                           "on this port until Dovecot's auth service listens there")
        elif sasl_type == "cyrus":
            plugins = glob.glob("/usr/lib/*/sasl2/libplain.so*") + glob.glob("/usr/lib/sasl2/libplain.so*") + \
                glob.glob("/usr/lib/*/sasl2/liblogin.so*") + glob.glob("/usr/lib64/sasl2/libplain.so*")
            if not plugins:
                out.append(f"{spec.key}: SASL is on with smtpd_sasl_type=cyrus but no Cyrus PLAIN/LOGIN mechanism is installed; "
                           "smtpd refuses every connection on this port. Use Dovecot SASL (service_options smtpd_sasl_type=dovecot, "
                           "smtpd_sasl_path=private/auth) or install the Cyrus SASL modules")
    return out


# --------------------------------------------------------------------------------------------------
# One run, start to finish
# --------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    changed: bool
    request: Request
    desired: Desired
    plan: Plan
    candidate: Candidate | None
    facts: dict[str, t.Any]
    warnings: list[str]
    backup_files: dict[str, str]

    def diff(self) -> list[dict[str, str]]:
        """Whole main.cf and master.cf (and the SNI source) before and after; no key material."""
        out = []
        if self.candidate is not None:
            for name, before, after in (("main.cf", self.candidate.main_before, self.candidate.main_after),
                                        ("master.cf", self.candidate.master_before, self.candidate.master_after)):
                if before != after:
                    path = os.path.join(self.request.config_dir, name)
                    out.append({"before_header": path, "after_header": path,
                                "before": before.decode("utf-8", "replace"), "after": after.decode("utf-8", "replace")})
        if self.plan.sni_rebuild and self.desired.sni_map is not None:
            map_path = self.desired.sni_map.partition(":")[2]
            out.append({"before_header": map_path, "after_header": map_path, "before": self.plan.sni_before,
                        "after": (self.plan.sni_text or "") + "".join(f"# rebuilt: {reason}\n" for reason in self.plan.sni_reasons)})
        return out

    def result(self) -> dict[str, t.Any]:
        services = {}
        if self.candidate is not None:
            services = {key: {"before": self.candidate.services_before.get(key, ""), "after": self.candidate.services_after.get(key, "")}
                        for key in self.plan.service_keys}
        result: dict[str, t.Any] = {
            "changed": self.changed,
            "config_dir": self.request.config_dir,
            "profile": {
                "name": self.desired.profile.name,
                "min_protocol": self.desired.floors["mandatory"],
                "opportunistic_min_protocol": self.desired.floors["opportunistic"],
                "client_min_protocol": self.desired.floors["client"],
                "client_mandatory_min_protocol": self.desired.floors["client_mandatory"],
                "cipher_list": self.desired.profile.cipher_list,
            },
            "parameters": dict(self.desired.parameters),
            "services": {spec.key: {"state": spec.state, "options": {k: v for k, v in spec.overrides.items() if v is not None}}
                         for spec in self.desired.services},
            "changes": {"parameters": self.plan.parameter_changes, "services": services},
            "commands": [shlex.join(cmd) for cmd in self.plan.commands()],
            "certificates": self.facts.get("certificates", []),
            "postconf_warnings": self.candidate.postconf_warnings if self.candidate is not None else [],
        }
        if "sni_map" in self.facts:
            sni = dict(self.facts["sni_map"])
            sni["certificates"] = self.facts.get("sni_certificates", {})
            result["sni_map"] = sni
        if self.backup_files:
            result["backup_files"] = self.backup_files
        return result


def run(module: t.Any, tools: Tools, request: Request, *, check_mode: bool, tmpdir: str | None) -> Outcome:
    """Check the inputs, plan, stage and validate the candidate, and (unless check mode) install it."""
    resolve_sni_map_type(tools, request)
    desired = desired_state(request)
    facts, warnings = certificate_facts(request, desired, check_mode=check_mode)
    check_cipher_lists(tools, desired)
    result_plan, plan_facts = plan(tools, request, desired)
    facts.update(plan_facts)
    candidate = None
    try:
        if result_plan.config_changed:
            candidate = stage(tools, request, desired, result_plan, tmpdir=tmpdir)
        warnings += sasl_warnings(tools, request, desired)
        backups: dict[str, str] = {}
        if result_plan.changed and not check_mode:
            if request.reload_flag:
                # Before main.cf changes: the next run still reloads if this one stops before the handler.
                _fileio.raise_flag(request.reload_flag)
            backups = install(module, tools, request, desired, result_plan, candidate)
    finally:
        if candidate is not None:
            shutil.rmtree(candidate.directory, ignore_errors=True)
    return Outcome(changed=result_plan.changed, request=request, desired=desired, plan=result_plan, candidate=candidate,
                   facts=facts, warnings=warnings, backup_files=backups)
