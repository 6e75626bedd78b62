"""WhatsApp numbers, the people who write to them, and every message in between."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from whatrack.crypto import encrypted_attribute
from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime, trigram_index

if TYPE_CHECKING:
    from whatrack.models.org import Organization
    from whatrack.models.tickets import Ticket

# What an erased contact is called everywhere (a placeholder, not a person's data).
ERASED_NAME = "—"
MESSAGE_STATUSES = ("pending", "sent", "delivered", "read", "failed")
# Who caused a message: the customer, the business app (coexistence echo), or a person in
# WhaTrack, from the web panel or through the JSON API. Only the last two are ever sent by us.
OUTBOUND_ORIGINS = ("web", "api")
# Where our own send of an outbound message stands (NULL for everything we did not send):
# queued (the worker will POST it), sending (a POST is in flight), accepted (Meta gave its
# wamid), in_doubt (the answer was lost: waiting for a status carrying our id), unconfirmed
# (none came: a person decides whether to resend), failed (Meta refused it, nothing sent).
SEND_STATES = ("queued", "sending", "accepted", "in_doubt", "unconfirmed", "failed")
# Forward-only order; "played" (voice note) counts as read, "failed" is terminal.
STATUS_RANK = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 4}


class WhatsAppAccount(TenantMixin, TimestampMixin, db.Model):
    """A connected business number; ``phone_number_id`` routes webhooks to its tenant."""

    __tablename__ = "whatsapp_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    waba_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    phone_number_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    display_phone_number: Mapped[str] = mapped_column(String(32), nullable=False)
    verified_name: Mapped[str | None] = mapped_column(String(200))
    business_id: Mapped[str | None] = mapped_column(String(32))
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    coexistence: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="connected")
    # Number health as Meta last reported it (refreshed daily, services/whatsapp/health.py).
    quality_rating: Mapped[str | None] = mapped_column(String(16))
    name_status: Mapped[str | None] = mapped_column(String(32))
    messaging_limit: Mapped[str | None] = mapped_column(String(32))
    throughput: Mapped[str | None] = mapped_column(String(32))
    meta_status: Mapped[str | None] = mapped_column(String(32))
    health_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    health_error: Mapped[str | None] = mapped_column(String(255))
    # Set when Meta refuses the token (code 190 and the like): the number needs reconnecting.
    token_invalid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Loaded with the routing query of a webhook delivery (one statement less per delivery).
    organization: Mapped[Organization] = relationship(lazy="raise_on_sql", viewonly=True)

    @property
    def needs_reconnect(self) -> bool:
        return self.token_invalid_at is not None

    token = encrypted_attribute("token_encrypted")

    def __repr__(self) -> str:  # never the token
        return f"<WhatsAppAccount {self.phone_number_id}>"


class Contact(TenantMixin, TimestampMixin, db.Model):
    """A customer, keyed by the canonical (13-digit for BR mobiles) WhatsApp id."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("organization_id", "wa_id"),
        # Searches by name or any part of the number (services/tickets/search.py).
        trigram_index("ix_contacts_wa_id_trgm", "wa_id"),
        trigram_index("ix_contacts_profile_name_trgm", "profile_name"),
        trigram_index("ix_contacts_saved_name_trgm", "saved_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wa_id: Mapped[str] = mapped_column(String(128), nullable=False)
    # The id exactly as Meta last sent it: replies must go to this one.
    wa_id_reported: Mapped[str | None] = mapped_column(String(32))
    bsuid: Mapped[str | None] = mapped_column(String(128))
    profile_name: Mapped[str | None] = mapped_column(String(256))
    saved_name: Mapped[str | None] = mapped_column(String(256))
    # Erased at the person's request (LGPD): the row is an anonymous shell kept only because
    # sales, kept for accounting, hang off its tickets (services/privacy/erase.py).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def display_name(self) -> str:
        if self.erased_at is not None:
            return ERASED_NAME
        return self.saved_name or self.profile_name or f"+{self.wa_id}"


class Message(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("organization_id", "wamid"),
        Index("ix_messages_ticket_id_id", "ticket_id", "id"),
        # The organization's newest message id (where the inbox's /sync starts), read from
        # the index's end whatever other tenants wrote since (D47).
        Index("ix_messages_org_id", "organization_id", "id"),
        # The unconfirmed-send sweeper's scan; NULL (every message we did not send) dominates.
        Index("ix_messages_send_state", "send_state", "send_state_at"),
        # The inbox's search by message text (services/tickets/search.py).
        trigram_index("ix_messages_text_trgm", "text"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    whatsapp_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("whatsapp_accounts.id", ondelete="SET NULL")
    )
    # NULL only for an outbound message Meta has not accepted yet.
    wamid: Mapped[str | None] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    origin: Mapped[str] = mapped_column(String(24), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    text: Mapped[str | None] = mapped_column(Text)
    is_history: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    context_wamid: Mapped[str | None] = mapped_column(String(255))
    forwarded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    referral: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    media_id: Mapped[str | None] = mapped_column(String(128))
    media_mime_type: Mapped[str | None] = mapped_column(String(128))
    media_sha256: Mapped[str | None] = mapped_column(String(128))
    media_filename: Mapped[str | None] = mapped_column(String(255))
    media_caption: Mapped[str | None] = mapped_column(Text)
    # none / pending / stored / failed / too_large
    media_state: Mapped[str] = mapped_column(String(16), nullable=False, default="none")
    media_error: Mapped[str | None] = mapped_column(String(255))
    # Our own sends (see SEND_STATES); the person behind each one is always recorded.
    send_state: Mapped[str | None] = mapped_column(String(16))
    send_state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                               server_default="0")
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"))

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    contact: Mapped[Contact] = relationship()


class MessageTemplate(TenantMixin, TimestampMixin, db.Model):
    """One language of a WABA's message template, as last synced from Meta."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("organization_id", "waba_id", "name", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    waba_id: Mapped[str] = mapped_column(String(32), nullable=False)
    meta_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512), nullable=False)
    language: Mapped[str] = mapped_column(String(16), nullable=False)
    category: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    # Placeholders of the body ({{1}}, {{2}} or {{name}}), in order; what a sender fills in.
    body_parameters: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # Templates with a media header or URL buttons need more than body text: not offered.
    sendable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    components: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class MessageStatusEvent(TenantMixin, TimestampMixin, db.Model):
    """Every status Meta reported, deduplicated; applied to the message, even if it lands later."""

    __tablename__ = "message_status_events"
    __table_args__ = (UniqueConstraint("organization_id", "wamid", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wamid: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    conversation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    pricing: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class MediaFile(TenantMixin, TimestampMixin, db.Model):
    """Cached media bytes, so Meta's short-lived URLs are fetched once per message."""

    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    mime_type: Mapped[str] = mapped_column(String(128), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
