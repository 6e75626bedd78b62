"""Stripe events already applied: each Stripe event id is processed once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from whatrack.extensions import db
from whatrack.models.base import UTCDateTime, utcnow

# applied | stale (older than the state it would overwrite) | unknown_customer (no
# organization has this Stripe customer) | ignored (a type we do not act on)
STRIPE_EVENT_OUTCOMES = ("applied", "stale", "unknown_customer", "ignored")


class StripeEvent(db.Model):
    """One Stripe event id, recorded by the delivery that applied it.

    Platform-level like WebhookEvent: the organization is only known after reading the
    event, and an event for a customer nobody has is kept with none.
    """

    __tablename__ = "stripe_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stripe_event_id: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    # Stripe's own clock for the event: what ordering compares.
    stripe_created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    webhook_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
