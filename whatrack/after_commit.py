"""Side effects that must only happen once the unit of work is committed.

Enqueued tasks and realtime events are queued on the session and run by an
``after_commit`` listener; a rollback drops them. A worker therefore never sees a row
that does not exist yet, and a rolled-back change never reaches a browser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "whatrack.after_commit"


def run_after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` after ``session`` commits; drop it if the session rolls back."""
    session.info.setdefault(_KEY, []).append(callback)


def _run_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released; the outer transaction may still roll back
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The data is committed; a failed enqueue or publish is recovered by sweepers
            # and by clients resyncing, so it must not turn a good request into a 500.
            log.exception("after-commit callback %r failed", callback)


def _drop_pending(session: Session, previous_transaction) -> None:
    if previous_transaction.nested:
        return  # only the SAVEPOINT's own work is undone
    session.info.pop(_KEY, None)


def install(session_class: type[Session] | Session) -> None:
    event.listen(session_class, "after_commit", _run_pending)
    event.listen(session_class, "after_soft_rollback", _drop_pending)
