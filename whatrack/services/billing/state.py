"""An organization's billing state as of now: the stored state with the clock applied.

The stored ``billing_state`` only changes on events (signup, a Stripe webhook, an operator's
command). Time does the rest here, without a job: a trial past its end is expired, a paid
period past its end gets the grace period, a failed payment keeps full access for
``BILLING_GRACE_DAYS`` and then the organization is expired. Expired and canceled
organizations are read-only (docs/billing.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from whatrack.models import Organization, utcnow

READ_ONLY_STATES = frozenset({"expired", "canceled"})


@dataclass(frozen=True)
class BillingSummary:
    state: str
    trial_ends_at: datetime | None
    trial_days_left: int | None
    paid_until: datetime | None
    # Past due: full access ends then (read-only afterwards).
    grace_ends_at: datetime | None
    grace_days_left: int | None
    read_only: bool

    @property
    def ends_at(self) -> datetime | None:
        """When the current state ends by itself, if it does."""
        return {"trialing": self.trial_ends_at, "active": self.paid_until,
                "past_due": self.grace_ends_at}.get(self.state)


def grace_period() -> timedelta:
    return timedelta(days=current_app.config["BILLING_GRACE_DAYS"])


def grace_ends_at(org: Organization) -> datetime | None:
    """The end of full access for a payment problem (None when there is none)."""
    if org.billing_state == "past_due":
        start = org.past_due_since or org.paid_until
        return start + grace_period() if start else None
    if org.billing_state == "active" and org.paid_until:
        return org.paid_until + grace_period()
    return None


def effective_state(org: Organization, now: datetime | None = None) -> str:
    """The stored state with the clock applied (see the module docstring)."""
    now = now or utcnow()
    state = org.billing_state
    if state == "trialing" and org.trial_ends_at and org.trial_ends_at <= now:
        return "expired"
    if state == "active" and org.paid_until and org.paid_until <= now:
        # A period nobody renewed (a manual activation, or a renewal webhook that has not
        # come yet): a payment problem with the same grace as a failed charge.
        state = "past_due"
    if state == "past_due":
        ends = grace_ends_at(org)
        if ends is not None and ends <= now:
            return "expired"
    return state


def is_read_only(org: Organization) -> bool:
    return effective_state(org) in READ_ONLY_STATES


def days_left(until: datetime | None, now: datetime) -> int | None:
    """Whole days a person would count: 13 days and 5 hours left is "14 days"."""
    if until is None:
        return None
    return max(0, math.ceil((until - now).total_seconds() / 86400))


def billing_summary(org: Organization, now: datetime | None = None) -> BillingSummary:
    now = now or utcnow()
    state = effective_state(org, now)
    grace_end = grace_ends_at(org) if state == "past_due" else None
    return BillingSummary(
        state=state,
        trial_ends_at=org.trial_ends_at,
        trial_days_left=days_left(org.trial_ends_at, now) if state == "trialing" else None,
        paid_until=org.paid_until,
        grace_ends_at=grace_end,
        grace_days_left=days_left(grace_end, now),
        read_only=state in READ_ONLY_STATES,
    )
