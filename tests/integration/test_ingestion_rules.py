"""Ingestion rules through the real endpoint and real workers: idempotency, ordering,
contact identity, the 24h window, first-touch attribution, unread counts, realtime."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import render_template_string

from tests.fixtures_whatsapp import (
    FIXTURE_DISPLAY,
    all_rows,
    assert_fields,
    fixture_json,
    load_fixture,
    profile,
    status_item,
    text_message,
    webhook_body,
)
from whatrack.models import (
    Contact,
    Message,
    MessageStatusEvent,
    Ticket,
    WebhookEvent,
    WebhookEventRoute,
)
from whatrack.tenancy import bind_org

T0 = 1781262000  # the fixtures' first customer message
DAY = timedelta(hours=24)
MARIANA = "5511987654321"


@pytest.fixture(autouse=True)
def _session(db):
    return db


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def say(post_webhook, sender: str | None, wamid: str, ts: int, body: str = "oi",
        name: str | None = "Mariana Souza", user_id: str | None = None, **extra):
    """POST one customer text message as its own delivery."""
    message = text_message(sender, wamid, ts, body, **extra)
    if user_id and sender is None:
        message["from_user_id"] = user_id
    response = post_webhook(webhook_body(messages=[message],
                                         contacts=[profile(sender, name, user_id)]))
    assert response.status_code == 200
    return response


def echo(post_webhook, to: str, wamid: str, ts: int, body: str = "Claro!"):
    item = {"from": FIXTURE_DISPLAY, "to": to, "id": wamid, "timestamp": str(ts),
            "type": "text", "text": {"body": body}}
    assert post_webhook(webhook_body(echoes=[item])).status_code == 200


def history(post_webhook, thread: str, messages: list[dict]):
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": FIXTURE_DISPLAY,
                          "phone_number_id": "300000000000001"},
             "history": [{"metadata": {"phase": 1, "chunk_order": 1, "progress": 100},
                          "threads": [{"id": thread, "messages": messages}]}]}
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": "200000000000001", "changes": [{"field": "history",
                                                             "value": value}]}]}
    assert post_webhook(body).status_code == 200


def post_status(post_webhook, *statuses: dict):
    assert post_webhook(webhook_body(statuses=list(statuses))).status_code == 200


def only_ticket() -> Ticket:
    [ticket] = all_rows(Ticket)
    return ticket


# --- idempotency and batching -----------------------------------------------------------------


def test_the_same_post_twice_is_one_message_and_one_unread(whatsapp_org, post_webhook, worker):
    raw = load_fixture("inbound_text")
    assert post_webhook(raw).status_code == 200
    worker.drain()
    assert post_webhook(raw).status_code == 200
    worker.drain()

    first, second = all_rows(WebhookEvent)
    assert (first.state, second.state) == ("processed", "processed")
    assert first.summary == "1 messages, 0 duplicates, 0 statuses, 0 other"
    assert second.summary == "0 messages, 1 duplicates, 0 statuses, 0 other"
    assert len(all_rows(Message)) == 1
    assert len(all_rows(Contact)) == 1
    assert only_ticket().unread_count == 1


def test_a_batch_of_50_messages_in_one_body(whatsapp_org, post_webhook, worker):
    senders = [f"55119{80000000 + n:08d}" for n in range(25)]
    messages = [text_message(senders[n % 25], f"wamid.BATCH{n:03d}", T0 + n, f"mensagem {n}")
                for n in range(50)]
    contacts = [profile(s, f"Cliente {i}") for i, s in enumerate(senders)]
    assert post_webhook(webhook_body(messages=messages, contacts=contacts)).status_code == 200
    worker.drain()

    [event] = all_rows(WebhookEvent)
    assert_fields(event, state="processed",
                  summary="50 messages, 0 duplicates, 0 statuses, 0 other")
    stored = all_rows(Message)
    assert sorted(m.wamid for m in stored) == sorted(m["id"] for m in messages)
    assert [c.wa_id for c in all_rows(Contact)] == senders
    tickets = all_rows(Ticket)
    assert len(tickets) == 25
    assert {t.unread_count for t in tickets} == {2}
    by_contact = {c.id: c.profile_name for c in all_rows(Contact)}
    assert [by_contact[t.contact_id] for t in tickets] == [f"Cliente {i}" for i in range(25)]
    for n, ticket in enumerate(tickets):
        assert ticket.last_message_at == at(T0 + 25 + n)
        assert ticket.last_message_preview == f"mensagem {25 + n}"


# --- statuses ---------------------------------------------------------------------------------


def test_statuses_out_of_order_only_move_forward(whatsapp_org, outbound_message, post_webhook,
                                                 worker):
    wamid = "wamid.OUT.ORDER"
    message_id = outbound_message(whatsapp_org["org_id"], whatsapp_org["account_id"], wamid,
                                  MARIANA)
    post_status(post_webhook, status_item(wamid, "read", T0 + 30))
    post_status(post_webhook, status_item(wamid, "delivered", T0 + 20))
    post_status(post_webhook, status_item(wamid, "sent", T0 + 10))
    worker.drain()

    [message] = all_rows(Message, Message.id == message_id)
    assert_fields(message, status="read", status_at=at(T0 + 30))
    assert sorted((e.status, e.timestamp) for e in all_rows(MessageStatusEvent)) == [
        ("delivered", at(T0 + 20)), ("read", at(T0 + 30)), ("sent", at(T0 + 10))]


UNDELIVERABLE = {"code": 131026, "title": "Message undeliverable", "message": "undeliverable",
                 "error_data": {"details": "not a WhatsApp user"}}


@pytest.mark.parametrize("failed_first", [True, False], ids=["failed-then-read",
                                                              "read-then-failed"])
def test_failed_is_terminal_whatever_the_arrival_order(whatsapp_org, outbound_message,
                                                       post_webhook, worker, failed_first):
    wamid = "wamid.OUT.FAIL"
    outbound_message(whatsapp_org["org_id"], whatsapp_org["account_id"], wamid, MARIANA)
    failed = status_item(wamid, "failed", T0 + 2, errors=[UNDELIVERABLE])
    positive = [status_item(wamid, "delivered", T0 + 3), status_item(wamid, "read", T0 + 4)]
    for statuses in ([failed], positive) if failed_first else (positive, [failed]):
        post_status(post_webhook, *statuses)
        worker.drain()  # one delivery at a time: the arrival order is the one named

    [message] = all_rows(Message)
    assert_fields(message, status="failed", status_at=at(T0 + 2))
    assert message.error["code"] == 131026
    # Every status is kept, even those that no longer move the message.
    assert sorted(e.status for e in all_rows(MessageStatusEvent)) == ["delivered", "failed",
                                                                      "read"]


def test_duplicate_statuses_are_ignored(whatsapp_org, outbound_message, post_webhook, worker):
    wamid = "wamid.OUT.DUP"
    outbound_message(whatsapp_org["org_id"], whatsapp_org["account_id"], wamid, MARIANA)
    for _ in range(2):  # Meta redelivers
        post_status(post_webhook, status_item(wamid, "sent", T0 + 1))
        post_status(post_webhook, status_item(wamid, "delivered", T0 + 2),
                    status_item(wamid, "delivered", T0 + 2))
    worker.drain()

    [message] = all_rows(Message)
    assert_fields(message, status="delivered", status_at=at(T0 + 2))
    assert sorted(e.status for e in all_rows(MessageStatusEvent)) == ["delivered", "sent"]
    assert {e.state for e in all_rows(WebhookEvent)} == {"processed"}


def test_status_before_its_message(whatsapp_org, post_webhook, worker):
    """An echo's statuses can overtake the echo itself; they are applied when it lands."""
    wamid = "wamid.ECHO.LATE"
    post_status(post_webhook, status_item(wamid, "read", T0 + 50),
                status_item(wamid, "delivered", T0 + 40))
    worker.drain()
    assert all_rows(Message) == []
    assert len(all_rows(MessageStatusEvent)) == 2

    echo(post_webhook, MARIANA, wamid, T0 + 30)
    worker.drain()
    [message] = all_rows(Message)
    assert_fields(message, wamid=wamid, origin="business_app_echo", status="read",
                  status_at=at(T0 + 50))


# --- refused and odd deliveries ---------------------------------------------------------------


def test_unknown_phone_number_is_kept_unroutable(whatsapp_org, post_webhook, worker):
    stranger = webhook_body(messages=[text_message(MARIANA, "wamid.STRANGER", T0, "oi")],
                            contacts=[profile(MARIANA, "Mariana")],
                            phone_number_id="399999999999999", waba_id="299999999999999")
    mixed = fixture_json("batch_multi_message")  # its second number is nobody's
    assert post_webhook(stranger).status_code == 200
    assert post_webhook(mixed).status_code == 200
    worker.drain()

    unknown, partly = all_rows(WebhookEvent)
    assert_fields(unknown, state="unroutable", error=None,
                  summary="0 messages, 0 duplicates, 0 statuses, 0 other; "
                          "unroutable numbers: 399999999999999")
    assert partly.state == "processed"
    assert partly.summary.endswith("unroutable numbers: 300000000000002")
    assert [r.webhook_event_id for r in all_rows(WebhookEventRoute)] == [partly.id]
    assert {m.organization_id for m in all_rows(Message)} == {whatsapp_org["org_id"]}
    assert "wamid.STRANGER" not in {m.wamid for m in all_rows(Message)}


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64, "sha1=abc",
                                       "sha256=wrong"])
def test_bad_or_missing_signature_is_refused_and_nothing_stored(whatsapp_org, post_webhook,
                                                                signature):
    response = post_webhook(load_fixture("inbound_text"), signature=signature)
    assert response.status_code == 401
    assert all_rows(WebhookEvent) == []


def test_signature_of_other_bytes_is_refused(app, whatsapp_org, post_webhook):
    """Re-encoding the JSON changes the bytes: the signature only covers what Meta sent."""
    from whatrack.integrations.meta.signatures import sign

    raw = load_fixture("inbound_text")
    reencoded = json.dumps(json.loads(raw)).encode()  # same data, ASCII escapes
    response = post_webhook(raw, signature=sign(app.config["META_APP_SECRET"], reencoded))
    assert response.status_code == 401
    assert all_rows(WebhookEvent) == []


def test_malformed_bodies_are_stored_acknowledged_and_marked_failed(post_webhook, worker):
    bodies = [b'{"object": "whatsapp_business_account", "entry": [', b"[1, 2]",
              b'{"object": "whatsapp_business_account"}', b"\xff\xfe not utf-8", b""]
    for body in bodies:
        assert post_webhook(body).status_code == 200
    worker.drain()

    events = all_rows(WebhookEvent)
    assert [e.body for e in events] == bodies
    assert {e.state for e in events} == {"failed"}
    assert all(e.error.startswith("malformed: ") for e in events)
    assert all_rows(Message) == []


def test_a_64_kb_text_is_stored_whole(whatsapp_org, post_webhook, worker):
    body = ("Orçamento detalhado: " + "x" * 100 + "\n") * 540
    body = body[:65536]
    say(post_webhook, MARIANA, "wamid.BIG", T0, body)
    worker.drain()

    [message] = all_rows(Message)
    assert message.text == body and len(message.text) == 65536
    assert only_ticket().last_message_preview == body[:160]


def test_emoji_and_rtl_text_survive_byte_for_byte(whatsapp_org, post_webhook, worker):
    text = "مرحبا، هل لديكم موعد؟ 👋🏽 שלום 👨‍👩‍👧‍👦 \u200fטקסט\u200e ok 🇧🇷"
    name = "ليلى 🌸 לאה"
    say(post_webhook, MARIANA, "wamid.RTL", T0, text, name=name)
    worker.drain()

    [event] = all_rows(WebhookEvent)
    assert text.encode() in event.body  # stored as sent, not re-encoded
    [message] = all_rows(Message)
    assert message.text == text
    [contact] = all_rows(Contact)
    assert contact.profile_name == name


def test_profile_name_with_script_is_stored_as_is_and_rendered_escaped(
        app, whatsapp_org, post_webhook, worker):
    """The name is data: stored exactly, escaped by Jinja's autoescape wherever it is shown.

    The Kanban and inbox that display names are built later and render them with these same
    templates settings, so this pins the escaping they rely on.
    """
    name = '<script>alert("x")</script> Mariana'
    say(post_webhook, MARIANA, "wamid.XSS", T0, "oi", name=name)
    worker.drain()

    [contact] = all_rows(Contact)
    assert contact.profile_name == name
    with app.test_request_context("/"):
        html = render_template_string("<p>{{ name }}</p>", name=contact.display_name)
    assert "<script>" not in html
    assert html == "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Mariana</p>"


# --- who is the contact -----------------------------------------------------------------------


def test_brazilian_mobile_with_or_without_ninth_digit_is_one_contact(whatsapp_org, post_webhook,
                                                                     worker):
    say(post_webhook, "551188887777", "wamid.NINE.1", T0, "sem o nove", name="João")
    worker.drain()
    say(post_webhook, "5511988887777", "wamid.NINE.2", T0 + 60, "com o nove", name="João")
    say(post_webhook, "551133334444", "wamid.LANDLINE", T0 + 90, "fixo", name="Loja")
    worker.drain()

    joao, landline = all_rows(Contact)
    assert_fields(joao, wa_id="5511988887777", wa_id_reported="5511988887777")
    # A landline (subscriber number starting 2-5) never gains a ninth digit.
    assert_fields(landline, wa_id="551133334444", wa_id_reported="551133334444")
    ticket_j, _ticket_l = all_rows(Ticket)
    assert ticket_j.contact_id == joao.id and ticket_j.unread_count == 2
    assert [m.ticket_id for m in all_rows(Message, Message.contact_id == joao.id)] == [
        ticket_j.id, ticket_j.id]


def test_bsuid_is_kept_and_identifies_a_contact_whose_phone_is_withheld(
        whatsapp_org, post_webhook, worker):
    bsuid = "BR.7391046625518830177"
    say(post_webhook, MARIANA, "wamid.BSUID.1", T0, "oi", user_id=bsuid)
    worker.drain()
    # Later she adopts a username and hides her number: only the BSUID comes.
    say(post_webhook, None, "wamid.BSUID.2", T0 + 60, "sou eu de novo", name="mari",
        user_id=bsuid)
    worker.drain()

    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id=MARIANA, wa_id_reported=MARIANA, bsuid=bsuid)
    ticket = only_ticket()
    assert ticket.unread_count == 2
    assert [m.ticket_id for m in all_rows(Message)] == [ticket.id, ticket.id]


def test_a_username_only_contact_keeps_its_ticket_when_the_phone_appears(
        whatsapp_org, post_webhook, worker):
    bsuid = "BR.1234567890123456789"
    say(post_webhook, None, "wamid.USER.1", T0, "oi", name="lia", user_id=bsuid)
    say(post_webhook, None, "wamid.USER.2", T0 + 10, "tudo bem?", name="lia", user_id=bsuid)
    worker.drain()
    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id=f"bsuid:{bsuid}", wa_id_reported=None, bsuid=bsuid)

    say(post_webhook, "5511977776666", "wamid.USER.3", T0 + 20, "meu número", name="Lia",
        user_id=bsuid)
    worker.drain()
    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id="5511977776666", wa_id_reported="5511977776666", bsuid=bsuid,
                  profile_name="Lia")
    ticket = only_ticket()
    assert ticket.unread_count == 3
    assert len(all_rows(Message, Message.ticket_id == ticket.id)) == 3


def test_a_burst_from_a_new_contact_opens_one_ticket(whatsapp_org, post_webhook, make_worker):
    """Ten separate deliveries for one new contact (both forms of her number), queued first,
    then raced by eight worker threads."""
    for n in range(10):
        sender = "551197776655" if n % 2 else "5511997776655"
        say(post_webhook, sender, f"wamid.BURST.{n}", T0 + n, f"parte {n}", name="Bia")
    make_worker(threads=8).drain()

    assert {e.state for e in all_rows(WebhookEvent)} == {"processed"}
    [contact] = all_rows(Contact)
    assert contact.wa_id == "5511997776655"
    ticket = only_ticket()
    assert_fields(ticket, contact_id=contact.id, closed_at=None, unread_count=10,
                  last_message_at=at(T0 + 9), last_message_preview="parte 9",
                  window_expires_at=at(T0 + 9) + DAY)
    messages = all_rows(Message)
    assert len(messages) == 10
    assert {m.ticket_id for m in messages} == {ticket.id}


# --- the 24h window, history, attribution, unread ---------------------------------------------


def test_window_is_meta_time_plus_24h_for_customer_messages_only(whatsapp_org, post_webhook,
                                                                 worker):
    say(post_webhook, MARIANA, "wamid.W1", T0)
    worker.drain()
    assert_fields(only_ticket(), last_inbound_at=at(T0), window_expires_at=at(T0) + DAY)

    echo(post_webhook, MARIANA, "wamid.W2", T0 + 7200)  # answered from the phone, 2h later
    worker.drain()
    assert_fields(only_ticket(), window_expires_at=at(T0) + DAY, last_message_at=at(T0 + 7200))

    say(post_webhook, MARIANA, "wamid.W3", T0 + 10800)
    say(post_webhook, MARIANA, "wamid.W4", T0 + 3600)  # delivered late, written earlier
    worker.drain()
    assert_fields(only_ticket(), last_inbound_at=at(T0 + 10800),
                  window_expires_at=at(T0 + 10800) + DAY, last_message_at=at(T0 + 10800))


def test_history_never_reopens_a_ticket_nor_extends_its_window(whatsapp_org, post_webhook,
                                                               worker, db):
    say(post_webhook, MARIANA, "wamid.LIVE", T0)
    worker.drain()
    ticket = only_ticket()
    with bind_org(whatsapp_org["org_id"]):
        closed_at = at(T0 + 3600)
        db.session.get(Ticket, ticket.id).closed_at = closed_at
        db.session.commit()

    history(post_webhook, MARIANA, [
        {"from": MARIANA, "id": "wamid.OLD.1", "timestamp": str(T0 - 86400), "type": "text",
         "text": {"body": "mensagem antiga"}, "history_context": {"status": "READ"}},
        {"from": FIXTURE_DISPLAY, "to": MARIANA, "id": "wamid.OLD.2",
         "timestamp": str(T0 + 7200), "type": "text", "text": {"body": "resposta do app"},
         "history_context": {"status": "READ"}}])
    worker.drain()

    ticket = only_ticket()
    assert_fields(ticket, closed_at=closed_at, unread_count=1, last_inbound_at=at(T0),
                  window_expires_at=at(T0) + DAY, lead_source="organic", imported=False)
    assert [(m.wamid, m.ticket_id, m.is_history) for m in all_rows(Message)] == [
        ("wamid.LIVE", ticket.id, False), ("wamid.OLD.1", ticket.id, True),
        ("wamid.OLD.2", ticket.id, True)]


def test_history_is_not_a_lead_and_the_next_live_message_is(whatsapp_org, post_webhook, worker):
    history(post_webhook, MARIANA, [
        {"from": MARIANA, "id": "wamid.H.1", "timestamp": str(T0 - 3600), "type": "text",
         "text": {"body": "antiga"}, "history_context": {"status": "READ"}}])
    worker.drain()
    [imported] = all_rows(Ticket)
    assert_fields(imported, lead_source="history", imported=True, unread_count=0,
                  window_expires_at=None)
    assert imported.closed_at is not None

    say(post_webhook, MARIANA, "wamid.H.LIVE", T0)
    worker.drain()
    imported, live = all_rows(Ticket)
    assert imported.closed_at is not None
    assert_fields(live, lead_source="organic", imported=False, closed_at=None, unread_count=1,
                  window_expires_at=at(T0) + DAY)


def test_coexistence_unsupported_131060_is_kept_as_a_visible_placeholder(
        whatsapp_org, post_webhook, worker):
    """The first message after a CTWA tap on a coexistence number can come undecryptable."""
    message = {"from": MARIANA, "id": "wamid.COEX.1", "timestamp": str(T0),
               "type": "unsupported",
               "errors": [{"code": 131060, "title": "This message is unavailable",
                           "message": "This message is unavailable",
                           "error_data": {"details": "Check the WhatsApp Business app"}}]}
    assert post_webhook(webhook_body(messages=[message],
                                     contacts=[profile(MARIANA, "Mariana")])).status_code == 200
    worker.drain()

    [msg] = all_rows(Message)
    assert_fields(msg, type="unsupported", origin="customer", text=None)
    assert msg.error["code"] == 131060
    assert_fields(only_ticket(), unread_count=1, last_message_preview="[unsupported]",
                  window_expires_at=at(T0) + DAY)


def test_later_referrals_stay_on_their_message_not_on_the_ticket(whatsapp_org, post_webhook,
                                                                 worker):
    first = fixture_json("inbound_ctwa_referral")["entry"][0]["changes"][0]["value"][
        "messages"][0]["referral"]
    second = {**first, "source_id": "120210000000000999", "ctwa_clid": "ARAnotherClickId",
              "headline": "Outro anúncio"}
    customer = "5521998765432"
    say(post_webhook, customer, "wamid.REF.1", T0, "vi o anúncio", name="Carlos",
        referral=first)
    worker.drain()
    say(post_webhook, customer, "wamid.REF.2", T0 + 600, "e esse outro?", name="Carlos",
        referral=second)
    worker.drain()

    assert_fields(only_ticket(), lead_source="ad", ctwa_clid=first["ctwa_clid"],
                  source_id="120210000000000001", ad_headline=first["headline"],
                  referral=first)
    one, two = all_rows(Message)
    assert (one.referral, two.referral) == (first, second)


def test_an_organic_ticket_becomes_an_ad_ticket_when_a_referral_comes_later(whatsapp_org,
                                                                            post_webhook, worker):
    """Issue 19: the click is never dropped (tests/integration/test_attribution.py)."""
    referral = fixture_json("inbound_ctwa_referral")["entry"][0]["changes"][0]["value"][
        "messages"][0]["referral"]
    say(post_webhook, MARIANA, "wamid.ORG.1", T0)
    worker.drain()
    say(post_webhook, MARIANA, "wamid.ORG.2", T0 + 60, referral=referral)
    worker.drain()
    assert_fields(only_ticket(), lead_source="ad", ctwa_clid=referral["ctwa_clid"],
                  referral=referral)
    assert all_rows(Message)[1].referral == referral


def test_unread_counts_customer_messages_until_someone_answers(whatsapp_org, post_webhook,
                                                              worker):
    for n in range(3):
        say(post_webhook, MARIANA, f"wamid.U{n}", T0 + n)
    worker.drain()
    assert only_ticket().unread_count == 3

    echo(post_webhook, MARIANA, "wamid.U.ECHO", T0 + 10)
    worker.drain()
    assert only_ticket().unread_count == 0

    say(post_webhook, MARIANA, "wamid.U3", T0 + 20)
    say(post_webhook, MARIANA, "wamid.U3", T0 + 20)  # redelivered
    history(post_webhook, MARIANA, [
        {"from": MARIANA, "id": "wamid.U.OLD", "timestamp": str(T0 - 500), "type": "text",
         "text": {"body": "antiga"}, "history_context": {"status": "READ"}}])
    worker.drain()
    assert only_ticket().unread_count == 1


# --- realtime -------------------------------------------------------------------------------


def test_a_realtime_event_is_published_after_commit(app, whatsapp_org, make_org, post_webhook,
                                                    worker, outbound_message):
    hub = app.extensions["realtime"]
    ours = hub.subscribe(whatsapp_org["org_id"])
    other_org, _user, _email = make_org("Outra")
    theirs = hub.subscribe(other_org)
    try:
        post_webhook(load_fixture("inbound_text"))
        worker.drain()
        frame = ours.get(timeout=5)
        [message] = all_rows(Message)
        ticket = only_ticket()
        assert frame == {"type": "message.created", "org_id": whatsapp_org["org_id"],
                         "data": {"ticket_id": ticket.id, "message_id": message.id,
                                  "direction": "inbound", "ticket_created": True}}

        wamid = "wamid.OUT.RT"
        out_id = outbound_message(whatsapp_org["org_id"], whatsapp_org["account_id"], wamid,
                                  MARIANA)
        post_status(post_webhook, status_item(wamid, "delivered", T0 + 5))
        worker.drain()
        assert ours.get(timeout=5) == {
            "type": "message.status", "org_id": whatsapp_org["org_id"],
            "data": {"ticket_id": ticket.id, "message_id": out_id, "status": "delivered"}}

        post_webhook(load_fixture("inbound_text"))  # a duplicate changes nothing
        worker.drain()
        assert ours.get(timeout=0.3) is None
        assert theirs.get(timeout=0.1) is None
    finally:
        hub.unsubscribe(ours)
        hub.unsubscribe(theirs)
