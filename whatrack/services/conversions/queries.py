"""Reading the CAPI audit log: filters, counts by status, pages, CSV rows (one org at a time)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from whatrack.errors import QueryError
from whatrack.extensions import db
from whatrack.i18n import parse_date_input
from whatrack.integrations.meta.capi import BUSINESS_MESSAGING_EVENTS
from whatrack.models import MetaConversionEvent, Organization, Sale, Ticket
from whatrack.models.base import MAX_DB_ID
from whatrack.models.conversions import EVENT_STATUSES

# Why an event is skipped, failed or still waiting. English msgids; the API always shows
# the pt-BR text. The first three are contract text (issue 5): "lead sem clique de anúncio
# (ctwa_clid)", "conectar Facebook", "reconectar Facebook".
REASONS = {
    "no_click": _l("lead without an ad click (ctwa_clid)"),
    "not_connected": _l("connect Facebook"),
    "reconnect": _l("reconnect Facebook"),
    "queued": _l("waiting to be sent"),
    "no_dataset": _l("choose a dataset in the Meta settings"),
    "retrying": _l("Meta unavailable; it will be retried automatically"),
    "too_old": _l("event older than the 7 days Meta accepts"),
    "future_time": _l("event time in the future"),
    "no_waba": _l("the ticket's WhatsApp number is no longer connected"),
    "no_value": _l("sale without a value or currency"),
    "sale_cancelled": _l("sale cancelled before it was sent"),
    "event_name_not_allowed": _l(
        "event name not accepted by Meta for WhatsApp: choose one from the list in the Meta "
        "settings"),
    "invalid_click": _l(
        "Meta did not recognise the ad click (ctwa_clid): this lead cannot be attributed"),
    "dataset_denied": _l(
        "the dataset cannot be reached with this token: share it with the business in "
        "Business Manager or choose the WhatsApp dataset, then resend"),
    "permission": _l("permission missing: reconnect Facebook accepting every permission, "
                     "then resend"),
    "meta_rejected": _l("Meta refused the event: %(message)s"),
    "gave_up": _l("Meta unavailable after %(attempts)s attempts: use Resend"),
    "partial_ack": _l("Meta confirmed %(received)s events of a request with more"),
    "demo": _l("demo data: nothing was sent to Meta"),
    "contact_erased": _l("contact erased at their request: nothing more is sent to Meta"),
}
# The API's contract text for these reasons, whatever the catalogs say (the pt-BR catalog
# carries the same words for the UI; keep both in step).
CONTRACT_PT = {
    "no_click": "lead sem clique de anúncio (ctwa_clid)",
    "not_connected": "conectar Facebook",
    "reconnect": "reconectar Facebook",
}


MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class AuditFilter:
    status: str | None = None
    event_name: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    ticket_id: int | None = None

    def as_args(self) -> dict[str, str]:
        values = {"status": self.status, "event_name": self.event_name,
                  "from": self.date_from.isoformat() if self.date_from else None,
                  "to": self.date_to.isoformat() if self.date_to else None,
                  "ticket": str(self.ticket_id) if self.ticket_id else None}
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class Page:
    items: list[MetaConversionEvent]
    next_cursor: str | None


def _date(raw: str | None, field: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return parse_date_input(raw)
    except ValueError:
        errors[field] = _("Type the dates as dd/mm/yyyy, for example 01/11/2026.")
        return None


def parse_filter(args: Mapping[str, str]) -> tuple[AuditFilter, dict[str, str]]:
    """The filter from query arguments, and what was wrong with them (field -> message)."""
    errors: dict[str, str] = {}
    status = args.get("status") or None
    if status is not None and status not in EVENT_STATUSES:
        errors["status"] = _("Unknown status (pending, sent, failed or skipped).")
        status = None
    name = args.get("event_name") or None
    if name is not None and name not in BUSINESS_MESSAGING_EVENTS:
        errors["event_name"] = _("Unknown event name.")
        name = None
    ticket_raw = (args.get("ticket") or args.get("ticket_id") or "").strip()
    ticket_id = (int(ticket_raw) if ticket_raw.isascii() and ticket_raw.isdigit()
                 and len(ticket_raw) < 10 else None)
    if ticket_raw and ticket_id is None:
        errors["ticket"] = _("The ticket is a number.")
    date_from = _date(args.get("from"), "from", errors)
    date_to = _date(args.get("to"), "to", errors)
    if date_from and date_to and (date_to < date_from
                                  or (date_to - date_from).days > MAX_RANGE_DAYS):
        errors["to"] = _("Choose an end date after the start, at most a year apart.")
        date_to = None
    return AuditFilter(status, name, date_from, date_to, ticket_id), errors


def _zone(org: Organization) -> ZoneInfo:
    try:
        return ZoneInfo(org.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("America/Sao_Paulo")


def _conditions(org: Organization, f: AuditFilter, with_status: bool = True) -> list[Any]:
    model = MetaConversionEvent
    conds: list[Any] = [model.organization_id == org.id]
    zone = _zone(org)
    if f.date_from:
        conds.append(model.created_at >= datetime.combine(f.date_from, time.min, zone))
    if f.date_to:
        conds.append(model.created_at < datetime.combine(f.date_to + timedelta(days=1),
                                                         time.min, zone))
    if f.event_name:
        conds.append(model.event_name == f.event_name)
    if f.ticket_id:
        conds.append(model.ticket_id == f.ticket_id)
    if with_status and f.status:
        conds.append(model.status == f.status)
    return conds


def status_counts(org: Organization, f: AuditFilter) -> dict[str, int]:
    """Events per status for the filter's period (the status filter itself is ignored)."""
    stmt = (select(MetaConversionEvent.status, func.count())
            .where(*_conditions(org, f, with_status=False))
            .group_by(MetaConversionEvent.status))
    counts = dict.fromkeys(EVENT_STATUSES, 0)
    counts.update({status: n for status, n in db.session.execute(stmt)})
    return counts


def pending_count(org: Organization) -> int:
    """How many of ``org``'s events still wait to go to Meta (a waiting banner needs some)."""
    stmt = select(func.count()).select_from(MetaConversionEvent).where(
        MetaConversionEvent.organization_id == org.id, MetaConversionEvent.status == "pending")
    return db.session.scalar(stmt) or 0


def list_events(org: Organization, f: AuditFilter, cursor: str | None = None,
                limit: int = 50) -> Page:
    """Newest first, keyset-paginated by id (the cursor is the last id shown)."""
    conds = _conditions(org, f)
    if cursor:
        if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 10 \
                or int(cursor) > MAX_DB_ID:
            raise QueryError(_("Invalid cursor."), field="cursor")
        conds.append(MetaConversionEvent.id < int(cursor))
    stmt = (select(MetaConversionEvent).where(*conds)
            .order_by(MetaConversionEvent.id.desc()).limit(limit + 1))
    rows = list(db.session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more and rows else None)


CSV_COLUMNS = ("id", "created_at", "event_time", "event_name", "event_id", "status", "reason",
               "attempts", "ticket_id", "sale_id", "value", "currency", "dataset_id",
               "http_status", "events_received", "fbtrace_id", "error_code", "error_subcode",
               "error_message", "sent_at")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
    # A spreadsheet must never run a cell as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(org: Organization, f: AuditFilter) -> Iterator[str]:
    """The filtered log as CSV text chunks (header first), streamed in id order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    stmt = (select(MetaConversionEvent).where(*_conditions(org, f))
            .order_by(MetaConversionEvent.id).execution_options(yield_per=500))
    for event in db.session.scalars(stmt):
        row = {column: getattr(event, column, None) for column in CSV_COLUMNS}
        row["reason"] = reason_text(event)
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
        yield flush()


def reason_text(event: MetaConversionEvent) -> str | None:
    """The reason in the current locale (pages)."""
    if event.reason_code is None or event.reason_code not in REASONS:
        return None
    params = {"message": event.error_user_msg or event.error_message or "?",
              "attempts": event.attempts, "received": event.events_received}
    return str(REASONS[event.reason_code]) % params


def reason_pt(event: MetaConversionEvent) -> str | None:
    """The reason in pt-BR whatever the UI language (the API's contract)."""
    if event.reason_code in CONTRACT_PT:
        return CONTRACT_PT[event.reason_code]
    with force_locale("pt_BR"):
        return reason_text(event)


def sale_purchase_event(org: Organization, sale: Sale) -> MetaConversionEvent | None:
    """The Purchase event of ``sale`` (None if it has none)."""
    stmt = select(MetaConversionEvent).where(
        MetaConversionEvent.organization_id == org.id, MetaConversionEvent.sale_id == sale.id,
        MetaConversionEvent.event_name == "Purchase")
    return db.session.scalars(stmt).first()


def ticket_events(org: Organization, ticket: Ticket) -> list[MetaConversionEvent]:
    """The ticket's events, oldest first (the ticket panel shows where each one stands)."""
    stmt = (select(MetaConversionEvent)
            .where(MetaConversionEvent.organization_id == org.id,
                   MetaConversionEvent.ticket_id == ticket.id)
            .order_by(MetaConversionEvent.id))
    return list(db.session.scalars(stmt))
