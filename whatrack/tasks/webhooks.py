"""Processing stored webhook deliveries."""

from __future__ import annotations

import logging

import dramatiq

from whatrack.extensions import db
from whatrack.services import webhooks

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="webhooks", max_retries=webhooks.MAX_ATTEMPTS, min_backoff=1_000,
                max_backoff=300_000)
def process_webhook_event(event_id: int) -> None:
    """Parse one stored delivery into rows; safe to run twice (processed rows are skipped)."""
    try:
        event = webhooks.lock_event(event_id)
        if event is None or event.state != "received":
            db.session.rollback()
            return
        webhooks.process_event(event)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.exception("webhook %s processing failed", event_id)
        event = webhooks.record_failure(event_id, f"{type(exc).__name__}: {exc}")
        db.session.commit()
        if event is not None and event.state == "received":
            raise  # Dramatiq retries with backoff; the sweeper covers a lost message
