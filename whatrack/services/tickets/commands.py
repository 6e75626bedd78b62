"""Moving tickets through the pipeline: stages, assignment, closing, notes, reading."""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from whatrack.errors import ConflictError, NotFound, ValidationError
from whatrack.extensions import db
from whatrack.models import Membership, Organization, Stage, Ticket, User, utcnow
from whatrack.models.base import MAX_DB_ID
from whatrack.models.tickets import TicketEvent, TicketNote
from whatrack.realtime.events import publish_after_commit
from whatrack.services.conversions import commands as conversions

log = logging.getLogger(__name__)

LOST_REASONS = ("price", "no_reply", "competitor", "not_interested", "no_availability", "other")


def lock_ticket(org: Organization, ticket_id: int) -> Ticket:
    """The ticket with its row locked until commit (serialises concurrent changes).

    Loaded here only, never by the caller first: one query, and the row is fresh.
    """
    if not -MAX_DB_ID <= ticket_id <= MAX_DB_ID:
        raise NotFound()
    stmt = select(Ticket).where(Ticket.id == ticket_id, Ticket.organization_id == org.id)
    ticket = db.session.scalars(
        stmt.with_for_update().execution_options(populate_existing=True)
    ).first()
    if ticket is None:
        raise NotFound()
    return ticket


def check_version(ticket: Ticket, seen_version: int | None) -> None:
    """Refuse a change made on a stale screen (someone else changed the ticket meanwhile)."""
    if seen_version is not None and seen_version != ticket.version:
        raise ConflictError(_("This ticket was changed by someone else. Review and try again."),
                            code="stale_ticket")


def record_event(org: Organization, ticket: Ticket, kind: str, user: User | None,
                 **data: Any) -> TicketEvent:
    event = TicketEvent(organization_id=org.id, ticket_id=ticket.id, kind=kind,
                        user_id=user.id if user else None, data=data or None)
    db.session.add(event)
    return event


def _changed(org: Organization, ticket: Ticket, kind: str) -> None:
    ticket.version += 1
    publish_after_commit(org.id, "ticket.updated", {
        "ticket_id": ticket.id, "stage_id": ticket.stage_id, "version": ticket.version,
        "change": kind})


def stage_of(org: Organization, stage_id: Any) -> Stage:
    stage = Stage.get_for_org(stage_id, org)
    if stage is None or stage.archived_at is not None:
        raise ValidationError(_("Unknown stage."), field="stage_id")
    return stage


def move_ticket(org: Organization, ticket: Ticket, stage: Stage, user: User | None, *,
                lost_reason: str | None = None, lost_note: str | None = None) -> Ticket:
    """Put ``ticket`` in ``stage``. Won and lost stages close it; open stages reopen it.

    Moving into a won stage without a sale is refused here: the sale is what makes a
    ticket won (services.sales.close_sale moves it).
    """
    if stage.kind == "lost":
        if lost_reason not in LOST_REASONS:
            raise ValidationError(_("Choose why the lead was lost."), field="lost_reason")
        ticket.lost_reason, ticket.lost_note = lost_reason, (lost_note or "").strip()[:500] or None
    if ticket.stage_id == stage.id:
        return ticket
    previous = ticket.stage_id
    ticket.stage_id = stage.id
    ticket.closed_at = utcnow() if stage.kind in ("won", "lost") else None
    if stage.kind == "open":
        ticket.lost_reason = ticket.lost_note = None
    record_event(org, ticket, "stage_changed", user, from_stage=previous, to_stage=stage.id,
                 lost_reason=ticket.lost_reason)
    _changed(org, ticket, "stage")
    conversions.on_stage_reached(org, ticket, stage)
    db.session.flush()
    log.info("ticket %s moved to stage %s", ticket.id, stage.id)
    return ticket


def member_of(org: Organization, user_id: Any) -> User:
    try:
        ident = int(user_id)
    except (TypeError, ValueError) as exc:
        raise ValidationError(_("Unknown team member."), field="assignee") from exc
    stmt = select(User).join(Membership, Membership.user_id == User.id).where(
        Membership.organization_id == org.id, User.id == ident)
    user = db.session.scalars(stmt).first()
    if user is None:
        raise ValidationError(_("Unknown team member."), field="assignee")
    return user


def assign_ticket(org: Organization, ticket: Ticket, assignee: User | None,
                  by: User | None) -> Ticket:
    """Give the ticket to a member of ``org`` (or to nobody)."""
    new_id = assignee.id if assignee else None
    if ticket.assignee_id == new_id:
        return ticket
    ticket.assignee_id = new_id
    record_event(org, ticket, "assigned", by, assignee=new_id)
    _changed(org, ticket, "assignee")
    db.session.flush()
    return ticket


def add_note(org: Organization, ticket: Ticket, user: User, body: str) -> TicketNote:
    body = (body or "").strip()
    if not body:
        raise ValidationError(_("The note is empty."), field="body")
    note = TicketNote(organization_id=org.id, ticket_id=ticket.id, user_id=user.id,
                      body=body[:5000])
    db.session.add(note)
    db.session.flush()
    return note


def mark_read(org: Organization, ticket: Ticket) -> None:
    if ticket.unread_count:
        ticket.unread_count = 0
        publish_after_commit(org.id, "ticket.read", {"ticket_id": ticket.id})
        db.session.flush()


def mark_unread(org: Organization, ticket: Ticket) -> None:
    """Flag the conversation for a second look (it counts as one unread message)."""
    if not ticket.unread_count:
        ticket.unread_count = 1
        publish_after_commit(org.id, "ticket.updated", {"ticket_id": ticket.id,
                                                        "change": "unread"})
        db.session.flush()


def ticket_notes(org: Organization, ticket: Ticket) -> list[TicketNote]:
    stmt = select(TicketNote).where(TicketNote.ticket_id == ticket.id).order_by(
        TicketNote.id.desc())
    return list(db.session.scalars(stmt))
