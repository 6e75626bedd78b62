"""What the copilot shows: an organization's settings, its proposals, badges per ticket."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from whatrack.errors import QueryError
from whatrack.extensions import db
from whatrack.models import CopilotSettings, Message, Organization, Sale, Ticket
from whatrack.models.copilot import COPILOT_DETECTORS
from whatrack.services.tickets.queries import parse_id

DEFAULT_PAGE = 50
MAX_PAGE = 200


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    detector: str = "builtin"


def llm_configured() -> bool:
    """The deployment has an LLM endpoint (LLM_BASE_URL and LLM_MODEL)."""
    return bool(current_app.config.get("LLM_BASE_URL") and current_app.config.get("LLM_MODEL"))


def settings_of(org: Organization) -> Settings:
    """On, with the built-in detector, unless the organization chose otherwise."""
    row = db.session.scalars(
        select(CopilotSettings).where(CopilotSettings.organization_id == org.id)).first()
    if row is None:
        return Settings()
    detector = row.detector if row.detector in COPILOT_DETECTORS else "builtin"
    return Settings(enabled=row.enabled, detector=detector)


@dataclass(frozen=True)
class Page:
    items: list[Sale]
    next_cursor: str | None


def _cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        decoded = base64.urlsafe_b64decode(raw.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise QueryError("invalid cursor", field="cursor") from exc
    return parse_id(decoded, "cursor", "invalid cursor")


def list_sales(org: Organization, status: str | None = None, cursor: str | None = None,
               limit: int = DEFAULT_PAGE) -> Page:
    """Sales newest first, optionally by status (proposed / approved / rejected)."""
    if status is not None and status not in ("proposed", "approved", "rejected"):
        raise QueryError("status must be proposed, approved or rejected", field="status")
    stmt = (select(Sale).options(joinedload(Sale.ticket).joinedload(Ticket.contact))
            .where(Sale.organization_id == org.id).order_by(Sale.id.desc()).limit(limit + 1))
    if status:
        stmt = stmt.where(Sale.status == status)
    after = _cursor(cursor)
    if after is not None:
        stmt = stmt.where(Sale.id < after)
    items = list(db.session.scalars(stmt).unique())
    more = len(items) > limit
    items = items[:limit]
    next_cursor = (base64.urlsafe_b64encode(str(items[-1].id).encode()).decode()
                   if more and items else None)
    return Page(items=items, next_cursor=next_cursor)


def pending_count(org: Organization) -> int:
    stmt = select(func.count(Sale.id)).where(Sale.organization_id == org.id,
                                             Sale.status == "proposed")
    return db.session.scalar(stmt) or 0


def pending_by_ticket(org: Organization, ticket_ids: list[int]) -> dict[int, int]:
    """Proposals waiting per ticket, for the Kanban badges (one query for the whole board)."""
    if not ticket_ids:
        return {}
    stmt = (select(Sale.ticket_id, func.count(Sale.id))
            .where(Sale.organization_id == org.id, Sale.status == "proposed",
                   Sale.ticket_id.in_(ticket_ids))
            .group_by(Sale.ticket_id))
    return {ticket_id: count for ticket_id, count in db.session.execute(stmt)}


def evidence_messages(org: Organization, sales: list[Sale]) -> dict[int, list[Message]]:
    """The messages each proposal cites, oldest first (one query for the panel)."""
    wanted = {i for sale in sales for i in sale.evidence_message_ids}
    if not wanted:
        return {}
    stmt = select(Message).where(Message.organization_id == org.id, Message.id.in_(wanted))
    by_id = {m.id: m for m in db.session.scalars(stmt)}
    return {sale.id: [by_id[i] for i in sorted(sale.evidence_message_ids) if i in by_id]
            for sale in sales}
