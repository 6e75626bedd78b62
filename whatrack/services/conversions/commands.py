"""Meta Conversions API events for sales and ad leads (the outbox).

The hooks run inside the transaction of the business change (sale approval, ticket
creation, stage move): the event row commits with it or not at all, and the dispatch
actor is enqueued only after the commit. Nothing is ever dropped silently: an event that
cannot go to Meta is recorded ``skipped`` with its reason, one that waits for a
connection stays ``pending`` with that reason.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from whatrack import queue
from whatrack.errors import ConflictError
from whatrack.extensions import db
from whatrack.integrations.meta import capi
from whatrack.models import MetaConnection, MetaConversionEvent, utcnow
from whatrack.models.base import dialect_insert

if TYPE_CHECKING:
    from whatrack.models import Organization, Sale, Stage, Ticket

log = logging.getLogger(__name__)

SKIPPING_CODES = frozenset({"no_click", "too_old", "sale_cancelled"})
CANCELLATION_EVENT = "OrderCanceled"
# The Purchase of an approved automatic-event proposal (Meta detected it first, 5.8).
AUTOMATIC_EVENT_TRIGGER = "automatic_event"  # Meta's name (business_messaging allows it, 5.4)
# Waiting on a person (connect, reconnect, choose a dataset): no automatic attempt is due.
WAITING_CODES = frozenset({"not_connected", "reconnect", "no_dataset"})


# --- the connection, as far as recording is concerned -----------------------------------


def connection_of(org: Organization) -> MetaConnection | None:
    stmt = select(MetaConnection).where(MetaConnection.organization_id == org.id)
    return db.session.scalars(stmt).first()


def waiting_reason(conn: MetaConnection | None) -> str | None:
    """Why nothing can be sent for the organization right now (None: events may go)."""
    if conn is None or not conn.connected:
        return "not_connected"
    if conn.needs_reconnect:
        return "reconnect"
    if not conn.dataset_id:
        return "no_dataset"
    return None


# --- recording (the four hooks) ----------------------------------------------------------


def make_event_id(org: Organization, kind: str, ident: int, event_name: str) -> str:
    """Stable for the same conversion, so retries and replays dedupe at Meta."""
    return f"whatrack:{org.id}:{kind}:{ident}:{event_name}"


def _record(org: Organization, ticket: Ticket, *, event_name: str, event_id: str, trigger: str,
            event_time: datetime, sale: Sale | None = None,
            ctwa_clid: str | None = None) -> int | None:
    """Insert the outbox row (once per event_id) and enqueue its dispatch after commit."""
    now = utcnow()
    values: dict[str, Any] = {
        "organization_id": org.id, "event_name": event_name, "event_id": event_id,
        "event_time": event_time, "ticket_id": ticket.id, "sale_id": sale.id if sale else None,
        "trigger": trigger, "value": sale.value if sale else None,
        "currency": sale.currency if sale else None, "created_at": now,
        "attempts": 0, "failures": 0, "status": "pending",
    }
    skip = None
    if not (ctwa_clid or ticket.ctwa_clid):
        skip = "no_click"
    elif event_time < now - capi.MAX_EVENT_AGE + capi.AGE_MARGIN:
        skip = "too_old"
    wait = waiting_reason(connection_of(org)) if skip is None else None
    if skip:
        values.update(status="skipped", reason_code=skip)
    else:
        values.update(reason_code=wait or "queued", next_attempt_at=None if wait else now)
    stmt = (dialect_insert(MetaConversionEvent).values(**values)
            .on_conflict_do_nothing(index_elements=["organization_id", "event_id"])
            .returning(MetaConversionEvent.id))
    new_id = db.session.execute(stmt).scalar_one_or_none()
    if new_id is None:
        return None  # this conversion was already recorded (same event_id)
    log.info("capi event %s (%s) recorded for ticket %s: %s", new_id, event_name, ticket.id,
             skip or wait or "queued")
    if not skip and not wait:
        enqueue_dispatch(org)
    return new_id


def enqueue_dispatch(org: Organization) -> None:
    queue.enqueue_after_commit("send_conversion_events", org.id)


def record_purchase(org: Organization, sale: Sale) -> None:
    """Queue the Purchase event of an approved sale (value and currency exact)."""
    ticket = sale.ticket
    detected = sale.automatic_event if sale.origin == "meta" else None
    # Approving Meta's own detection re-reports it (outcome_type automatic_events, its
    # click id, the person's value) so Meta links the two instead of counting twice.
    _record(org, ticket, event_name="Purchase",
            trigger=AUTOMATIC_EVENT_TRIGGER if detected else "sale", sale=sale,
            event_id=make_event_id(org, "sale", sale.id, "Purchase"),
            event_time=sale.decided_at or utcnow(),
            ctwa_clid=(detected or {}).get("ctwa_clid"))


def record_cancellation(org: Organization, sale: Sale) -> None:
    """A cancelled sale: Meta hears ``OrderCanceled`` if it already has the Purchase.

    A Purchase not sent yet is skipped by the dispatcher instead (``sale_cancelled``), so
    Meta never counts it. The row lock waits for a dispatch in flight to finish: without
    it, a Purchase being sent right now would look unsent here and never be cancelled.
    """
    purchase = db.session.scalars(
        select(MetaConversionEvent)
        .where(MetaConversionEvent.sale_id == sale.id,
               MetaConversionEvent.event_name == "Purchase")
        .with_for_update()
    ).first()
    if purchase is None or purchase.status != "sent":
        return
    _record(org, sale.ticket, event_name=CANCELLATION_EVENT, trigger="sale_cancelled",
            sale=sale, event_id=make_event_id(org, "sale", sale.id, CANCELLATION_EVENT),
            event_time=sale.cancelled_at or utcnow())


def record_lead(org: Organization, ticket: Ticket, event_time: datetime | None = None) -> None:
    """Queue the lead event of a ticket attributed to a click-to-WhatsApp ad (if switched on).

    ``event_time``: when the customer tapped the ad (the touch's message), which may be
    long before the ticket was opened or attributed.
    """
    conn = connection_of(org)
    enabled = conn.lead_event_enabled if conn else True
    if not enabled:
        return
    name = conn.lead_event_name if conn else "LeadSubmitted"
    _record(org, ticket, event_name=name, trigger="new_lead",
            event_id=make_event_id(org, "ticket", ticket.id, name),
            event_time=event_time or ticket.created_at or utcnow())


def on_stage_reached(org: Organization, ticket: Ticket, stage: Stage) -> None:
    """Queue the event the organization mapped to reaching ``stage`` (if any)."""
    conn = connection_of(org)
    name = ((conn.stage_events or {}) if conn else {}).get(str(stage.id))
    if name not in capi.BUSINESS_MESSAGING_EVENTS or name == "Purchase":
        return
    _record(org, ticket, event_name=name, trigger="stage",
            event_id=make_event_id(org, "ticket", ticket.id, name), event_time=utcnow())


# --- changing state -----------------------------------------------------------------------


def lock_event(org: Organization, event_id: Any) -> MetaConversionEvent | None:
    event = MetaConversionEvent.get_for_org(event_id, org)
    if event is None:
        return None
    stmt = select(MetaConversionEvent).where(MetaConversionEvent.id == event.id)
    return db.session.scalars(
        stmt.with_for_update().execution_options(populate_existing=True)).first()


def resend_event(org: Organization, event: MetaConversionEvent) -> MetaConversionEvent:
    """Queue a failed or skipped event again, with the same event_id (Meta dedupes)."""
    if event.status == "sent":
        raise ConflictError(_("Meta already received this event."), code="already_sent")
    wait = waiting_reason(connection_of(org))
    event.status = "pending"
    event.failures = 0
    event.reason_code = wait or "queued"
    event.next_attempt_at = None if wait else utcnow()
    event.error_code = event.error_subcode = None
    event.error_message = event.error_user_title = event.error_user_msg = None
    db.session.flush()
    if not wait:
        enqueue_dispatch(org)
    log.info("capi event %s queued again by hand", event.id)
    return event


def release_waiting_events(org: Organization) -> int:
    """After (re)connecting or choosing a dataset: waiting events become due now."""
    if waiting_reason(connection_of(org)) is not None:
        return 0
    stmt = (update(MetaConversionEvent)
            .where(MetaConversionEvent.organization_id == org.id,
                   MetaConversionEvent.status == "pending",
                   MetaConversionEvent.reason_code.in_(WAITING_CODES))
            .values(reason_code="queued", next_attempt_at=utcnow())
            .execution_options(synchronize_session=False))
    count = db.session.execute(stmt).rowcount or 0
    if count:
        enqueue_dispatch(org)
        log.info("%d waiting capi events released", count)
    return count


def hold_pending_events(org: Organization, reason: str) -> int:
    """Nothing can be sent (token gone, dataset missing): pending events wait for a person."""
    stmt = (update(MetaConversionEvent)
            .where(MetaConversionEvent.organization_id == org.id,
                   MetaConversionEvent.status == "pending")
            .values(reason_code=reason, next_attempt_at=None)
            .execution_options(synchronize_session=False))
    return db.session.execute(stmt).rowcount or 0
