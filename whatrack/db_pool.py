"""Pooled connections are checked for life only when they sat idle for a while.

``pool_pre_ping`` costs a round trip on every checkout (with psycopg, three: the ping opens
a transaction that must be rolled back): on the webhook intake that was a third of the
request. A connection handed back a moment ago is alive; one that idled past
``IDLE_PING_SECONDS`` may have been cut by a database restart or a proxy's idle timeout,
so only that one is pinged, and a dead one is replaced before the request sees it.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

IDLE_PING_SECONDS = 10.0

# engine -> monotonic time of the last disconnect seen on it: every connection checked in
# before that moment may be dead too (the database restarted), so it is pinged as well.
_disconnects: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def note_disconnect(engine: Engine) -> None:
    """A statement on ``engine`` failed on a dead connection (outside SQLAlchemy's Connection,
    which invalidates the pool itself): distrust every connection pooled before now."""
    _disconnects[engine] = time.monotonic()


def install_idle_ping(engine: Engine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None:
            return  # brand new
        recent = time.monotonic() - checked_in_at < idle_seconds
        if recent and checked_in_at > _disconnects.get(engine, 0.0):
            return  # back in the pool a moment ago, and no disconnect seen since
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:
            # The pool discards this connection and checks out another (or connects).
            raise DisconnectionError("pooled connection is dead") from exc
