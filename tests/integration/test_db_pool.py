"""Pooled connections: a connection that died while idle is replaced, never handed out."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from whatrack.db_pool import install_idle_ping


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_killed_while_idle_is_replaced_on_checkout(pg_url):
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1),
                           pool_size=1, max_overflow=0)
    install_idle_ping(engine, idle_seconds=0.05)
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # reused at once: kept, not pinged away
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        time.sleep(0.1)
        second = _backend_pid(engine)  # the ping finds it dead; a fresh one is used
        assert second != first
    finally:
        engine.dispose()


def test_the_app_engine_pings_idle_connections_only(app, pg_url):
    """D14 on the app's own engine: a connection back in the pool a moment ago is handed out
    without a round trip (so one killed meanwhile fails its statement), while one pooled
    before a disconnect was noticed is pinged and replaced."""
    from whatrack.db_pool import note_disconnect
    from whatrack.extensions import db

    with app.app_context():
        engine = db.engine
    assert engine.pool.size() == app.config["DATABASE_POOL_SIZE"]
    engine.dispose()  # one pooled connection from here on, so each checkout gets it back
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        note_disconnect(engine)  # as the webhook intake does after a failed statement
        second = _backend_pid(engine)  # pinged, found dead, replaced before use
        assert second != first

        _terminate(pg_url, second)  # killed right after it was handed back
        with pytest.raises(OperationalError):
            _backend_pid(engine)  # no ping on a recent connection: the statement meets it
        assert _backend_pid(engine) not in (first, second)  # the pool recovers at once
    finally:
        engine.dispose()


def _terminate(pg_url: str, pid: int) -> None:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.1)
