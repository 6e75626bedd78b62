"""Pooled connections: a connection that died while idle is replaced, never handed out."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import create_engine, text

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


def test_the_app_engine_pings_idle_connections_only(app):
    from whatrack.extensions import db

    with app.app_context():
        engine = db.engine
        assert not engine.pool._pre_ping  # no round trip on every checkout
        assert engine.pool.dispatch.checkout and engine.pool.dispatch.checkin
        assert engine.pool.size() == app.config["DATABASE_POOL_SIZE"]
