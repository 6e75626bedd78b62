"""The Kanban's data: every column's cards in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select, union, union_all
from sqlalchemy.orm import joinedload

from whatrack.extensions import db
from whatrack.models import Organization, Sale, Stage, Ticket, User, utcnow
from whatrack.services.copilot import queries as copilot_queries
from whatrack.services.tickets.queries import source_condition
from whatrack.services.tickets.search import ticket_matches
from whatrack.services.tickets.stages import active_stages

CLOSED_WINDOW_DAYS = 30
# A column shows its newest cards; "Show more" fetches the next page (D48).
COLUMN_PAGE = 12
# Column totals stop counting here (shown "199+"): a count must not read 100k rows.
COUNT_CAP = 200


@dataclass(frozen=True)
class BoardFilters:
    assignee: str | None = None  # user id, "me" or "none"
    source: str | None = None  # ad / ad_no_click / link / organic
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None


@dataclass
class Column:
    stage: Stage
    tickets: list[Ticket] = field(default_factory=list)
    # Cards in the column under the filters, counted up to COUNT_CAP (then shown "199+").
    total: int = 0
    # Where the next page of this column starts (None: every card is on screen).
    next_cursor: str | None = None

    @property
    def capped(self) -> bool:
        return self.total >= COUNT_CAP


@dataclass
class Board:
    columns: list[Column]
    won_values: dict[int, dict[str, Decimal]]
    # Sale proposals waiting per ticket (the card's "para aprovar" badge).
    proposals: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(c.total for c in self.columns)


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
    condition = source_condition(filters.source)
    if condition is not None:
        stmt = stmt.where(condition)
    if filters.date_from:
        stmt = stmt.where(Ticket.created_at >= local_day_bounds(org, filters.date_from))
    if filters.date_to:
        stmt = stmt.where(Ticket.created_at < local_day_bounds(org, filters.date_to, end=True))
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


def _activity():
    """The board's order: last message, else creation (ix_tickets_board_column)."""
    return func.coalesce(Ticket.last_message_at, Ticket.created_at)


def _on_board(org: Organization, filters: BoardFilters, me: User | None, *what):
    """``what`` over the tickets the board shows: open ones, and won/lost ones closed in
    the last 30 days."""
    closed_since = utcnow() - timedelta(days=CLOSED_WINDOW_DAYS)
    stmt = (select(*what)
            .where(Ticket.organization_id == org.id, Ticket.imported.is_(False))
            .where(or_(Ticket.closed_at.is_(None), Ticket.closed_at >= closed_since)))
    return _filtered(stmt, org, filters, me)


@dataclass(frozen=True)
class _Cards:
    """Where the columns read their cards from: the ids with the board's filters applied,
    and the columns to split, order and page them by."""
    ids: Select
    id: Any
    stage_id: Any
    activity: Any


def _cards(org: Organization, filters: BoardFilters, me: User | None) -> _Cards:
    if not (filters.q and filters.q.strip()):
        return _Cards(_on_board(org, filters, me, Ticket.id), Ticket.id, Ticket.stage_id,
                      _activity())
    # A search reads the board's matching tickets once into a CTE, the UNION of one read
    # per place the term can match (names or number, ad headline), and splits that into
    # columns: filtering each of the 2 x stages column subqueries on the hits instead looked
    # the 5,000 hits of a common first name up 10 times, ~290 ms (D54).
    hits = union(*(_on_board(org, filters, me, Ticket.id, Ticket.stage_id,
                             _activity().label("activity")).where(condition)
                   for condition in ticket_matches(org.id, filters.q, headlines=True))
                 ).cte("board_hits")
    return _Cards(select(hits.c.id), hits.c.id, hits.c.stage_id, hits.c.activity)


def encode_cursor(ticket: Ticket) -> str:
    moment = ticket.last_message_at or ticket.created_at
    return f"{int(moment.timestamp() * 1_000_000)}.{ticket.id}"


def decode_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """``(activity, ticket id)`` of the last card shown; None for a bad or absent one."""
    try:
        micros, ident = (raw or "").split(".", 1)
        moment, ticket_id = datetime.fromtimestamp(int(micros) / 1_000_000, UTC), int(ident)
    except (ValueError, OverflowError, OSError):
        return None
    return (moment, ticket_id) if 0 < ticket_id < 2**63 else None  # a bigint, or nothing


def _column_ids(cards: _Cards, stage: Stage, after: tuple[datetime, int] | None):
    """The ids of one column's next page (one more than shown: is there a next page?)."""
    stmt = cards.ids.where(cards.stage_id == stage.id)
    if after is not None:
        moment, ident = after
        stmt = stmt.where(or_(cards.activity < moment, and_(cards.activity == moment,
                                                            cards.id < ident)))
    # Wrapped: SQLite refuses a LIMIT inside a bare UNION member.
    page = stmt.order_by(cards.activity.desc(), cards.id.desc()).limit(COLUMN_PAGE + 1)
    wrapped = page.subquery()
    return select(wrapped.c.id)


def _column_count(cards: _Cards, stage: Stage):
    # In the index's order: the planner walks the column's end of ix_tickets_board_column
    # and stops at the cap instead of filtering the whole table.
    capped = (cards.ids.where(cards.stage_id == stage.id)
              .order_by(cards.activity.desc(), cards.id.desc()).limit(COUNT_CAP))
    return (select(func.count()).select_from(capped.subquery())
            .scalar_subquery().label(f"total_{stage.id}"))


def _pages(org: Organization, stages: list[Stage], filters: BoardFilters, me: User | None,
           after: tuple[datetime, int] | None = None) -> tuple[list[Any], list[int]]:
    """Every column's page in ONE statement: the cards with their contact, assignee, link,
    ad, pending proposals and (capped) column totals riding along."""
    proposals = (select(func.count(Sale.id))
                 .where(Sale.organization_id == org.id, Sale.ticket_id == Ticket.id,
                        Sale.status == "proposed")
                 .correlate(Ticket).scalar_subquery())
    won = (select(func.sum(Sale.value))
           .where(Sale.organization_id == org.id, Sale.ticket_id == Ticket.id,
                  Sale.status == "approved", Sale.cancelled_at.is_(None),
                  Sale.currency == org.currency)
           .correlate(Ticket).scalar_subquery())
    cards = _cards(org, filters, me)
    ids = union_all(*(_column_ids(cards, s, after) for s in stages))
    stmt = (
        select(Ticket, proposals, won, *(_column_count(cards, s) for s in stages))
        .options(joinedload(Ticket.contact), joinedload(Ticket.assignee),
                 joinedload(Ticket.tracking_link), joinedload(Ticket.ad))
        .where(Ticket.organization_id == org.id, Ticket.id.in_(ids))
        .order_by(_activity().desc(), Ticket.id.desc())
    )
    rows = list(db.session.execute(stmt).unique())
    return rows, (list(rows[0][3:]) if rows else [0] * len(stages))


def _columns(stages: list[Stage], rows: list[Any], totals: list[int]) -> list[Column]:
    columns = {stage.id: Column(stage, total=total or 0)
               for stage, total in zip(stages, totals, strict=True)}
    for row in rows:
        column = columns.get(row[0].stage_id)
        if column is not None:
            column.tickets.append(row[0])
    for column in columns.values():
        if len(column.tickets) > COLUMN_PAGE:
            column.tickets = column.tickets[:COLUMN_PAGE]
            column.next_cursor = encode_cursor(column.tickets[-1])
    return list(columns.values())


def load_board(org: Organization, filters: BoardFilters, me: User | None = None) -> Board:
    """The first page of every column (the newest COLUMN_PAGE cards) and their totals:
    two statements whatever the number of tickets (D48)."""
    stages = active_stages(org)
    rows, totals = _pages(org, stages, filters, me) if stages else ([], [])
    return _board(org, stages, rows, totals)


def load_column(org: Organization, stage: Stage, filters: BoardFilters, me: User | None,
                after: str | None) -> Board:
    """The next page of one column, after the card ``after`` (a cursor the board gave)."""
    rows, totals = _pages(org, [stage], filters, me, decode_cursor(after))
    return _board(org, [stage], rows, totals)


def _board(org: Organization, stages: list[Stage], rows: list[Any],
           totals: list[int]) -> Board:
    columns = _columns(stages, rows, totals)
    won_stages = {c.stage.id for c in columns if c.stage.kind == "won"}
    return Board(columns=columns,
                 won_values={row[0].id: {org.currency: row[2]} for row in rows
                             if row[2] is not None and row[0].stage_id in won_stages},
                 proposals={row[0].id: row[1] for row in rows if row[1]})


def ticket_card(org: Organization, ticket: Ticket) -> tuple[Ticket, dict[str, Decimal]]:
    return ticket, _won_values([ticket.id]).get(ticket.id, {})


def ticket_proposals(org: Organization, ticket: Ticket) -> int:
    return copilot_queries.pending_by_ticket(org, [ticket.id]).get(ticket.id, 0)
