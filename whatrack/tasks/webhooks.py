"""Processing stored webhook deliveries."""

from __future__ import annotations

import logging

import dramatiq

from whatrack import queue
from whatrack.extensions import db
from whatrack.services.webhooks import commands as webhooks
from whatrack.tasks.handoff import BatchHandoff

log = logging.getLogger(__name__)

RETRY = {"max_retries": webhooks.MAX_ATTEMPTS, "min_backoff": 1_000, "max_backoff": 300_000}
BATCH = 20  # ids per queue message: enough to amortise a send, few enough to spread work


def _process(event_id: int) -> Exception | None:
    """Process one delivery in its own transaction; the error if it should be retried."""
    try:
        event = webhooks.lock_event(event_id)
        if event is None or event.state != "received":
            db.session.rollback()
            return None
        webhooks.process_event(event)
        db.session.commit()
        return None
    except Exception as exc:
        db.session.rollback()
        log.exception("webhook %s processing failed", event_id)
        event = webhooks.record_failure(event_id, f"{type(exc).__name__}: {exc}")
        db.session.commit()
        return exc if event is not None and event.state == "received" else None


@dramatiq.actor(queue_name="webhooks", **RETRY)
def process_webhook_event(event_id: int) -> None:
    """Parse one stored delivery into rows; safe to run twice (processed rows are skipped)."""
    error = _process(event_id)
    if error is not None:
        raise error  # Dramatiq retries with backoff; the sweeper covers a lost message


@dramatiq.actor(queue_name="webhooks", **RETRY)
def process_webhook_events(event_ids: list[int]) -> None:
    """What the intake hands off: each delivery its own transaction, in arrival order.

    A delivery that fails goes on alone, with ``process_webhook_event``'s retries, so one
    bad delivery neither holds back nor re-runs the others of its batch. The batch itself
    is retried only when something around the deliveries fails (the database is gone while
    recording a failure, Redis while re-sending one); processed deliveries are skipped.
    """
    for event_id in event_ids:
        if _process(event_id) is not None:
            queue.send_now(process_webhook_event.actor_name, event_id,
                     delay=process_webhook_event.options["min_backoff"])


intake_handoff = BatchHandoff(lambda ids: queue.send_now(process_webhook_events.actor_name, ids),
                              max_batch=BATCH, name="webhook-handoff")
