"""Mixins shared by every model, and the one sanctioned loader for tenant rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import DateTime, ForeignKey, Index, Integer, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from whatrack.errors import NotFound
from whatrack.extensions import db

# Primary keys are INTEGER columns; a bigger client-supplied id can only be "not found".
MAX_DB_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on PostgreSQL and SQLite alike.

    SQLite drops the offset, so values are normalised to UTC on the way in and marked
    UTC on the way out; code never meets a naive datetime.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class TenantMixin:
    """Marks a table as owned by one organization; tenancy.py scopes every query on it."""

    @declared_attr
    def organization_id(cls) -> Mapped[int]:
        return mapped_column(
            Integer,
            ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )

    @classmethod
    def get_for_org(cls, ident: Any, org: Any) -> Self | None:
        """The row ``ident`` if it belongs to ``org``; None for missing and foreign rows alike."""
        try:
            ident = int(ident)
        except (TypeError, ValueError):
            return None
        if not -MAX_DB_ID <= ident <= MAX_DB_ID:
            return None  # PostgreSQL would refuse it with an error, not an empty result
        stmt = select(cls).where(cls.id == ident, cls.organization_id == org.id)
        return db.session.scalars(stmt).first()

    @classmethod
    def get_for_org_or_404(cls, ident: Any, org: Any) -> Self:
        row = cls.get_for_org(ident, org)
        if row is None:
            raise NotFound()
        return row


def trigram_index(name: str, column: str) -> Index:
    """A pg_trgm GIN index: what lets ``ILIKE '%term%'`` (the inbox and Kanban searches)
    skip the table scan (D54). PostgreSQL only: the laptop's SQLite has no such index and
    scans its small data; migration 0018 skips it there too."""
    return Index(name, column, postgresql_using="gin",
                 postgresql_ops={column: "gin_trgm_ops"}).ddl_if(dialect="postgresql")


def dialect_insert(model: Any) -> Any:
    """An INSERT supporting ON CONFLICT on both PostgreSQL and SQLite (laptop mode)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


_REUSABLE: dict[tuple[str, str], Any] = {}


def reusable_statement(name: str, build: Callable[[], Any]) -> Any:
    """``build()``'s statement, built once per database dialect and reused.

    For the worker's hot statements, executed with their values as parameters: SQLAlchemy
    caches the compiled SQL either way, but building a new 25-column INSERT and computing its
    cache key on every message cost more CPU than sending it (bench/profile_worker.py).
    """
    dialect = db.session.get_bind().dialect.name
    statement = _REUSABLE.get((dialect, name))
    if statement is None:
        statement = _REUSABLE[(dialect, name)] = build()
    return statement
