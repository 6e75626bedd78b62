"""Raw webhook deliveries, stored before they are acknowledged."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatrack.extensions import db
from whatrack.models.base import TenantMixin, UTCDateTime, utcnow

# received -> processed | failed | unroutable (a number no tenant has connected)
WEBHOOK_STATES = ("received", "processed", "failed", "unroutable")


class WebhookEvent(db.Model):
    """One delivery as received. Platform-level: its tenants are only known after parsing."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_state_received", "state", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="meta")
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    # Kept for forensics (which deliveries were the same bytes); not indexed: no query
    # reads by it, and every intake INSERT would maintain the index.
    body_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="received")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(String(255))


class WebhookEventRoute(TenantMixin, db.Model):
    """Which organizations a delivery touched, so each sees it in its operators' view."""

    __tablename__ = "webhook_event_routes"
    __table_args__ = (UniqueConstraint("webhook_event_id", "organization_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_event_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # This organization's share of the delivery: its entries' outcome, never the others'.
    # state None: its entries were never applied (a number attached after the delivery
    # came), so the delivery's own state shows.
    state: Mapped[str | None] = mapped_column(String(16))
    summary: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
