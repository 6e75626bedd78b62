"""Organizations (tenants), memberships, invites and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from whatrack.models.user import User

ROLES = ("owner", "admin", "agent")
BILLING_STATES = ("trialing", "active", "past_due", "canceled", "expired")


class Organization(TimestampMixin, db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    slug: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="America/Sao_Paulo")
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="BRL")
    billing_state: Mapped[str] = mapped_column(String(16), nullable=False, default="trialing")
    trial_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64))
    # The Checkout Session "Assinar" opened last: reused while Stripe says it is still open,
    # so a double click never leaves two payable sessions.
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255))
    # When the last payment failed; the grace period (BILLING_GRACE_DAYS) counts from here.
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stripe's ``created`` of the newest event applied to the state: an older one that
    # arrives late is stored but never overwrites it (Stripe does not deliver in order).
    billing_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Opt-in: opening a conversation in WhaTrack shows the customer blue ticks.
    mark_read_on_open: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                                    server_default="false")

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Organization {self.slug}>"


class Membership(TimestampMixin, db.Model):
    """A user's role in one organization. Defines tenancy, so it is not a TenantMixin."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="agent")

    organization: Mapped[Organization] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class Invite(TenantMixin, TimestampMixin, db.Model):
    """A one-time link that makes its holder a member with ``role``."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="agent")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def usable(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > utcnow()


class ApiKey(TenantMixin, TimestampMixin, db.Model):
    """A bearer key for the JSON API; only its SHA-256 is stored, the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False, default="API")
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it was revoked when nobody clicked "Revoke": "creator_removed".
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    # A read-only key may only GET; writes answer 403.
    read_only: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False,
                                            server_default=false())

    organization: Mapped[Organization] = relationship()
    created_by: Mapped[User | None] = relationship()
