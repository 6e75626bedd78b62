"""Sending due CAPI events to Meta: lock, validate, batch, split, record every attempt.

One call handles at most one batch (1,000 events) of one organization. The rows are
locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` for the whole unit of work, so two
workers never send the same event, and the caller commits once at the end.

A refused batch is split into about sqrt(n) parts until the bad event stands alone (Meta
refuses a whole request for one invalid event); only errors that concern the request
itself (token, dataset, permissions) fail every event at once. The parts go out
concurrently on a small shared pool (conversions_posting). A 5xx is retried in place after
a short wait, up to ``IN_PLACE_RETRIES`` times; after that, and after a rate limit or a
lost answer, the events wait for their persisted schedule: exponential backoff and
jitter, capped at an hour, up to ``MAX_FAILURES`` failed tries.

The rows travel as plain ``Outgoing`` records (simple keyed reads in, one set-based
UPDATE and one COPY out, see conversions_writes) rather than ORM objects: a batch is 1,000
rows and may be re-sent in parts, and per-object bookkeeping would dominate the cost.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ARRAY, Integer, any_, bindparam, select

from whatrack.extensions import db
from whatrack.integrations.meta import capi
from whatrack.integrations.meta.errors import (
    MetaErrorInfo,
    MetaOutcomeUnknown,
    MetaPermanentError,
    MetaRateLimited,
    MetaTemporaryError,
    MetaTokenError,
)
from whatrack.integrations.meta.graph import GraphClient
from whatrack.models import (
    Contact,
    MetaConnection,
    MetaConversionEvent,
    Organization,
    Sale,
    Ticket,
    WhatsAppAccount,
    utcnow,
)
from whatrack.services.conversions import posting
from whatrack.services.conversions.commands import (
    AUTOMATIC_EVENT_TRIGGER,
    SKIPPING_CODES,
    connection_of,
    hold_pending_events,
    waiting_reason,
)
from whatrack.services.conversions.types import DispatchResult, Outgoing
from whatrack.services.conversions.writes import insert_attempts, write_outcomes

log = logging.getLogger(__name__)

# Every failed request counts, in-place retries too: 9 rounds of 3 tries against a Meta
# answering 5xx, about as long (~4-5 hours with the 2 s base and the 1 h cap) as the 16
# single tries before in-place retries (decisions.md D50).
MAX_FAILURES = 27
# A 5xx is retried at once, up to twice, after 125-250 ms (D50: the first step of the
# usual client retry schedules, and the batch's other requests keep going meanwhile);
# then the event's persisted schedule takes over.
IN_PLACE_RETRIES = 2
IN_PLACE_CAP_SECONDS = 0.25
# Settled events and attempt rows are written while the batch's other requests are still
# out, once this many have piled up, instead of all after the last answer.
WRITE_AHEAD_EVENTS = 200
WRITE_AHEAD_ATTEMPTS = 1000
BACKOFF_CAP_SECONDS = 3600.0
BODY_LIMIT = 4000
_random = secrets.SystemRandom()
_LAPTOP_LOCK = threading.Lock()
# Reading and building a batch is Python work, and the threads of a process share one
# interpreter lock: 8 batches built at once all became ready ~0.5 s later, together, with
# nothing sent meanwhile. One at a time, the first goes out after ~1/8 of that and the
# others are built while it is being sent (the pool serves the oldest batch first).
_BUILD_LOCK = threading.Lock()


class _TokenRefused(Exception):
    """Meta answered 190: stop sending for this organization until it reconnects."""


def backoff_seconds(failures: int, base: float, retry_after: float | None = None,
                    jitter: float | None = None) -> float:
    """Exponential with equal jitter: ``base`` doubling per failure, capped at one hour.

    ``jitter`` (0 to 1) is the random share of the upper half; drawn here unless given.
    """
    ceiling = min(BACKOFF_CAP_SECONDS, base * 2 ** max(failures - 1, 0))
    share = _random.random() if jitter is None else jitter
    delay = ceiling / 2 + share * ceiling / 2
    if retry_after:
        delay = max(delay, min(retry_after, BACKOFF_CAP_SECONDS))
    return delay


def in_place_backoff(failures: int, base: float) -> float:
    """The short wait before retrying a 5xx in place: the usual backoff, capped low."""
    ceiling = min(IN_PLACE_CAP_SECONDS, base * 2 ** max(failures - 1, 0))
    return ceiling / 2 + _random.uniform(0, ceiling / 2)


def _retry_in_place(exc: MetaTemporaryError) -> bool:
    """A 5xx or a connection that never reached Meta: worth one more try right away.

    Not a rate limit (Meta asked us to slow down) and not a lost answer (a read timeout
    has already held the batch for the whole timeout): those wait for their schedule.
    """
    return not isinstance(exc, MetaRateLimited | MetaOutcomeUnknown)


def split_parts(events: list[Any]) -> list[list[Any]]:
    """A refused batch of n events becomes about sqrt(n) parts of about sqrt(n) events.

    Bad events are rare and scattered: a 1,000-event batch holding 5 of them is cleared in
    3 rounds (32 parts, then the ~5 failing parts of ~32, then their ~6-event parts) with
    about half the events re-sent that halving would need.
    """
    size = math.isqrt(len(events) - 1) + 1 if len(events) > 3 else 1  # ceil(sqrt(n))
    return [events[i:i + size] for i in range(0, len(events), size)]


def _lock_due(org: Organization, limit: int, now: datetime) -> list[Outgoing]:
    """Lock up to ``limit`` due rows and read them, then read what their payloads need."""
    event = MetaConversionEvent
    # The locking query returns the columns itself: a second read of the same 1,000 rows
    # by id cost as much again (bench/capi.py).
    rows = db.session.execute(
        select(event.id, event.event_name, event.event_id, event.event_time, event.value,
               event.currency, event.attempts, event.failures, event.ticket_id, event.sale_id,
               event.trigger)
        .where(event.organization_id == org.id, event.status == "pending",
               event.next_attempt_at.is_not(None), event.next_attempt_at <= now)
        .order_by(event.next_attempt_at, event.id)
        .limit(limit)
        .with_for_update(skip_locked=True)).all()
    if not rows:
        return []
    # One simple query per table, keyed by primary key: a join of five tables is at the
    # mercy of the planner's estimates (fresh outbox rows have none: a nested loop over
    # tickets took seconds per batch in the benchmark).
    tickets = _by_id(Ticket, (r.ticket_id for r in rows), Ticket.ctwa_clid, Ticket.contact_id,
                     Ticket.whatsapp_account_id)
    phones = _by_id(Contact, (t.contact_id for t in tickets.values()), Contact.wa_id)
    wabas = _by_id(WhatsAppAccount, (t.whatsapp_account_id for t in tickets.values()),
                   WhatsAppAccount.waba_id)
    sales = _by_id(Sale, (r.sale_id for r in rows), Sale.cancelled_at, Sale.evidence)
    events = []
    for row in rows:
        ticket = tickets.get(row.ticket_id)
        phone = phones.get(ticket.contact_id) if ticket else None
        waba = wabas.get(ticket.whatsapp_account_id) if ticket else None
        sale = sales.get(row.sale_id)
        clid = ticket.ctwa_clid if ticket else None
        outcome_type = None
        if row.trigger == AUTOMATIC_EVENT_TRIGGER and sale is not None:
            # Meta's detection, confirmed by a person: its own click id and outcome type.
            detected = (sale.evidence or {}).get("automatic_event") or {}
            clid, outcome_type = detected.get("ctwa_clid") or clid, "automatic_events"
        events.append(Outgoing(
            id=row.id, attempts=row.attempts, failures=row.failures,
            # A cancelled sale's Purchase must not go (its OrderCanceled must).
            sale_cancelled=(row.event_name == "Purchase" and sale is not None
                            and sale.cancelled_at is not None),
            data=capi.EventData(
                event_name=row.event_name, event_id=row.event_id, event_time=row.event_time,
                waba_id=waba.waba_id if waba else None,
                ctwa_clid=clid,
                phone=phone.wa_id if phone and phone.wa_id.isdigit() else None,
                value=row.value, currency=row.currency, outcome_type=outcome_type)))
    return events


def _by_id(model: Any, ids: Any, *columns: Any) -> dict[int, Any]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    if db.session.get_bind().dialect.name == "postgresql":
        # One array parameter instead of 1,000 placeholders to render, adapt and parse.
        match = model.id == any_(bindparam("ids", list(wanted), type_=ARRAY(Integer)))
    else:
        match = model.id.in_(wanted)
    stmt = select(model.id, *columns).where(match)
    return {row.id: row for row in db.session.execute(stmt)}


def _prepare(events: list[Outgoing], now: datetime, result: DispatchResult) -> list[Outgoing]:
    """Validate before batching; build the exact payload of the events that may go."""
    ready = []
    for event in events:
        try:
            if event.sale_cancelled:
                raise capi.Invalid("sale_cancelled")
            capi.validate(event.data, now)
        except capi.Invalid as exc:
            event.status = "skipped" if exc.code in SKIPPING_CODES else "failed"
            event.reason_code = exc.code
            setattr(result, event.status, getattr(result, event.status) + 1)
            continue
        event.payload = capi.dumps(capi.build_event(event.data))
        ready.append(event)
    return ready


@dataclass
class _Request:
    """Events waiting to go in one request: a batch, a part of a refused one, or a retry."""

    events: list[Outgoing]
    not_before: float = 0.0  # time.monotonic() of an in-place retry's end of backoff
    retries: int = 0  # in-place retries already made for these events in this dispatch


class _Sender:
    """Posts the requests of one batch for one organization and notes each event's outcome.

    The requests go out concurrently on the shared pool (conversions_posting); the answers
    are noted here, one at a time, in the thread that holds the rows' locks, so nothing
    about the events needs a lock of its own.
    """

    def __init__(self, org: Organization, conn: MetaConnection, result: DispatchResult) -> None:
        cfg = current_app.config
        self.org, self.conn, self.result = org, conn, result
        timeout = float(cfg.get("META_CAPI_TIMEOUT", 10))
        self.client = GraphClient(conn.token, cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"],
                                  timeout=(min(3.05, timeout), timeout))
        self.app_secret = cfg.get("META_APP_SECRET")
        self.retry_base = float(cfg.get("META_CAPI_RETRY_BASE", 2.0))
        self.concurrency = int(cfg.get("META_CAPI_CONCURRENCY", 8))
        self.rank = posting.batch_rank()
        self.request = capi.redacted_request(
            f"/{cfg['META_GRAPH_VERSION']}/{conn.dataset_id}/events", 0, conn.test_event_code)
        self.settled: list[Outgoing] = []  # final for this batch, not written yet

    def send(self, events: list[Outgoing]) -> None:
        """Post ``events`` and what their answers lead to (parts, in-place retries)."""
        waiting = [_Request(events)]
        in_flight: dict[Future[posting.Answer], _Request] = {}
        refused: _TokenRefused | None = None
        try:
            while waiting or in_flight:
                now = time.monotonic()
                if refused is not None:
                    waiting.clear()  # not sent: they stay pending, held until a reconnect
                for request in [r for r in waiting if r.not_before <= now]:
                    waiting.remove(request)
                    in_flight[self._submit(request)] = request
                wake = min((r.not_before for r in waiting), default=None)
                if not in_flight:
                    time.sleep(max(0.0, wake - now))  # only in-place retries are waiting
                    continue
                done, _ = wait(in_flight, timeout=None if wake is None else max(0.0, wake - now),
                               return_when=FIRST_COMPLETED)
                for future in done:
                    request = in_flight.pop(future)
                    try:
                        waiting.extend(self._settle(request, future.result()))
                    except _TokenRefused as exc:
                        refused = exc
                if in_flight:
                    self._write_ahead()
        finally:
            # Requests already out are Meta's now: never return while one is unanswered.
            wait(in_flight)
        if refused is not None:
            raise refused

    def _write_ahead(self) -> None:
        """Write what is settled while requests are out: the thread would only wait, and
        the batch commits sooner after its last answer (same transaction: all or nothing)."""
        if (len(self.settled) < WRITE_AHEAD_EVENTS
                and len(self.result.attempts) < WRITE_AHEAD_ATTEMPTS):
            return
        write_outcomes(self.org, self.settled, self.conn.dataset_id)
        for event in self.settled:
            event.written = True
        self.settled.clear()
        insert_attempts(self.result.attempts)
        self.result.attempts.clear()

    def _submit(self, request: _Request) -> Future[posting.Answer]:
        body = capi.request_body([e.payload for e in request.events], self.conn.test_event_code)
        self.result.requests += 1
        return posting.submit(self.concurrency, self.rank, self.client, self.conn.dataset_id,
                              body, self.app_secret)

    def _settle(self, request: _Request, answer: posting.Answer) -> list[_Request]:
        """Note one answer; return the requests it calls for (parts, an in-place retry)."""
        events, exc = request.events, answer.error
        if exc is None:
            self._attempted(events, "sent", answer)
            self._sent(events, answer.response, answer.started)
            return []
        if isinstance(exc, MetaTokenError):
            self._attempted(events, "token", answer)
            self._token_refused(events, exc)
            raise _TokenRefused from exc
        if isinstance(exc, MetaTemporaryError):
            self._attempted(events, "retry", answer)
            again = self._count_failure(events)
            if again and _retry_in_place(exc) and request.retries < IN_PLACE_RETRIES:
                delay = in_place_backoff(max(e.failures for e in again), self.retry_base)
                return [_Request(again, time.monotonic() + delay, request.retries + 1)]
            self._retry_later(again, exc, answer.started)
            return []
        if not isinstance(exc, MetaPermanentError):
            raise exc
        if len(events) > 1 and capi.is_event_level(exc):
            self._attempted(events, "split", answer)
            return [_Request(part) for part in split_parts(events)]
        self._attempted(events, "failed", answer)
        self._fail(events, exc)
        return []

    def _attempted(self, events: list[Outgoing], result: str, answer: posting.Answer) -> None:
        """One attempt row per event carried by the request, and the event's latest answer."""
        error, response, started = answer.error, answer.response, answer.started
        info = error.info if error else None
        body = response.body if response else _error_body(info)
        body = body[:BODY_LIMIT] if body else None
        http_status = response.status if response else (info.http_status if info else None)
        fbtrace = response.fbtrace_id if response else (info.fbtrace_id if info else None)
        row = {
            "organization_id": self.org.id, "batch_key": uuid.uuid4().hex,
            "batch_size": len(events), "started_at": started,
            "duration_ms": answer.duration_ms, "result": result,
            "request": {**self.request, "batch_size": len(events)},
            "http_status": http_status, "response_body": body,
            "events_received": response.events_received if response else None,
            "fbtrace_id": fbtrace,
            "error_code": info.code if info else None,
            "error_subcode": info.subcode if info else None,
            "error_message": (info.message or str(error))[:1000] if error else None,
        }
        self.result.attempts.extend({**row, "event_id": e.id} for e in events)
        for event in events:
            event.attempts += 1
            event.last_attempt_at, event.http_status = started, http_status
            event.response_body, event.fbtrace_id, event.error = body, fbtrace, info

    def _sent(self, events: list[Outgoing], response: capi.Response, started: datetime) -> None:
        partial = response.events_received is not None and response.events_received < len(events)
        if partial:
            log.warning("Meta confirmed %s of %d events (fbtrace %s)", response.events_received,
                        len(events), response.fbtrace_id)
        for event in events:
            event.status, event.sent_at, event.next_attempt_at = "sent", started, None
            event.reason_code = "partial_ack" if partial else None
            event.events_received = response.events_received
        self.result.sent += len(events)
        self.settled.extend(events)

    def _count_failure(self, events: list[Outgoing]) -> list[Outgoing]:
        """One more transient failure each; those at ``MAX_FAILURES`` give up. Returns the rest."""
        again = []
        for event in events:
            event.failures += 1
            if event.failures >= MAX_FAILURES:
                event.status, event.reason_code, event.next_attempt_at = "failed", "gave_up", None
                self.result.failed += 1
                self.settled.append(event)
            else:
                again.append(event)
        return again

    def _retry_later(self, events: list[Outgoing], exc: MetaTemporaryError,
                     now: datetime) -> None:
        """Due again after a backoff; one jitter draw per request, so the request's events
        come due together and go back as one request rather than one each."""
        retry_after = exc.retry_after if isinstance(exc, MetaRateLimited) else None
        jitter = _random.random()
        for event in events:
            delay = backoff_seconds(event.failures, self.retry_base, retry_after, jitter)
            event.reason_code = "retrying"
            event.next_attempt_at = now + timedelta(seconds=delay)
        self.result.retrying += len(events)
        self.settled.extend(events)

    def _fail(self, events: list[Outgoing], exc: MetaPermanentError) -> None:
        code = _failure_code(exc)
        for event in events:
            event.status, event.reason_code, event.next_attempt_at = "failed", code, None
        self.result.failed += len(events)
        self.settled.extend(events)
        log.warning("%d capi events refused by Meta (code %s/%s, fbtrace %s)", len(events),
                    exc.info.code, exc.info.subcode, exc.info.fbtrace_id)

    def _token_refused(self, events: list[Outgoing], exc: MetaTokenError) -> None:
        self.conn.token_invalid_at = utcnow()
        self.conn.token_error = (exc.info.message or str(exc))[:255]
        for event in events:
            event.reason_code, event.next_attempt_at = "reconnect", None
        log.warning("Meta refused the token of organization %s (190): events wait", self.org.id)


def _error_body(info: MetaErrorInfo | None) -> str | None:
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
    with _BUILD_LOCK:
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
            for event in ready:
                if event.status == "pending" and event.last_attempt_at is None:
                    event.reason_code = "reconnect"
    write_outcomes(org, [e for e in events if not e.written], conn.dataset_id)
    insert_attempts(result.attempts)
    db.session.flush()
    return result


def batch_guard() -> AbstractContextManager[Any]:
    """Hold around ``dispatch_due`` and its commit: SQLite (laptop mode) has no row locks,
    and laptop mode is one process, so there a thread lock keeps batches one at a time."""
    if db.session.get_bind().dialect.name == "postgresql":
        return nullcontext()
    return _LAPTOP_LOCK


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
