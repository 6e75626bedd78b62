"""``POST /webhooks/stripe``'s work: verify, store (committed), hand off. Nothing else."""

from __future__ import annotations

import logging

from flask import current_app

from whatrack import queue
from whatrack.extensions import db
from whatrack.integrations.stripe_client import InvalidStripeSignature, verify_webhook
from whatrack.services.webhooks.store import store_webhook

log = logging.getLogger(__name__)

__all__ = ["InvalidStripeSignature", "receive_stripe_delivery"]


def receive_stripe_delivery(raw: bytes, signature_header: str | None) -> int:
    """The stored delivery's id, committed before Stripe gets its 200.

    Raises InvalidStripeSignature (nothing stored) for a bad signature or a timestamp
    outside the tolerance window, SQLAlchemyError when the database is down (Stripe
    retries). A queue that is down is not Stripe's problem: the sweeper re-enqueues rows
    still ``received``.
    """
    cfg = current_app.config
    verify_webhook(raw, signature_header, cfg["STRIPE_WEBHOOK_SECRET"],
                   cfg["STRIPE_WEBHOOK_TOLERANCE"])
    event_id = store_webhook(db.engine, raw, source="stripe")
    try:
        queue.send_now("process_webhook_events", [event_id])
    except Exception:  # Redis down: the row is committed, the sweeper picks it up
        log.warning("stripe delivery %s stored but not enqueued; the sweeper will", event_id,
                    exc_info=True)
    return event_id
