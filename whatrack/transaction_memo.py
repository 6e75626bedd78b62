"""Answers remembered for the rest of one transaction, where a caller asked for it.

The worker applies a batch of webhook deliveries in one transaction and asks the same
questions for each of them: which account owns this number, where new tickets start. A
transaction that does not change those rows itself gets the same answers (up to another
transaction committing in between, which a single delivery could not see either), so one
query per batch is enough. Only code that opened ``memo_scope`` gets remembered answers;
everywhere else ``remembered`` just loads, so a request that edits stages and then reads
them never sees a stale answer. A commit or rollback forgets everything.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from whatrack.extensions import db

T = TypeVar("T")
_KEY = "whatrack.transaction_memo"
_ACTIVE = "whatrack.transaction_memo.active"


@contextmanager
def memo_scope() -> Iterator[None]:
    """Remember answers (``remembered``) until the end of this block or transaction."""
    session = db.session()
    session.info[_ACTIVE] = True
    try:
        yield
    finally:
        session.info.pop(_ACTIVE, None)
        session.info.pop(_KEY, None)


def remembered(key: Hashable, load: Callable[[], T]) -> T:
    """``load()``, or its answer from earlier in this transaction inside ``memo_scope``."""
    session = db.session()
    if not session.info.get(_ACTIVE):
        return load()
    memo: dict[Hashable, Any] = session.info.setdefault(_KEY, {})
    if key not in memo:
        memo[key] = load()
    return memo[key]


def _forget(session: Session, *_args: Any) -> None:
    # Also after a SAVEPOINT rollback: an answer may name a row that was just undone.
    session.info.pop(_KEY, None)


def install(session_class: type[Session] | Session) -> None:
    event.listen(session_class, "after_commit", _forget)
    event.listen(session_class, "after_soft_rollback", _forget)
