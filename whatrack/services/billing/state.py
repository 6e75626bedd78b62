"""Reading an organization's billing state (trial days left, read-only when expired)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from whatrack.models import Organization, utcnow


@dataclass(frozen=True)
class BillingSummary:
    state: str
    trial_ends_at: datetime | None
    trial_days_left: int | None
    read_only: bool


def effective_state(org: Organization, now: datetime | None = None) -> str:
    """The stored state, with a lapsed trial reported as expired without waiting for a job."""
    now = now or utcnow()
    if org.billing_state == "trialing" and org.trial_ends_at and org.trial_ends_at <= now:
        return "expired"
    return org.billing_state


def billing_summary(org: Organization) -> BillingSummary:
    now = utcnow()
    state = effective_state(org, now)
    days_left = None
    if state == "trialing" and org.trial_ends_at:
        remaining = org.trial_ends_at - now
        # A trial ending in 13 days and 5 hours has "14 days left" for a person.
        days_left = max(0, remaining.days + (1 if remaining.seconds else 0))
    return BillingSummary(
        state=state,
        trial_ends_at=org.trial_ends_at,
        trial_days_left=days_left,
        read_only=state in ("expired", "canceled"),
    )
