"""Leads and revenue by source for a period, in the organization's timezone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from whatrack.errors import QueryError
from whatrack.extensions import db
from whatrack.i18n import ad_label
from whatrack.models import Organization, Sale, Ticket
from whatrack.services.tickets.board import local_day_bounds

MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def bounds(self, org: Organization) -> tuple[datetime, datetime]:
        return local_day_bounds(org, self.start), local_day_bounds(org, self.end, end=True)


def parse_period(org: Organization, raw_from: str | None, raw_to: str | None,
                 today: date | None = None) -> Period:
    """?from=YYYY-MM-DD&to=YYYY-MM-DD; default the last 30 days ending today (org time)."""
    if today is None:
        today = datetime.now(ZoneInfo(org.timezone)).date()
    try:
        end = date.fromisoformat(raw_to) if raw_to else today
        start = date.fromisoformat(raw_from) if raw_from else end - timedelta(days=29)
    except (ValueError, OverflowError) as exc:  # OverflowError: to=0001-01-01 minus 29 days
        raise QueryError("dates must be YYYY-MM-DD", field="from") from exc
    if not (1970 <= start.year <= 2999 and 1970 <= end.year <= 2999):
        raise QueryError("dates must be between 1970 and 2999", field="from")
    if start > end:
        raise QueryError("from must not be after to", field="from")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise QueryError(f"the period can span at most {MAX_PERIOD_DAYS} days", field="to")
    return Period(start, end)


@dataclass
class SourceRow:
    key: str
    label: str
    kind: str  # ad / utm / organic
    leads: int = 0
    sales: int = 0
    revenue: Decimal = Decimal("0.00")


@dataclass
class Stats:
    period: Period
    currency: str
    leads: int = 0
    leads_by_source: dict[str, int] = field(default_factory=lambda: {
        "ad": 0, "utm": 0, "organic": 0})
    sales: int = 0
    revenue: Decimal = Decimal("0.00")
    converted_leads: int = 0
    rows: list[SourceRow] = field(default_factory=list)

    @property
    def conversion_rate(self) -> Decimal:
        if not self.leads:
            return Decimal("0")
        return (Decimal(self.converted_leads) * 100 / Decimal(self.leads)).quantize(Decimal("0.1"))


def _source_key(lead_source: str, source_id: str | None, campaign: str | None) -> tuple[str, str]:
    if lead_source == "ad":
        return "ad", f"ad:{source_id or '?'}"
    if lead_source == "utm":
        return "utm", f"utm:{campaign or '?'}"
    return "organic", "organic"


def compute_stats(org: Organization, period: Period) -> Stats:
    """Leads are tickets opened in the period (history imports excluded); sales are approved,
    not cancelled, decided in the period, in the organization's currency."""
    start, end = period.bounds(org)
    stats = Stats(period=period, currency=org.currency)
    rows: dict[str, SourceRow] = {}
    lead_stmt = (
        select(Ticket.lead_source, Ticket.source_id, Ticket.utm_campaign,
               func.max(Ticket.ad_headline), func.count(Ticket.id))
        .where(Ticket.organization_id == org.id, Ticket.imported.is_(False),
               Ticket.created_at >= start, Ticket.created_at < end)
        .group_by(Ticket.lead_source, Ticket.source_id, Ticket.utm_campaign)
    )
    for lead_source, source_id, campaign, headline, count in db.session.execute(lead_stmt):
        kind, key = _source_key(lead_source, source_id, campaign)
        row = rows.setdefault(key, SourceRow(key, _label(kind, source_id, campaign, headline),
                                             kind))
        row.leads += count
        stats.leads += count
        stats.leads_by_source[kind] = stats.leads_by_source.get(kind, 0) + count
    _add_sales(org, start, end, stats, rows)
    _count_converted(org, start, end, stats)
    stats.rows = sorted(rows.values(), key=lambda r: (-r.revenue, -r.leads, r.label))
    return stats


def _label(kind: str, source_id: str | None, campaign: str | None, headline: str | None) -> str:
    if kind == "ad":
        return ad_label(headline, source_id)
    if kind == "utm":
        return campaign or "(sem campanha)"
    return "Orgânico"


def _add_sales(org: Organization, start: datetime, end: datetime, stats: Stats,
               rows: dict[str, SourceRow]) -> None:
    stmt = (
        select(Ticket.lead_source, Ticket.source_id, Ticket.utm_campaign,
               func.max(Ticket.ad_headline), func.count(Sale.id), func.sum(Sale.value))
        .join(Ticket, Ticket.id == Sale.ticket_id)
        .where(Sale.organization_id == org.id, Sale.status == "approved",
               Sale.cancelled_at.is_(None), Sale.currency == org.currency,
               Sale.decided_at >= start, Sale.decided_at < end)
        .group_by(Ticket.lead_source, Ticket.source_id, Ticket.utm_campaign)
    )
    for lead_source, source_id, campaign, headline, count, total in db.session.execute(stmt):
        kind, key = _source_key(lead_source, source_id, campaign)
        row = rows.setdefault(key, SourceRow(key, _label(kind, source_id, campaign, headline),
                                             kind))
        row.sales += count
        row.revenue += total or Decimal("0")
        stats.sales += count
        stats.revenue += total or Decimal("0")


def _count_converted(org: Organization, start: datetime, end: datetime, stats: Stats) -> None:
    """Leads of the period that have at least one counting sale (at any time)."""
    stmt = (
        select(func.count(func.distinct(Ticket.id)))
        .join(Sale, Sale.ticket_id == Ticket.id)
        .where(Ticket.organization_id == org.id, Ticket.imported.is_(False),
               Ticket.created_at >= start, Ticket.created_at < end,
               Sale.status == "approved", Sale.cancelled_at.is_(None))
    )
    stats.converted_leads = db.session.scalar(stmt) or 0


def stats_json(stats: Stats) -> dict:
    return {
        "from": stats.period.start.isoformat(),
        "to": stats.period.end.isoformat(),
        "currency": stats.currency,
        "leads": stats.leads,
        "leads_by_source": stats.leads_by_source,
        "sales": stats.sales,
        "revenue": str(stats.revenue.quantize(Decimal("0.01"))),
        "conversion_rate": str(stats.conversion_rate),
        "by_source": [
            {"key": r.key, "label": r.label, "kind": r.kind, "leads": r.leads,
             "sales": r.sales, "revenue": str(r.revenue.quantize(Decimal("0.01")))}
            for r in stats.rows
        ],
    }
