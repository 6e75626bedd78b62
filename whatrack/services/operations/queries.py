"""Counts for /metrics, across every organization.

Each query is answered from an index alone (``ix_webhook_events_state_received``,
``ix_meta_conversion_events_due``, ``ix_messages_send_state``), never the tables, and runs
under a statement timeout: a scrape must not become the slowest query of a busy database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text

from whatrack.extensions import db
from whatrack.models import Message, MetaConversionEvent, WebhookEvent, utcnow
from whatrack.models.conversions import EVENT_STATUSES
from whatrack.models.whatsapp import SEND_STATES
from whatrack.tenancy import unscoped

STATEMENT_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class Backlog:
    waiting: int  # deliveries stored and not processed yet
    oldest_age_seconds: float  # how long the oldest of them has waited (0 when none)


@dataclass(frozen=True)
class OperationalCounts:
    backlog: Backlog
    conversion_events: dict[str, int]  # status -> events
    sends: dict[str, int]  # send_state -> outbound messages we sent or are sending


def operational_counts(now: datetime | None = None) -> OperationalCounts:
    """One read-only transaction, rolled back: a scrape leaves nothing behind."""
    now = now or utcnow()
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        with unscoped():
            waiting, oldest = db.session.execute(
                select(func.count(), func.min(WebhookEvent.received_at))
                .where(WebhookEvent.state == "received")).one()
            events = dict(db.session.execute(
                select(MetaConversionEvent.status, func.count())
                .group_by(MetaConversionEvent.status)).all())
            sends = dict(db.session.execute(
                select(Message.send_state, func.count())
                .where(Message.send_state.is_not(None))
                .group_by(Message.send_state)).all())
    finally:
        db.session.rollback()
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return OperationalCounts(
        backlog=Backlog(waiting=waiting, oldest_age_seconds=age),
        # Every known state is reported, zero included, so a series never vanishes.
        conversion_events={status: events.get(status, 0) for status in EVENT_STATUSES}
        | events,
        sends={state: sends.get(state, 0) for state in SEND_STATES} | sends,
    )
