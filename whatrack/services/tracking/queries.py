"""Reading tracking links with their counters: clicks, leads, sales, revenue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm.attributes import set_committed_value

from whatrack.extensions import db
from whatrack.models import (
    MetaAd,
    Organization,
    Sale,
    Ticket,
    TrackingClick,
    TrackingLink,
    utcnow,
)
from whatrack.services.inbox import attribution


@dataclass(frozen=True)
class LinkStats:
    link: TrackingLink
    clicks: int
    leads: int
    sales: int
    revenue: Decimal


def list_links(org: Organization) -> list[LinkStats]:
    """Every link of ``org``, newest first, each with its counters (four queries in all).

    Leads are live tickets attributed to the link; sales are approved, not cancelled,
    in the organization's currency (the same rule as the dashboard and the report).
    """
    links = list(db.session.scalars(
        select(TrackingLink).where(TrackingLink.organization_id == org.id)
        .order_by(TrackingLink.id.desc())))
    clicks = dict(db.session.execute(
        select(TrackingClick.link_id, func.count(TrackingClick.id))
        .where(TrackingClick.organization_id == org.id).group_by(TrackingClick.link_id)).all())
    leads = dict(db.session.execute(
        select(Ticket.tracking_link_id, func.count(Ticket.id))
        .where(Ticket.organization_id == org.id, Ticket.lead_source == "link",
               Ticket.imported.is_(False))
        .group_by(Ticket.tracking_link_id)).all())
    sales = {link_id: (count, total) for link_id, count, total in db.session.execute(
        select(Ticket.tracking_link_id, func.count(Sale.id), func.sum(Sale.value))
        .join(Ticket, Ticket.id == Sale.ticket_id)
        .where(Sale.organization_id == org.id, Sale.status == "approved",
               Sale.cancelled_at.is_(None), Sale.currency == org.currency,
               Ticket.lead_source == "link")
        .group_by(Ticket.tracking_link_id))}
    return [LinkStats(link, clicks.get(link.id, 0), leads.get(link.id, 0),
                      sales.get(link.id, (0, None))[0],
                      sales.get(link.id, (0, None))[1] or Decimal("0.00"))
            for link in links]


def link_stats(org: Organization, link: TrackingLink) -> LinkStats:
    return next(s for s in list_links(org) if s.link.id == link.id)


@dataclass(frozen=True)
class AttributionWindow:
    clicked_at: datetime
    deadline: datetime
    days_left: int  # negative once it has passed


def attribution_window(org: Organization, ticket: Ticket,
                       now: datetime | None = None) -> AttributionWindow | None:
    """Until when Meta attributes a sale to the ticket's ad click (7 days, 5.9).

    Days are counted in the organization's time zone, as the person reading it lives them.
    """
    if ticket.lead_source != "ad" or not ticket.ctwa_clid:
        return None
    touch = attribution.first_touch(org, ticket)
    clicked_at = touch.touched_at if touch is not None else ticket.created_at
    deadline = clicked_at + attribution.ATTRIBUTION_WINDOW
    zone = ZoneInfo(org.timezone)
    today = (now or utcnow()).astimezone(zone).date()
    return AttributionWindow(clicked_at, deadline, (deadline.astimezone(zone).date() - today).days)


def preload_sources(org: Organization, tickets: list[Ticket]) -> None:
    """Load the links and ad names a list of tickets shows, in at most two queries.

    Lists (the board, the inbox) render many cards; each card's badge would otherwise
    lazy-load its link and its ad one by one.
    """
    link_ids = {t.tracking_link_id for t in tickets if t.tracking_link_id}
    ad_ids = {t.source_id for t in tickets if t.source_id}
    links = {link.id: link for link in db.session.scalars(
        select(TrackingLink).where(TrackingLink.organization_id == org.id,
                                   TrackingLink.id.in_(link_ids)))} if link_ids else {}
    ads = {ad.ad_id: ad for ad in db.session.scalars(
        select(MetaAd).where(MetaAd.organization_id == org.id,
                             MetaAd.ad_id.in_(ad_ids)))} if ad_ids else {}
    for ticket in tickets:
        set_committed_value(ticket, "tracking_link", links.get(ticket.tracking_link_id or 0))
        set_committed_value(ticket, "ad", ads.get(ticket.source_id or ""))
