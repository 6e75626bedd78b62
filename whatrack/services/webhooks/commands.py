"""Webhook deliveries: processed (and re-processed) from the stored row (store.py wrote it)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ARRAY, String, case, func, literal, select

from whatrack import queue
from whatrack.errors import NotFound
from whatrack.extensions import db
from whatrack.integrations.meta.webhook import (
    ContactBookChange,
    InboundMessage,
    MalformedPayload,
    ParsedWebhook,
    StatusUpdate,
    parse_bytes,
)
from whatrack.models import Organization, WebhookEvent, WebhookEventRoute, WhatsAppAccount, utcnow
from whatrack.models.base import dialect_insert
from whatrack.realtime.events import publish_after_commit
from whatrack.services.billing import stripe_events
from whatrack.services.copilot import meta_events
from whatrack.services.copilot import review as copilot_review
from whatrack.services.inbox import ingest as inbox
from whatrack.services.whatsapp.accounts import (
    accounts_by_phone_number_id,
    accounts_by_waba_id,
    apply_account_update,
)
from whatrack.services.whatsapp.phones import canonical_wa_id, digits
from whatrack.tenancy import bind_org
from whatrack.transaction_memo import remembered

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def lock_event(event_id: int) -> WebhookEvent | None:
    """The event if no other worker holds it; SKIP LOCKED lets racing workers move on."""
    stmt = select(WebhookEvent).where(WebhookEvent.id == event_id)
    return db.session.scalars(stmt.with_for_update(skip_locked=True)).first()


def lock_events(event_ids: list[int]) -> list[WebhookEvent]:
    """The deliveries among ``event_ids`` still waiting and held by no other worker, in
    arrival order (``lock_event`` for a batch, one round trip)."""
    stmt = (select(WebhookEvent)
            .where(WebhookEvent.id.in_(event_ids), WebhookEvent.state == "received")
            .order_by(WebhookEvent.id)
            .with_for_update(skip_locked=True))
    return list(db.session.scalars(stmt))


def _parsed(event: WebhookEvent) -> ParsedWebhook:
    # A batch parses each body twice otherwise: once to lock its conversations up front.
    return remembered(("parsed", event.id), lambda: parse_bytes(event.body))


def _conversation_keys(parsed: ParsedWebhook) -> set[str]:
    keys = set()
    for item in parsed.messages:
        customer = canonical_wa_id(digits(item.customer_wa_id)) or item.bsuid
        keys.add(f"{item.phone_number_id}:{customer}")
    for status in parsed.statuses:
        keys.add(f"{status.phone_number_id}:{canonical_wa_id(digits(status.recipient_wa_id))}")
    return keys


def lock_conversations(events: list[WebhookEvent]) -> None:
    """Take the lock of every conversation ``events`` write to, in one fixed order, before
    any of their rows: two workers whose deliveries share customers then queue behind each
    other instead of deadlocking (each would hold one contact and wait for the other's).

    A batch locks all its conversations at once; the deliveries applied after that find
    their locks held and send nothing. SQLite serialises writers and needs none.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    keys: set[str] = set()
    for event in events:
        if event.source == "stripe":
            continue
        try:
            keys |= _conversation_keys(_parsed(event))
        except MalformedPayload:
            continue  # recorded as failed when processed; it writes no conversation
    _lock_keys(keys)


def _lock_keys(keys: set[str]) -> None:
    if not keys or db.session.get_bind().dialect.name != "postgresql":
        return
    held: set[str] = remembered("conversation_locks", set)
    todo = sorted(keys - held)
    if todo:
        # unnest yields the keys in array order, so they are locked in sorted order.
        keys_table = (func.unnest(literal(todo, ARRAY(String))).table_valued("key")
                      .render_derived(name="conversation_keys"))
        db.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(keys_table.c.key, 0))))
        held.update(todo)


@dataclass
class Counts:
    messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    others: int = 0

    def text(self) -> str:
        return (f"{self.messages} messages, {self.duplicates} duplicates, "
                f"{self.statuses} statuses, {self.others} other")


@dataclass
class Outcome(Counts):
    unroutable: set[str] = field(default_factory=set)
    orgs: set[int] = field(default_factory=set)
    malformed: str | None = None  # why the body could not be read at all
    # (organization id, ticket id) whose copilot review a new message pushes back; written
    # with the outcome, one statement for a whole batch.
    reviews: set[tuple[int, int]] = field(default_factory=set)
    # Each organization's share: what its webhook view shows (never the others' entries).
    per_org: dict[int, Counts] = field(default_factory=lambda: defaultdict(Counts))

    def summary(self) -> str:
        text = self.text()
        if self.unroutable:
            text += f"; unroutable numbers: {', '.join(sorted(self.unroutable))}"
        return text[:255]


def _group_by_account(parsed: ParsedWebhook, routes: dict[str, WhatsAppAccount],
                      outcome: Outcome):
    groups: dict[int, list[InboundMessage | StatusUpdate]] = defaultdict(list)
    accounts: dict[int, WhatsAppAccount] = {}
    for item in [*parsed.messages, *parsed.statuses]:
        account = routes.get(item.phone_number_id or "")
        if account is None:
            outcome.unroutable.add(item.phone_number_id or "?")
            continue
        accounts[account.id] = account
        groups[account.id].append(item)
    return accounts, groups


def _route_others(parsed: ParsedWebhook, phone_routes: dict[str, WhatsAppAccount],
                  outcome: Outcome, only_org_id: int | None = None) -> None:
    """Account updates, address books, template statuses...: applied or logged, per tenant."""
    waba_routes = _only(accounts_by_waba_id({o.waba_id for o in parsed.others if o.waba_id}),
                        only_org_id)
    for other in parsed.others:
        account = None
        if isinstance(other, ContactBookChange) or _field(other) == "automatic_events":
            # Both name the number they concern (metadata.phone_number_id).
            account = phone_routes.get(other.phone_number_id or "")
        account = account or waba_routes.get(other.waba_id or "")
        if only_org_id is not None and account is None:
            continue  # another organization's entry (or nobody's): not this run's business
        outcome.others += 1
        if account is not None:
            outcome.orgs.add(account.organization_id)
            outcome.per_org[account.organization_id].others += 1
            if isinstance(other, ContactBookChange):
                org = account.organization
                with bind_org(org):
                    inbox.apply_contact_book_change(org, other)
            elif _field(other) == "automatic_events":
                org = account.organization
                with bind_org(org):
                    meta_events.receive_automatic_events(org, other)
                    db.session.flush()
            elif getattr(other, "field", None) == "account_update":
                apply_account_update(other.waba_id, getattr(other, "value", {}) or {})
        elif other.waba_id:
            # An account-level update for a business no tenant connected: kept for operators.
            outcome.unroutable.add(f"WABA {other.waba_id}")
        log.info("webhook field %s (%s) recorded",
                 getattr(other, "field", None), type(other).__name__)


def _only(routes: dict[str, WhatsAppAccount], org_id: int | None) -> dict[str, WhatsAppAccount]:
    if org_id is None:
        return routes
    return {key: account for key, account in routes.items() if account.organization_id == org_id}


def _field(other: object) -> str | None:
    return getattr(other, "field", None)


def _process_group(org: Organization, account: WhatsAppAccount,
                   items: list[InboundMessage | StatusUpdate], outcome: Outcome) -> None:
    mine = outcome.per_org[org.id]
    for item in items:
        if isinstance(item, InboundMessage):
            received = inbox.receive_message(org, account, item)
            if received is None:
                outcome.duplicates += 1
                mine.duplicates += 1
                continue
            outcome.messages += 1
            mine.messages += 1
            _after_message(org, received, outcome)
        else:
            outcome.statuses += 1
            mine.statuses += 1
            message = inbox.apply_status(org, item)
            if message is not None:
                publish_after_commit(org.id, "message.status", {
                    "ticket_id": message.ticket_id, "message_id": message.id,
                    "status": message.status})


def _after_message(org: Organization, received: inbox.Received, outcome: Outcome) -> None:
    message = received.message
    if message.media_state == "pending":
        queue.enqueue_after_commit("fetch_media", org.id, message.id)
    publish_after_commit(org.id, "message.created", {
        "ticket_id": received.ticket.id, "message_id": message.id,
        "direction": message.direction, "ticket_created": received.ticket_created})
    if not message.is_history:  # imported history is not a conversation happening now
        outcome.reviews.add((org.id, received.ticket.id))


def process_event(event: WebhookEvent, only_org_id: int | None = None) -> Outcome:
    """Parse and apply one stored delivery; the caller commits once.

    The attempt is counted with the outcome, in the event's one UPDATE: when processing
    raises, the rollback drops everything and ``record_failure`` counts it instead.
    With ``only_org_id`` (an organization reprocessing from its settings), only that
    organization's entries are applied and only its route records the outcome; the others'
    entries, and the delivery's own state, are left as they are.
    """
    if event.source == "stripe":
        # Same table, same exactly-once machinery; the billing service reads Stripe's body.
        stripe_events.process_stripe_delivery(event)
        return Outcome()
    if only_org_id is not None:
        return _process_for_org(event, only_org_id)
    outcome = _apply_event(event)
    record_outcomes([(event, outcome)])
    return outcome


def process_events(events: list[WebhookEvent]) -> None:
    """``process_event`` for a hand-off's deliveries, in one transaction (the caller's).

    Their conversations are locked first, all in one order; their outcomes are written
    together at the end: one statement for every route, one round trip for the events.
    """
    lock_conversations(events)
    results = []
    for event in events:
        if event.source == "stripe":
            process_event(event)
        else:
            results.append((event, _apply_event(event)))
    record_outcomes(results)


def _apply_event(event: WebhookEvent) -> Outcome:
    """Apply every entry of ``event``; what it came to is written by ``record_outcomes``."""
    outcome = Outcome()
    try:
        parsed = _parsed(event)
    except MalformedPayload as exc:
        outcome.malformed = exc.reason
        log.warning("webhook %s is malformed: %s", event.id, exc.reason)
        return outcome
    _lock_keys(_conversation_keys(parsed))  # held already when the batch locked them
    # One routing query for every number in the delivery, messages and others alike.
    phone_routes = accounts_by_phone_number_id(parsed.phone_number_ids())
    accounts, groups = _group_by_account(parsed, phone_routes, outcome)
    for account_id, items in groups.items():
        account = accounts[account_id]
        org = account.organization  # loaded with the routing query
        with bind_org(org):
            _process_group(org, account, items, outcome)
            db.session.flush()  # while bound, so the tenancy flush check sees this org
        outcome.orgs.add(org.id)
    _route_others(parsed, phone_routes, outcome)
    if outcome.unroutable:
        log.warning("webhook %s has unroutable numbers %s", event.id, sorted(outcome.unroutable))
    return outcome


def record_outcomes(results: list[tuple[WebhookEvent, Outcome]]) -> None:
    """What each delivery came to: its organizations' routes, then its own state.

    The attempt is counted here, with the outcome: when applying raises, the rollback
    drops everything and ``record_failure`` counts it instead.
    """
    _record_routes([(event.id, org_id, outcome.per_org[org_id].text())
                    for event, outcome in results for org_id in sorted(outcome.orgs)])
    copilot_review.schedule_reviews(pair for _event, outcome in results
                                    for pair in outcome.reviews)
    now = utcnow()
    for event, outcome in results:
        event.attempts += 1
        event.processed_at = now
        if outcome.malformed is not None:
            event.state, event.error = "failed", f"malformed: {outcome.malformed}"
            continue
        routed = outcome.messages or outcome.duplicates or outcome.statuses or outcome.orgs
        event.state = "unroutable" if outcome.unroutable and not routed else "processed"
        event.error, event.summary = None, outcome.summary()


def _process_for_org(event: WebhookEvent, org_id: int) -> Outcome:
    outcome = Outcome()
    parsed = parse_bytes(event.body)  # it was routed to this org, so it parsed before
    all_routes = accounts_by_phone_number_id(parsed.phone_number_ids())
    phone_routes = _only(all_routes, org_id)
    accounts, groups = _group_by_account(parsed, phone_routes, outcome)
    org = db.session.get(Organization, org_id)
    with bind_org(org):
        for account_id, items in groups.items():
            _process_group(org, accounts[account_id], items, outcome)
        db.session.flush()
    _route_others(parsed, phone_routes, outcome, only_org_id=org_id)
    _record_routes([(event.id, org_id, outcome.per_org[org_id].text())])
    copilot_review.schedule_reviews(outcome.reviews)
    # A delivery parked as unroutable stops being so once every number in it has an owner
    # (this organization just attached the last one): the platform's list forgets it.
    if event.state == "unroutable" and set(all_routes) >= parsed.phone_number_ids():
        event.state, event.processed_at, event.error = "processed", utcnow(), None
    return outcome


def _record_routes(routes: list[tuple[int, int, str]]) -> None:
    """(event id, organization id, summary) of processed entries, in one statement."""
    if not routes:
        return
    stmt = dialect_insert(WebhookEventRoute).values([
        {"webhook_event_id": event_id, "organization_id": org_id, "state": "processed",
         "summary": summary, "error": None} for event_id, org_id, summary in routes])
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=["webhook_event_id", "organization_id"],
        set_={"state": stmt.excluded.state, "summary": stmt.excluded.summary,
              "error": stmt.excluded.error}))


def lock_org_route(org_id: int, event_id: int) -> WebhookEventRoute | None:
    """The organization's route of a delivery, locked (an org reprocess waits its turn)."""
    with bind_org(org_id):
        return db.session.scalars(
            select(WebhookEventRoute).where(WebhookEventRoute.webhook_event_id == event_id,
                                            WebhookEventRoute.organization_id == org_id)
            .with_for_update()).first()


def reset_route_for_reprocess(org: Organization, event: WebhookEvent) -> None:
    """The organization asked to apply its entries of ``event`` again."""
    route = lock_org_route(org.id, event.id)
    route.state, route.error = "received", None
    db.session.flush()


def record_route_failure(org_id: int, event_id: int, error: str) -> None:
    """After a rollback: an organization's reprocess failed; shown on its route only."""
    route = lock_org_route(org_id, event_id)
    if route is not None:
        route.state, route.error = "failed", error[:2000]


def record_failure(event_id: int, error: str) -> WebhookEvent | None:
    """After a rollback: count the attempt; give up (state failed) after MAX_ATTEMPTS."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        return None
    event.attempts += 1
    event.error = error[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.state = "failed"
        event.processed_at = utcnow()
    return event


def reprocess_event(event: WebhookEvent) -> None:
    """An operator asked to run it again (e.g. after connecting a number): after commit."""
    event.state, event.error, event.processed_at = "received", None, None
    queue.enqueue_after_commit("process_webhook_event", event.id)


def reprocess_org_entries(org: Organization, event: WebhookEvent) -> None:
    """An organization asked to apply its own entries of ``event`` again, after commit.

    A delivery shared with another tenant is theirs too: only this organization's route and
    entries are touched.
    """
    reset_route_for_reprocess(org, event)
    queue.enqueue_after_commit("process_webhook_event", event.id, org.id)


def stale_event_ids(older_than: timedelta = timedelta(minutes=2), limit: int = 2000) -> list[int]:
    """Deliveries still 'received' after a while: their queue message was lost."""
    cutoff = utcnow() - older_than
    stmt = (
        select(WebhookEvent.id)
        .where(WebhookEvent.state == "received", WebhookEvent.received_at < cutoff)
        .order_by(WebhookEvent.id)
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


@dataclass(frozen=True)
class OrgDelivery:
    """A delivery as one organization sees it: its own entries' state and outcome."""

    id: int
    received_at: datetime
    state: str
    attempts: int
    summary: str | None
    error: str | None


def _org_state():
    # The whole delivery waiting or never applied for this org: the delivery's state;
    # otherwise what happened to this organization's entries.
    return case((WebhookEvent.state == "received", WebhookEvent.state),
                (WebhookEventRoute.state.is_not(None), WebhookEventRoute.state),
                else_=WebhookEvent.state)


def org_events(org: Organization, state: str | None = None,
               limit: int = 100) -> list[OrgDelivery]:
    """The operators' view: deliveries that touched ``org`` (newest first)."""
    org_state = _org_state()
    stmt = (
        select(WebhookEvent.id, WebhookEvent.received_at, org_state, WebhookEvent.attempts,
               WebhookEventRoute.summary, WebhookEventRoute.error, WebhookEvent.error)
        .join(WebhookEventRoute, WebhookEventRoute.webhook_event_id == WebhookEvent.id)
        .where(WebhookEventRoute.organization_id == org.id)
        .order_by(WebhookEvent.id.desc())
        .limit(limit)
    )
    if state:
        stmt = stmt.where(org_state == state)
    rows = db.session.execute(stmt).all()
    # The delivery's own error is about the whole body (malformed, a crash): shown only
    # while this organization has no outcome of its own.
    return [OrgDelivery(id=r[0], received_at=r[1], state=r[2], attempts=r[3], summary=r[4],
                        error=r[5] or (r[6] if r[4] is None else None)) for r in rows]


def unroutable_events(limit: int = 200) -> list[WebhookEvent]:
    stmt = (
        select(WebhookEvent)
        .where(WebhookEvent.state == "unroutable")
        .order_by(WebhookEvent.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def get_org_event(org: Organization, event_id: int) -> WebhookEvent:
    """A delivery visible to ``org`` (it touched one of its numbers); NotFound otherwise."""
    stmt = (
        select(WebhookEvent)
        .join(WebhookEventRoute, WebhookEventRoute.webhook_event_id == WebhookEvent.id)
        .where(WebhookEvent.id == event_id, WebhookEventRoute.organization_id == org.id)
    )
    event = db.session.scalars(stmt).first()
    if event is None:
        raise NotFound()
    return event
