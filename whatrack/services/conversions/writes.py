"""Writing a dispatched batch back: one set-based UPDATE and one COPY per batch.

A 1,000-event batch split to isolate bad events carries thousands of attempt rows, and
row-by-row statements cost more than the HTTP requests themselves (bench/capi.py).
PostgreSQL gets UPDATE ... FROM json_to_recordset and COPY; SQLite (laptop mode) gets the
plain executemany equivalents.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, text, update

from whatrack.extensions import db
from whatrack.models import MetaConversionAttempt, MetaConversionEvent, Organization
from whatrack.services.conversions.types import Outgoing

_TABLE = MetaConversionEvent.__table__
# Column -> PostgreSQL array type for the set-based UPDATE below.
_PG_TYPES = {
    "status": "varchar", "reason_code": "varchar", "attempts": "integer",
    "failures": "integer", "next_attempt_at": "timestamptz", "last_attempt_at": "timestamptz",
    "sent_at": "timestamptz", "dataset_id": "varchar", "payload": "text",
    "http_status": "integer", "response_body": "text", "events_received": "integer",
    "fbtrace_id": "varchar", "error_code": "integer", "error_subcode": "integer",
    "error_message": "text", "error_user_title": "varchar", "error_user_msg": "text",
}
_WRITTEN = tuple(_PG_TYPES)
_CLOSED = ("status", "reason_code", "next_attempt_at")


def _recordset_update(columns: tuple[str, ...]) -> Any:
    """UPDATE ... FROM json_to_recordset(:rows): one statement and one parameter per batch.

    One JSON document (encoded by the C json module, parsed by PostgreSQL) costs far less
    than per-column arrays, whose text elements psycopg escapes character by character.
    """
    assignments = ", ".join(f"{name} = u.{name}" for name in columns)
    record = ", ".join(f"{name} {_PG_TYPES[name]}" for name in columns)
    return text(  # table and column names are our constants, values are bound parameters
        f"UPDATE {_TABLE.name} AS e SET {assignments} "  # noqa: S608
        f"FROM json_to_recordset(CAST(:rows AS json)) AS u(id integer, {record}) "
        "WHERE e.id = u.id AND e.organization_id = :org")


_PG_UPDATES = {columns: _recordset_update(columns) for columns in (_WRITTEN, _CLOSED)}


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _update_rows(org: Organization, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Write per-row values for many events at once; the organization is in the WHERE.

    PostgreSQL: one UPDATE ... FROM json_to_recordset. SQLite (laptop mode): an executemany.
    """
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        document = json.dumps(rows, default=_json_value, ensure_ascii=False)
        db.session.execute(_PG_UPDATES[columns], {"rows": document, "org": org.id})
        return
    stmt = (update(_TABLE)
            .where(_TABLE.c.id == bindparam("b_id"), _TABLE.c.organization_id == org.id)
            .values({name: bindparam(name) for name in columns}))
    db.session.execute(stmt, [{"b_id": r["id"], **{c: r[c] for c in columns}} for r in rows])


_ATTEMPT_COLUMNS = (
    "organization_id", "event_id", "batch_key", "batch_size", "started_at", "duration_ms",
    "result", "request", "http_status", "response_body", "events_received", "fbtrace_id",
    "error_code", "error_subcode", "error_message")


def insert_attempts(rows: list[dict[str, Any]]) -> None:
    """The attempt log can be tens of thousands of rows when a batch is split: COPY them."""
    if not rows:
        return
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(insert(MetaConversionAttempt), rows)
        return
    raw = db.session.connection().connection.driver_connection  # same transaction
    table = MetaConversionAttempt.__table__.name
    # The rows of one request share its ``request`` dict: encode it once, not per event.
    encoded: dict[int, str] = {}
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(_ATTEMPT_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            request = row["request"]
            text = encoded.get(id(request))
            if text is None:
                text = encoded[id(request)] = json.dumps(request)
            copy.write_row([text if c == "request" else row[c] for c in _ATTEMPT_COLUMNS])


def _error_fields(event: Outgoing) -> dict[str, Any]:
    info = None if event.status == "sent" else event.error
    if info is None:
        return dict.fromkeys(("error_code", "error_subcode", "error_message",
                              "error_user_title", "error_user_msg"))
    return {"error_code": info.code, "error_subcode": info.subcode,
            "error_message": (info.message or "")[:1000] or None,
            "error_user_title": (info.user_title or "")[:255] or None,
            "error_user_msg": info.user_msg}


def write_outcomes(org: Organization, events: list[Outgoing], dataset_id: str | None) -> None:
    """Every locked event's new state: closed by validation, or attempted."""
    closed = [{"id": e.id, "status": e.status, "reason_code": e.reason_code,
               "next_attempt_at": None} for e in events if e.payload is None]
    attempted = [{
        "id": e.id, "status": e.status, "reason_code": e.reason_code, "attempts": e.attempts,
        "failures": e.failures, "next_attempt_at": e.next_attempt_at,
        "last_attempt_at": e.last_attempt_at, "sent_at": e.sent_at, "dataset_id": dataset_id,
        "payload": e.payload, "http_status": e.http_status, "response_body": e.response_body,
        "events_received": e.events_received, "fbtrace_id": e.fbtrace_id, **_error_fields(e),
    } for e in events if e.payload is not None]
    _update_rows(org, _CLOSED, closed)
    _update_rows(org, _WRITTEN, attempted)
