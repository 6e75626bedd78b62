"""Tracking links, their clicks, and the Meta ads (names, daily spend) leads came from."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from whatrack.extensions import db
from whatrack.models.base import TenantMixin, TimestampMixin, UTCDateTime

if TYPE_CHECKING:
    from whatrack.models.whatsapp import WhatsAppAccount

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
# Longer values are cut, never refused (issue 12: a visit must always reach WhatsApp).
UTM_MAX = 500


class TrackingLink(TenantMixin, TimestampMixin, db.Model):
    """A short public URL (/t/<code>) that opens a chat with a prefilled message."""

    __tablename__ = "tracking_links"
    __table_args__ = (
        # Codes are looked up before any organization is known: unique platform-wide.
        UniqueConstraint("code", name="uq_tracking_links_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    whatsapp_account_id: Mapped[int] = mapped_column(
        ForeignKey("whatsapp_accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    message: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    utm_source: Mapped[str | None] = mapped_column(String(UTM_MAX))
    utm_medium: Mapped[str | None] = mapped_column(String(UTM_MAX))
    utm_campaign: Mapped[str | None] = mapped_column(String(UTM_MAX))
    utm_content: Mapped[str | None] = mapped_column(String(UTM_MAX))
    utm_term: Mapped[str | None] = mapped_column(String(UTM_MAX))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    whatsapp_account: Mapped[WhatsAppAccount] = relationship()

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


class TrackingClick(TenantMixin, TimestampMixin, db.Model):
    """One counted visit of a link; ``ref`` is the code the visitor's message carries back."""

    __tablename__ = "tracking_clicks"
    __table_args__ = (
        UniqueConstraint("organization_id", "ref", name="uq_tracking_clicks_ref"),
        Index("ix_tracking_clicks_link_created", "link_id", "created_at"),
        # The flood guard counts one visitor's recent clicks.
        Index("ix_tracking_clicks_ip_created", "organization_id", "ip_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("tracking_links.id", ondelete="CASCADE"), nullable=False
    )
    ref: Mapped[str] = mapped_column(String(16), nullable=False)
    utm_source: Mapped[str | None] = mapped_column(String(UTM_MAX))
    utm_medium: Mapped[str | None] = mapped_column(String(UTM_MAX))
    utm_campaign: Mapped[str | None] = mapped_column(String(UTM_MAX))
    utm_content: Mapped[str | None] = mapped_column(String(UTM_MAX))
    utm_term: Mapped[str | None] = mapped_column(String(UTM_MAX))
    fbclid: Mapped[str | None] = mapped_column(String(UTM_MAX))
    gclid: Mapped[str | None] = mapped_column(String(UTM_MAX))
    referrer: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(String(UTM_MAX))
    # HMAC of the address with a server secret: enough to rate-limit, useless to identify.
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    # The first ticket whose message carried ``ref``. No foreign key: tickets point at
    # their click, and a cycle of keys would make every delete order ambiguous.
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    link: Mapped[TrackingLink] = relationship()


class MetaAd(TenantMixin, TimestampMixin, db.Model):
    """What the Marketing API says an ad id is: its names and thumbnail (cached per org)."""

    __tablename__ = "meta_ads"
    __table_args__ = (UniqueConstraint("organization_id", "ad_id", name="uq_meta_ads_ad"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ad_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str | None] = mapped_column(String(400))
    adset_id: Mapped[str | None] = mapped_column(String(64))
    adset_name: Mapped[str | None] = mapped_column(String(400))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    campaign_name: Mapped[str | None] = mapped_column(String(400))
    thumbnail_url: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the names are missing (pt-BR code, see services/tracking/ads.py), or None.
    error: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(500))


class MetaAdSpend(TenantMixin, TimestampMixin, db.Model):
    """One ad's spend on one day (the ad account's day), as Insights reported it."""

    __tablename__ = "meta_ad_spend"
    __table_args__ = (
        UniqueConstraint("organization_id", "ad_id", "day", name="uq_meta_ad_spend_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ad_id: Mapped[str] = mapped_column(String(64), nullable=False)
    account_id: Mapped[str | None] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, nullable=False)
    spend: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class MetaAdsSync(TenantMixin, TimestampMixin, db.Model):
    """Per organization: when names and Insights were last read, and what went wrong."""

    __tablename__ = "meta_ads_syncs"
    __table_args__ = (UniqueConstraint("organization_id", name="uq_meta_ads_syncs_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    names_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    names_error: Mapped[str | None] = mapped_column(String(32))
    names_error_message: Mapped[str | None] = mapped_column(String(500))
    insights_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The period (ad account days) the last Insights read covered.
    insights_from: Mapped[date | None] = mapped_column(Date)
    insights_to: Mapped[date | None] = mapped_column(Date)
    insights_error: Mapped[str | None] = mapped_column(String(32))
    insights_error_message: Mapped[str | None] = mapped_column(String(500))
