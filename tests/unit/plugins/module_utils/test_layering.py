# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""No backend imports another backend: what two backends share lives one floor down.

Floors are listed here; every other file in plugins/module_utils is a backend (so a new one is a backend until
someone decides otherwise). The imports are read from the source with ``ast``, nothing is imported.
"""

from __future__ import annotations

import ast
import os

import pytest

MODULE_UTILS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "module_utils")
PACKAGE = "ansible_collections.postmaster.tls.plugins.module_utils"

# Shared vocabulary and helpers that backends may import (and that import only each other).
FLOORS = frozenset({"_batch", "_commands", "_crl", "_crypto", "_ct", "_fileio", "_layout", "_lifecycle", "_lifetime", "_pathcheck",
                    "_pem", "_profiles", "_sasl", "_service", "_tlswire", "_validate", "_x509"})
# The backends named in the project's rules; any other non-floor file counts as one too.
KNOWN_BACKENDS = frozenset({"_keys", "_csr", "_certificate", "_chain", "_postfix", "_dovecot", "_probe", "_tlsgrade"})


def module_utils_imports(source: str) -> set[str]:
    """The collection's module_utils names a source file imports, in any spelling."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module == PACKAGE or (node.level and not module):
                found.update(alias.name for alias in node.names)
            elif module.startswith(PACKAGE + "."):
                found.add(module[len(PACKAGE) + 1:].split(".")[0])
            elif node.level and module.startswith("_"):
                found.add(module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name[len(PACKAGE) + 1:].split(".")[0] for alias in node.names if alias.name.startswith(PACKAGE + "."))
    return {name for name in found if name.startswith("_")}


def layering_problems(sources: dict[str, str]) -> list[str]:
    """``backend imports backend`` lines for files {name: source}; a floor importing a backend is one too."""
    problems = []
    for name, source in sorted(sources.items()):
        for imported in sorted(module_utils_imports(source)):
            if imported != name and imported not in FLOORS:
                kind = "floor" if name in FLOORS else "backend"
                problems.append(f"{kind} {name} imports the backend {imported}; move what they share into a floor module")
    return problems


def collection_sources() -> dict[str, str]:
    sources = {}
    for file_name in os.listdir(MODULE_UTILS):
        if file_name.endswith(".py") and file_name != "__init__.py":
            with open(os.path.join(MODULE_UTILS, file_name), encoding="utf-8") as handle:
                sources[file_name[:-3]] = handle.read()
    return sources


def test_no_backend_imports_a_backend():
    sources = collection_sources()
    assert KNOWN_BACKENDS <= set(sources), "a backend the rules name is missing from plugins/module_utils"
    assert layering_problems(sources) == []


@pytest.mark.parametrize("source", [
    f"from {PACKAGE} import _crypto, _chain\n",
    f"from {PACKAGE}._chain import check_install\n",
    f"import {PACKAGE}._chain\n",
    "from ._chain import check_install\n",
    "from . import _crypto, _chain\n",
    f"def late():\n    from {PACKAGE} import _chain\n",
])
def test_the_check_sees_every_spelling_of_a_backend_import(source):
    assert layering_problems({"_postfix": source}) == [
        "backend _postfix imports the backend _chain; move what they share into a floor module"]


def test_floors_may_import_floors_and_not_backends():
    assert layering_problems({"_service": f"from {PACKAGE} import _crypto, _fileio, _x509\n"}) == []
    assert layering_problems({"_x509": f"from {PACKAGE} import _certificate\n"}) == [
        "floor _x509 imports the backend _certificate; move what they share into a floor module"]
