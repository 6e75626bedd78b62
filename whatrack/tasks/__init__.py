"""Background work. The broker module is imported first so every actor binds to it."""

from __future__ import annotations

from typing import Any

import dramatiq

from whatrack.after_commit import run_after_commit
from whatrack.extensions import db
from whatrack.tasks import broker as _broker


def enqueue_after_commit(actor: dramatiq.Actor, *args: Any, **options: Any) -> None:
    """Send ``actor(*args)`` once the current unit of work commits; never on rollback."""

    run_after_commit(db.session(), lambda: send_now(actor, *args, **options))


def send_now(actor: dramatiq.Actor, *args: Any, **options: Any) -> None:
    """Send immediately (the caller has already committed what the actor reads)."""
    actor.send_with_options(args=args, **options)
    _broker.ensure_inprocess_worker()


def load_actors() -> None:
    """Import every actor module (the worker and the app both call this once)."""
    from whatrack.tasks import conversions, maintenance, messaging, webhooks  # noqa: F401
