"""Dispatching the CAPI outbox to Meta (queue "capi": it may lag, it must not lose)."""

from __future__ import annotations

import logging
import time

import dramatiq

from whatrack import queue
from whatrack.extensions import db
from whatrack.integrations.meta.capi import MAX_BATCH
from whatrack.models import Organization, utcnow
from whatrack.services.conversions import dispatch as conversions_dispatch
from whatrack.tenancy import bind_org

log = logging.getLogger(__name__)

# One message drains an organization's due events batch after batch for this long, then
# hands over to a fresh message (other organizations get their turn on the queue).
RUN_SECONDS = 60


# Explicit policy: a crash (database down, a bug) is retried by Dramatiq with backoff; Meta's
# own answers never raise out of the actor: each event carries its retry schedule in its row
# (next_attempt_at), and the sweeper re-enqueues due events if a message is ever lost.
@dramatiq.actor(queue_name="capi", max_retries=5, min_backoff=2_000, max_backoff=300_000,
                time_limit=600_000, max_age=86_400_000)
def send_conversion_events(org_id: int) -> None:
    """Send the due conversion events of one organization to Meta, in batches."""
    deadline = time.monotonic() + RUN_SECONDS
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        if org is None:
            return
        while time.monotonic() < deadline:
            with conversions_dispatch.batch_guard():
                result = conversions_dispatch.dispatch_due(org)
                db.session.commit()
            if result.requests or result.locked:
                log.info("capi org %s: %d locked, %d sent, %d failed, %d skipped, %d to retry, "
                         "%d requests", org_id, result.locked, result.sent, result.failed,
                         result.skipped, result.retrying, result.requests)
            if result.held:
                if result.locked == 0:
                    return  # waiting for a person (connect, reconnect, choose a dataset)
                continue  # the token was refused mid-way: hold the other rows next
            if result.locked >= MAX_BATCH:
                continue
            # Rows other workers hold are skipped: they schedule their own follow-up.
            next_at = conversions_dispatch.next_retry_at(org)
            db.session.rollback()
            if next_at is None:
                return
            wait_ms = int((next_at - utcnow()).total_seconds() * 1000)
            if wait_ms > 0:
                _schedule(org_id, wait_ms)
                return
    _schedule(org_id, 0)  # out of time: a fresh message continues after the others


def _schedule(org_id: int, delay_ms: int) -> None:
    queue.send_now(send_conversion_events.actor_name, org_id, delay=delay_ms + 50)
