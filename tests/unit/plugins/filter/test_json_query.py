# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.postmaster.tls.plugins.filter.json_query import FilterModule, json_query

ROWS = [
    {"host": "mx1", "days_remaining": 80, "ok": True},
    {"host": "mx2", "days_remaining": 12, "ok": False},
    {"host": "mx3", "days_remaining": 3, "ok": True},
]


def test_filter_is_registered():
    assert FilterModule().filters()["json_query"] is json_query


def test_selects_hosts_below_threshold():
    assert json_query(ROWS, "[?days_remaining < `21`].host") == ["mx2", "mx3"]


def test_projection_and_functions():
    assert json_query(ROWS, "min_by(@, &days_remaining).host") == "mx3"
    assert json_query(ROWS, "length([?ok])") == 2


def test_bad_expression_names_the_expression():
    with pytest.raises(AnsibleFilterError, match=r"does not parse"):
        json_query(ROWS, "[?days_remaining <")
