"""Kanban stages and tickets: one conversation with a lead, and where it came from."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime, trigram_index

if TYPE_CHECKING:
    from whatrack.models.tracking import MetaAd, TrackingLink
    from whatrack.models.user import User
    from whatrack.models.whatsapp import Contact, Message

STAGE_KINDS = ("open", "won", "lost")
DEFAULT_STAGES = (
    ("Novo", "open"),
    ("Em atendimento", "open"),
    ("Agendado", "open"),
    ("Ganho", "won"),
    ("Perdido", "lost"),
)
# Stored on the ticket ('history': an imported past conversation).
LEAD_SOURCES = ("ad", "link", "organic", "history")
# The one vocabulary shown everywhere (issue 12): an ad without a click id is counted for
# its ad but cannot be sent to the Conversions API, so it is told apart.
SOURCES = ("ad", "ad_no_click", "link", "organic")


class Stage(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "stages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False, default="open")
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Ticket(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        # At most one open ticket per contact and number: the last guard against a burst of
        # first messages opening two (creation is also serialised by the contact row lock).
        Index(
            "uq_tickets_one_open_per_contact",
            "organization_id",
            "contact_id",
            "whatsapp_account_id",
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
        Index("ix_tickets_org_last_message", "organization_id", "last_message_at", "id"),
        # The inbox's unread counter and "unread" filter read only these rows (D47).
        Index("ix_tickets_org_unread", "organization_id", "last_message_at", "id",
              postgresql_where=text("unread_count > 0"), sqlite_where=text("unread_count > 0")),
        # The Kanban's search by ad headline (services/tickets/search.py).
        trigram_index("ix_tickets_ad_headline_trgm", "ad_headline"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    whatsapp_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("whatsapp_accounts.id", ondelete="SET NULL")
    )
    stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("stages.id", ondelete="RESTRICT"), index=True
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lost_reason: Mapped[str | None] = mapped_column(String(60))
    lost_note: Mapped[str | None] = mapped_column(String(500))
    # Optimistic concurrency: the UI sends the version it saw, a stale one gets 409.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    # Imported from WhatsApp history sync: a past conversation, never a new lead.
    imported: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_preview: Mapped[str | None] = mapped_column(String(160))
    unread_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    # First-touch lead source, frozen when the ticket opens.
    lead_source: Mapped[str] = mapped_column(String(12), nullable=False, default="organic")
    ctwa_clid: Mapped[str | None] = mapped_column(String(512))
    source_id: Mapped[str | None] = mapped_column(String(64))
    source_type: Mapped[str | None] = mapped_column(String(16))
    source_url: Mapped[str | None] = mapped_column(Text)
    ad_headline: Mapped[str | None] = mapped_column(Text)
    ad_body: Mapped[str | None] = mapped_column(Text)
    ad_media_type: Mapped[str | None] = mapped_column(String(16))
    ad_media_url: Mapped[str | None] = mapped_column(Text)
    referral: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    utm_source: Mapped[str | None] = mapped_column(String(500))
    utm_medium: Mapped[str | None] = mapped_column(String(500))
    utm_campaign: Mapped[str | None] = mapped_column(String(500))
    utm_content: Mapped[str | None] = mapped_column(String(500))
    utm_term: Mapped[str | None] = mapped_column(String(500))
    fbclid: Mapped[str | None] = mapped_column(String(512))
    gclid: Mapped[str | None] = mapped_column(String(500))
    # Set when the first touch is a tracking-link code (issue 12).
    tracking_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracking_links.id", ondelete="SET NULL"), index=True
    )
    tracking_click_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracking_clicks.id", ondelete="SET NULL")
    )

    contact: Mapped[Contact] = relationship()
    stage: Mapped[Stage | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.id", lazy="dynamic"
    )
    tracking_link: Mapped[TrackingLink | None] = relationship()
    # The ad's names as the Marketing API gave them (no row: not resolved yet).
    ad: Mapped[MetaAd | None] = relationship(
        primaryjoin="and_(Ticket.source_id == foreign(MetaAd.ad_id), "
                    "Ticket.organization_id == foreign(MetaAd.organization_id))",
        uselist=False, viewonly=True)

    @property
    def source(self) -> str:
        """The lead source in the shared vocabulary (SOURCES)."""
        if self.lead_source == "ad":
            return "ad" if self.ctwa_clid else "ad_no_click"
        if self.lead_source == "link":
            return "link"
        return "organic"


class TicketEvent(TenantMixin, TimestampMixin, db.Model):
    """The ticket's history: stage moves, assignments, closing, notes (who and when)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    user: Mapped[User | None] = relationship()


class TicketNote(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, nullable=False)

    user: Mapped[User | None] = relationship()


# A Kanban column's newest cards, in the board's order, without reading the column (D48).
Index("ix_tickets_board_column", Ticket.organization_id, Ticket.stage_id,
      func.coalesce(Ticket.last_message_at, Ticket.created_at), Ticket.id)
