"""Touches: every sign of where a lead came from, one per message, kept forever.

A ticket's tracking fields are a copy of its first touch (earliest Meta timestamp); the
touches themselves are the evidence, so the attribution can be recomputed whatever order
Meta delivered the messages in (docs/ingestion.md, "Attribution").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime

# 'ad': a click-to-WhatsApp referral. 'link': a tracking-link code found in the message
# (issue 12); it fills the nullable link columns instead of the ad ones.
TOUCH_KINDS = ("ad", "link")


class TicketTouch(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "ticket_touches"
    __table_args__ = (
        # One touch per message: a redelivered or re-processed message never adds another.
        UniqueConstraint("organization_id", "message_id", name="uq_ticket_touches_message"),
        # First and last touch of a ticket are the ends of this index.
        Index("ix_ticket_touches_ticket_order", "ticket_id", "touched_at", "wamid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=False
    )
    wamid: Mapped[str] = mapped_column(String(255), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    # Meta's timestamp of the message, never the time we processed it.
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    ctwa_clid: Mapped[str | None] = mapped_column(String(512))
    source_id: Mapped[str | None] = mapped_column(String(64))
    source_type: Mapped[str | None] = mapped_column(String(16))
    source_url: Mapped[str | None] = mapped_column(Text)
    headline: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    media_type: Mapped[str | None] = mapped_column(String(16))
    media_url: Mapped[str | None] = mapped_column(Text)
    referral: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # Tracking links (issue 12): no foreign keys yet, the tables arrive with that issue.
    link_id: Mapped[int | None] = mapped_column(Integer)
    click_id: Mapped[int | None] = mapped_column(Integer)
