"""Turning rows into the JSON shapes ARCHITECTURE.md fixes (UTC ISO times, decimal strings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from whatrack.models import Organization
from whatrack.services.billing_state import effective_state


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def organization_json(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "slug": org.slug,
        "timezone": org.timezone,
        "currency": org.currency,
        "billing": {
            "state": effective_state(org),
            "trial_ends_at": iso(org.trial_ends_at),
            "paid_until": iso(org.paid_until),
        },
    }
