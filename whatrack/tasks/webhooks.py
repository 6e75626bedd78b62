"""Processing stored webhook deliveries."""

from __future__ import annotations

import logging
from datetime import datetime

import dramatiq

from whatrack import queue
from whatrack.extensions import db
from whatrack.metrics import cluster as cluster_metrics
from whatrack.metrics import shared_counters
from whatrack.models import WebhookEvent, utcnow
from whatrack.services.webhooks import commands as webhooks
from whatrack.tasks.handoff import BatchHandoff
from whatrack.transaction_memo import memo_scope

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
        received_at = event.received_at
        webhooks.process_event(event)
        db.session.commit()
        _count_processed(received_at)
        return None
    except Exception as exc:
        db.session.rollback()
        log.exception("webhook %s processing failed", event_id)
        shared_counters().add(cluster_metrics.FAILED)
        event = webhooks.record_failure(event_id, f"{type(exc).__name__}: {exc}")
        db.session.commit()
        return exc if event is not None and event.state == "received" else None


def _count_processed(received_at: datetime) -> None:
    counters = shared_counters()
    counters.add(cluster_metrics.PROCESSED)
    counters.add(cluster_metrics.LAG_COUNT)
    counters.add(cluster_metrics.LAG_SUM, max((utcnow() - received_at).total_seconds(), 0.0))


def _process_for_org(event_id: int, org_id: int) -> None:
    """One organization's entries of a delivery, again; a failure is shown on its route."""
    try:
        route = webhooks.lock_org_route(org_id, event_id)
        event = db.session.get(WebhookEvent, event_id)
        if route is None or event is None or route.state != "received":
            db.session.rollback()
            return
        webhooks.process_event(event, only_org_id=org_id)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.exception("webhook %s reprocessing for organization %s failed", event_id, org_id)
        webhooks.record_route_failure(org_id, event_id, f"{type(exc).__name__}: {exc}")
        db.session.commit()


@dramatiq.actor(queue_name="webhooks", **RETRY)
def process_webhook_event(event_id: int, org_id: int | None = None) -> None:
    """Parse one stored delivery into rows; safe to run twice (processed rows are skipped).

    With ``org_id``: only that organization's entries (its reprocess button).
    """
    if org_id is not None:
        _process_for_org(event_id, org_id)
        return
    error = _process(event_id)
    if error is not None:
        raise error  # Dramatiq retries with backoff; the sweeper covers a lost message


def _process_together(event_ids: list[int]) -> bool:
    """Every delivery of a hand-off in one transaction; False (nothing kept) if one fails.

    One commit, one event lock and one routing query for the batch instead of one each per
    delivery: a burst drains faster (bench/README.md, "Worker throughput"). Deliveries
    are independent rows, so applying them together changes no result, only how long the
    batch's row locks are held; a deadlock with another worker is one of the failures that
    sends the batch down the one-by-one path.
    """
    try:
        with memo_scope():
            events = webhooks.lock_events(event_ids)
            received = [event.received_at for event in events]
            webhooks.process_events(events)
            db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.warning("webhook batch of %d failed together (%s); applying one by one",
                    len(event_ids), type(exc).__name__)
        return False
    for received_at in received:
        _count_processed(received_at)
    return True


@dramatiq.actor(queue_name="webhooks", **RETRY)
def process_webhook_events(event_ids: list[int]) -> None:
    """What the intake hands off: the batch in one transaction, in arrival order.

    If any delivery fails, the batch is applied again one delivery per transaction, and a
    delivery that fails there goes on alone, with ``process_webhook_event``'s retries: one
    bad delivery neither holds back nor re-runs the others of its batch. The batch itself
    is retried only when something around the deliveries fails (the database is gone while
    recording a failure, Redis while re-sending one); processed deliveries are skipped.
    """
    if len(event_ids) > 1 and _process_together(event_ids):
        return
    for event_id in event_ids:
        if _process(event_id) is not None:
            queue.send_now(process_webhook_event.actor_name, event_id,
                           delay=process_webhook_event.options["min_backoff"])


intake_handoff = BatchHandoff(lambda ids: queue.send_now(process_webhook_events.actor_name, ids),
                              max_batch=BATCH, name="webhook-handoff")
