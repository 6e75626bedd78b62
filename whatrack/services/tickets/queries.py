"""Reading tickets and their messages page by page (constant queries per page)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.models import Message, Organization, Ticket

DEFAULT_PAGE = 50
MAX_PAGE = 200


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
        raise ValidationError("limit must be an integer", field="limit") from exc
    if not 1 <= value <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    return value


def _activity():
    return func.coalesce(Ticket.last_message_at, Ticket.created_at)


def _encode(when: datetime, ident: int) -> str:
    return base64.urlsafe_b64encode(f"{when.isoformat()}|{ident}".encode()).decode()


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        when, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(when), int(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("invalid cursor", field="cursor") from exc


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
