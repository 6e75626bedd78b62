"""Meta connection, the Conversions API outbox and its audit trail, data deletion requests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from whatrack.crypto import encrypted_attribute
from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from whatrack.models.sales import Sale
    from whatrack.models.tickets import Ticket

EVENT_STATUSES = ("pending", "sent", "failed", "skipped")


class MetaConnection(TenantMixin, TimestampMixin, db.Model):
    """The organization's Facebook connection (token, dataset) and its CAPI settings.

    One row per organization. It outlives a disconnect (the token is deleted, the
    settings stay), so reconnecting does not reset the lead and stage choices.
    """

    __tablename__ = "meta_connections"
    __table_args__ = (UniqueConstraint("organization_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # --- the token --------------------------------------------------------------------
    fb_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    fb_user_name: Mapped[str | None] = mapped_column(String(200))
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_type: Mapped[str | None] = mapped_column(String(16))
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    token_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when Meta answered 190 (expired / revoked): events wait for a reconnection.
    token_invalid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    token_error: Mapped[str | None] = mapped_column(String(255))
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    connected_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    connected_via: Mapped[str | None] = mapped_column(String(16))  # oauth / cli
    # --- where events go --------------------------------------------------------------
    dataset_id: Mapped[str | None] = mapped_column(String(32))
    dataset_name: Mapped[str | None] = mapped_column(String(200))
    dataset_source: Mapped[str | None] = mapped_column(String(16))  # waba / ad_account / manual
    # --- CAPI settings ----------------------------------------------------------------
    lead_event_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    lead_event_name: Mapped[str] = mapped_column(String(32), nullable=False,
                                                 default="LeadSubmitted")
    # {"<stage id>": "<business-messaging event name>"}
    stage_events: Mapped[dict[str, str] | None] = mapped_column(JSON)
    test_event_code: Mapped[str | None] = mapped_column(String(64))

    token = encrypted_attribute("token_encrypted")

    @property
    def connected(self) -> bool:
        return self.token_encrypted is not None

    @property
    def token_expired(self) -> bool:
        return self.token_expires_at is not None and self.token_expires_at <= utcnow()

    @property
    def needs_reconnect(self) -> bool:
        return self.connected and (self.token_invalid_at is not None or self.token_expired)

    def __repr__(self) -> str:  # never the token
        return f"<MetaConnection org={self.organization_id} dataset={self.dataset_id}>"


class MetaConversionEvent(TenantMixin, TimestampMixin, db.Model):
    """One event for Meta (the outbox row) and where it stands; never deleted.

    ``event_id`` is deterministic (organization + sale/ticket + event name), so a
    retry, a resend or a replay carries the same id and Meta can deduplicate.
    """

    __tablename__ = "meta_conversion_events"
    __table_args__ = (
        UniqueConstraint("organization_id", "event_id"),
        Index("ix_meta_conversion_events_org_status", "organization_id", "status", "id"),
        Index("ix_meta_conversion_events_due", "status", "next_attempt_at"),
        Index("ix_meta_conversion_events_org_created", "organization_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_name: Mapped[str] = mapped_column(String(32), nullable=False)
    event_id: Mapped[str] = mapped_column(String(128), nullable=False)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    sale_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales.id", ondelete="SET NULL"), index=True
    )
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # sale / new_lead / stage
    value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str | None] = mapped_column(String(3))

    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    # Why it is skipped, failed or still waiting: a code (REASONS in services.conversions)
    # rendered in pt-BR by the API and in the UI language on pages.
    reason_code: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Consecutive transient failures: drives the backoff and the retry limit.
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    dataset_id: Mapped[str | None] = mapped_column(String(32))
    # The event exactly as last sent (JSON text: hashed fields hashed, never a token).
    payload: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    events_received: Mapped[int | None] = mapped_column(Integer)
    fbtrace_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_subcode: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_user_title: Mapped[str | None] = mapped_column(String(255))
    error_user_msg: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket | None] = relationship()
    sale: Mapped[Sale | None] = relationship()
    attempt_log: Mapped[list[MetaConversionAttempt]] = relationship(
        back_populates="event", order_by="MetaConversionAttempt.id", lazy="dynamic"
    )

    @property
    def display_name(self) -> str:
        """``LeadSubmitted`` is what Meta calls it; people call it a lead."""
        return "Lead" if self.event_name == "LeadSubmitted" else self.event_name


class MetaConversionAttempt(TenantMixin, db.Model):
    """One HTTP request that carried the event, and what came back.

    A batch of N events is N rows sharing ``batch_key``: the audit page shows each
    event's own history, including the requests refused because of another event.
    """

    __tablename__ = "meta_conversion_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("meta_conversion_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    batch_key: Mapped[str] = mapped_column(String(32), nullable=False)
    batch_size: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    # sent / retry / failed / split / token / too_few
    result: Mapped[str] = mapped_column(String(16), nullable=False)
    # Method, URL and headers of the request, the token redacted.
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    http_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    events_received: Mapped[int | None] = mapped_column(Integer)
    fbtrace_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_subcode: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)

    event: Mapped[MetaConversionEvent] = relationship(back_populates="attempt_log")


class DataDeletionRequest(TimestampMixin, db.Model):
    """A Facebook user's deletion request (Meta's callback); platform-wide, not a tenant row."""

    __tablename__ = "data_deletion_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    confirmation_code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    fb_user_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="received")
    connections_cleared: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
