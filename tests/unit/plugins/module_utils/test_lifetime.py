# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lifetime-aware renewal rule: 6-, 47-, 90- and 398-day certificates renew on time, never in a loop."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.postmaster.tls.plugins.module_utils import _lifetime

DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
ISSUED = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
BACKDATE = datetime.timedelta(minutes=5)  # what the issuers of this collection subtract from notBefore


def decide(lifetime_days: float, age: datetime.timedelta, *, renew_before_days: int = 30,
           fraction: float = _lifetime.DEFAULT_FRACTION, next_lifetime: datetime.timedelta | None = None):
    not_before = ISSUED - BACKDATE
    not_after = ISSUED + lifetime_days * DAY
    return _lifetime.decide(not_before, not_after, now=ISSUED + age, renew_before_days=renew_before_days,
                            renew_fraction=fraction, next_lifetime=next_lifetime)


# The point at which each lifetime falls due with the defaults (renew_before_days=30, one third):
#   6 days:  max(2 d, min(30 d, 3 d))        = 3 days before expiry  -> renewed at half-life
#   47 days: max(15.7 d, min(30 d, 23.5 d))  = 23.5 days before      -> renewed at half-life
#   90 days: max(30 d, 30 d)                 = 30 days before        -> renewed after 60 days
#   398 d:   max(132.7 d, 30 d)              = 132.7 days before     -> renewed after 265.3 days
@pytest.mark.parametrize(("lifetime", "kept_at", "due_at", "decided_by"), [
    (6, [0 * DAY, 1 * DAY, 2 * DAY, 2.9 * DAY], [3.01 * DAY, 5 * DAY, 5.9 * DAY], "renew_before_days"),
    (47, [0 * DAY, 10 * DAY, 23.4 * DAY], [23.6 * DAY, 30 * DAY, 46 * DAY], "renew_before_days"),
    (90, [0 * DAY, 30 * DAY, 59.9 * DAY], [60.1 * DAY, 80 * DAY], "renew_before_days"),
    (398, [0 * DAY, 100 * DAY, 265 * DAY], [265.5 * DAY, 300 * DAY, 360 * DAY], "renew_fraction"),
])
def test_each_lifetime_renews_at_its_point(lifetime, kept_at, due_at, decided_by):
    for age in kept_at:
        verdict = decide(lifetime, age)
        assert not verdict.due, (lifetime, age, verdict)
        assert verdict.reason is None
    for age in due_at:
        verdict = decide(lifetime, age)
        assert verdict.due, (lifetime, age, verdict)
        assert verdict.decided_by == decided_by, (lifetime, age, verdict)


@pytest.mark.parametrize("lifetime", [6, 47, 90, 398, 0.25, 1, 2])
@pytest.mark.parametrize("renew_before_days", [0, 1, 5, 30, 90, 365, 10000])
@pytest.mark.parametrize("fraction", [0.01, _lifetime.DEFAULT_FRACTION, 0.5])
def test_a_certificate_issued_now_is_never_due(lifetime, renew_before_days, fraction):
    """No loop: whatever the settings, a fresh certificate is not due, even an hour later or with
    the clock a few minutes off; it stays kept for at least half its life."""
    for age in (datetime.timedelta(0), BACKDATE, HOUR if lifetime >= 1 else datetime.timedelta(minutes=30)):
        verdict = decide(lifetime, age, renew_before_days=renew_before_days, fraction=fraction,
                         next_lifetime=lifetime * DAY)
        assert not verdict.due, (lifetime, renew_before_days, fraction, age, verdict)
    assert decide(lifetime, lifetime * DAY * 0.49, renew_before_days=renew_before_days, fraction=fraction).due is False


def test_expired_is_due_with_its_own_reason():
    verdict = decide(90, 91 * DAY)
    assert verdict.due and verdict.decided_by == "expired"
    assert verdict.reason == "the certificate expired on 2027-05-30T12:00:00Z"


def test_reasons_name_the_threshold_and_keep_the_familiar_wording():
    assert decide(90, 61 * DAY).reason == "29 days remain, fewer than renew_before_days=30"
    six = decide(6, 4 * DAY)
    assert six.reason.startswith("2 days remain, fewer than renew_before_days=30 (counted as 3 days: at most half the 6 days lifetime")
    long = decide(398, 300 * DAY)
    assert long.reason == "98 days of its 398 days lifetime remain, less than renew_fraction=0.3333 of it (132.7 days)"


def test_a_longer_next_lifetime_lets_the_window_count_in_full():
    """A 20-day certificate under a 90-day/30-day policy is due at once: the next one lives 90 days,
    so the 30-day window is not capped by the short certificate in hand (and the next one is kept)."""
    verdict = decide(20, 1 * HOUR, next_lifetime=90 * DAY)
    assert verdict.due and verdict.decided_by == "renew_before_days"
    assert not decide(90, 1 * HOUR, next_lifetime=90 * DAY).due


def test_facts_are_small_and_readable():
    facts = decide(6, 1 * DAY).facts()
    assert facts == {"due": False, "reason": None, "renew_at": "2027-03-04T11:57:30Z", "threshold_days": 3.0,
                     "lifetime_days": 6.0, "remaining_days": 5.0, "decided_by": "not_due"}


@pytest.mark.parametrize(("days", "fraction", "message"), [
    (-1, 0.3, "renew_before_days cannot be negative"),
    (30, 0, "renew_fraction must be above 0 and at most 0.5"),
    (30, 0.6, "renew_fraction must be above 0 and at most 0.5"),
])
def test_rule_settings_out_of_range_are_refused(days, fraction, message):
    with pytest.raises(_lifetime.LifetimeError, match=message):
        _lifetime.check_rule(renew_before_days=days, renew_fraction=fraction)


def test_parse_now():
    now = ISSUED
    assert _lifetime.parse_now("", now=now) == now
    assert _lifetime.parse_now(None, now=now) == now
    assert _lifetime.parse_now("+14d", now=now) == now + 14 * DAY
    assert _lifetime.parse_now("-1w2d3h", now=now) == now - 9 * DAY - 3 * HOUR
    assert _lifetime.parse_now("20270101000000Z", now=now) == datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)
    assert _lifetime.parse_now("2027-01-01T06:00:00Z", now=now) == datetime.datetime(2027, 1, 1, 6, tzinfo=datetime.timezone.utc)
    with pytest.raises(_lifetime.LifetimeError, match="renewal_now='soon' is not a time"):
        _lifetime.parse_now("soon", now=now, option="renewal_now")
    with pytest.raises(_lifetime.LifetimeError, match="is not a time"):
        _lifetime.parse_now("20271399000000Z", now=now)
