"""Ad attribution by Meta's timestamps, whatever order deliveries are processed in (issue 19).

Timestamps are recent (CAPI refuses events older than 7 days), so lead and Purchase events
really go to the fake Graph API.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest

from tests.fixtures_capi import CLICK_ID, events_of, settled, wait_for
from tests.fixtures_whatsapp import (
    FIXTURE_DISPLAY,
    all_rows,
    assert_fields,
    fixture_json,
    profile,
    text_message,
    webhook_body,
)
from whatrack.models import Message, MetaConversionEvent, Ticket, TicketTouch, WebhookEvent
from whatrack.tenancy import bind_org

CUSTOMER = "5511987654321"
OTHER_CLICK = "ARAsecondClickIdForTheSameCustomer"


@pytest.fixture(autouse=True)
def _session(db):
    return db


def now_ts() -> int:
    return int(time.time())


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def referral(clid: str | None = CLICK_ID, ad_id: str = "120210000000000001",
             headline: str = "Clareamento dental em 1 sessão") -> dict:
    ref = dict(fixture_json("inbound_ctwa_referral")["entry"][0]["changes"][0]["value"][
        "messages"][0]["referral"])
    ref.update(source_id=ad_id, headline=headline)
    if clid is None:
        ref.pop("ctwa_clid")
    else:
        ref["ctwa_clid"] = clid
    return ref


def customer_body(wamid: str, ts: int, body: str = "oi", sender: str = CUSTOMER,
                  **extra) -> dict:
    return webhook_body(messages=[text_message(sender, wamid, ts, body, **extra)],
                        contacts=[profile(sender, "Mariana Souza")])


def echo_body(wamid: str, ts: int, to: str = CUSTOMER) -> dict:
    item = {"from": FIXTURE_DISPLAY, "to": to, "id": wamid, "timestamp": str(ts),
            "type": "text", "text": {"body": "Olá! Como posso ajudar?"}}
    return webhook_body(echoes=[item])


def send(post_webhook, worker, body: dict) -> None:
    assert post_webhook(body).status_code == 200
    worker.drain()


def only_ticket() -> Ticket:
    [ticket] = all_rows(Ticket)
    return ticket


def events(name: str | None = None) -> list[MetaConversionEvent]:
    rows = events_of()
    return [e for e in rows if name is None or e.event_name == name]


# --- deterministic orders --------------------------------------------------------------------


def test_second_message_first_then_the_referral_attributes_and_sends_the_sale(
        app, meta_app, whatsapp_org, connect_meta, close_sale, post_webhook, worker, db):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    hub = app.extensions["realtime"]
    frames = hub.subscribe(org_id)
    t1 = now_ts() - 600
    try:
        send(post_webhook, worker, customer_body("wamid.SECOND", t1 + 30, "quanto custa?"))
        ticket = only_ticket()
        assert_fields(ticket, lead_source="organic", ctwa_clid=None)

        # A sale closes the ticket before the click arrives: its Purchase has no click yet.
        assert close_sale(org_id, ticket.id, "1200.00").status_code == 201
        worker.drain()
        [purchase] = wait_for(lambda: settled(org_id))
        assert (purchase.event_name, purchase.status, purchase.reason_code) == (
            "Purchase", "skipped", "no_click")
        while frames.get(timeout=0.2) is not None:
            pass

        send(post_webhook, worker, customer_body("wamid.FIRST", t1, "vi o anúncio",
                                                 referral=referral()))
        ticket = only_ticket()
        assert_fields(ticket, lead_source="ad", ctwa_clid=CLICK_ID,
                      source_id="120210000000000001", ad_headline="Clareamento dental em 1 sessão")
        assert {m.ticket_id for m in all_rows(Message)} == {ticket.id}
        assert ticket.closed_at is not None  # the late message joined the won conversation
        card = {"ticket_id": ticket.id, "stage_id": ticket.stage_id, "version": ticket.version,
                "change": "attribution"}

        settled_events = wait_for(lambda: settled(org_id))
        by_name = {e.event_name: e for e in settled_events}
        assert sorted(by_name) == ["LeadSubmitted", "Purchase"]
        assert len(settled_events) == 2
        assert by_name["LeadSubmitted"].status == "sent"
        assert by_name["LeadSubmitted"].event_time == at(t1)  # when the ad was tapped
        assert by_name["Purchase"].status == "sent" and by_name["Purchase"].id == purchase.id
        assert meta_app.capi.accepted == {by_name["LeadSubmitted"].event_id: 1,
                                          purchase.event_id: 1}

        seen = []
        while (frame := frames.get(timeout=0.5)) is not None:
            seen.append(frame)
        assert {"type": "ticket.updated", "org_id": org_id, "data": card} in seen

        # Meta redelivers the referral message: nothing changes, nothing is sent again.
        send(post_webhook, worker, customer_body("wamid.FIRST", t1, "vi o anúncio",
                                                 referral=referral()))
        assert len(all_rows(TicketTouch)) == 1
        assert len(events()) == 2
    finally:
        hub.unsubscribe(frames)


def test_echo_first_then_the_customers_referral(whatsapp_org, post_webhook, worker):
    t1 = now_ts() - 300
    send(post_webhook, worker, echo_body("wamid.ECHO", t1))
    assert_fields(only_ticket(), lead_source="organic", ctwa_clid=None)

    send(post_webhook, worker, customer_body("wamid.REPLY", t1 + 60, "vim pelo anúncio",
                                             referral=referral()))
    ticket = only_ticket()
    assert_fields(ticket, lead_source="ad", ctwa_clid=CLICK_ID, source_id="120210000000000001")
    [lead] = events()
    assert (lead.event_name, lead.ticket_id, lead.event_time) == (
        "LeadSubmitted", ticket.id, at(t1 + 60))
    assert lead.status == "pending" and lead.reason_code == "not_connected"


def test_referral_processed_before_an_earlier_echo_keeps_the_click(whatsapp_org, post_webhook,
                                                                   worker):
    t1 = now_ts() - 300
    send(post_webhook, worker, customer_body("wamid.REPLY", t1 + 60, referral=referral()))
    send(post_webhook, worker, echo_body("wamid.ECHO", t1))
    assert_fields(only_ticket(), lead_source="ad", ctwa_clid=CLICK_ID)
    assert len(events("LeadSubmitted")) == 1


def test_an_open_organic_ticket_whose_customer_then_taps_ads(app, whatsapp_org, post_webhook,
                                                             worker, db):
    t1 = now_ts() - 7200
    send(post_webhook, worker, customer_body("wamid.ORG.1", t1, "bom dia"))
    assert_fields(only_ticket(), lead_source="organic")
    assert events() == []

    send(post_webhook, worker, customer_body("wamid.ORG.2", t1 + 3600, "vi esse anúncio",
                                             referral=referral()))
    ticket = only_ticket()
    assert_fields(ticket, lead_source="ad", ctwa_clid=CLICK_ID, closed_at=None)
    [lead] = events()
    assert lead.event_time == at(t1 + 3600)

    # A second ad later: the first touch stays, the last touch is the new one, one lead.
    send(post_webhook, worker, customer_body("wamid.ORG.3", t1 + 5400, "e esse?",
                                             referral=referral(OTHER_CLICK, "120210000000000999",
                                                               "Outro anúncio")))
    ticket = only_ticket()
    assert_fields(ticket, lead_source="ad", ctwa_clid=CLICK_ID, source_id="120210000000000001")
    assert len(events()) == 1
    from whatrack.models import Organization
    from whatrack.services.inbox import attribution

    with bind_org(whatsapp_org["org_id"]):
        org = db.session.get(Organization, whatsapp_org["org_id"])
        assert attribution.first_touch(org, ticket).ctwa_clid == CLICK_ID
        assert attribution.last_touch(org, ticket).ctwa_clid == OTHER_CLICK
        assert [t.wamid for t in attribution.ticket_touches(org, ticket)] == [
            "wamid.ORG.2", "wamid.ORG.3"]


def test_an_earlier_click_processed_later_becomes_the_first_touch(whatsapp_org, post_webhook,
                                                                  worker):
    t1 = now_ts() - 3600
    send(post_webhook, worker, customer_body("wamid.LATE.2", t1 + 600, referral=referral(
        OTHER_CLICK, "120210000000000999", "Outro anúncio")))
    assert_fields(only_ticket(), ctwa_clid=OTHER_CLICK, source_id="120210000000000999")
    send(post_webhook, worker, customer_body("wamid.LATE.1", t1, referral=referral()))
    assert_fields(only_ticket(), lead_source="ad", ctwa_clid=CLICK_ID,
                  source_id="120210000000000001", ad_headline="Clareamento dental em 1 sessão",
                  referral=referral())
    [lead] = events()  # recorded once, when the ticket first became an ad ticket
    assert lead.event_name == "LeadSubmitted"


def test_a_click_after_the_sale_does_not_claim_it(meta_app, whatsapp_org, connect_meta,
                                                  close_sale, post_webhook, worker):
    """Meta attributes conversions that follow a click, not ones that preceded it."""
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    send(post_webhook, worker, customer_body("wamid.BEFORE", now_ts() - 600, "oi"))
    ticket = only_ticket()
    assert close_sale(org_id, ticket.id).status_code == 201
    worker.drain()
    time.sleep(1.1)  # Meta's timestamps are whole seconds: make this one after the close
    # The customer comes back through an ad after buying: a new conversation, a new lead.
    send(post_webhook, worker, customer_body("wamid.AFTER", now_ts(), referral=referral()))
    old, new = all_rows(Ticket)
    old_id, new_id = old.id, new.id
    assert (old_id, old.lead_source, new.lead_source) == (ticket.id, "organic", "ad")
    rows = wait_for(lambda: settled(org_id))
    assert sorted((e.event_name, e.ticket_id, e.status) for e in rows) == [
        ("LeadSubmitted", new_id, "sent"), ("Purchase", old_id, "skipped")]


def test_a_status_ad_without_click_then_a_click_requeues_the_skipped_events(
        meta_app, whatsapp_org, connect_meta, close_sale, post_webhook, worker):
    """A Status ad carries no ctwa_clid: the lead waits skipped until an earlier click shows."""
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    t1 = now_ts() - 900
    send(post_webhook, worker, customer_body("wamid.STATUS", t1 + 60, referral=referral(None)))
    ticket = only_ticket()
    assert_fields(ticket, lead_source="ad", ctwa_clid=None)
    [lead] = wait_for(lambda: settled(org_id))
    assert (lead.status, lead.reason_code) == ("skipped", "no_click")

    send(post_webhook, worker, customer_body("wamid.CLICK", t1, referral=referral()))
    assert_fields(only_ticket(), ctwa_clid=CLICK_ID)
    [lead] = wait_for(lambda: settled(org_id))
    assert lead.status == "sent"
    assert meta_app.capi.accepted == {lead.event_id: 1}


# --- concurrency -------------------------------------------------------------------------------


def _store(app, body: dict) -> int:
    import json

    from whatrack.extensions import db
    from whatrack.services.webhooks.store import store_webhook

    with app.app_context():
        return store_webhook(db.engine, json.dumps(body).encode())


def _process_in_thread(app, event_id: int, errors: list) -> threading.Thread:
    from whatrack.tasks.webhooks import _process

    def run() -> None:
        with app.app_context():
            error = _process(event_id)
            if error is not None:
                errors.append(error)

    thread = threading.Thread(target=run, name=f"delivery-{event_id}")
    thread.start()
    return thread


def _blocked(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()").fetchone()[0]


def test_two_deliveries_of_one_new_contact_at_the_same_moment(app, pg_url, whatsapp_org,
                                                               post_webhook):
    """Both workers are parked on the contact's unique key by an uncommitted insert, then
    released together: one ticket, both messages, the touch kept, one lead."""
    t1 = now_ts() - 120
    second = _store(app, customer_body("wamid.RACE.2", t1 + 5, "tem horário?"))
    first = _store(app, customer_body("wamid.RACE.1", t1, "vi o anúncio", referral=referral()))
    errors: list = []
    org_id = whatsapp_org["org_id"]
    with psycopg.connect(pg_url, autocommit=True) as watcher, psycopg.connect(pg_url) as holder:
        holder.execute("INSERT INTO contacts (organization_id, wa_id, created_at) "
                       "VALUES (%s, %s, now())", (org_id, CUSTOMER))
        threads = [_process_in_thread(app, second, errors), _process_in_thread(app, first, errors)]
        deadline = time.monotonic() + 30
        while _blocked(watcher) < 2:
            assert time.monotonic() < deadline, "the two workers never met on the contact"
            time.sleep(0.02)
        holder.rollback()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert {e.state for e in all_rows(WebhookEvent)} == {"processed"}
    ticket = only_ticket()
    assert_fields(ticket, lead_source="ad", ctwa_clid=CLICK_ID, unread_count=2)
    assert sorted(m.wamid for m in all_rows(Message, Message.ticket_id == ticket.id)) == [
        "wamid.RACE.1", "wamid.RACE.2"]
    assert [t.wamid for t in all_rows(TicketTouch)] == ["wamid.RACE.1"]
    assert [e.event_name for e in events()] == ["LeadSubmitted"]


CUSTOMERS = 200
PER_CUSTOMER = 10
WORKERS = 6


def volume_sender(n: int) -> str:
    return f"55219{80000000 + n:08d}"


def volume_deliveries(t0: int) -> tuple[list[dict], dict[str, tuple[str, str]]]:
    """Every customer's first message carries a click; every fourth taps a second ad later.

    Returns the deliveries (one message each) and, per customer, the (first, last) click.
    """
    bodies, expected = [], {}
    for n in range(CUSTOMERS):
        wa_id = volume_sender(n)
        first, later = f"clid-{n}-first", f"clid-{n}-later"
        for k in range(PER_CUSTOMER):
            extra = {}
            if k == 0:
                extra["referral"] = referral(first, f"1202100000{n:05d}", f"Anúncio {n}")
            elif k == 6 and n % 4 == 0:
                extra["referral"] = referral(later, "120219999999999999", "Remarketing")
            bodies.append(customer_body(f"wamid.VOL.{n}.{k}", t0 + n + 60 * k, f"msg {k}",
                                        sender=wa_id, **extra))
        expected[wa_id] = (first, later if n % 4 == 0 else first)
    return bodies, expected


def test_shuffled_deliveries_on_several_workers_attribute_like_in_order(app, db, whatsapp_org):
    import random

    from whatrack.extensions import db as ext_db
    from whatrack.models import Contact, Organization
    from whatrack.services.inbox import attribution

    bodies, expected = volume_deliveries(now_ts() - 3 * 3600)
    random.Random(19).shuffle(bodies)
    ids = [_store(app, body) for body in bodies]
    queue = list(ids)
    lock = threading.Lock()
    errors: list = []

    def work() -> None:
        from whatrack.tasks.webhooks import _process

        with app.app_context():
            while True:
                with lock:
                    if not queue:
                        return
                    event_id = queue.pop()
                error = _process(event_id)
                if error is not None:
                    errors.append((event_id, error))

    threads = [threading.Thread(target=work, name=f"volume-{i}") for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    assert {e.state for e in all_rows(WebhookEvent)} == {"processed"}
    assert len(all_rows(Message)) == CUSTOMERS * PER_CUSTOMER
    tickets = all_rows(Ticket)
    assert len(tickets) == CUSTOMERS
    contacts = {c.id: c.wa_id for c in all_rows(Contact)}
    with bind_org(whatsapp_org["org_id"]):
        org = ext_db.session.get(Organization, whatsapp_org["org_id"])
        got = {contacts[t.contact_id]: (t.lead_source, t.ctwa_clid,
                                        attribution.last_touch(org, t).ctwa_clid)
               for t in tickets}
    assert got == {wa_id: ("ad", first, last) for wa_id, (first, last) in expected.items()}
    assert {t.unread_count for t in tickets} == {PER_CUSTOMER}
    assert sorted(e.ticket_id for e in events("LeadSubmitted")) == sorted(t.id for t in tickets)
    assert len(events()) == CUSTOMERS
