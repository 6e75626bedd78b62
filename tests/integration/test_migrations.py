"""The migrations build exactly the models' schema on an empty PostgreSQL, and undo it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import Column, MetaData, String, inspect

from tests.conftest import PG_ADMIN_URL
from tests.fixtures_app import AppTestConfig


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = f"whatrack_migrations_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        server = PG_ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0]
        yield f"postgresql+psycopg://{server}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_on_an_empty_database_builds_exactly_the_models_then_downgrades(
    make_app, empty_database
):
    from whatrack.extensions import db

    class FreshDatabaseConfig(AppTestConfig):
        SQLALCHEMY_DATABASE_URI = empty_database

    fresh = make_app(FreshDatabaseConfig)
    with fresh.app_context():
        try:
            upgrade()
            with db.engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                diff = compare_metadata(context, db.metadata)
                tables = set(inspect(conn).get_table_names())
            assert diff == [], "the migrations and the models disagree:\n" + "\n".join(
                map(str, diff))
            assert tables == {t.name for t in db.metadata.sorted_tables} | {"alembic_version"}
            with db.engine.connect() as conn:  # the control: a drifted model is noticed
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                drift = compare_metadata(context, _drifted(db.metadata))
            assert {_kind(d) for d in drift} == {"add_column", "modify_type"}

            downgrade(revision="base")
            with db.engine.connect() as conn:
                assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        finally:
            db.engine.dispose()


def _drifted(metadata: MetaData) -> MetaData:
    """A copy of the models with one column added and one length changed."""
    copy = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(copy)
    copy.tables["users"].append_column(Column("nickname", String(40)))
    copy.tables["organizations"].c.name.type = String(121)
    return copy


def _kind(diff) -> str:
    first = diff[0] if isinstance(diff, list) else diff
    return first[0]


def test_touches_are_backfilled_from_stored_referral_messages(make_app, empty_database):
    """Revision 0006 turns every live customer referral already stored into a touch."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from whatrack.extensions import db

    class FreshDatabaseConfig(AppTestConfig):
        SQLALCHEMY_DATABASE_URI = empty_database

    fresh = make_app(FreshDatabaseConfig)
    when = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    referral = {"ctwa_clid": "clid-backfill", "source_id": "120210000000000001",
                "source_type": "ad", "headline": "Clareamento", "image_url": "https://x/i.jpg"}
    with fresh.app_context():
        try:
            upgrade(revision="0005")
            # Rows as revision 0005 knew them: plain SQL, since today's models have columns
            # that later revisions add.
            def insert(sql: str, **values) -> int:
                return db.session.execute(text(sql + " RETURNING id"), values).scalar_one()

            org_id = insert("INSERT INTO organizations (name, slug, timezone, currency, "
                            "billing_state, created_at) VALUES ('Backfill', 'backfill', "
                            "'America/Sao_Paulo', 'BRL', 'trialing', :t)", t=when)
            stage_id = insert("INSERT INTO stages (organization_id, name, kind, position, "
                              "created_at) VALUES (:o, 'Novo', 'open', 0, :t)", o=org_id, t=when)
            contact_id = insert("INSERT INTO contacts (organization_id, wa_id, created_at) "
                                "VALUES (:o, '5511999990000', :t)", o=org_id, t=when)
            ticket_id = insert(
                "INSERT INTO tickets (organization_id, contact_id, stage_id, lead_source, "
                "imported, ctwa_clid, unread_count, version, created_at) "
                "VALUES (:o, :c, :s, 'ad', false, 'clid-backfill', 0, 1, :t)",
                o=org_id, c=contact_id, s=stage_id, t=when)

            def message(wamid: str, origin: str, ref: dict | None, history: bool = False) -> int:
                return insert(
                    "INSERT INTO messages (organization_id, ticket_id, contact_id, wamid, "
                    "direction, origin, type, is_history, status, timestamp, forwarded, "
                    "referral, media_state, created_at) VALUES (:o, :tk, :c, :w, :d, :origin, "
                    "'text', :h, 'received', :t, false, :ref, 'none', :t)",
                    o=org_id, tk=ticket_id, c=contact_id, w=wamid, origin=origin,
                    d="outbound" if origin == "business_app_echo" else "inbound", h=history,
                    t=when, ref=json.dumps(ref) if ref else None)

            clicked_id = message("wamid.B.1", "customer", referral)
            message("wamid.B.2", "customer", None)
            message("wamid.B.3", "history", referral, history=True)
            db.session.commit()
            upgrade()
            rows = db.session.execute(text(
                "SELECT message_id, ticket_id, wamid, kind, touched_at, ctwa_clid, source_id, "
                "headline, media_url, organization_id FROM ticket_touches")).all()
            assert [tuple(r) for r in rows] == [
                (clicked_id, ticket_id, "wamid.B.1", "ad", when, "clid-backfill",
                 "120210000000000001", "Clareamento", "https://x/i.jpg", org_id)]
            db.session.rollback()
            downgrade(revision="base")
        finally:
            db.session.remove()
            db.engine.dispose()
