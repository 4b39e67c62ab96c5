# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postmaster.tls.certificate_deploy: the certificate role's whole main path as one task.

One module per concern still does the work on the mail host (private_key, csr, certificate_install, and
certificate for self-signed certificates); this action runs them in order, signs with the local CA on
the controller in its own process (plugin_utils._local_ca), and shapes the facts the mail roles read, so a
run costs one task entry instead of twenty and no Jinja. Paths come from module_utils._layout only.
"""

from __future__ import annotations

import base64
import os
import typing as t

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.postmaster.tls.plugins.module_utils import _crl, _layout, _lifetime
from ansible_collections.postmaster.tls.plugins.plugin_utils import _local_ca

try:  # ansible-core 2.21+: variables registered at set_fact's layer (no top-level fact deprecation)
    from ansible.plugins.action import VariableLayer
except ImportError:  # pragma: no cover - ansible-core 2.19 and 2.20 take ansible_facts from the result
    VariableLayer = None

PROVIDERS = ("ownca", "selfsigned", "external", "acme")
ROLLOVERS = ("none", "prepare", "switch")
REGENERATE = ("never", "fail", "partial_idempotence", "full_idempotence", "always")

ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "names": {"type": "list", "elements": "str", "required": True},
    "name": {"type": "str"},
    "key_types": {"type": "list", "elements": "str", "default": ["rsa"], "choices": list(_layout.KEY_TYPES)},
    "rsa_size": {"type": "int", "default": 2048},
    "ecdsa_curve": {"type": "str", "default": "secp256r1", "choices": ["secp256r1", "secp384r1"]},
    "base_dir": {"type": "path", "default": _layout.BASE_DIR},
    "key_group": {"type": "str", "default": ""},
    "key_regenerate": {"type": "str", "default": "fail", "choices": list(REGENERATE)},
    "provider": {"type": "str", "default": "ownca", "choices": list(PROVIDERS)},
    "valid_days": {"type": "int", "default": 90},
    "renew_before_days": {"type": "int", "default": 30},
    "renew_fraction": {"type": "float", "default": _lifetime.DEFAULT_FRACTION},
    "force": {"type": "bool", "default": False},
    "min_days_remaining": {"type": "int", "default": 7},
    "reload_services": {"type": "list", "elements": "str", "default": list(_layout.SERVICES)},
    "ca_dir": {"type": "path", "default": "~/.postmaster-tls/ca"},
    "ca_common_name": {"type": "str", "default": "postmaster.tls local CA"},
    "ca_create": {"type": "bool", "default": True},
    "ca_cert_dest": {"type": "path"},
    "crl": {"type": "bool", "default": False},
    "crl_dest": {"type": "path"},
    "crl_valid_days": {"type": "int", "default": 7},
    "crl_url": {"type": "str", "default": ""},
    "external": {"type": "dict", "default": {}},
    "trust_anchors_path": {"type": "path"},
    "rollover": {"type": "str", "default": "none", "choices": list(ROLLOVERS)},
    "acme_result": {"type": "dict", "default": {}},
}


# The facts the action publishes, and the same values' names in its result.
RESULT_KEYS = {
    "certificate_changed": "served_changed",
    "certificate_live": "live",
    "certificate_keys": "key_paths",
    "certificate_spki": "spki",
    "certificate_chain_files": "chain_files",
    "certificate_files": "files",
    "certificate_ca_path": "ca_path",
    "certificate_next_spki": "next_spki",
    "certificate_crl_path": "crl_path",
}


class _StepFailed(Exception):
    """A module run on the host failed: its result is the task's result."""

    def __init__(self, step: str, result: dict[str, t.Any]) -> None:
        super().__init__(step)
        self.result = result


def _check_settings(args: dict[str, t.Any]) -> None:
    """What the argument spec cannot say; messages name the role variable (certificate_<option>)."""
    for name in args["names"]:
        if not isinstance(name, str) or not name or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
            raise AnsibleActionFail(f"certificate_names: {name!r} is not a DNS name (empty, or control characters)")
    if not args["key_types"]:
        raise AnsibleActionFail("certificate_key_types: give at least one key type (rsa and/or ecdsa)")
    if len(set(args["key_types"])) != len(args["key_types"]):
        raise AnsibleActionFail(f"certificate_key_types: {args['key_types']} names a key type twice")
    if args["rollover"] != "none" and args["provider"] == "acme":
        raise AnsibleActionFail("certificate_rollover works with the local CA, self-signed and external providers; the ACME "
                                "role makes its own keys")
    for option, value in (("certificate_crl", args["crl"]), ("certificate_crl_url", args["crl_url"])):
        if value and args["provider"] != "ownca":
            raise AnsibleActionFail(f"{option}: the CRL is the local CA's (certificate_provider=ownca); with provider "
                                    f"{args['provider']} the CA that issues the certificates publishes their revocations. "
                                    f"Leave {option} unset for these hosts")
    if args["crl"] and args["crl_valid_days"] < 1:
        raise AnsibleActionFail(f"certificate_crl_valid_days: {args['crl_valid_days']} is below 1; a CRL needs a nextUpdate "
                                "at least a day ahead (clients refuse it after that)")
    if args["crl_url"]:
        try:
            _crl.check_distribution_point(args["crl_url"], option="certificate_crl_url")
        except _crl.CRLError as exc:
            raise AnsibleActionFail(str(exc)) from None
    try:
        _lifetime.check_rule(renew_before_days=args["renew_before_days"], renew_fraction=args["renew_fraction"])
    except _lifetime.LifetimeError as exc:
        raise AnsibleActionFail(f"certificate_renew_fraction, certificate_renew_before_days: {exc}") from None
    unknown = sorted(set(args["external"]) - set(_layout.KEY_TYPES))
    if unknown:
        raise AnsibleActionFail(f"certificate_external: {', '.join(unknown)} is not a key type; use rsa and/or ecdsa")
    try:
        _layout.check_name(args["name"], option="certificate_name")
        for service in args["reload_services"]:
            _layout.check_service(service, option="certificate_reload_services")
    except _layout.LayoutError as exc:
        raise AnsibleActionFail(str(exc)) from None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    # -- plumbing -----------------------------------------------------------------------------------
    def _module(self, step: str, name: str, args: dict[str, t.Any], task_vars: dict[str, t.Any]) -> dict[str, t.Any]:
        """Run one concern's module on the host; its warnings and diff join the task's."""
        result = self._execute_module(module_name=name, module_args=args, task_vars=task_vars)
        self._warnings.extend(result.pop("warnings", None) or [])
        diff = result.pop("diff", None)
        if diff:
            self._diffs.extend(diff if isinstance(diff, list) else [diff])
        self._changed = self._changed or bool(result.get("changed"))
        if result.get("failed") or result.get("unreachable"):
            result.setdefault("msg", f"{name} failed")
            result["msg"] = f"{step}: {result['msg']}"
            raise _StepFailed(step, result)
        return result

    def _files(self) -> dict[str, t.Any]:
        """Owner, group and mode of key material: 0600 root, or 0640 with the key group."""
        group = self._args["key_group"]
        files: dict[str, t.Any] = {"owner": "root", "mode": "0640" if group else "0600"}
        if group:
            files["group"] = group
        return files

    # -- steps ------------------------------------------------------------------------------------
    def _key_directories(self, kinds: list[_layout.KeyPaths], task_vars: dict[str, t.Any]) -> None:
        """With a key group every level above the key directories must let the group walk down to the keys."""
        group = self._args["key_group"]
        if not group:
            return
        for path in (self._args["base_dir"], os.path.dirname(kinds[0].directory)):
            self._module("key directories", "ansible.legacy.file",
                         {"path": path, "state": "directory", "owner": "root", "group": group, "mode": "0750"}, task_vars)

    def _key_item(self, paths: _layout.KeyPaths, *, path: str) -> dict[str, t.Any]:
        item: dict[str, t.Any] = {"path": path, "type": paths.key_type}
        if paths.key_type == "rsa":
            item["size"] = self._args["rsa_size"]
        else:
            item["curve"] = self._args["ecdsa_curve"]
        return item

    def _keys(self, kinds: list[_layout.KeyPaths], task_vars: dict[str, t.Any], *, next_keys: bool = False) -> dict[str, t.Any]:
        args = dict(self._files(), directory_mode="0750",
                    batch=[self._key_item(p, path=p.next_key if next_keys else p.key) for p in kinds],
                    regenerate="fail" if next_keys else self._args["key_regenerate"])
        return self._module("next keys" if next_keys else "private keys", "postmaster.tls.private_key", args, task_vars)["private_keys"]

    def _switch_keys(self, kinds: list[_layout.KeyPaths], task_vars: dict[str, t.Any]) -> list[_layout.KeyPaths]:
        """Make each prepared next key current (a copy: the next key stays until its certificate is installed)."""
        switched = []
        for paths in kinds:
            found = self._execute_remote_stat(paths.next_key, all_vars=task_vars, follow=False)
            if not found.get("exists"):
                continue
            files = self._files()
            self._module("switch keys", "ansible.legacy.copy",
                         {"src": paths.next_key, "dest": paths.key, "remote_src": True, "owner": files["owner"],
                          "group": files.get("group", "root"), "mode": files["mode"]}, task_vars)
            switched.append(paths)
        if not switched:
            self._warnings.append(
                "certificate_rollover=switch, but no next key (privkey.next.pem) exists: the current keys stay. To move to a "
                "new key, run with certificate_rollover=prepare first, publish the reported TLSA records, wait for their TTL, "
                "then switch.")
        return switched

    def _csrs(self, kinds: list[_layout.KeyPaths], task_vars: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
        args = {"batch": [{"path": p.csr, "privatekey_path": p.key} for p in kinds],
                "common_name": self._args["names"][0], "subject_alt_names": self._args["names"]}
        requests = self._module("certificate signing requests", "postmaster.tls.csr", args, task_vars)["requests"]
        return {p.key_type: requests.get(p.csr, {}) for p in kinds}

    def _issue_ownca(self, kinds, csrs, task_vars) -> dict[str, dict[str, t.Any]]:
        args = self._args
        try:
            ca = _local_ca.LocalCA(args["ca_dir"], common_name=args["ca_common_name"], create=args["ca_create"],
                                   check_mode=self._task.check_mode).open()
            if args["crl"]:
                self._kept_crl = ca.keep_crl(valid_days=args["crl_valid_days"])
            signed = {}
            for paths in kinds:
                csr = csrs[paths.key_type].get("csr")
                if not csr:
                    continue  # check mode before the CSR exists: nothing to sign yet
                signed[paths.key_type] = ca.sign(host=task_vars.get("inventory_hostname", "localhost"), name=args["name"],
                                                 key_type=paths.key_type, csr_pem=csr, valid_days=args["valid_days"],
                                                 renew_before_days=args["renew_before_days"], force=args["force"],
                                                 renew_fraction=args["renew_fraction"],
                                                 crl_distribution_points=[args["crl_url"]] if args["crl_url"] else [])
        except _local_ca.LocalCAError as exc:
            raise AnsibleActionFail(f"local CA {args['ca_dir']}: {exc}") from None
        kept = self._kept_crl
        self._changed = self._changed or bool(ca.changes) or any(s.changed for s in signed.values()) or bool(kept and kept.resigned)
        self._diffs.extend(ca.diffs + [s.diff for s in signed.values() if s.diff] + ([kept.diff] if kept and kept.diff else []))
        if kept and kept.warning:
            self._warnings.append(kept.warning)
        self._signed = {kind: {"path": s.path, "renewed": s.changed, "reason": s.reason} for kind, s in signed.items()}
        dest = args["ca_cert_dest"] or _layout.ca_cert_path(args["base_dir"])
        items = {}
        for paths in kinds:
            done = signed.get(paths.key_type)
            # Without a certificate yet (check mode) a path that does not exist: the install predicts a change.
            items[paths.key_type] = ({"certificate_content": done.pem} if done and done.pem else {"certificate_path": paths.issued})
            items[paths.key_type].update(trust_anchors_path=dest)
            if ca.cert_pem:
                items[paths.key_type]["trust_anchors_content"] = ca.cert_pem
        return items

    def _issue_selfsigned(self, kinds, csrs, task_vars) -> dict[str, dict[str, t.Any]]:
        args = self._args
        items = {}
        for paths in kinds:
            self._module("self-signed certificates", "postmaster.tls.certificate",
                         {"path": paths.issued, "provider": "selfsigned", "csr_path": paths.csr, "privatekey_path": paths.key,
                          "valid_days": args["valid_days"], "renew_before_days": args["renew_before_days"],
                          "renew_fraction": args["renew_fraction"], "force": args["force"]}, task_vars)
            # A self-signed certificate is its own trust anchor.
            items[paths.key_type] = {"certificate_path": paths.issued, "trust_anchors_path": paths.issued}
        return items

    def _issue_external(self, kinds, csrs, task_vars) -> dict[str, dict[str, t.Any]]:
        args = self._args
        items = {}
        for paths in kinds:
            given = args["external"].get(paths.key_type)
            if not given:
                self._pending_csrs[paths.key_type] = csrs[paths.key_type].get("csr") or "(the CSR is created on the first real run)"
                continue
            if not isinstance(given, dict) or not given.get("certificate"):
                raise AnsibleActionFail(f"certificate_external.{paths.key_type}: give a dict with certificate (PEM text of the "
                                        "leaf) and optionally chain (PEM text of the intermediates)")
            items[paths.key_type] = {"certificate_content": given["certificate"]}
            if given.get("chain"):
                items[paths.key_type]["chain_content"] = given["chain"]
            if args["trust_anchors_path"]:
                items[paths.key_type]["trust_anchors_path"] = args["trust_anchors_path"]
        for kind, csr in self._pending_csrs.items():
            self._warnings.append(f"No certificate given yet for the {kind} key of {args['name']}. Send this CSR to your CA, then "
                                  f"set certificate_external.{kind}.certificate and .chain:\n{csr}")
        return items

    def _install(self, kinds, items, task_vars) -> dict[str, dict[str, t.Any]]:
        args = self._args
        batch = [dict(items[p.key_type], dest=p.live_dir, privatekey_path=p.key) for p in kinds if p.key_type in items]
        if not batch:
            return {}
        module_args = dict(self._files(), batch=batch, required_names=args["names"], min_days_remaining=args["min_days_remaining"],
                           reload_services=args["reload_services"])
        installs = self._module("install", "postmaster.tls.certificate_install", module_args, task_vars)["installs"]
        return {p.key_type: installs.get(p.live_dir, {}) for p in kinds if p.key_type in items}

    def _install_crl(self, task_vars: dict[str, t.Any]) -> str:
        """Copy the local CA's CRL to the host (not served: a new one needs no reload); its path there, or "" while
        check mode predicts the first CRL. The checks (verify and audit playbooks) find it in the layout."""
        kept = self._kept_crl
        if kept is None or kept.pem is None:
            return ""
        dest = self._args["crl_dest"] or _layout.crl_path(self._args["base_dir"])
        before = self._remote_crl_summary(dest, task_vars) if self._task.diff else None
        result = self._copy_content(kept.pem, dest, task_vars)
        self._warnings.extend(result.pop("warnings", None) or [])
        if result.get("failed") or result.get("unreachable"):
            result["msg"] = f"install the CRL at {dest}: {result.get('msg', 'copy failed')}"
            raise _StepFailed("install the CRL", result)
        self._crl_installed = bool(result.get("changed"))
        self._changed = self._changed or self._crl_installed
        if self._crl_installed and before is not None:
            self._diffs.append({"before_header": dest, "after_header": dest, "before": before,
                                "after": kept.summary})
        return dest

    def _copy_content(self, content: str, dest: str, task_vars: dict[str, t.Any]) -> dict[str, t.Any]:
        """A public file from the controller to the host, through the copy action: it compares checksums, writes
        atomically and predicts in check mode. Its diff would be the raw text, so the caller shows its own."""
        task = self._task.copy()
        task.args = {"content": content, "dest": dest, "owner": "root", "group": "root", "mode": "0644"}
        task.diff = False
        copy = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.copy", task=task, connection=self._connection, play_context=self._play_context, loader=self._loader,
            templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return copy.run(task_vars=task_vars)

    def _remote_crl_summary(self, path: str, task_vars: dict[str, t.Any]) -> str:
        """For diff mode: what the CRL on the host says now (a CRL is public, so it may be read back)."""
        found = self._execute_module(module_name="ansible.legacy.slurp", module_args={"src": path}, task_vars=task_vars)
        if found.get("failed") or "content" not in found:
            return "(no CRL)\n"
        try:
            crl = _crl.load_crl(base64.b64decode(found["content"]), source=path)
        except (_crl.CRLError, ValueError):
            return "(not a readable CRL)\n"
        return _crl.summary(crl)

    def _remove_next_keys(self, switched: list[_layout.KeyPaths], task_vars: dict[str, t.Any]) -> None:
        for paths in switched:
            self._module("remove next keys", "ansible.legacy.file", {"path": paths.next_key, "state": "absent"}, task_vars)

    # -- facts ----------------------------------------------------------------------------------------
    def _facts(self, kinds, installed, *, ca_path: str, crl_path: str = "") -> dict[str, t.Any]:
        """The published facts: per key type the served files, keys and DANE digests, in key-type order."""
        served = [p for p in kinds if p.key_type in installed]
        changed_files = [f for p in served for f in installed[p.key_type].get("changed_files", [])]
        files = [dict(p.live_files(), key_type=p.key_type, key=p.key, spki_sha256=installed[p.key_type].get("spki_sha256", ""))
                 for p in served]
        return {
            # True when a served file changed (or would): the mail roles reload. The CA certificate alone is not served.
            "certificate_changed": any(f != "trust_anchors" for f in changed_files),
            "certificate_live": {p.key_type: p.live_files() for p in served},
            "certificate_keys": {p.key_type: p.key for p in served},
            "certificate_spki": {f["key_type"]: f["spki_sha256"] for f in files},
            # Postfix's smtpd_tls_chain_files: key, leaf and chain per key type, in key-type order.
            "certificate_chain_files": [f["combined"] for f in files],
            "certificate_files": files,
            "certificate_ca_path": ca_path,
            # The local CA's CRL on the host with crl=true (empty otherwise, and in check mode before the first CRL).
            "certificate_crl_path": crl_path,
        }

    def _acme_facts(self, kinds) -> dict[str, t.Any]:
        outcome = self._args["acme_result"]
        installed = {p.key_type: {"spki_sha256": (outcome.get(p.key_type) or {}).get("spki_sha256", ""),
                                  "changed_files": (outcome.get(p.key_type) or {}).get("changed_files", [])}
                     for p in kinds if p.key_type in outcome}
        return self._facts(kinds, installed, ca_path="")

    # -- the run --------------------------------------------------------------------------------------
    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        args["name"] = args["name"] or (args["names"] or [""])[0]
        _check_settings(args)
        self._args = args
        self._warnings: list[str] = []
        self._diffs: list[dict[str, t.Any]] = []
        self._changed = False
        self._signed: dict[str, t.Any] = {}
        self._installed: dict[str, t.Any] = {}
        self._pending_csrs: dict[str, str] = {}
        self._kept_crl: _local_ca.KeptCRL | None = None
        self._crl_installed = False
        kinds = [_layout.key_paths(args["name"], kind, base_dir=args["base_dir"]) for kind in args["key_types"]]
        try:
            if args["provider"] == "acme":
                facts = self._acme_facts(kinds)
                self._changed = facts["certificate_changed"]
            else:
                facts = self._deploy(kinds, task_vars)
        except _StepFailed as exc:
            exc.result["warnings"] = self._warnings + (exc.result.get("warnings") or [])
            return exc.result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(changed=self._changed, signed=self._signed, installed=self._installed, pending_csrs=self._pending_csrs,
                      msg=self._message(facts))
        if self._kept_crl is not None:
            result["crl"] = dict(self._kept_crl.result(), dest=facts["certificate_crl_path"], installed=self._crl_installed)
        result.update({RESULT_KEYS[key]: value for key, value in facts.items()})
        if self._warnings:
            result["warnings"] = self._warnings
        if C.config.get_config_value("INJECT_INVOCATION", variables=task_vars):
            # The action's own arguments (none is secret), as a module's result carries its own.
            result["invocation"] = {"module_args": args}
        if self._diffs and self._task.diff:
            result["diff"] = self._diffs
        self._publish(result, facts)
        return result

    def _deploy(self, kinds, task_vars) -> dict[str, t.Any]:
        args = self._args
        self._key_directories(kinds, task_vars)
        switched: list[_layout.KeyPaths] = []
        if args["rollover"] == "prepare":
            prepared = self._keys(kinds, task_vars, next_keys=True)
            self._next_spki = {p.key_type: prepared.get(p.next_key, {}).get("spki_sha256", "") for p in kinds}
        elif args["rollover"] == "switch":
            switched = self._switch_keys(kinds, task_vars)
        self._keys(kinds, task_vars)
        csrs = self._csrs(kinds, task_vars)
        issue = {"ownca": self._issue_ownca, "selfsigned": self._issue_selfsigned, "external": self._issue_external}
        items = issue[args["provider"]](kinds, csrs, task_vars)
        installed = self._install(kinds, items, task_vars)
        self._installed = installed
        crl_path = self._install_crl(task_vars)
        self._remove_next_keys(switched, task_vars)
        # The local CA certificate the install step put on the host (the verify role's trust anchor); empty in
        # check mode while it is not there yet.
        ca_path = next((items[k]["trust_anchors_path"] for k in installed
                        if installed[k].get("trust_anchors_installed") and items[k].get("trust_anchors_content")), "")
        facts = self._facts(kinds, installed, ca_path=ca_path, crl_path=crl_path)
        if args["rollover"] == "prepare":
            facts["certificate_next_spki"] = self._next_spki
        return facts

    def _message(self, facts: dict[str, t.Any]) -> str:
        kinds = ", ".join(facts["certificate_live"]) or "no key type"
        renewed = [f"{kind} ({s['reason']})" for kind, s in self._signed.items() if s["renewed"]]
        if renewed:
            return f"{self._args['name']}: new certificate for {'; '.join(renewed)}; installed: {kinds}"
        if facts["certificate_changed"]:
            return f"{self._args['name']}: served files changed ({kinds}); Postfix and Dovecot reload after their checks"
        return f"{self._args['name']}: certificates in place and valid ({kinds})"

    def _publish(self, result: dict[str, t.Any], facts: dict[str, t.Any]) -> None:
        """The certificate_* facts for the rest of the play, as set_fact would set them."""
        if VariableLayer is not None:
            self.register_host_variables({}, VariableLayer.CACHEABLE_FACT)
            self.register_host_variables(facts, VariableLayer.EPHEMERAL_FACT)
        else:  # pragma: no cover - ansible-core before 2.21
            result["ansible_facts"] = facts
