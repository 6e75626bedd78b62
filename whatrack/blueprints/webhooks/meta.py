"""Meta's subscription handshake for ``/webhooks/whatsapp``.

The deliveries themselves (``POST``) never reach Flask: ``intake.py`` answers them.
"""

from __future__ import annotations

from flask import current_app, request

from whatrack.blueprints.webhooks import bp
from whatrack.integrations.meta.signatures import verify_subscription

TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/webhooks/whatsapp")
def verify():
    challenge = verify_subscription(request.args, current_app.config.get("META_VERIFY_TOKEN"))
    if challenge is None:
        return "forbidden", 403, TEXT
    return challenge, 200, TEXT
