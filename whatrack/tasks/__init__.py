"""Background work: actors by area. Services enqueue them by name through whatrack.queue."""

from __future__ import annotations

# The broker first: each actor binds to the global broker when its module is imported.
from whatrack.tasks import broker as _broker  # noqa: F401  # isort: skip


def load_actors() -> None:
    """Import every actor module (the worker and the app both call this once)."""
    # Not at the top: the actors import every service, and a process that only needs the
    # broker (tests, `flask db upgrade`) should not pay for them at import.
    from whatrack.tasks import (  # noqa: F401
        conversions,
        copilot,
        maintenance,
        messaging,
        webhooks,
    )
