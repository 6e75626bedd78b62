"""``POST /webhooks/whatsapp``: verify, store, hand off, answer. Nothing else.

This is WSGI middleware in front of Flask rather than a Flask view, on purpose. Meta
posts every message, status and echo of every connected number here; it wants a 200
within seconds and retries (and in the end disables the subscription) when it does not
get one. The request carries no cookie, no session, no user and no tenant, so Flask's
per-request machinery (contexts, session, CSRF, login, tenancy, security headers,
request ids) was half of the endpoint's CPU for nothing. The GET handshake stays a Flask
view in ``meta.py``; every other path passes straight through to Flask.

Contract (the issue's): a wrong or missing ``X-Hub-Signature-256`` is 401 and stores
nothing; a valid body, even malformed JSON, is committed as a WebhookEvent before the
200; a database failure is 503 so Meta retries; a queue failure is not the sender's
problem (the sweeper re-enqueues). Bodies over ``MAX_CONTENT_LENGTH`` are 413.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from whatrack.integrations.meta.signatures import verify_signature
from whatrack.metrics import node as metrics
from whatrack.services.webhooks.store import store_webhook
from whatrack.tasks.webhooks import intake_handoff

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

PATH = "/webhooks/whatsapp"
StartResponse = Callable[..., Any]


class WhatsAppIntake:
    """Answers ``POST /webhooks/whatsapp`` itself; hands every other request to ``wsgi_app``."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._engine: Engine | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        status, text = self.receive(environ)
        body = text.encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(body)))])
        return [body]

    def receive(self, environ: dict[str, Any]) -> tuple[str, str]:
        config = self.app.config
        secret = config.get("META_APP_SECRET")
        if not secret:
            log.error("META_APP_SECRET is not configured: WhatsApp webhooks cannot be verified")
            metrics.RECEIVED_UNAVAILABLE.inc()
            return "503 Service Unavailable", "webhooks not configured"
        try:
            limit = config.get("MAX_CONTENT_LENGTH")
            raw = get_input_stream(environ, max_content_length=limit).read()
        except RequestEntityTooLarge:
            log.warning("webhook body over MAX_CONTENT_LENGTH refused")
            metrics.RECEIVED_TOO_LARGE.inc()
            return "413 Request Entity Too Large", "body too large"
        if not verify_signature(secret, raw, environ.get("HTTP_X_HUB_SIGNATURE_256")):
            log.warning("webhook with a missing or invalid signature refused")
            metrics.RECEIVED_BAD_SIGNATURE.inc()
            return "401 Unauthorized", "invalid signature"
        try:
            event_id = store_webhook(self.engine, raw)  # committed when it returns
        except SQLAlchemyError:
            log.exception("webhook could not be stored; Meta will retry")
            metrics.RECEIVED_UNAVAILABLE.inc()
            return "503 Service Unavailable", "temporarily unavailable"
        # The worker learns of the row from a background thread (tasks/handoff.py), or
        # from the sweeper if the queue is down; Meta gets its 200 now either way.
        intake_handoff.submit(event_id)
        metrics.RECEIVED_STORED.inc()
        return "200 OK", "ok"

    @property
    def engine(self) -> Engine:
        # The app's own pool (and idle ping); looked up once, as it needs an app context.
        if self._engine is None:
            from whatrack.extensions import db

            with self.app.app_context():
                self._engine = db.engine
        return self._engine


def intake_init_app(app: Flask) -> None:
    app.wsgi_app = WhatsAppIntake(app, app.wsgi_app)  # type: ignore[method-assign]
