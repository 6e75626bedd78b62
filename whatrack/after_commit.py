"""Side effects that must only happen once the unit of work is committed.

Enqueued tasks and realtime events are queued on the session and run by an
``after_commit`` listener; a rollback drops them. A worker therefore never sees a row
that does not exist yet, and a rolled-back change never reaches a browser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_KEY = "whatrack.after_commit"


def run_after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` after ``session`` commits; drop it if its transaction rolls back.

    Registered inside a SAVEPOINT, it is dropped when that SAVEPOINT rolls back (the rows it
    announces are gone) and waits for the outer commit when it is released.
    """
    if session.get_transaction() is None:
        session.begin()  # so a rollback before any query still reaches _drop_pending
    current = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_KEY, []).append((current, callback))


def _run_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released; the outer transaction may still roll back
    pending = session.info.pop(_KEY, [])
    for _transaction, callback in pending:
        try:
            callback()
        except Exception:
            # The data is committed; a failed enqueue or publish is recovered by sweepers
            # and by clients resyncing, so it must not turn a good request into a 500.
            log.exception("after-commit callback %r failed", callback)


def _rolled_back(transaction: SessionTransaction) -> SessionTransaction:
    # A failed flush reports its own sub-transaction; what the database undid is the
    # nearest SAVEPOINT above it, or the whole transaction.
    while transaction.parent is not None and not transaction.nested:
        transaction = transaction.parent
    return transaction


def _inside(transaction: SessionTransaction | None, boundary: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is boundary:
            return True
        transaction = transaction.parent
    return False


def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    boundary = _rolled_back(previous_transaction)
    if boundary.parent is None:
        session.info.pop(_KEY, None)
        return
    pending = session.info.get(_KEY)
    if pending:
        session.info[_KEY] = [(t, cb) for t, cb in pending if not _inside(t, boundary)]


def install(session_class: type[Session] | Session) -> None:
    event.listen(session_class, "after_commit", _run_pending)
    event.listen(session_class, "after_soft_rollback", _drop_pending)
