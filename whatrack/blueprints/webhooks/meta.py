"""WhatsApp webhooks: verify, store, commit, enqueue, answer. No parsing, no tenant lookup."""

from __future__ import annotations

import logging

from flask import current_app, request
from sqlalchemy.exc import SQLAlchemyError

from whatrack.blueprints.webhooks import bp
from whatrack.integrations.meta.signatures import verify_signature, verify_subscription
from whatrack.services.webhooks import store_webhook

log = logging.getLogger(__name__)

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/webhooks/whatsapp")
def verify():
    challenge = verify_subscription(request.args, current_app.config.get("META_VERIFY_TOKEN"))
    if challenge is None:
        return "forbidden", 403, TEXT
    return challenge, 200, TEXT


@bp.post("/webhooks/whatsapp")
def receive():
    secret = current_app.config.get("META_APP_SECRET")
    if not secret:
        log.error("META_APP_SECRET is not configured: WhatsApp webhooks cannot be verified")
        return "webhooks not configured", 503, TEXT
    raw = request.get_data(cache=False)
    if not verify_signature(secret, raw, request.headers.get("X-Hub-Signature-256")):
        log.warning("webhook with a missing or invalid signature refused")
        return "invalid signature", 401, TEXT
    try:
        event_id = store_webhook(raw)  # committed when it returns
    except SQLAlchemyError:
        log.exception("webhook could not be stored; Meta will retry")
        return "temporarily unavailable", 503, TEXT
    _enqueue(event_id)
    return "ok", 200, TEXT


def _enqueue(event_id: int) -> None:
    # The row is committed: if the queue is down the sweeper picks it up later, so the
    # delivery is still acknowledged (a 5xx would only make Meta send it again).
    from whatrack.tasks import send_now
    from whatrack.tasks.webhooks import process_webhook_event

    try:
        send_now(process_webhook_event, event_id)
    except Exception:
        log.exception("could not enqueue webhook %s; the sweeper will", event_id)
