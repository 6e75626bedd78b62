"""``POST /webhooks/stripe``: verify Stripe's signature, store, hand off, answer.

A bad signature or a timestamp outside the tolerance window is 400 and stores nothing;
a valid delivery is committed to ``webhook_events`` (source stripe) before the 200, and a
database failure is 503 so Stripe retries. Processing happens in a worker
(services/billing/stripe_events.py), once per Stripe event id.
"""

from __future__ import annotations

import logging

from flask import current_app, request
from sqlalchemy.exc import SQLAlchemyError

from whatrack.blueprints.webhooks import bp
from whatrack.services.billing.intake import InvalidStripeSignature, receive_stripe_delivery

log = logging.getLogger(__name__)

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/webhooks/stripe")
def stripe():
    if not current_app.config.get("STRIPE_WEBHOOK_SECRET"):
        log.error("STRIPE_WEBHOOK_SECRET is not configured: Stripe webhooks cannot be verified")
        return "webhooks not configured", 503, TEXT
    raw = request.get_data(cache=False)
    try:
        receive_stripe_delivery(raw, request.headers.get("Stripe-Signature"))
    except InvalidStripeSignature as exc:
        log.warning("stripe webhook refused: %s", exc)
        return "invalid signature", 400, TEXT
    except SQLAlchemyError:
        log.exception("stripe webhook could not be stored; Stripe will retry")
        return "temporarily unavailable", 503, TEXT
    return "ok", 200, TEXT
