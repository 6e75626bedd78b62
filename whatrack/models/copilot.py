"""The copilot's per-organization settings and its memory of what it already read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime

COPILOT_DETECTORS = ("builtin", "llm")


class CopilotSettings(TenantMixin, TimestampMixin, db.Model):
    """One row per organization that changed the defaults (on, built-in detector)."""

    __tablename__ = "copilot_settings"
    __table_args__ = (UniqueConstraint("organization_id", name="uq_copilot_settings_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    detector: Mapped[str] = mapped_column(String(16), nullable=False, default="builtin")


class CopilotReview(TenantMixin, TimestampMixin, db.Model):
    """The last message of a ticket the copilot read: it never reads the same ones twice."""

    __tablename__ = "copilot_reviews"
    __table_args__ = (UniqueConstraint("ticket_id", name="uq_copilot_reviews_ticket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    last_message_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detector: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    # When the conversation will have been quiet long enough to read (each new message
    # pushes it back); the sweeper claims due rows. None: nothing new to read.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
