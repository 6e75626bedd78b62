"""Sending due CAPI events to Meta: lock, validate, batch, split, record every attempt.

One call handles at most one batch (1,000 events) of one organization. The rows are
locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` for the whole unit of work, so two
workers never send the same event, and the caller commits once at the end.

A refused batch is split in halves until the bad event stands alone (Meta refuses a
whole request for one invalid event); only errors that concern the request itself
(token, dataset, permissions) fail every event at once. Transient failures are retried
with exponential backoff and jitter, capped at an hour, up to ``MAX_FAILURES`` times.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import selectinload

from whatrack.extensions import db
from whatrack.integrations.meta import capi
from whatrack.integrations.meta.errors import (
    MetaError,
    MetaPermanentError,
    MetaRateLimited,
    MetaTemporaryError,
    MetaTokenError,
)
from whatrack.integrations.meta.graph import GraphClient
from whatrack.models import (
    MetaConnection,
    MetaConversionAttempt,
    MetaConversionEvent,
    Organization,
    Ticket,
    WhatsAppAccount,
    utcnow,
)
from whatrack.services.conversions import (
    SKIPPING_CODES,
    connection_of,
    hold_pending_events,
    waiting_reason,
)

log = logging.getLogger(__name__)

MAX_FAILURES = 16  # ~6 hours of retries with the default 2 s base and the 1 h cap
BACKOFF_CAP_SECONDS = 3600.0
BODY_LIMIT = 4000
_random = secrets.SystemRandom()


@dataclass
class DispatchResult:
    locked: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    requests: int = 0
    held: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


class _TokenRefused(Exception):
    """Meta answered 190: stop sending for this organization until it reconnects."""


def backoff_seconds(failures: int, base: float, retry_after: float | None = None) -> float:
    """Exponential with equal jitter: ``base`` doubling per failure, capped at one hour."""
    ceiling = min(BACKOFF_CAP_SECONDS, base * 2 ** max(failures - 1, 0))
    delay = ceiling / 2 + _random.uniform(0, ceiling / 2)
    if retry_after:
        delay = max(delay, min(retry_after, BACKOFF_CAP_SECONDS))
    return delay


def _lock_due(org: Organization, limit: int, now: datetime) -> list[MetaConversionEvent]:
    stmt = (
        select(MetaConversionEvent)
        .where(MetaConversionEvent.organization_id == org.id,
               MetaConversionEvent.status == "pending",
               MetaConversionEvent.next_attempt_at.is_not(None),
               MetaConversionEvent.next_attempt_at <= now)
        .order_by(MetaConversionEvent.next_attempt_at, MetaConversionEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .options(selectinload(MetaConversionEvent.ticket).selectinload(Ticket.contact),
                 selectinload(MetaConversionEvent.sale))
    )
    return list(db.session.scalars(stmt))


def _wabas(events: list[MetaConversionEvent]) -> dict[int, str]:
    ids = {e.ticket.whatsapp_account_id for e in events if e.ticket and
           e.ticket.whatsapp_account_id}
    if not ids:
        return {}
    rows = db.session.execute(select(WhatsAppAccount.id, WhatsAppAccount.waba_id)
                              .where(WhatsAppAccount.id.in_(ids)))
    return {row.id: row.waba_id for row in rows}


def event_data(event: MetaConversionEvent, wabas: dict[int, str]) -> capi.EventData:
    ticket = event.ticket
    contact = ticket.contact if ticket else None
    phone = contact.wa_id if contact and contact.wa_id.isdigit() else None
    return capi.EventData(
        event_name=event.event_name, event_id=event.event_id, event_time=event.event_time,
        waba_id=wabas.get(ticket.whatsapp_account_id) if ticket else None,
        ctwa_clid=ticket.ctwa_clid if ticket else None, phone=phone,
        value=event.value, currency=event.currency)


def _close_invalid(event: MetaConversionEvent, code: str) -> str:
    event.status = "skipped" if code in SKIPPING_CODES else "failed"
    event.reason_code = code
    event.next_attempt_at = None
    return event.status


class _Sender:
    """Posts batches for one organization and writes each event's outcome."""

    def __init__(self, org: Organization, conn: MetaConnection, result: DispatchResult) -> None:
        cfg = current_app.config
        self.org, self.conn, self.result = org, conn, result
        timeout = float(cfg.get("META_CAPI_TIMEOUT", 10))
        self.client = GraphClient(conn.token, cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"],
                                  timeout=(min(3.05, timeout), timeout))
        self.app_secret = cfg.get("META_APP_SECRET")
        self.retry_base = float(cfg.get("META_CAPI_RETRY_BASE", 2.0))
        self.url = f"/{cfg['META_GRAPH_VERSION']}/{conn.dataset_id}/events"

    def send(self, events: list[MetaConversionEvent]) -> None:
        started, clock = utcnow(), time.monotonic()
        body = capi.request_body([e.payload for e in events], self.conn.test_event_code)
        self.result.requests += 1
        try:
            response = capi.post_events(self.client, self.conn.dataset_id, body, self.app_secret)
        except MetaTokenError as exc:
            self._attempts(events, "token", started, clock, exc)
            self._token_refused(events, exc)
            raise _TokenRefused from exc
        except MetaTemporaryError as exc:
            self._attempts(events, "retry", started, clock, exc)
            self._retry_later(events, exc, started)
        except MetaPermanentError as exc:
            if len(events) > 1 and capi.is_event_level(exc):
                self._attempts(events, "split", started, clock, exc)
                middle = len(events) // 2
                self.send(events[:middle])
                self.send(events[middle:])
            else:
                self._attempts(events, "failed", started, clock, exc)
                self._fail(events, exc)
        else:
            self._attempts(events, "sent", started, clock, None, response)
            self._sent(events, response, started)

    # --- outcomes ---------------------------------------------------------------------
    def _attempts(self, events: list[MetaConversionEvent], result: str, started: datetime,
                  clock: float, error: MetaError | None,
                  response: capi.Response | None = None) -> None:
        info = error.info if error else None
        key = uuid.uuid4().hex
        duration = int((time.monotonic() - clock) * 1000)
        body = response.body if response else _error_body(info)
        common = {
            "organization_id": self.org.id, "batch_key": key, "batch_size": len(events),
            "started_at": started, "duration_ms": duration, "result": result,
            "request": capi.redacted_request(self.url, len(events), self.conn.test_event_code),
            "http_status": response.status if response else (info.http_status if info else None),
            "response_body": body[:BODY_LIMIT] if body else None,
            "events_received": response.events_received if response else None,
            "fbtrace_id": response.fbtrace_id if response else (info.fbtrace_id if info else None),
            "error_code": info.code if info else None,
            "error_subcode": info.subcode if info else None,
            "error_message": (info.message or str(error))[:1000] if error else None,
        }
        self.result.attempts.extend({**common, "event_id": e.id} for e in events)
        for event in events:
            event.attempts += 1
            event.last_attempt_at = started
            event.dataset_id = self.conn.dataset_id
            event.http_status = common["http_status"]
            event.response_body = common["response_body"]
            event.fbtrace_id = common["fbtrace_id"]
            if info is not None:
                event.error_code, event.error_subcode = info.code, info.subcode
                event.error_message = common["error_message"]
                event.error_user_title = (info.user_title or "")[:255] or None
                event.error_user_msg = info.user_msg

    def _sent(self, events: list[MetaConversionEvent], response: capi.Response,
              started: datetime) -> None:
        partial = response.events_received is not None and response.events_received < len(events)
        if partial:
            log.warning("Meta confirmed %s of %d events (fbtrace %s)", response.events_received,
                        len(events), response.fbtrace_id)
        for event in events:
            event.status, event.sent_at, event.next_attempt_at = "sent", started, None
            event.reason_code = "partial_ack" if partial else None
            event.events_received = response.events_received
            event.error_code = event.error_subcode = None
            event.error_message = event.error_user_title = event.error_user_msg = None
        self.result.sent += len(events)

    def _retry_later(self, events: list[MetaConversionEvent], exc: MetaTemporaryError,
                     now: datetime) -> None:
        retry_after = exc.retry_after if isinstance(exc, MetaRateLimited) else None
        for event in events:
            event.failures += 1
            if event.failures >= MAX_FAILURES:
                event.status, event.reason_code, event.next_attempt_at = "failed", "gave_up", None
                self.result.failed += 1
                continue
            delay = backoff_seconds(event.failures, self.retry_base, retry_after)
            event.reason_code = "retrying"
            event.next_attempt_at = now + timedelta(seconds=delay)
            self.result.retrying += 1

    def _fail(self, events: list[MetaConversionEvent], exc: MetaPermanentError) -> None:
        code = _failure_code(exc)
        for event in events:
            event.status, event.reason_code, event.next_attempt_at = "failed", code, None
        self.result.failed += len(events)
        log.warning("%d capi events refused by Meta (code %s/%s, fbtrace %s)", len(events),
                    exc.info.code, exc.info.subcode, exc.info.fbtrace_id)

    def _token_refused(self, events: list[MetaConversionEvent], exc: MetaTokenError) -> None:
        self.conn.token_invalid_at = utcnow()
        self.conn.token_error = (exc.info.message or str(exc))[:255]
        for event in events:
            event.reason_code, event.next_attempt_at = "reconnect", None
        log.warning("Meta refused the token of organization %s (190): events wait", self.org.id)


def _error_body(info: Any) -> str | None:
    if info is None or info.body is None:
        return None
    if isinstance(info.body, str):
        return info.body
    return capi.dumps(info.body) if isinstance(info.body, dict | list) else str(info.body)


def _failure_code(exc: MetaPermanentError) -> str:
    info = exc.info
    if info.subcode == 2804066:
        return "event_name_not_allowed"
    if info.subcode == 2804087:
        return "invalid_click"
    if info.subcode == 33:
        return "dataset_denied"
    if info.code in (10, 3) or (info.code is not None and 200 <= info.code <= 299):
        return "permission"
    return "meta_rejected"


def _prepare(events: list[MetaConversionEvent], now: datetime,
             result: DispatchResult) -> list[MetaConversionEvent]:
    """Validate before batching; build the exact payload of the events that may go."""
    wabas = _wabas(events)
    ready = []
    for event in events:
        data = event_data(event, wabas)
        try:
            if event.sale is not None and event.sale.cancelled_at is not None:
                raise capi.Invalid("sale_cancelled")
            capi.validate(data, now)
        except capi.Invalid as exc:
            status = _close_invalid(event, exc.code)
            setattr(result, status, getattr(result, status) + 1)
            continue
        event.payload = capi.dumps(capi.build_event(data))
        ready.append(event)
    return ready


def dispatch_due(org: Organization, limit: int = capi.MAX_BATCH) -> DispatchResult:
    """Send up to ``limit`` due events of ``org`` in one batch; the caller commits."""
    result = DispatchResult()
    conn = connection_of(org)
    wait = waiting_reason(conn)
    if wait:
        result.held = wait
        hold_pending_events(org, wait)
        return result
    now = utcnow()
    events = _lock_due(org, min(limit, capi.MAX_BATCH), now)
    result.locked = len(events)
    ready = _prepare(events, now, result)
    if ready:
        try:
            _Sender(org, conn, result).send(ready)
        except _TokenRefused:
            # The other pending rows are held by the next call, in a transaction that
            # holds no row locks (two workers refused at once must not deadlock).
            result.held = "reconnect"
    if result.attempts:
        db.session.execute(insert(MetaConversionAttempt), result.attempts)
    db.session.flush()
    return result


def next_retry_at(org: Organization) -> datetime | None:
    """When the earliest pending event no other worker holds is due (None: nothing is)."""
    stmt = (select(MetaConversionEvent.next_attempt_at)
            .where(MetaConversionEvent.organization_id == org.id,
                   MetaConversionEvent.status == "pending",
                   MetaConversionEvent.next_attempt_at.is_not(None))
            .order_by(MetaConversionEvent.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True))
    return db.session.scalar(stmt)
