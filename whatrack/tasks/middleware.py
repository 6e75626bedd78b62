"""Dramatiq middleware that runs every message inside a Flask app context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dramatiq

from whatrack.extensions import db
from whatrack.logging import bind_queue_message

if TYPE_CHECKING:
    from flask import Flask


class AppContextMiddleware(dramatiq.Middleware):
    """Push an app context per message and always leave a clean session behind.

    It also tags the worker thread's log lines with the message id and flushes the metrics
    counters the message added to, once per message.

    Actors own their unit of work (one commit); this only guarantees that a failed
    message never leaks an open transaction into the next one on the same thread.
    """

    def __init__(self) -> None:
        self.app: Flask | None = None
        self._contexts: dict[str, Any] = {}

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        if self.app is None:
            raise RuntimeError("dramatiq_init_app(app) was never called")
        ctx = self.app.app_context()
        ctx.push()
        self._contexts[message.message_id] = ctx
        bind_queue_message(message.message_id)  # every log line of this message carries it

    def _finish(self, message: dramatiq.Message) -> None:
        ctx = self._contexts.pop(message.message_id, None)
        if ctx is None:
            return
        try:
            db.session.rollback()
            db.session.remove()
            # What this message counted reaches the shared counters now (one round trip).
            self.app.extensions["metrics"].flush()
        finally:
            bind_queue_message(None)
            ctx.pop()

    def after_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message, *, result=None, exception=None
    ) -> None:
        self._finish(message)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        self._finish(message)
