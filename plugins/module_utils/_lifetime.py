# Copyright (c) postmaster.tls contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one renewal rule of the collection: renew by the certificate's lifetime, not by a fixed day count.

A certificate (or a CRL) is due once what remains of it falls below the larger of two thresholds:

* ``renew_fraction`` of its whole lifetime (notBefore to notAfter), one third by default;
* ``renew_before_days``, counted at most as half of the lifetime the *next* certificate will have
  (``next_lifetime``: the ``valid_days`` a local issuer uses; for a CA that decides the lifetime
  itself, such as ACME, the current certificate's own lifetime).

So the earlier of the two moments wins, and the cap keeps the rule from looping: a certificate
issued now has its whole lifetime left, at least twice any threshold, so it is never due at once,
whether it lives 6, 47, 90 or 398 days. Without the cap a fixed 30-day window would ask for a new
6-day certificate on every run. Every provider decides with this rule: the certificate module, the
ACME role (through certificate_info), the audit's warning and the local CA's CRL.

A floor module: it imports only the floor _x509 (the one ISO 8601 spelling).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import typing as t

from ansible_collections.postmaster.tls.plugins.module_utils import _x509

DEFAULT_FRACTION = 1.0 / 3.0
# Above one half the fraction alone could make a certificate due at half its life; the rule promises
# a new certificate is never due before half its lifetime has passed.
MAX_FRACTION = 0.5

_RELATIVE = re.compile(r"^(?P<sign>[+-])(?P<spec>(?:[0-9]+[wdhms])+)$")
_RELATIVE_PART = re.compile(r"([0-9]+)([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_ASN1_TIME = re.compile(r"^(?P<stamp>[0-9]{14})Z$")


class LifetimeError(ValueError):
    """An option of the renewal rule is out of range; the message names it and the fix."""


def check_rule(*, renew_before_days: int, renew_fraction: float, what: str = "") -> None:
    """Refuse rule settings that could never renew, or that would renew on every run."""
    prefix = f"{what}: " if what else ""
    if renew_before_days is None or renew_before_days < 0:
        raise LifetimeError(f"{prefix}renew_before_days cannot be negative (got {renew_before_days}); use 0 to renew by renew_fraction only")
    if renew_fraction is None or not 0 < renew_fraction <= MAX_FRACTION:
        raise LifetimeError(
            f"{prefix}renew_fraction must be above 0 and at most {MAX_FRACTION} (got {renew_fraction}); "
            f"the default {DEFAULT_FRACTION:.4f} renews once a third of the lifetime remains"
        )


def threshold(
    lifetime: datetime.timedelta,
    *,
    renew_before_days: int,
    renew_fraction: float,
    next_lifetime: datetime.timedelta | None = None,
) -> datetime.timedelta:
    """How much lifetime may remain before renewal: the larger of the fraction and the (capped) days."""
    by_fraction = lifetime * renew_fraction
    return max(by_fraction, capped_days(renew_before_days, next_lifetime or lifetime))


def capped_days(renew_before_days: int, next_lifetime: datetime.timedelta) -> datetime.timedelta:
    """``renew_before_days``, but never more than half the lifetime of the certificate renewal would bring."""
    return min(datetime.timedelta(days=renew_before_days), next_lifetime / 2)


def span(value: datetime.timedelta) -> str:
    """A duration for people: ``3 days``, ``2.5 days``, ``20 hours``, ``45 minutes``."""
    seconds = value.total_seconds()
    if seconds >= 2 * 86400:
        days = seconds / 86400
        return f"{days:.0f} days" if abs(days - round(days)) < 0.05 else f"{days:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    return f"{max(seconds, 0) / 60:.0f} minutes"


@dataclasses.dataclass(frozen=True)
class Renewal:
    """The rule's verdict on one certificate (or CRL) at one moment."""

    due: bool
    reason: str | None
    renew_at: datetime.datetime
    threshold: datetime.timedelta
    lifetime: datetime.timedelta
    remaining: datetime.timedelta
    decided_by: t.Literal["expired", "renew_before_days", "renew_fraction", "not_due"]

    def facts(self) -> dict[str, t.Any]:
        """What modules return about the decision (no secrets; small and readable)."""
        return {
            "due": self.due,
            "reason": self.reason,
            "renew_at": _x509.iso8601(self.renew_at),
            "threshold_days": round(self.threshold.total_seconds() / 86400, 2),
            "lifetime_days": round(self.lifetime.total_seconds() / 86400, 2),
            "remaining_days": round(self.remaining.total_seconds() / 86400, 2),
            "decided_by": self.decided_by,
        }


def decide(
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    *,
    now: datetime.datetime,
    renew_before_days: int,
    renew_fraction: float,
    next_lifetime: datetime.timedelta | None = None,
    what: str = "certificate",
) -> Renewal:
    """Whether an object valid from ``not_before`` to ``not_after`` is due for renewal at ``now``.

    The reason names the threshold that decided, in the words of its option, so a user can see
    which one to change. The wording for ``renew_before_days`` is the one this collection always used.
    """
    lifetime = max(not_after - not_before, datetime.timedelta(0))
    remaining = not_after - now
    by_days = capped_days(renew_before_days, next_lifetime or lifetime)
    by_fraction = lifetime * renew_fraction
    limit = max(by_fraction, by_days)
    renew_at = not_after - limit
    common = {"renew_at": renew_at, "threshold": limit, "lifetime": lifetime, "remaining": remaining}
    if not_after <= now:
        return Renewal(due=True, reason=f"the {what} expired on {_x509.iso8601(not_after)}", decided_by="expired", **common)
    if remaining < by_days:
        whole_days = int(remaining.total_seconds() // 86400)
        reason = f"{whole_days} days remain, fewer than renew_before_days={renew_before_days}"
        if by_days < datetime.timedelta(days=renew_before_days):
            reason += (f" (counted as {span(by_days)}: at most half the {span(next_lifetime or lifetime)} lifetime "
                       "of a new one, so that a new one is not due at once)")
        return Renewal(due=True, reason=reason, decided_by="renew_before_days", **common)
    if remaining < by_fraction:
        reason = (f"{span(remaining)} of its {span(lifetime)} lifetime remain, less than "
                  f"renew_fraction={renew_fraction:.4g} of it ({span(by_fraction)})")
        return Renewal(due=True, reason=reason, decided_by="renew_fraction", **common)
    return Renewal(due=False, reason=None, decided_by="not_due", **common)


def parse_now(value: str | None, *, now: datetime.datetime, option: str = "now") -> datetime.datetime:
    """``now`` for a decision: empty (the real time), relative (``+14d``, ``-1w2d``, ``+36h``) or an
    absolute ASN.1 time (``20270101000000Z``) or ISO 8601 time (``2027-01-01T00:00:00Z``), all UTC."""
    if value is None or str(value).strip() == "":
        return now
    text = str(value).strip()
    relative = _RELATIVE.match(text)
    if relative:
        delta = datetime.timedelta()
        for amount, unit in _RELATIVE_PART.findall(relative.group("spec")):
            delta += datetime.timedelta(**{_UNITS[unit]: int(amount)})
        return now + delta if relative.group("sign") == "+" else now - delta
    asn1 = _ASN1_TIME.match(text)
    if asn1:
        try:
            return datetime.datetime.strptime(asn1.group("stamp"), "%Y%m%d%H%M%S").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            pass
    else:
        try:
            parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed.replace(tzinfo=datetime.timezone.utc) if parsed.tzinfo is None else parsed
    raise LifetimeError(
        f"{option}={text!r} is not a time: give a relative time such as +14d or -1w2d (units w, d, h, m, s), "
        "an ASN.1 time such as 20270101000000Z, or an ISO 8601 time such as 2027-01-01T00:00:00Z"
    )
