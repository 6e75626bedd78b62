"""Meta's automatic_events webhooks: purchases Meta itself detected in a CTWA conversation.

Each one becomes a proposal (origin "meta") that a person approves or rejects, never
approved automatically. Approving it re-reports Meta's detection through the Conversions
API (conversions/commands.py, trigger "automatic_event"), so Meta links our event to its own.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from whatrack.extensions import db
from whatrack.integrations.meta.webhook.types import OtherChange
from whatrack.models import Message, Organization, Sale, Ticket, utcnow
from whatrack.services.copilot.review import blocked_by
from whatrack.services.tickets import sales as sales_service

log = logging.getLogger(__name__)

MAX_VALUE = Decimal("10000000")
REASON = "A Meta detectou uma compra nesta conversa (evento automático do WhatsApp)."


def _value(custom: dict[str, Any]) -> Decimal | None:
    raw = custom.get("value")
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value > MAX_VALUE:
        return None
    return value.quantize(Decimal("0.01"))


def _ticket_for(org: Organization, wamid: str | None, clid: str | None
                ) -> tuple[Ticket | None, Message | None]:
    if wamid:
        message = db.session.scalars(select(Message).where(
            Message.organization_id == org.id, Message.wamid == wamid)).first()
        if message is not None:
            return db.session.get(Ticket, message.ticket_id), message
    if clid:
        ticket = db.session.scalars(select(Ticket).where(
            Ticket.organization_id == org.id, Ticket.ctwa_clid == clid)
            .order_by(Ticket.id.desc())).first()
        return ticket, None
    return None, None


def receive_automatic_events(org: Organization, change: OtherChange) -> list[Sale]:
    """Proposals for the Purchase events of one automatic_events change; the rest logged."""
    created = []
    for item in (change.value or {}).get("automatic_events") or []:
        if not isinstance(item, dict):
            log.warning("automatic_events: item is not an object: %r", item)
            continue
        sale = _receive(org, item)
        if sale is not None:
            created.append(sale)
    return created


def _receive(org: Organization, item: dict[str, Any]) -> Sale | None:
    name, wamid, clid = item.get("event_name"), item.get("id"), item.get("ctwa_clid")
    if name != "Purchase":
        # Our own lead event already reports leads (conversions/commands.py record_lead).
        log.info("automatic event %s on %s noted, nothing to propose", name, wamid)
        return None
    custom = item.get("custom_data") if isinstance(item.get("custom_data"), dict) else {}
    value = _value(custom)
    currency = custom.get("currency") if isinstance(custom.get("currency"), str) else None
    if value is None or not currency or len(currency) != 3:
        log.warning("automatic Purchase %s has no usable value/currency (%r): not proposed",
                    wamid, custom)
        return None
    ticket, message = _ticket_for(org, wamid if isinstance(wamid, str) else None,
                                  clid if isinstance(clid, str) else None)
    if ticket is None:
        log.warning("automatic Purchase %s matches no conversation of org %s: not proposed",
                    wamid, org.id)
        return None
    sales = list(db.session.scalars(select(Sale).where(Sale.ticket_id == ticket.id)))
    if any((s.automatic_event or {}).get("id") == wamid for s in sales):
        return None  # the same detection delivered again
    # A copilot proposal of the same value may wait: approving either one settles both
    # (tickets/sales.py), and Meta's carries the detection to re-report.
    blocked = blocked_by([s for s in sales if s.status != "proposed"], value, utcnow())
    if blocked:
        log.info("automatic Purchase %s on ticket %s not proposed: %s", wamid, ticket.id, blocked)
        return None
    event = {"id": wamid, "event_name": name, "ctwa_clid": clid or ticket.ctwa_clid,
             "timestamp": item.get("timestamp"), "value": str(value), "currency": currency.upper()}
    return sales_service.propose_sale(
        org, ticket, sales_service.SaleInput(value=value, currency=currency.upper()),
        origin="meta", confidence=None, reason=REASON,
        evidence={"message_ids": [message.id] if message else [], "detector": "meta",
                  "automatic_event": event})
