"""The outbox under Meta's real behaviour: retries, refusals, token loss, batches, the sweeper."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

from tests.fakes.graph import meta_error
from tests.fixtures_capi import DATASET_ID, events_of, settled, wait_for
from tests.fixtures_whatsapp import GRAPH_TOKEN
from whatrack.tenancy import bind_org, unscoped

EVENTS_PATH = f"/v25.0/{DATASET_ID}/events"


def _attempts(db, event_id):
    from sqlalchemy import select

    from whatrack.models import MetaConversionAttempt

    with unscoped():
        return list(db.session.scalars(select(MetaConversionAttempt).where(
            MetaConversionAttempt.event_id == event_id).order_by(MetaConversionAttempt.id)))


def _pt(message: str) -> str:
    from flask_babel import force_locale, gettext

    with force_locale("pt_BR"):
        return gettext(message)


def _api_events(client, make_api_key, org_id, **params):
    key = make_api_key(org_id)[1]
    response = client.get("/api/v1/conversion-events", query_string=params,
                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def test_transient_failures_retry_until_sent_exactly_once(meta_app, whatsapp_org, make_ticket,
                                                          connect_meta, close_sale, worker, db):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    meta_app.fail(EVENTS_PATH, 500, meta_error("An unexpected error has occurred.", 2))
    meta_app.fail(EVENTS_PATH, 429, meta_error("(#4) Application request limit reached", 4))
    meta_app.fail(EVENTS_PATH, 200, {}, delay=1.6)  # answered after our 1 s timeout
    meta_app.fail(EVENTS_PATH, 503, "<html>Service Unavailable</html>")

    close_sale(org_id, make_ticket(org_id))
    worker.drain()
    [event] = wait_for(lambda: settled(org_id), timeout=30)

    assert event.status == "sent" and event.reason_code is None
    assert event.attempts == 5 and event.failures == 4
    assert meta_app.capi.accepted == {event.event_id: 1}
    assert [a.result for a in _attempts(db, event.id)] == ["retry"] * 4 + ["sent"]
    attempts = _attempts(db, event.id)
    assert [a.http_status for a in attempts] == [500, 429, None, 503, 200]
    assert attempts[2].error_message.startswith("Graph API unreachable")
    assert all(a.request["headers"]["Authorization"] == "Bearer [redacted]" for a in attempts)
    # Backoff (base 0.05 s doubling): the 4th failure, a 503 retried in place, waited at
    # least half of its ceiling, min(0.4 s, the 0.25 s in-place cap).
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in pairwise(attempts)]
    assert gaps[3] >= 0.125


def test_retries_stop_at_the_limit_and_resend_works(meta_app, whatsapp_org, make_ticket,
                                                    connect_meta, close_sale, worker, db,
                                                    monkeypatch):
    from whatrack.services.conversions import dispatch as conversions_dispatch

    monkeypatch.setattr(conversions_dispatch, "MAX_FAILURES", 3)
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    meta_app.fail(EVENTS_PATH, 500, times=3)
    close_sale(org_id, make_ticket(org_id))
    worker.drain()
    [event] = wait_for(lambda: settled(org_id), timeout=30)
    assert (event.status, event.reason_code, event.attempts) == ("failed", "gave_up", 3)
    assert meta_app.capi.accepted == {}


def test_permanent_refusal_fails_at_once_with_the_reason(meta_app, whatsapp_org, make_ticket,
                                                         connect_meta, close_sale, worker, db,
                                                         client, make_api_key):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    meta_app.capi.poison_clids.add("bad-click")
    close_sale(org_id, make_ticket(org_id, clid="bad-click"))
    worker.drain()
    [event] = wait_for(lambda: settled(org_id))

    assert event.status == "failed" and event.attempts == 1
    assert (event.error_code, event.error_subcode) == (100, 2804087)
    assert event.error_user_title == "Messaging Event Invalid Ctwa Clid"
    [shown] = _api_events(client, make_api_key, org_id)
    assert shown["status"] == "failed"
    assert shown["error"] == {"code": 100, "subcode": 2804087, "message": "Invalid parameter"}
    assert shown["reason"] == _pt(
        "Meta did not recognise the ad click (ctwa_clid): this lead cannot be attributed")
    assert shown["reason"].startswith("a Meta não reconheceu")
    assert len(meta_app.requests_to(EVENTS_PATH)) == 1


def test_dataset_refusal_fails_the_batch_without_splitting(meta_app, whatsapp_org, make_ticket,
                                                           connect_meta, app, db):
    from whatrack.tasks.conversions import send_conversion_events

    org_id = whatsapp_org["org_id"]
    meta_app.capi.datasets = {"999"}  # the token cannot reach our dataset (100 / 33)
    tickets = [make_ticket(org_id) for _ in range(4)]
    _pending_events(db, org_id, tickets)
    connect_meta(org_id)
    send_conversion_events.fn(org_id)
    events = events_of(org_id)
    assert {(e.status, e.reason_code) for e in events} == {("failed", "dataset_denied")}
    assert len(meta_app.requests_to(EVENTS_PATH)) == 1


def test_one_bad_event_is_isolated_and_the_others_go(meta_app, whatsapp_org, make_ticket,
                                                     connect_meta, db):
    from whatrack.tasks.conversions import send_conversion_events

    org_id = whatsapp_org["org_id"]
    meta_app.capi.poison_clids.add("poison")
    tickets = [make_ticket(org_id, clid="poison" if i == 6 else f"clid-{i}") for i in range(10)]
    _pending_events(db, org_id, tickets)
    connect_meta(org_id)
    send_conversion_events.fn(org_id)

    events = events_of(org_id)
    bad = [e for e in events if e.ticket_id == tickets[6]]
    good = [e for e in events if e.ticket_id != tickets[6]]
    assert [(e.status, e.reason_code) for e in bad] == [("failed", "invalid_click")]
    assert {e.status for e in good} == {"sent"}
    assert sorted(meta_app.capi.accepted.values()) == [1] * 9
    # 10 -> parts of 4, 4, 2 -> the bad part's single events.
    results = [a.result for a in _attempts(db, bad[0].id)]
    assert results[-1] == "failed" and set(results[:-1]) == {"split"}
    assert all(_attempts(db, e.id)[-1].result == "sent" for e in good)


def test_2500_pending_events_go_in_3_requests(meta_app, whatsapp_org, make_ticket,
                                              connect_meta, worker, db):
    org_id = whatsapp_org["org_id"]
    ticket_id = make_ticket(org_id)
    _pending_events(db, org_id, [ticket_id] * 2500)
    connect_meta(org_id)  # releases the waiting events and enqueues one dispatch
    worker.drain()
    events = wait_for(lambda: settled(org_id), timeout=60)

    assert len(events) == 2500 and {e.status for e in events} == {"sent"}
    sizes = [len(r.json()["data"]) for r in meta_app.requests_to(EVENTS_PATH)]
    assert sizes == [1000, 1000, 500]
    assert len(meta_app.capi.accepted) == 2500 and set(meta_app.capi.accepted.values()) == {1}
    from sqlalchemy import func, select

    from whatrack.models import MetaConversionAttempt

    with unscoped():
        per_event = dict(db.session.execute(
            select(MetaConversionAttempt.batch_size, func.count())
            .where(MetaConversionAttempt.result == "sent")
            .group_by(MetaConversionAttempt.batch_size)).all())
    assert per_event == {1000: 2000, 500: 500}
    assert {e.events_received for e in events} == {1000, 500}


def test_token_refused_waits_then_goes_after_reconnecting(meta_app, whatsapp_org, make_ticket,
                                                          connect_meta, close_sale, worker, db,
                                                          client, make_api_key):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    meta_app.valid_tokens.discard(GRAPH_TOKEN)  # the user changed their password: 190
    close_sale(org_id, make_ticket(org_id))
    worker.drain()
    [first] = wait_for(lambda: [e for e in events_of(org_id) if e.reason_code == "reconnect"])
    close_sale(org_id, make_ticket(org_id))  # while disconnected: no request at all
    worker.drain()
    db.session.rollback()
    assert [e.status for e in events_of(org_id)] == ["pending", "pending"]
    assert len(meta_app.requests_to(EVENTS_PATH)) == 1
    assert {e["reason"] for e in _api_events(client, make_api_key, org_id)} == {
        "reconectar Facebook"}

    meta_app.valid_tokens.add("new-token")
    connect_meta(org_id, token="new-token")
    worker.drain()
    events = wait_for(lambda: settled(org_id))
    assert [e.status for e in events] == ["sent", "sent"]
    assert set(meta_app.capi.accepted.values()) == {1} and len(meta_app.capi.accepted) == 2
    assert [a.result for a in _attempts(db, first.id)] == ["token", "sent"]


def test_sale_before_any_connection_waits_for_connect(meta_app, whatsapp_org, make_ticket,
                                                      close_sale, connect_meta, worker, db,
                                                      client, make_api_key):
    org_id = whatsapp_org["org_id"]
    response = close_sale(org_id, make_ticket(org_id))
    assert response.status_code == 201
    event_json = response.get_json()["conversion_event"]
    assert event_json["status"] == "pending" and event_json["reason"] == "conectar Facebook"
    worker.drain()
    assert meta_app.requests_to(EVENTS_PATH) == []

    connect_meta(org_id)
    worker.drain()
    [event] = wait_for(lambda: settled(org_id))
    assert event.status == "sent"
    [shown] = _api_events(client, make_api_key, org_id)
    assert shown["reason"] is None and shown["fbtrace_id"] == event.fbtrace_id


def test_organic_sale_is_recorded_as_skipped(meta_app, whatsapp_org, make_ticket, connect_meta,
                                             close_sale, worker, db, client, make_api_key):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    response = close_sale(org_id, make_ticket(org_id, clid=None))
    assert response.status_code == 201
    assert response.get_json()["conversion_event"]["status"] == "skipped"
    worker.drain()
    [shown] = _api_events(client, make_api_key, org_id, status="skipped")
    assert shown["reason"] == "lead sem clique de anúncio (ctwa_clid)"
    assert shown["event_name"] == "Purchase" and shown["value"] == "1234.56"
    assert meta_app.requests_to(EVENTS_PATH) == []


def test_event_older_than_7_days_is_skipped_never_sent(meta_app, whatsapp_org, make_ticket,
                                                       connect_meta, db):
    from whatrack.models import utcnow
    from whatrack.tasks.conversions import send_conversion_events

    org_id = whatsapp_org["org_id"]
    ticket_id = make_ticket(org_id)
    _pending_events(db, org_id, [ticket_id, ticket_id],
                    times=[utcnow() - timedelta(days=7, minutes=1), utcnow()])
    connect_meta(org_id)
    send_conversion_events.fn(org_id)
    old, new = events_of(org_id)
    assert (old.status, old.reason_code, old.attempts) == ("skipped", "too_old", 0)
    assert new.status == "sent"
    [request] = meta_app.requests_to(EVENTS_PATH)
    assert [e["event_id"] for e in request.json()["data"]] == [new.event_id]


def test_cancelled_sale_is_not_sent(meta_app, whatsapp_org, make_ticket, close_sale,
                                    connect_meta, app, db):
    from whatrack.models import Organization, User
    from whatrack.services.tickets import sales
    from whatrack.tasks.conversions import send_conversion_events

    org_id = whatsapp_org["org_id"]
    sale_id = close_sale(org_id, make_ticket(org_id)).get_json()["sale"]["id"]
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        sales.cancel_sale(org, sale_id, db.session.get(User, whatsapp_org["user_id"]), "engano")
        db.session.commit()
    connect_meta(org_id)
    send_conversion_events.fn(org_id)
    [event] = events_of(org_id)
    assert (event.status, event.reason_code) == ("skipped", "sale_cancelled")


def test_cancelling_a_sale_meta_already_has_sends_order_canceled(
        meta_app, whatsapp_org, make_ticket, close_sale, connect_meta, worker, db):
    from whatrack.models import Organization, User
    from whatrack.services.tickets import sales

    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    sale_id = close_sale(org_id, make_ticket(org_id), "450.00").get_json()["sale"]["id"]
    worker.drain()
    [purchase] = events_of(org_id)
    assert purchase.status == "sent"

    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        sales.cancel_sale(org, sale_id, db.session.get(User, whatsapp_org["user_id"]), "engano")
        db.session.commit()
    worker.drain()
    purchase, cancel = events_of(org_id)
    assert (purchase.event_name, purchase.status) == ("Purchase", "sent")
    assert (cancel.event_name, cancel.status, cancel.trigger) == (
        "OrderCanceled", "sent", "sale_cancelled")
    assert cancel.event_id.endswith(f":sale:{sale_id}:OrderCanceled")
    [sent] = [e for e in meta_app.capi.accepted_events if e["event_name"] == "OrderCanceled"]
    assert sent["custom_data"] == {"currency": "BRL", "value": 450.00}
    assert sent["user_data"]["ctwa_clid"] == purchase_clid(meta_app)


def purchase_clid(meta_app) -> str:
    [purchase] = [e for e in meta_app.capi.accepted_events if e["event_name"] == "Purchase"]
    return purchase["user_data"]["ctwa_clid"]


def test_sweeper_recovers_a_lost_queue_message(meta_app, whatsapp_org, make_ticket,
                                               connect_meta, worker, db):
    from sqlalchemy import update

    from whatrack.models import MetaConversionEvent, utcnow
    from whatrack.tasks.maintenance import sweep_conversion_events

    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    ticket_id = make_ticket(org_id)
    _pending_events(db, org_id, [ticket_id])  # written, but no message was ever enqueued
    with unscoped():
        db.session.execute(update(MetaConversionEvent).values(
            reason_code="queued", next_attempt_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
    sweep_conversion_events.send()
    worker.drain()
    [event] = wait_for(lambda: settled(org_id))
    assert event.status == "sent"


def _pending_events(db, org_id, ticket_ids, times=None):
    """Outbox rows as the hooks write them (waiting: the org is not connected yet)."""
    from sqlalchemy import insert

    from whatrack.models import MetaConversionEvent, utcnow

    now = utcnow()
    rows = [{"organization_id": org_id, "event_name": "Purchase",
             "event_id": f"whatrack:{org_id}:bulk:{i}:Purchase",
             "event_time": times[i] if times else now, "ticket_id": ticket_id,
             "trigger": "sale", "value": Decimal("99.90"), "currency": "BRL",
             "status": "pending", "reason_code": "not_connected", "attempts": 0,
             "failures": 0, "created_at": now}
            for i, ticket_id in enumerate(ticket_ids)]
    with bind_org(org_id):
        db.session.execute(insert(MetaConversionEvent), rows)
        db.session.commit()


def _dispatch_once(org_id):
    """One batch, the way the actor runs it, without the actor's follow-up scheduling."""
    from whatrack.extensions import db
    from whatrack.models import Organization
    from whatrack.services.conversions import dispatch as conversions_dispatch

    with bind_org(org_id):
        result = conversions_dispatch.dispatch_due(db.session.get(Organization, org_id))
        db.session.commit()
    return result


def test_a_5xx_is_retried_in_place_within_the_same_batch(meta_app, whatsapp_org, make_ticket,
                                                         connect_meta, db):
    org_id = whatsapp_org["org_id"]
    _pending_events(db, org_id, [make_ticket(org_id) for _ in range(3)])
    connect_meta(org_id)
    meta_app.fail(EVENTS_PATH, 500, meta_error("An unexpected error has occurred.", 2))
    result = _dispatch_once(org_id)

    events = events_of(org_id)
    assert (result.requests, result.sent, result.retrying) == (2, 3, 0)
    assert {(e.status, e.attempts, e.failures) for e in events} == {("sent", 2, 1)}
    assert sorted(meta_app.capi.accepted.values()) == [1, 1, 1]
    attempts = _attempts(db, events[0].id)
    assert [(a.result, a.http_status) for a in attempts] == [("retry", 500), ("sent", 200)]
    # A short wait (capped at 0.25 s, base 0.05 s here), not the persisted schedule.
    gap = (attempts[1].started_at - attempts[0].started_at).total_seconds()
    assert 0.025 <= gap < 1.0


def test_in_place_retries_are_bounded_then_the_request_waits_as_one(
        meta_app, whatsapp_org, make_ticket, connect_meta, db):
    from whatrack.services.conversions.dispatch import IN_PLACE_RETRIES

    org_id = whatsapp_org["org_id"]
    _pending_events(db, org_id, [make_ticket(org_id) for _ in range(3)])
    connect_meta(org_id)
    meta_app.fail(EVENTS_PATH, 503, times=IN_PLACE_RETRIES + 1)
    result = _dispatch_once(org_id)

    events = events_of(org_id)
    tries = IN_PLACE_RETRIES + 1
    assert (result.requests, result.retrying) == (tries, 3)
    assert {(e.status, e.reason_code, e.attempts, e.failures) for e in events} == {
        ("pending", "retrying", tries, tries)}
    # One backoff draw for the request: its events come due together and go back together.
    assert len({e.next_attempt_at for e in events}) == 1
    assert events[0].next_attempt_at > events[0].last_attempt_at
    assert meta_app.capi.accepted == {}


def test_a_rate_limit_is_not_retried_in_place(meta_app, whatsapp_org, make_ticket,
                                              connect_meta, db):
    org_id = whatsapp_org["org_id"]
    _pending_events(db, org_id, [make_ticket(org_id)])
    connect_meta(org_id)
    meta_app.fail(EVENTS_PATH, 429, meta_error("Application request limit reached", 4),
                  headers={"Retry-After": "30"})
    result = _dispatch_once(org_id)

    [event] = events_of(org_id)
    assert result.requests == 1 and len(meta_app.requests_to(EVENTS_PATH)) == 1
    assert (event.status, event.reason_code, event.attempts) == ("pending", "retrying", 1)
    wait = (event.next_attempt_at - event.last_attempt_at).total_seconds()
    assert wait >= 29.9  # Retry-After honoured


def test_split_parts_and_a_5xx_among_them_settle_every_event_once(
        meta_app, whatsapp_org, make_ticket, connect_meta, db):
    from sqlalchemy import text

    org_id = whatsapp_org["org_id"]
    meta_app.capi.poison_clids.update({"poison-a", "poison-b"})
    clids = {7: "poison-a", 31: "poison-b"}
    tickets = [make_ticket(org_id, clid=clids.get(i, f"clid-{i}")) for i in range(40)]
    _pending_events(db, org_id, tickets)
    connect_meta(org_id)
    meta_app.capi.error_rate = 0.3  # random 500s among the parts, retried in place
    result = _dispatch_once(org_id)
    meta_app.capi.error_rate = 0.0
    while result.retrying:  # the rare part unlucky three times in a row waits its turn
        with bind_org(org_id):
            db.session.execute(text("UPDATE meta_conversion_events SET next_attempt_at = now() "
                                    "WHERE status = 'pending'"))
            db.session.commit()
        result = _dispatch_once(org_id)

    events = events_of(org_id)
    bad = {tickets[7], tickets[31]}
    assert {(e.status, e.reason_code) for e in events if e.ticket_id in bad} == {
        ("failed", "invalid_click")}
    assert {e.status for e in events if e.ticket_id not in bad} == {"sent"}
    assert len(meta_app.capi.accepted) == 38 and set(meta_app.capi.accepted.values()) == {1}
