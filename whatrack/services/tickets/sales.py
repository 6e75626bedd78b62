"""Sales on tickets: closing, approving AI proposals, cancelling. Exact money, full ledger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from whatrack.errors import ConflictError, NotFound, ValidationError
from whatrack.extensions import db
from whatrack.models import Organization, Sale, SaleEvent, Stage, Ticket, User, utcnow
from whatrack.realtime.events import publish_after_commit
from whatrack.services.conversions import commands as conversions
from whatrack.services.tickets import commands as ticket_service
from whatrack.services.tickets.stages import active_stages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SaleInput:
    value: Decimal
    currency: str = "BRL"
    description: str | None = None


def won_stage(org: Organization) -> Stage:
    stage = next((s for s in active_stages(org) if s.kind == "won"), None)
    if stage is None:
        raise ValidationError(_("Create a stage of kind 'won' first."))
    return stage


def _log(org: Organization, sale: Sale, action: str, user: User | None,
         note: str | None = None) -> None:
    db.session.add(SaleEvent(organization_id=org.id, sale_id=sale.id, action=action,
                             user_id=user.id if user else None, note=note))


def _new_sale(org: Organization, ticket: Ticket, data: SaleInput, origin: str,
              user: User | None, status: str) -> Sale:
    sale = Sale(organization_id=org.id, ticket_id=ticket.id, contact_id=ticket.contact_id,
                value=data.value, currency=data.currency,
                description=(data.description or "").strip()[:500] or None,
                origin=origin, status=status, created_by_id=user.id if user else None)
    db.session.add(sale)
    db.session.flush()
    _log(org, sale, status, user)
    return sale


def _approve(org: Organization, ticket: Ticket, sale: Sale, user: User | None) -> None:
    sale.status, sale.decided_at = "approved", utcnow()
    sale.decided_by_id = user.id if user else None
    stage = won_stage(org)
    if ticket.stage_id != stage.id:
        ticket_service.move_ticket(org, ticket, stage, user)
    ticket.version += 1
    conversions.record_purchase(org, sale)
    publish_after_commit(org.id, "sale.approved", {"ticket_id": ticket.id, "sale_id": sale.id,
                                                   "value": str(sale.value)})


def close_sale(org: Organization, ticket_id: int, data: SaleInput, origin: str,
               user: User | None, seen_version: int | None = None) -> Sale:
    """Record an approved sale and move the ticket to the won stage, in one transaction.

    The ticket row is locked and the version the person saw is checked, so two people
    closing the same ticket at once make one sale; the second gets a conflict. A proposal
    of the same value waiting on the ticket (Meta's detection first) is approved instead:
    it is the same sale, and counting it twice would lie to Meta.
    """
    ticket = ticket_service.lock_ticket(org, ticket_id)
    ticket_service.check_version(ticket, seen_version)
    pending = matching_proposal(org, ticket, data.value, data.currency)
    if pending is not None:
        log.info("sale on ticket %s approves proposal %s (%s)", ticket.id, pending.id,
                 pending.origin)
        return approve_sale(org, pending.id, user, description=data.description)
    sale = _new_sale(org, ticket, data, origin, user, "approved")
    _approve(org, ticket, sale, user)
    db.session.flush()
    log.info("sale %s approved on ticket %s (%s)", sale.id, ticket.id, origin)
    return sale


def matching_proposal(org: Organization, ticket: Ticket, value: Decimal,
                      currency: str) -> Sale | None:
    """A waiting proposal of this value on the ticket, Meta's detection before ours."""
    stmt = (select(Sale).where(Sale.organization_id == org.id, Sale.ticket_id == ticket.id,
                               Sale.status == "proposed", Sale.value == value,
                               Sale.currency == currency)
            .order_by((Sale.origin == "meta").desc(), Sale.id))
    return db.session.scalars(stmt).first()


def propose_sale(org: Organization, ticket: Ticket, data: SaleInput, origin: str = "copilot",
                 confidence: Decimal | None = None, reason: str | None = None,
                 evidence: dict | None = None) -> Sale:
    """A suggestion (copilot or Meta) waiting for a person; it counts for nothing until
    approved, and nothing about it reaches the customer or Meta."""
    sale = _new_sale(org, ticket, data, origin, None, "proposed")
    sale.evidence, sale.confidence = evidence, confidence
    sale.proposal_reason = (reason or "").strip()[:500] or None
    publish_after_commit(org.id, "sale.proposed", {"ticket_id": ticket.id, "sale_id": sale.id})
    publish_after_commit(org.id, "ticket.updated", {"ticket_id": ticket.id})
    return sale


def _lock_sale(org: Organization, sale_id: int) -> Sale:
    stmt = select(Sale).where(Sale.id == sale_id, Sale.organization_id == org.id)
    sale = db.session.scalars(stmt.with_for_update()).first()
    if sale is None:
        raise NotFound()
    return sale


def approve_sale(org: Organization, sale_id: int, user: User | None,
                 value: Decimal | None = None, description: str | None = None) -> Sale:
    """A person confirms a proposal (optionally correcting the value): from here on it is
    a sale like a manual one, with its Purchase event."""
    # The ticket first, then the sale: the order close_sale takes them in.
    ticket_id = db.session.scalar(select(Sale.ticket_id).where(
        Sale.id == sale_id, Sale.organization_id == org.id))
    if ticket_id is None:
        raise NotFound()
    ticket = ticket_service.lock_ticket(org, ticket_id)
    sale = _lock_sale(org, sale_id)
    if sale.status != "proposed":
        raise ConflictError(_("This sale was already decided."))
    if value is not None and value != sale.value:
        _log(org, sale, "corrected", user, note=f"{sale.value} -> {value}")
        sale.value = value
    if description and not sale.description:
        sale.description = description.strip()[:500] or None
    _approve(org, ticket, sale, user)
    _log(org, sale, "approved", user)
    _settle_duplicates(org, ticket, sale, user)
    db.session.flush()
    log.info("proposal %s (%s) approved on ticket %s", sale.id, sale.origin, ticket.id)
    return sale


def _settle_duplicates(org: Organization, ticket: Ticket, approved: Sale,
                       user: User | None) -> None:
    """Other proposals of the same value on the ticket were the same sale: closed, kept."""
    stmt = select(Sale).where(Sale.organization_id == org.id, Sale.ticket_id == ticket.id,
                              Sale.status == "proposed", Sale.value == approved.value,
                              Sale.id != approved.id)
    for other in db.session.scalars(stmt):
        note = f"duplicate of sale {approved.id}"
        other.status, other.decided_at = "rejected", utcnow()
        other.decided_by_id, other.decision_note = (user.id if user else None), note
        _log(org, other, "rejected", user, note=note)


def reject_sale(org: Organization, sale_id: int, user: User | None,
                reason: str | None = None) -> Sale:
    """A person turns a proposal down; it stays, with who and why, and its messages never
    propose again (copilot/review.py)."""
    sale = _lock_sale(org, sale_id)
    if sale.status != "proposed":
        raise ConflictError(_("This sale was already decided."))
    note = (reason or "").strip()[:500] or None
    sale.status, sale.decided_at = "rejected", utcnow()
    sale.decided_by_id, sale.decision_note = (user.id if user else None), note
    _log(org, sale, "rejected", user, note=note)
    db.session.flush()
    publish_after_commit(org.id, "ticket.updated", {"ticket_id": sale.ticket_id})
    return sale


def cancel_sale(org: Organization, sale_id: int, user: User, reason: str) -> Sale:
    """Admins undo a mistaken sale; it is kept, marked, and no longer counts as revenue."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why the sale is cancelled."), field="reason")
    sale = _lock_sale(org, sale_id)
    if sale.status != "approved" or sale.cancelled_at is not None:
        raise ConflictError(_("Only approved sales can be cancelled."))
    sale.cancelled_at, sale.cancelled_by_id, sale.cancel_reason = utcnow(), user.id, reason[:500]
    _log(org, sale, "cancelled", user, note=reason[:500])
    ticket = db.session.get(Ticket, sale.ticket_id)
    ticket_service.record_event(org, ticket, "sale_cancelled", user, sale_id=sale.id)
    db.session.flush()
    conversions.record_cancellation(org, sale)
    return sale


def ticket_sales(org: Organization, ticket: Ticket) -> list[Sale]:
    stmt = select(Sale).where(Sale.ticket_id == ticket.id).order_by(Sale.id.desc())
    return list(db.session.scalars(stmt))
