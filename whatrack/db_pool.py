"""Pooled connections are checked for life only when they sat idle for a while.

``pool_pre_ping`` costs a round trip on every checkout (with psycopg, three: the ping opens
a transaction that must be rolled back): on the webhook intake that was a third of the
request. A connection handed back a moment ago is alive; one that idled past
``IDLE_PING_SECONDS`` may have been cut by a database restart or a proxy's idle timeout,
so only that one is pinged, and a dead one is replaced before the request sees it.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

IDLE_PING_SECONDS = 10.0


def install_idle_ping(engine: Engine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # brand new, or back in the pool a moment ago
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
