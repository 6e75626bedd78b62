"""The sources report: campaign -> ad set -> ad, and utm_source -> utm_campaign for links.

For a period in the organization's time zone (stats.Period): leads are tickets opened in
the period (history imports excluded); qualified leads are those of them that reached the
chosen stage; sales and revenue are approved, not cancelled sales decided in the period in
the organization's currency (the dashboard's rule); the conversion rate is the share of
the period's leads with a counting sale. Spend comes from the Insights cache
(services/tracking/ads.py) for the same days, in the ad account's currency: cost per lead
and ROAS are only computed when that currency is the organization's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from whatrack.extensions import db
from whatrack.models import Organization, Sale, Stage, Ticket, TicketEvent, TrackingLink
from whatrack.services.reports.stats import Period
from whatrack.services.tickets.stages import active_stages
from whatrack.services.tracking import ads as ad_names

ZERO = Decimal("0.00")


@dataclass
class Row:
    level: str  # campaign / adset / ad / utm_source / utm_campaign / organic
    id: str | None
    name: str | None
    leads: int = 0
    qualified: int = 0
    converted: int = 0
    sales: int = 0
    revenue: Decimal = ZERO
    spend: Decimal | None = None
    spend_currency: str | None = None
    currency: str = "BRL"
    error: str | None = None  # why the name is missing (ads.REASONS code)
    children: dict[str, Row] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or self.id or "—"

    @property
    def conversion_rate(self) -> Decimal | None:
        if not self.leads:
            return None
        return (Decimal(self.converted) * 100 / Decimal(self.leads)).quantize(Decimal("0.1"))

    @property
    def comparable_spend(self) -> Decimal | None:
        same = self.spend_currency in (None, self.currency)
        return self.spend if self.spend is not None and same else None

    @property
    def cost_per_lead(self) -> Decimal | None:
        spend = self.comparable_spend
        if spend is None or not self.leads:
            return None
        return (spend / self.leads).quantize(Decimal("0.01"))

    @property
    def roas(self) -> Decimal | None:
        spend = self.comparable_spend
        if not spend:
            return None
        return (self.revenue / spend).quantize(Decimal("0.01"))

    @property
    def rows(self) -> list[Row]:
        return sorted(self.children.values(), key=lambda r: (-r.revenue, -r.leads, r.label))

    def add_spend(self, amount: Decimal, currency: str) -> None:
        if self.spend is None:
            self.spend, self.spend_currency = amount, currency
        elif self.spend_currency == currency:
            self.spend += amount
        else:
            self.spend_currency = "mixed"


@dataclass
class Report:
    period: Period
    currency: str
    stage: Stage | None
    campaigns: list[Row]
    links: list[Row]
    organic: Row
    spend: ad_names.SpendStatus
    names_error: str | None

    @property
    def total(self) -> Row:
        total = Row("total", None, _("Total"), currency=self.currency)
        for row in [*self.campaigns, *self.links, self.organic]:
            for name in ("leads", "qualified", "converted", "sales"):
                setattr(total, name, getattr(total, name) + getattr(row, name))
            total.revenue += row.revenue
            if row.spend is not None:
                total.add_spend(row.spend, row.spend_currency or self.currency)
        return total

    def ad_rows(self) -> Iterator[tuple[Row, Row, Row]]:
        for campaign in self.campaigns:
            for adset in campaign.rows:
                for ad in adset.rows:
                    yield campaign, adset, ad


def qualifying_stage(org: Organization, stage_id: Any) -> Stage | None:
    """The stage a lead must reach to count as qualified: chosen, or the one after entry."""
    stages = active_stages(org)
    chosen = next((s for s in stages if str(s.id) == str(stage_id)), None)
    if chosen is None:
        opens = [s for s in stages if s.kind == "open"]
        chosen = opens[1] if len(opens) > 1 else (opens[0] if opens else None)
    return chosen


def _qualified_ids(org: Organization, stage: Stage | None, ticket_ids: list[int]) -> set[int]:
    """Tickets that were ever in ``stage`` or in a later, not lost, stage (a skipped column
    still means the lead got that far)."""
    if stage is None or not ticket_ids:
        return set()
    stage_ids = {s.id for s in active_stages(org)
                 if s.id == stage.id or (s.position > stage.position and s.kind != "lost")}
    current = set(db.session.scalars(select(Ticket.id).where(
        Ticket.organization_id == org.id, Ticket.id.in_(ticket_ids),
        Ticket.stage_id.in_(stage_ids))))
    moved = set(db.session.scalars(select(TicketEvent.ticket_id).where(
        TicketEvent.organization_id == org.id, TicketEvent.ticket_id.in_(ticket_ids),
        TicketEvent.kind == "stage_changed",
        TicketEvent.data["to_stage"].as_integer().in_(stage_ids))))
    return current | moved


def _group(ticket: Any, names: dict[str, Any], campaigns: dict[str, Row],
           links: dict[str, Row], organic: Row, currency: str) -> list[Row]:
    """The rows a ticket counts in (from the top level down)."""
    if ticket.lead_source == "ad":
        ad = names.get(ticket.source_id or "")
        return _ad_path(ticket.source_id, ad, campaigns, currency)
    if ticket.lead_source == "link":
        source = ticket.utm_source or ""
        top = links.setdefault(source, Row("utm_source", source or None,
                                           source or _("(no utm_source)"), currency=currency))
        name = ticket.utm_campaign or ""
        child = top.children.setdefault(name, Row("utm_campaign", name or None,
                                                  name or _("(no utm_campaign)"),
                                                  currency=currency))
        return [top, child]
    return [organic]


def _ad_path(ad_id: str | None, ad: Any, campaigns: dict[str, Row], currency: str) -> list[Row]:
    error = ad.error if ad is not None and not ad.name else None
    campaign_id = (ad.campaign_id if ad else None) or ""
    adset_id = (ad.adset_id if ad else None) or ""
    campaign = campaigns.setdefault(campaign_id, Row(
        "campaign", campaign_id or None,
        (ad.campaign_name if ad else None) or (None if campaign_id else _("Campaign not named")),
        currency=currency, error=error))
    adset = campaign.children.setdefault(adset_id, Row(
        "adset", adset_id or None,
        (ad.adset_name if ad else None) or (None if adset_id else _("Ad set not named")),
        currency=currency, error=error))
    key = ad_id or ""
    row = adset.children.setdefault(key, Row("ad", ad_id, ad.name if ad else None,
                                             currency=currency, error=error))
    return [campaign, adset, row]


def build_report(org: Organization, period: Period, stage_id: Any = None,
                 fetch: bool = True) -> Report:
    start, end = period.bounds(org)
    currency = org.currency
    spend_status = (ad_names.ensure_spend(org, period.start, period.end) if fetch
                    else ad_names.SpendStatus(False))
    leads = list(db.session.execute(
        select(Ticket.id, Ticket.lead_source, Ticket.ctwa_clid, Ticket.source_id,
               Ticket.utm_source, Ticket.utm_campaign)
        .where(Ticket.organization_id == org.id, Ticket.imported.is_(False),
               Ticket.created_at >= start, Ticket.created_at < end)))
    sales = list(db.session.execute(
        select(Ticket.id, Ticket.lead_source, Ticket.ctwa_clid, Ticket.source_id,
               Ticket.utm_source, Ticket.utm_campaign, func.count(Sale.id), func.sum(Sale.value))
        .join(Ticket, Ticket.id == Sale.ticket_id)
        .where(Sale.organization_id == org.id, Sale.status == "approved",
               Sale.cancelled_at.is_(None), Sale.currency == currency,
               Sale.decided_at >= start, Sale.decided_at < end)
        .group_by(Ticket.id)))
    lead_ids = [t.id for t in leads]
    converted = set(db.session.scalars(
        select(Sale.ticket_id).where(Sale.organization_id == org.id, Sale.status == "approved",
                                     Sale.cancelled_at.is_(None),
                                     Sale.ticket_id.in_(lead_ids)))) if lead_ids else set()
    stage = qualifying_stage(org, stage_id)
    qualified = _qualified_ids(org, stage, lead_ids)
    spend = ad_names.spend_by_ad(org, period.start, period.end)
    names = ad_names.names_for(org, {t.source_id for t in [*leads, *sales] if t.source_id}
                               | set(spend))
    campaigns: dict[str, Row] = {}
    links: dict[str, Row] = {}
    organic = Row("organic", None, _("Organic"), currency=currency)
    for ticket in leads:
        for row in _group(ticket, names, campaigns, links, organic, currency):
            row.leads += 1
            row.qualified += ticket.id in qualified
            row.converted += ticket.id in converted
    for ticket_id, *attrs, count, total in sales:
        ticket = _Attrs(ticket_id, *attrs)
        for row in _group(ticket, names, campaigns, links, organic, currency):
            row.sales += count
            row.revenue += total or ZERO
    for ad_id, (amount, spend_currency) in spend.items():
        for row in _ad_path(ad_id, names.get(ad_id), campaigns, currency):
            row.add_spend(amount, spend_currency)
    state = ad_names.sync_state(org)
    return Report(period=period, currency=currency, stage=stage,
                  campaigns=sorted(campaigns.values(), key=lambda r: (-r.revenue, -r.leads,
                                                                      r.label)),
                  links=sorted(links.values(), key=lambda r: (-r.revenue, -r.leads, r.label)),
                  organic=organic, spend=spend_status,
                  names_error=state.names_error if state else None)


@dataclass(frozen=True)
class _Attrs:
    id: int
    lead_source: str
    ctwa_clid: str | None
    source_id: str | None
    utm_source: str | None
    utm_campaign: str | None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def _ref(row: Row) -> dict[str, Any]:
    return {"id": row.id, "name": row.name}


def report_json(report: Report) -> dict[str, Any]:
    """GET /api/v1/reports/ads: one row per ad (issue 12's fields, plus a few derived)."""
    data = []
    for campaign, adset, ad in report.ad_rows():
        data.append({
            "campaign": _ref(campaign), "adset": _ref(adset), "ad": _ref(ad),
            "leads": ad.leads, "qualified_leads": ad.qualified, "sales": ad.sales,
            "revenue": _money(ad.revenue), "spend": _money(ad.spend),
            "currency": report.currency,
            "spend_currency": ad.spend_currency if ad.spend is not None else None,
            "cost_per_lead": _money(ad.cost_per_lead), "roas": _money(ad.roas),
            "conversion_rate": str(ad.conversion_rate) if ad.conversion_rate is not None
            else None,
        })
    return {"from": report.period.start.isoformat(), "to": report.period.end.isoformat(),
            "currency": report.currency, "spend_available": report.spend.available,
            "spend_error": report.spend.error, "data": data}


# --- CSV ---------------------------------------------------------------------------------

CSV_COLUMNS = ("ticket_id", "created_at", "contact", "phone", "source", "link", "campaign",
               "adset", "ad_id", "ad", "utm_source", "utm_medium", "utm_campaign", "stage",
               "sales", "revenue", "currency")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # A spreadsheet must never run a cell as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(org: Organization, period: Period) -> Iterator[str]:
    """Tickets opened in the period with their source, stage and counting sales."""
    start, end = period.bounds(org)
    zone = ZoneInfo(org.timezone)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    tickets = list(db.session.scalars(
        select(Ticket).where(Ticket.organization_id == org.id, Ticket.imported.is_(False),
                             Ticket.created_at >= start, Ticket.created_at < end)
        .options(selectinload(Ticket.contact), selectinload(Ticket.stage),
                 selectinload(Ticket.tracking_link))
        .order_by(Ticket.created_at, Ticket.id)))
    ids = [t.id for t in tickets]
    totals = {tid: (count, total) for tid, count, total in db.session.execute(
        select(Sale.ticket_id, func.count(Sale.id), func.sum(Sale.value))
        .where(Sale.organization_id == org.id, Sale.status == "approved",
               Sale.cancelled_at.is_(None), Sale.currency == org.currency,
               Sale.ticket_id.in_(ids)).group_by(Sale.ticket_id))} if ids else {}
    names = ad_names.names_for(org, {t.source_id for t in tickets if t.source_id})
    for ticket in tickets:
        ad = names.get(ticket.source_id or "")
        count, total = totals.get(ticket.id, (0, None))
        link: TrackingLink | None = ticket.tracking_link
        writer.writerow([_cell(v) for v in (
            ticket.id, ticket.created_at.astimezone(zone).isoformat(timespec="seconds"),
            ticket.contact.display_name, ticket.contact.wa_id, ticket.source,
            link.name if link else None, ad.campaign_name if ad else None,
            ad.adset_name if ad else None, ticket.source_id, ad.name if ad else None,
            ticket.utm_source, ticket.utm_medium, ticket.utm_campaign,
            ticket.stage.name if ticket.stage else None, count,
            _money(total or ZERO), org.currency)])
    yield buffer.getvalue()


def chart_rows(report: Report) -> list[tuple[str, Decimal, int]]:
    """The one bar chart: revenue by campaign and link source (label, revenue, % width)."""
    rows = [*report.campaigns, *report.links, report.organic]
    top = max((r.revenue for r in rows), default=ZERO) or Decimal("1")
    return [(r.label, r.revenue, int(r.revenue * 100 / top)) for r in rows if r.revenue]


