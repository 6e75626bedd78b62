"""Sweepers: periodic jobs that recover work a lost queue message would otherwise strand."""

from __future__ import annotations

import logging

import dramatiq

from whatrack.extensions import db
from whatrack.services import webhooks

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="default", max_retries=0)
def sweep_webhook_events() -> None:
    """Re-enqueue deliveries still unprocessed (Redis was down, or a worker died)."""
    from whatrack.tasks.webhooks import process_webhook_event

    ids = webhooks.stale_event_ids()
    db.session.rollback()
    for event_id in ids:
        process_webhook_event.send(event_id)
    if ids:
        log.warning("re-enqueued %d unprocessed webhook deliveries", len(ids))
