# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``batch``: one module run for many files of the same concern (the keys, CSRs or certificates of a host).

A loop in a playbook starts the module once per item, which costs a round trip and a Python start-up each.
With ``batch`` the module takes the items as a list and decides each one exactly as a single run would:
an item's options fall back to the module's top-level ones, a problem with one item does not stop the
others, and the module fails at the end naming every failed item.
"""

from __future__ import annotations

import contextlib
import traceback
import typing as t


def _unexpected(exc: Exception, *, doing: str, what: str) -> dict[str, t.Any]:
    """An error that is not one of ours, reported by its type only: its text could echo key material or a passphrase."""
    return {"msg": f"unexpected error while {doing} {what}: {type(exc).__name__}", "exception": traceback.format_exc(limit=-3)}


@contextlib.contextmanager
def failing_without_secrets(module, *, expected: type[Exception], doing: str) -> t.Iterator[None]:
    """Turn an exception in the block into ``fail_json`` for the file at ``module.params['path']``.

    An ``expected`` error carries its own message, written never to hold a secret; any other is reported by type.
    """
    path = module.params["path"]
    try:
        yield
    except expected as exc:
        module.fail_json(msg=str(exc), path=path)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        module.fail_json(**_unexpected(exc, doing=doing, what=path))


class BatchItem(t.NamedTuple):
    key: str
    params: dict[str, t.Any]


def items(module_params: dict[str, t.Any], *, key: str, per_item: t.Iterable[str]) -> list[BatchItem]:
    """The batch's items as full parameter sets, in the given order.

    ``per_item`` options set (not ``None``) on an item replace the top-level ones; every other option is the
    top-level one. ``key`` names the option that identifies an item (its path); a key listed twice is refused.
    """
    out: list[BatchItem] = []
    seen: set[str] = set()
    names = tuple(per_item)
    for entry in module_params["batch"] or []:
        params = dict(module_params, batch=None)
        params.update({name: entry[name] for name in names if entry.get(name) is not None})
        ident = str(params[key])
        if ident in seen:
            raise ValueError(f"batch: {key} {ident} is listed more than once; every item needs its own {key}")
        seen.add(ident)
        out.append(BatchItem(ident, params))
    return out


def run(entries: list[BatchItem], one: t.Callable[[dict[str, t.Any]], dict[str, t.Any]], *,
        expected: tuple[type[Exception], ...], doing: str) -> dict[str, t.Any]:
    """Run ``one`` for every item; the outcomes by key, in order, and a failure naming each failed item.

    An ``expected`` error carries its own message, written never to hold a secret. Any other error is
    reported by its type only: its text could echo key material or a passphrase.
    """
    outcomes: dict[str, dict[str, t.Any]] = {}
    diffs: list[dict[str, t.Any]] = []
    failed: list[str] = []
    for entry in entries:
        try:
            outcome = one(entry.params)
        except expected as exc:
            outcome = {"changed": False, "failed": True, "msg": f"{entry.key}: {exc}"}
        except Exception as exc:  # pylint: disable=broad-exception-caught
            outcome = {"changed": False, "failed": True, **_unexpected(exc, doing=doing, what=entry.key)}
        if "diff" in outcome:
            diffs.append(outcome.pop("diff"))
        if outcome.get("failed"):
            failed.append(entry.key)
        outcomes[entry.key] = outcome
    result: dict[str, t.Any] = {"changed": any(o.get("changed") for o in outcomes.values()), "outcomes": outcomes}
    if diffs:
        result["diff"] = diffs
    if failed:
        result["failed"] = True
        result["msg"] = "; ".join(outcomes[key]["msg"] for key in failed)
    return result


def exit_module(module, *, key: str, per_item: t.Iterable[str], one: t.Callable[[dict[str, t.Any]], dict[str, t.Any]],
                expected: tuple[type[Exception], ...], doing: str, result_key: str, params: dict[str, t.Any] | None = None) -> t.NoReturn:
    """A module's whole batch run: the items of ``params`` (default: the module's), every outcome under ``result_key``,
    then ``exit_json`` - or ``fail_json`` naming every failed item."""
    try:
        entries = items(module.params if params is None else params, key=key, per_item=per_item)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    result = run(entries, one, expected=expected, doing=doing)
    result[result_key] = result.pop("outcomes")
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)
