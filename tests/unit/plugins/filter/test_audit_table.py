# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.postmaster.tls.plugins.filter.audit_table import audit_table

ROWS = [
    {"host": "mx1", "names": ["mail.example.org"], "issuer": "CN=CA", "key": "rsa 2048", "days_remaining": 80, "status": "ok"},
    {"host": "mx22", "names": ["a.example.org", "b.example.org"], "issuer": "CN=CA", "key": "ecdsa secp256r1", "days_remaining": 3,
     "status": "EXPIRING"},
]


def test_sorted_most_urgent_first_and_aligned():
    lines = audit_table(ROWS)
    assert lines[0].split() == ["HOST", "NAMES", "ISSUER", "KEY", "DAYS_REMAINING", "STATUS"]
    assert lines[1].startswith("mx22  a.example.org,b.example.org")
    assert lines[2].startswith("mx1 ")
    # every column starts at the same offset on every line
    offset = lines[0].index("ISSUER")
    assert lines[1][offset:].startswith("CN=CA") and lines[2][offset:].startswith("CN=CA")


def test_missing_values_and_custom_columns():
    assert audit_table([{"host": "mx"}], columns=["host", "status"]) == ["HOST  STATUS", "mx    -"]


def test_rejects_non_rows():
    with pytest.raises(AnsibleFilterError, match=r"row 0 is a str"):
        audit_table(["mx1"])
