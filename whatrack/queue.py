"""The port through which services hand work to the background workers, by actor name.

Services must not import ``whatrack.tasks`` (the actors import the services: the arrows
would run both ways), so they name the actor instead of holding it. The broker binds
itself here when ``whatrack.tasks.broker`` is imported; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq

from whatrack.after_commit import run_after_commit
from whatrack.extensions import db

_broker: dramatiq.Broker | None = None
_after_send: Callable[[], None] | None = None


def bind_broker(broker: dramatiq.Broker, after_send: Callable[[], None] | None = None) -> None:
    """Called once by the broker module; ``after_send`` runs after each send (laptop worker)."""
    global _broker, _after_send
    _broker, _after_send = broker, after_send


def enqueue_after_commit(actor_name: str, *args: Any, **options: Any) -> None:
    """Send ``actor_name(*args)`` once the current unit of work commits; never on rollback."""
    run_after_commit(db.session(), lambda: send_now(actor_name, *args, **options))


def send_now(actor_name: str, *args: Any, **options: Any) -> None:
    """Send immediately (the caller has already committed what the actor reads)."""
    if _broker is None:
        # Dramatiq would otherwise invent a localhost Redis broker and lose the message.
        raise RuntimeError("no broker bound: import whatrack.tasks before sending work")
    _broker.get_actor(actor_name).send_with_options(args=args, **options)
    if _after_send is not None:
        _after_send()
