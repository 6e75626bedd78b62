"""Periodic triggers: they only enqueue sweepers, the workers do the work.

Production runs exactly one ``flask --app wsgi scheduler`` process (the Dockerfile's
scheduler role). Laptop mode (no Redis) runs the same loop in a daemon thread next to
the in-process worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import dramatiq

from whatrack.tasks import copilot, maintenance, messaging

log = logging.getLogger(__name__)


def schedule() -> list[tuple[dramatiq.Actor, float]]:
    """(actor, seconds between runs)."""
    return [
        (maintenance.sweep_webhook_events, 60.0),
        (maintenance.sweep_conversion_events, 30.0),
        # Conversations become due for the copilot COPILOT_DEBOUNCE_SECONDS after their
        # last message; read within ~10 s of that.
        (copilot.sweep_copilot_reviews, 10.0),
        (maintenance.purge_login_attempts, 3600.0),
        (maintenance.check_meta_tokens, 3600.0),  # each token about once a day
        (maintenance.refresh_whatsapp_health, 3600.0),  # each number about once a day
        (messaging.sweep_outbound_messages, 60.0),
        (messaging.sync_all_templates, 3600.0),
    ]


def run_scheduler(stop: threading.Event, clock: Callable[[], float] = time.monotonic,
                  tick: float = 1.0) -> None:
    """Enqueue each sweeper at its interval until ``stop`` is set."""
    entries = schedule()
    next_run = {actor.actor_name: clock() for actor, _ in entries}
    while not stop.is_set():
        now = clock()
        for actor, interval in entries:
            if now >= next_run[actor.actor_name]:
                try:
                    actor.send()
                except Exception:  # the queue is down: try again at the next interval
                    log.exception("could not enqueue %s", actor.actor_name)
                next_run[actor.actor_name] = now + interval
        stop.wait(tick)


def start_scheduler_thread() -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_scheduler, args=(stop,), name="scheduler", daemon=True).start()
    return stop
