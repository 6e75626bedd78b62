"""Reading tickets and their messages page by page (constant queries per page)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from whatrack.errors import QueryError
from whatrack.extensions import db
from whatrack.models import Message, Organization, Ticket
from whatrack.models.base import MAX_DB_ID

DEFAULT_PAGE = 50
MAX_PAGE = 200
TICKET_STATUSES = ("open", "closed")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def page_size(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_PAGE
    try:
        value = int(raw)
    except ValueError as exc:
        raise QueryError("limit must be an integer", field="limit") from exc
    if not 1 <= value <= MAX_PAGE:
        raise QueryError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    return value


def source_condition(source: str | None) -> Any:
    """The filter for a lead source of the shared vocabulary; ``ad`` means every ad lead.

    None for an empty or unknown value (no filter), so a stale link never empties a list.
    """
    if source == "ad":
        return Ticket.lead_source == "ad"
    if source == "ad_no_click":
        return and_(Ticket.lead_source == "ad", Ticket.ctwa_clid.is_(None))
    if source == "link":
        return Ticket.lead_source == "link"
    if source == "organic":
        return Ticket.lead_source.not_in(("ad", "link"))
    return None


def parse_id(raw: str | None, field: str, message: str) -> int | None:
    """A row id from a query argument: ASCII digits within the database's integer range.

    ``str.isdigit`` alone accepts "²" (int() then fails) and any length (the database then
    overflows); both must be a 400, never a 500.
    """
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_DB_ID:
        raise QueryError(message, field=field)
    return int(raw)


def parse_status(raw: str | None) -> str | None:
    if raw in (None, ""):
        return None
    if raw not in TICKET_STATUSES:
        raise QueryError("status must be open or closed", field="status")
    return raw


def _activity():
    return func.coalesce(Ticket.last_message_at, Ticket.created_at)


def _encode(when: datetime, ident: int) -> str:
    return base64.urlsafe_b64encode(f"{when.isoformat()}|{ident}".encode()).decode()


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw_when, raw_ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        when = datetime.fromisoformat(raw_when)
    except (ValueError, UnicodeError) as exc:
        raise QueryError("invalid cursor", field="cursor") from exc
    # A naive time cannot be compared with the timestamptz column, and an id past the
    # integer range overflows it: cursors are only ever ones we issued, so refuse both.
    if when.tzinfo is None or when.utcoffset() is None:
        raise QueryError("invalid cursor", field="cursor")
    return when, parse_id(raw_ident, "cursor", "invalid cursor") or 0


def list_tickets(org: Organization, cursor: str | None = None, limit: int = DEFAULT_PAGE,
                 status: str | None = None) -> Page:
    """Newest activity first; contacts, stages and assignees loaded in the same query."""
    activity = _activity()
    stmt = (
        select(Ticket, activity)
        .options(joinedload(Ticket.contact), joinedload(Ticket.stage),
                 joinedload(Ticket.assignee))
        .where(Ticket.organization_id == org.id)
        .order_by(activity.desc(), Ticket.id.desc())
        .limit(limit + 1)
    )
    status = parse_status(status)
    if status == "open":
        stmt = stmt.where(Ticket.closed_at.is_(None))
    elif status == "closed":
        stmt = stmt.where(Ticket.closed_at.is_not(None))
    if cursor:
        when, ident = _decode(cursor)
        stmt = stmt.where(or_(activity < when, and_(activity == when, Ticket.id < ident)))
    rows = db.session.execute(stmt).unique().all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(rows[-1][1], rows[-1][0].id) if more and rows else None
    return Page(items=[row[0] for row in rows], next_cursor=next_cursor)


def list_messages(org: Organization, ticket: Ticket, after: int | None = None,
                  limit: int = DEFAULT_PAGE) -> Page:
    """Messages in arrival order; ``after`` (a message id) resumes after a dropped socket."""
    stmt = (
        select(Message)
        .where(Message.organization_id == org.id, Message.ticket_id == ticket.id)
        .order_by(Message.id)
        .limit(limit + 1)
    )
    if after is not None:
        stmt = stmt.where(Message.id > after)
    items = list(db.session.scalars(stmt))
    more = len(items) > limit
    items = items[:limit]
    return Page(items=items, next_cursor=str(items[-1].id) if more and items else None)
