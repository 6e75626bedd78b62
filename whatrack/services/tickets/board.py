"""The Kanban's data: every column's cards in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from whatrack.extensions import db
from whatrack.models import Contact, Organization, Sale, Stage, Ticket, User, utcnow
from whatrack.services.copilot import queries as copilot_queries
from whatrack.services.tickets.stages import active_stages

CLOSED_WINDOW_DAYS = 30


@dataclass(frozen=True)
class BoardFilters:
    assignee: str | None = None  # user id, "me" or "none"
    source: str | None = None  # ad / utm / organic
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None


@dataclass
class Column:
    stage: Stage
    tickets: list[Ticket] = field(default_factory=list)


@dataclass
class Board:
    columns: list[Column]
    won_values: dict[int, dict[str, Decimal]]
    # Sale proposals waiting per ticket (the card's "para aprovar" badge).
    proposals: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(c.tickets) for c in self.columns)


def local_day_bounds(org: Organization, day: date, end: bool = False) -> datetime:
    """Midnight of ``day`` in the organization's timezone, as an aware datetime."""
    moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
    return moment.replace(tzinfo=ZoneInfo(org.timezone))


def _filtered(stmt, org: Organization, filters: BoardFilters, me: User | None):
    if filters.assignee == "me" and me is not None:
        stmt = stmt.where(Ticket.assignee_id == me.id)
    elif filters.assignee == "none":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif filters.assignee and filters.assignee.isdigit():
        stmt = stmt.where(Ticket.assignee_id == int(filters.assignee))
    if filters.source in ("ad", "utm", "organic"):
        stmt = stmt.where(Ticket.lead_source == filters.source)
    if filters.date_from:
        stmt = stmt.where(Ticket.created_at >= local_day_bounds(org, filters.date_from))
    if filters.date_to:
        stmt = stmt.where(Ticket.created_at < local_day_bounds(org, filters.date_to, end=True))
    if filters.q:
        term = f"%{filters.q.strip()[:80]}%"
        stmt = stmt.join(Contact, Contact.id == Ticket.contact_id).where(or_(
            Contact.profile_name.ilike(term), Contact.saved_name.ilike(term),
            Contact.wa_id.ilike(term), Ticket.ad_headline.ilike(term)))
    return stmt


def _won_values(ticket_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    if not ticket_ids:
        return {}
    stmt = (
        select(Sale.ticket_id, Sale.currency, func.sum(Sale.value))
        .where(Sale.ticket_id.in_(ticket_ids), Sale.status == "approved",
               Sale.cancelled_at.is_(None))
        .group_by(Sale.ticket_id, Sale.currency)
    )
    values: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for ticket_id, currency, total in db.session.execute(stmt):
        values[ticket_id][currency] = total
    return values


def load_board(org: Organization, filters: BoardFilters, me: User | None = None) -> Board:
    """Open tickets in open stages; won/lost tickets closed in the last 30 days."""
    stages = active_stages(org)
    closed_since = utcnow() - timedelta(days=CLOSED_WINDOW_DAYS)
    stmt = (
        select(Ticket)
        .options(joinedload(Ticket.contact), joinedload(Ticket.assignee))
        .where(Ticket.organization_id == org.id, Ticket.imported.is_(False))
        .where(or_(Ticket.closed_at.is_(None), Ticket.closed_at >= closed_since))
        .order_by(func.coalesce(Ticket.last_message_at, Ticket.created_at).desc(),
                  Ticket.id.desc())
    )
    tickets = list(db.session.scalars(_filtered(stmt, org, filters, me)).unique())
    columns = {stage.id: Column(stage) for stage in stages}
    for ticket in tickets:
        column = columns.get(ticket.stage_id)
        if column is not None:
            column.tickets.append(ticket)
    won_ids = [t.id for c in columns.values() if c.stage.kind == "won" for t in c.tickets]
    return Board(columns=list(columns.values()), won_values=_won_values(won_ids),
                 proposals=copilot_queries.pending_by_ticket(org, [t.id for t in tickets]))


def ticket_card(org: Organization, ticket: Ticket) -> tuple[Ticket, dict[str, Decimal]]:
    return ticket, _won_values([ticket.id]).get(ticket.id, {})


def ticket_proposals(org: Organization, ticket: Ticket) -> int:
    return copilot_queries.pending_by_ticket(org, [ticket.id]).get(ticket.id, 0)
