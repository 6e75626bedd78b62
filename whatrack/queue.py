"""Enqueue an actor by name once the unit of work commits: the port services use.

Services name actors instead of importing them, so the arrows keep pointing from tasks to
services and never back. (Minimal version; the layered tree brings its own.)
"""

from __future__ import annotations

from typing import Any

import dramatiq

from whatrack.after_commit import run_after_commit
from whatrack.extensions import db


def enqueue_after_commit(actor_name: str, *args: Any, **options: Any) -> None:
    """Send ``actor_name(*args)`` after the current transaction commits; never on rollback."""

    def send() -> None:
        from whatrack.tasks.broker import ensure_inprocess_worker

        broker = dramatiq.get_broker()
        actor = broker.get_actor(actor_name)
        message = dramatiq.Message(queue_name=actor.queue_name, actor_name=actor_name,
                                   args=args, kwargs={}, options={})
        broker.enqueue(message, delay=options.get("delay"))
        ensure_inprocess_worker()

    run_after_commit(db.session(), send)
