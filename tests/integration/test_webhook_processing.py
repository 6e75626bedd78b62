"""Processing stored deliveries into contacts, tickets and messages."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.fixtures_whatsapp import load_fixture
from tests.sql import recorded_statements
from whatrack.tenancy import bind_org, unscoped


def _all(db, model):
    with unscoped():
        return list(db.session.scalars(select(model).order_by(model.id)))


def test_inbound_text_becomes_contact_ticket_and_message(whatsapp_org, post_webhook, worker, db):
    from whatrack.models import Contact, Message, Ticket, WebhookEvent

    assert post_webhook(load_fixture("inbound_text")).status_code == 200
    worker.drain()
    db.session.expire_all()
    [event] = _all(db, WebhookEvent)
    assert event.state == "processed", event.error
    [contact] = _all(db, Contact)
    [ticket] = _all(db, Ticket)
    [message] = _all(db, Message)
    body = json.loads(load_fixture("inbound_text"))
    raw_msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message.wamid == raw_msg["id"]
    assert message.direction == "inbound" and message.origin == "customer"
    assert message.text == raw_msg["text"]["body"]
    sent_at = datetime.fromtimestamp(int(raw_msg["timestamp"]), UTC)
    assert message.timestamp == sent_at
    assert ticket.window_expires_at == sent_at + timedelta(hours=24)
    assert ticket.unread_count == 1
    assert ticket.contact_id == contact.id
    assert ticket.organization_id == whatsapp_org["org_id"]


def test_same_post_twice_is_one_message(whatsapp_org, post_webhook, worker, db):
    from whatrack.models import Message, WebhookEvent

    raw = load_fixture("inbound_text")
    post_webhook(raw)
    post_webhook(raw)
    worker.drain()
    db.session.expire_all()
    assert len(_all(db, WebhookEvent)) == 2
    assert len(_all(db, Message)) == 1


def test_ctwa_referral_is_first_touch_on_the_ticket(whatsapp_org, post_webhook, worker, db):
    from whatrack.models import Ticket

    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    db.session.expire_all()
    [ticket] = _all(db, Ticket)
    referral = json.loads(load_fixture("inbound_ctwa_referral"))["entry"][0]["changes"][0][
        "value"]["messages"][0]["referral"]
    assert ticket.lead_source == "ad"
    assert ticket.ctwa_clid == referral["ctwa_clid"]
    assert ticket.source_id == referral["source_id"]
    assert ticket.ad_headline == referral["headline"]


def test_unknown_number_is_kept_as_unroutable(make_org, post_webhook, worker, db):
    from whatrack.models import Message, WebhookEvent

    post_webhook(load_fixture("inbound_text"))
    worker.drain()
    db.session.expire_all()
    [event] = _all(db, WebhookEvent)
    assert event.state == "unroutable"
    assert "300000000000001" in event.summary
    assert _all(db, Message) == []


def test_processing_error_retries_then_processes_exactly_once(
        whatsapp_org, post_webhook, worker, db, monkeypatch):
    from whatrack.models import Message, WebhookEvent
    from whatrack.services.inbox import ingest as inbox

    real = inbox.receive_message
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(inbox, "receive_message", flaky)
    post_webhook(load_fixture("inbound_text"))
    worker.drain()
    db.session.expire_all()
    [event] = _all(db, WebhookEvent)
    assert event.state == "processed"
    assert event.attempts == 2
    assert len(_all(db, Message)) == 1
    with bind_org(whatsapp_org["org_id"]):
        assert db.session.scalar(select(func.count(Message.id))) == 1


def test_account_update_for_an_unknown_business_is_unroutable(make_org, post_webhook, worker,
                                                             db):
    from whatrack.models import WebhookEvent

    post_webhook(load_fixture("account_update_partner_removed"))
    worker.drain()
    db.session.expire_all()
    [event] = _all(db, WebhookEvent)
    assert event.state == "unroutable"
    assert "WABA" in event.summary


@pytest.mark.endpoint("settings.whatsapp")
def test_partner_removed_marks_the_number_disconnected(whatsapp_org, post_webhook, worker, db,
                                                      client, login):
    from whatrack.models import WhatsAppAccount

    post_webhook(load_fixture("account_update_partner_removed"))
    worker.drain()
    db.session.expire_all()
    [account] = _all(db, WhatsAppAccount)
    assert account.status == "disconnected"
    login(whatsapp_org["email"])
    page = client.get("/dashboard/settings/whatsapp").get_data(as_text=True)
    assert "badge-red" in page


def _statements(db, work) -> list[str]:
    """The first word of every SQL statement ``work()`` sends."""
    with recorded_statements(db.engine) as statements:
        work()
    db.session.remove()
    return [statement.split(None, 1)[0] for statement in statements]


def test_a_message_costs_a_fixed_number_of_statements(whatsapp_org, db):
    """Pins the worker's round trips: a regression here is throughput lost on every message."""
    from tests.fixtures_whatsapp import profile, text_message, webhook_body
    from whatrack.models import WebhookEvent
    from whatrack.services.webhooks.store import store_webhook
    from whatrack.tasks.webhooks import process_webhook_event

    def process(body: dict) -> list[str]:
        event_id = store_webhook(db.engine, json.dumps(body).encode())
        statements = _statements(db, lambda: process_webhook_event.fn(event_id))
        assert db.session.get(WebhookEvent, event_id).state == "processed"
        return statements

    def say(wamid: str, text: str) -> dict:
        return webhook_body(contacts=[profile("5511988887777", "Ana")],
                            messages=[text_message("5511988887777", wamid, 1_760_000_000, text)])

    first = process(say("wamid.COUNT.1", "Oi"))
    again = process(say("wamid.COUNT.2", "Tudo bem?"))
    # Event lock, conversation lock, routing (with the organization), contact upsert,
    # duplicate check, open ticket, entry stage, ticket insert (touched by its first message),
    # message insert, route, copilot review due (one upsert), event update. An inbound
    # message has no early statuses.
    assert len(first) == 12, first
    # The open ticket is found: no stage lookup, no insert, but the ticket's touch.
    assert len(again) == 11, again


def test_a_batch_shares_its_lookups_and_its_commit(whatsapp_org, db):
    """A hand-off's deliveries are applied in one transaction: the event lock, routing,
    organization and entry stage are read once for the batch, not once per delivery."""
    from tests.fixtures_whatsapp import profile, text_message, webhook_body
    from whatrack.models import Message, WebhookEvent
    from whatrack.services.webhooks.store import store_webhook
    from whatrack.tasks.webhooks import process_webhook_events

    bodies = [webhook_body(contacts=[profile(f"55119888{n:05d}", f"Cliente {n}")],
                           messages=[text_message(f"55119888{n:05d}", f"wamid.BATCH.{n}",
                                                  1_760_000_000 + n, "Oi")])
              for n in range(10)]
    ids = [store_webhook(db.engine, json.dumps(body).encode()) for body in bodies]
    statements = _statements(db, lambda: process_webhook_events.fn(ids))
    assert {db.session.get(WebhookEvent, i).state for i in ids} == {"processed"}
    assert len(_all(db, Message)) == 10
    # 4 before the deliveries (event lock, conversation locks, routing with the organization,
    # entry stage), 5 per delivery (contact, duplicate check, open ticket, ticket, message),
    # 3 after them (every route in one statement, every copilot review in one, the events in
    # one executemany).
    assert len(statements) == 4 + 5 * 10 + 3, statements
