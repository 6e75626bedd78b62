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
    closing the same ticket at once make one sale; the second gets a conflict.
    """
    ticket = ticket_service.lock_ticket(org, ticket_id)
    ticket_service.check_version(ticket, seen_version)
    sale = _new_sale(org, ticket, data, origin, user, "approved")
    _approve(org, ticket, sale, user)
    db.session.flush()
    log.info("sale %s approved on ticket %s (%s)", sale.id, ticket.id, origin)
    return sale


def propose_sale(org: Organization, ticket: Ticket, data: SaleInput,
                 evidence: dict | None = None) -> Sale:
    """A copilot suggestion waiting for a person; it counts for nothing until approved."""
    sale = _new_sale(org, ticket, data, "copilot", None, "proposed")
    sale.evidence = evidence
    publish_after_commit(org.id, "sale.proposed", {"ticket_id": ticket.id, "sale_id": sale.id})
    return sale


def _lock_sale(org: Organization, sale_id: int) -> Sale:
    stmt = select(Sale).where(Sale.id == sale_id, Sale.organization_id == org.id)
    sale = db.session.scalars(stmt.with_for_update()).first()
    if sale is None:
        raise NotFound()
    return sale


def approve_sale(org: Organization, sale_id: int, user: User,
                 value: Decimal | None = None) -> Sale:
    """A person confirms a proposal (optionally correcting the value)."""
    sale = _lock_sale(org, sale_id)
    if sale.status != "proposed":
        raise ConflictError(_("This sale was already decided."))
    ticket = ticket_service.lock_ticket(org, sale.ticket_id)
    if value is not None and value != sale.value:
        _log(org, sale, "corrected", user, note=f"{sale.value} -> {value}")
        sale.value = value
    _approve(org, ticket, sale, user)
    _log(org, sale, "approved", user)
    db.session.flush()
    return sale


def reject_sale(org: Organization, sale_id: int, user: User, reason: str | None = None) -> Sale:
    sale = _lock_sale(org, sale_id)
    if sale.status != "proposed":
        raise ConflictError(_("This sale was already decided."))
    sale.status, sale.decided_at, sale.decided_by_id = "rejected", utcnow(), user.id
    _log(org, sale, "rejected", user, note=reason)
    db.session.flush()
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
