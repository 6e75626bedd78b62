"""Every recorded Meta delivery (tests/fixtures/meta, a copy of shared/fixtures/meta) goes
through the real endpoint with a real signature and a real worker, and ends as these rows.

One test per fixture file, named after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fixtures_whatsapp import (
    FIXTURE_PHONE_ID,
    FIXTURES,
    GRAPH_TOKEN,
    all_rows,
    assert_fields,
    fixture_json,
    load_fixture,
)
from whatrack.models import (
    Contact,
    MediaFile,
    Message,
    MessageStatusEvent,
    Stage,
    Ticket,
    WebhookEvent,
    WebhookEventRoute,
    WhatsAppAccount,
)

DAY = timedelta(hours=24)


@pytest.fixture(autouse=True)
def _session(db):
    """Every test reads through the ``db`` fixture's session, removed at teardown."""
    return db
JPEG = b"\xff\xd8\xff\xe0" + b"fake jpeg bytes" * 20
OGG = b"OggS" + b"fake opus voice note" * 10


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def ingest(post_webhook, worker, name: str) -> WebhookEvent:
    """POST the fixture as Meta would, let the worker run, return the stored delivery."""
    response = post_webhook(load_fixture(name))
    assert response.status_code == 200, response.get_data(as_text=True)
    worker.drain()
    [event] = all_rows(WebhookEvent)
    assert event.body == load_fixture(name)
    return event


def first_value(name: str) -> dict:
    return fixture_json(name)["entry"][0]["changes"][0]["value"]


def assert_processed(event: WebhookEvent, summary: str, org_ids: list[int]) -> None:
    assert_fields(event, state="processed", attempts=1, error=None, summary=summary)
    assert event.processed_at is not None
    routes = all_rows(WebhookEventRoute)
    assert sorted(r.organization_id for r in routes) == sorted(org_ids)
    assert all(r.webhook_event_id == event.id for r in routes)


def assert_nothing_else_stored() -> None:
    assert all_rows(Contact) == []
    assert all_rows(Ticket) == []
    assert all_rows(Message) == []
    assert all_rows(MessageStatusEvent) == []


def test_every_fixture_file_has_its_test():
    names = {Path(p).stem for p in FIXTURES.glob("*.json")}
    tested = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    assert names <= tested, sorted(names - tested)
    # The copy in the repository is the shared reference set, byte for byte.
    shared = FIXTURES.parents[2].parent / "shared" / "fixtures" / "meta"
    if shared.is_dir():
        assert {p.name: p.read_bytes() for p in shared.glob("*.json")} == {
            p.name: p.read_bytes() for p in FIXTURES.glob("*.json")}


def live_ticket(org_id: int, account_id: int, contact: Contact, sent_at: int,
                preview: str, **extra) -> dict:
    """The expected columns of a ticket opened by one customer message."""
    return {"organization_id": org_id, "contact_id": contact.id,
            "whatsapp_account_id": account_id, "closed_at": None, "imported": False,
            "last_inbound_at": at(sent_at), "window_expires_at": at(sent_at) + DAY,
            "last_message_at": at(sent_at), "last_message_preview": preview,
            "unread_count": 1, "lead_source": "organic", "ctwa_clid": None, "source_id": None,
            "referral": None, **extra}


def inbound(org_id: int, account_id: int, ticket: Ticket, raw: dict, **extra) -> dict:
    """The expected columns of a stored customer message."""
    return {"organization_id": org_id, "ticket_id": ticket.id, "contact_id": ticket.contact_id,
            "whatsapp_account_id": account_id, "wamid": raw["id"], "direction": "inbound",
            "origin": "customer", "type": raw["type"], "is_history": False,
            "status": "delivered", "timestamp": at(int(raw["timestamp"])),
            "error": None, "referral": None, "media_id": None, "media_state": "none", **extra}


# --- inbound customer messages -------------------------------------------------------------


def test_inbound_text(whatsapp_org, post_webhook, worker):
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "inbound_text")
    raw = first_value("inbound_text")["messages"][0]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    assert_fields(contact, organization_id=org_id, wa_id="5511987654321",
                  wa_id_reported="5511987654321", bsuid="BR.7391046625518830177",
                  profile_name="Mariana Souza", saved_name=None)
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(org_id, account_id, contact, 1781262000,
                                        raw["text"]["body"]))
    assert [s.name for s in all_rows(Stage) if s.id == ticket.stage_id] == ["Novo"]
    [message] = all_rows(Message)
    assert_fields(message, **inbound(org_id, account_id, ticket, raw, text=raw["text"]["body"],
                                     context_wamid=None, forwarded=False, details=None))


def test_inbound_ctwa_referral(whatsapp_org, post_webhook, worker):
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "inbound_ctwa_referral")
    raw = first_value("inbound_ctwa_referral")["messages"][0]
    referral = raw["referral"]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id="5521998765432", bsuid="BR.5512093348817725410",
                  profile_name="Carlos Pereira")
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(
        org_id, account_id, contact, 1781262345, raw["text"]["body"],
        lead_source="ad", ctwa_clid=referral["ctwa_clid"], source_id="120210000000000001",
        referral=referral))
    assert_fields(ticket, source_type="ad", source_url="https://fb.me/8fAkEaDlInK",
                  ad_headline="Clareamento dental em 1 sessão",
                  ad_body="Agende sua avaliação gratuita pelo WhatsApp.", ad_media_type="image",
                  ad_media_url="https://scontent.example.invalid/ad-creative-0001.jpg")
    [message] = all_rows(Message)
    assert_fields(message, **inbound(org_id, account_id, ticket, raw, text=raw["text"]["body"],
                                     referral=referral))


def test_inbound_image(whatsapp_org, post_webhook, worker, fake_graph):
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    fake_graph.add_media("700000000000001", JPEG, "image/jpeg")
    event = ingest(post_webhook, worker, "inbound_image")
    raw = first_value("inbound_image")["messages"][0]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id="5511987654321", bsuid="BR.7391046625518830177")
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(org_id, account_id, contact, 1781262400,
                                        "Foto do pedido médico"))
    [message] = all_rows(Message)
    assert_fields(message, **inbound(
        org_id, account_id, ticket, raw, text="Foto do pedido médico",
        media_id="700000000000001", media_state="stored", media_error=None,
        media_mime_type="image/jpeg", media_sha256=raw["image"]["sha256"],
        media_caption="Foto do pedido médico", media_filename=None))
    [media] = all_rows(MediaFile)
    assert_fields(media, organization_id=org_id, message_id=message.id, mime_type="image/jpeg",
                  size=len(JPEG), content=JPEG)
    # Downloaded with the number's own token, never anonymously.
    assert [r.headers["Authorization"] for r in fake_graph.requests] == [
        f"Bearer {GRAPH_TOKEN}"] * 2


def test_inbound_interactive_button_reply(whatsapp_org, post_webhook, worker):
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "inbound_interactive_button_reply")
    raw = first_value("inbound_interactive_button_reply")["messages"][0]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(org_id, account_id, contact, 1781262500, "Confirmar"))
    [message] = all_rows(Message)
    assert_fields(message, **inbound(
        org_id, account_id, ticket, raw, text="Confirmar",
        context_wamid=raw["context"]["id"], details={"interactive": raw["interactive"]}))


def test_inbound_interactive_list_reply(whatsapp_org, post_webhook, worker):
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "inbound_interactive_list_reply")
    raw = first_value("inbound_interactive_list_reply")["messages"][0]
    text = "Sexta 15:00\nDra. Paula - unidade Pinheiros"

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id="5511987654321", bsuid=None, profile_name="Mariana Souza")
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(org_id, account_id, contact, 1781262550, text))
    [message] = all_rows(Message)
    assert_fields(message, **inbound(
        org_id, account_id, ticket, raw, text=text, context_wamid=raw["context"]["id"],
        details={"interactive": raw["interactive"]}))


def test_inbound_template_quick_reply_button(whatsapp_org, post_webhook, worker):
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "inbound_template_quick_reply_button")
    raw = first_value("inbound_template_quick_reply_button")["messages"][0]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id="5521998765432", profile_name="Carlos Pereira")
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(org_id, account_id, contact, 1781348000,
                                        "Sim, confirmo"))
    [message] = all_rows(Message)
    assert_fields(message, **inbound(
        org_id, account_id, ticket, raw, text="Sim, confirmo",
        context_wamid=raw["context"]["id"],
        details={"button": {"payload": "LEMBRETE_CONFIRMAR", "text": "Sim, confirmo"}}))


def test_inbound_reaction(whatsapp_org, post_webhook, worker):
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "inbound_reaction")
    raw = first_value("inbound_reaction")["messages"][0]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(org_id, account_id, contact, 1781262600, "👍"))
    [message] = all_rows(Message)
    assert_fields(message, **inbound(
        org_id, account_id, ticket, raw, text="👍",
        details={"reaction": {"message_id": raw["reaction"]["message_id"], "emoji": "👍"}}))


def test_inbound_unsupported(whatsapp_org, post_webhook, worker):
    """Kept as a placeholder (type, Meta's error) instead of being dropped."""
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "inbound_unsupported")
    raw = first_value("inbound_unsupported")["messages"][0]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(org_id, account_id, contact, 1781262700,
                                        "[unsupported]"))
    [message] = all_rows(Message)
    assert_fields(message, **inbound(
        org_id, account_id, ticket, raw, text=None, details={"unsupported": {"type": "poll"}},
        error={"code": 131051, "title": "Message type unknown",
               "message": "Message type unknown",
               "details": "This message type is not supported by Cloud API yet.",
               "href": None}))


def test_inbound_system_user_changed_number(whatsapp_org, post_webhook, worker):
    """No `contacts` array; a notice from WhatsApp, not a customer message: it is shown (and
    unread) but does not open the 24h window."""
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "inbound_system_user_changed_number")
    raw = first_value("inbound_system_user_changed_number")["messages"][0]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id="5511987654321", wa_id_reported="5511987654321",
                  profile_name=None, bsuid=None)
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(
        org_id, account_id, contact, 1781500000, raw["system"]["body"],
        last_inbound_at=None, window_expires_at=None))
    [message] = all_rows(Message)
    assert_fields(message, **inbound(org_id, account_id, ticket, raw, text=raw["system"]["body"],
                                     details={"system": raw["system"]}))
    assert message.details["system"]["wa_id"] == "5511912345678"


# --- coexistence: echoes and history ---------------------------------------------------------


def test_echo_smb_message(whatsapp_org, post_webhook, worker):
    """Typed in the WhatsApp Business app: outgoing, never unread, never opens the window."""
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "echo_smb_message")
    raw = first_value("echo_smb_message")["message_echoes"][0]

    assert_processed(event, "1 messages, 0 duplicates, 0 statuses, 0 other", [org_id])
    [contact] = all_rows(Contact)
    assert_fields(contact, wa_id="5511987654321", wa_id_reported="5511987654321",
                  profile_name=None)
    [ticket] = all_rows(Ticket)
    assert_fields(ticket, **live_ticket(
        org_id, account_id, contact, 1781263000, raw["text"]["body"],
        last_inbound_at=None, window_expires_at=None, unread_count=0))
    [message] = all_rows(Message)
    assert_fields(message, **inbound(
        org_id, account_id, ticket, raw, direction="outbound", origin="business_app_echo",
        status="sent", text=raw["text"]["body"]))


def test_history_sync(whatsapp_org, post_webhook, worker):
    """Past chats: imported read-only, filed closed, no window, no unread, never a lead."""
    org_id, account_id = whatsapp_org["org_id"], whatsapp_org["account_id"]
    event = ingest(post_webhook, worker, "history_sync")
    threads = first_value("history_sync")["history"][0]["threads"]

    # The chunk's progress notice is the "other" item.
    assert_processed(event, "4 messages, 0 duplicates, 0 statuses, 1 other", [org_id])
    contacts = all_rows(Contact)
    assert [(c.wa_id, c.profile_name) for c in contacts] == [
        ("5511987654321", None), ("5531991112233", None)]
    tickets = all_rows(Ticket)
    assert len(tickets) == 2
    for ticket, contact, last in zip(tickets, contacts, (1777300480, 1777400000), strict=True):
        assert_fields(ticket, contact_id=contact.id, whatsapp_account_id=account_id,
                      imported=True, lead_source="history", last_inbound_at=None,
                      window_expires_at=None, unread_count=0, last_message_at=at(last),
                      ctwa_clid=None)
        assert ticket.closed_at is not None
    assert tickets[0].last_message_preview == "[media_placeholder]"
    assert tickets[1].last_message_preview == "Vocês atendem convênio?"

    messages = all_rows(Message)
    raws = [*threads[0]["messages"], *threads[1]["messages"]]
    assert [m.wamid for m in messages] == [r["id"] for r in raws]
    expected = [
        (tickets[0].id, "inbound", "text", "Oi, quanto custa a consulta?"),
        (tickets[0].id, "outbound", "text", "A avaliação inicial é R$ 150,00."),
        (tickets[0].id, "outbound", "media_placeholder", None),
        (tickets[1].id, "inbound", "text", "Vocês atendem convênio?"),
    ]
    assert [(m.ticket_id, m.direction, m.type, m.text) for m in messages] == expected
    for message, raw in zip(messages, raws, strict=True):
        assert_fields(message, origin="history", is_history=True, status="read",
                      timestamp=at(int(raw["timestamp"])), media_state="none")


def test_history_declined(whatsapp_org, post_webhook, worker):
    event = ingest(post_webhook, worker, "history_declined")
    assert_processed(event, "0 messages, 0 duplicates, 0 statuses, 1 other",
                     [whatsapp_org["org_id"]])
    assert_nothing_else_stored()


def test_smb_app_state_sync(whatsapp_org, post_webhook, worker):
    """The app's address book names contacts who wrote; it creates no contact by itself."""
    event = ingest(post_webhook, worker, "smb_app_state_sync")
    assert_processed(event, "0 messages, 0 duplicates, 0 statuses, 2 other",
                     [whatsapp_org["org_id"]])
    assert_nothing_else_stored()


def test_smb_app_state_sync_names_and_forgets_known_contacts(whatsapp_org, post_webhook,
                                                             worker):
    from tests.fixtures_whatsapp import profile, text_message, webhook_body

    # Both people wrote before; the second one's number arrives without the ninth digit.
    for wamid, number, name in (("wamid.SYNC.1", "5511987654321", "Mari"),
                                ("wamid.SYNC.2", "551166665555", "Beto")):
        body = webhook_body(contacts=[profile(number, name)],
                            messages=[text_message(number, wamid, 1_781_250_000, "Oi")])
        assert post_webhook(body).status_code == 200
    worker.drain()
    with_names = {c.wa_id: c.saved_name for c in all_rows(Contact)}
    assert with_names == {"5511987654321": None, "5511966665555": None}
    from whatrack.extensions import db
    from whatrack.tenancy import bind_org

    with bind_org(whatsapp_org["org_id"]):
        beto = next(c for c in all_rows(Contact) if c.wa_id == "5511966665555")
        beto.saved_name = "Beto (fornecedor)"  # saved on the phone earlier
        db.session.commit()

    hub = post_webhook.client.application.extensions["realtime"]
    frames = hub.subscribe(whatsapp_org["org_id"])
    try:
        assert post_webhook(load_fixture("smb_app_state_sync")).status_code == 200
        worker.drain()
        announced = [frames.get(timeout=5)["data"] for _ in range(2)]
    finally:
        hub.unsubscribe(frames)
    db.session.expire_all()
    # Both contacts' cards are re-fetched by open boards, with their new names.
    tickets = {t.contact_id: t.id for t in all_rows(Ticket)}
    assert sorted(a["ticket_id"] for a in announced) == sorted(tickets.values())
    assert {a["change"] for a in announced} == {"contact"}
    saved = {c.wa_id: (c.saved_name, c.display_name) for c in all_rows(Contact)}
    assert saved == {
        "5511987654321": ("Mariana Souza (paciente)", "Mariana Souza (paciente)"),
        "5511966665555": (None, "Beto"),  # removed from the phone: the profile name again
    }
    assert len(all_rows(Ticket)) == 2  # nothing else touched


def test_account_update_partner_removed(whatsapp_org, post_webhook, worker):
    """WABA-level field without metadata: routed by entry.id to the tenant of that WABA."""
    event = ingest(post_webhook, worker, "account_update_partner_removed")
    assert_processed(event, "0 messages, 0 duplicates, 0 statuses, 1 other",
                     [whatsapp_org["org_id"]])
    assert_nothing_else_stored()
    assert [a.phone_number_id for a in all_rows(WhatsAppAccount)] == [FIXTURE_PHONE_ID]


def test_automatic_events_purchase(whatsapp_org, post_webhook, worker):
    event = ingest(post_webhook, worker, "automatic_events_purchase")
    assert_processed(event, "0 messages, 0 duplicates, 0 statuses, 1 other",
                     [whatsapp_org["org_id"]])
    assert_nothing_else_stored()


# --- statuses of our outgoing messages -------------------------------------------------------


def ingest_status(name, whatsapp_org, outbound_message, post_webhook, worker, before):
    raw = first_value(name)["statuses"][0]
    message_id = outbound_message(whatsapp_org["org_id"], whatsapp_org["account_id"],
                                  raw["id"], raw["recipient_id"], status=before)
    event = ingest(post_webhook, worker, name)
    assert_processed(event, "0 messages, 0 duplicates, 1 statuses, 0 other",
                     [whatsapp_org["org_id"]])
    [message] = all_rows(Message)
    assert message.id == message_id
    [status] = all_rows(MessageStatusEvent)
    assert_fields(status, organization_id=whatsapp_org["org_id"], wamid=raw["id"],
                  status=raw["status"], timestamp=at(int(raw["timestamp"])))
    return raw, message, status


def test_status_sent(whatsapp_org, outbound_message, post_webhook, worker):
    raw, message, status = ingest_status("status_sent", whatsapp_org, outbound_message,
                                         post_webhook, worker, before="pending")
    assert_fields(message, status="sent", status_at=at(1781262030), error=None)
    assert_fields(status, errors=None, conversation=None, pricing=raw["pricing"])


def test_status_delivered(whatsapp_org, outbound_message, post_webhook, worker):
    raw, message, status = ingest_status("status_delivered", whatsapp_org, outbound_message,
                                         post_webhook, worker, before="sent")
    assert_fields(message, status="delivered", status_at=at(1781262412), error=None)
    assert_fields(status, errors=None, conversation=raw["conversation"],
                  pricing=raw["pricing"])


def test_status_read(whatsapp_org, outbound_message, post_webhook, worker):
    _raw, message, status = ingest_status("status_read", whatsapp_org, outbound_message,
                                          post_webhook, worker, before="delivered")
    assert_fields(message, status="read", status_at=at(1781262095))
    assert_fields(status, errors=None, conversation=None, pricing=None)


def test_status_failed(whatsapp_org, outbound_message, post_webhook, worker):
    raw, message, status = ingest_status("status_failed", whatsapp_org, outbound_message,
                                         post_webhook, worker, before="sent")
    error = {"code": 131047, "title": "Re-engagement message",
             "message": "Re-engagement message",
             "details": raw["errors"][0]["error_data"]["details"], "href": raw["errors"][0]["href"]}
    assert_fields(message, status="failed", status_at=at(1781350000), error=error)
    assert_fields(status, errors=[error], pricing=None)


# --- a batch across two tenants ---------------------------------------------------------------


def test_batch_multi_message(whatsapp_org, second_org, outbound_message, post_webhook, worker,
                             fake_graph):
    """Two WABAs of two tenants in one POST; statuses inside it arrive out of order."""
    org_a, account_a = whatsapp_org["org_id"], whatsapp_org["account_id"]
    org_b, account_b = second_org["org_id"], second_org["account_id"]
    body = fixture_json("batch_multi_message")
    statuses = body["entry"][0]["changes"][1]["value"]["statuses"]
    ours = outbound_message(org_a, account_a, statuses[0]["id"], "5511987654321", status="sent")
    fake_graph.add_media("700000000000002", OGG, "audio/ogg")

    event = ingest(post_webhook, worker, "batch_multi_message")

    assert_processed(event, "3 messages, 0 duplicates, 2 statuses, 0 other", [org_a, org_b])
    mariana, joao, ana = all_rows(Contact)
    assert_fields(mariana, organization_id=org_a, wa_id="5511987654321",
                  profile_name="Mariana Souza")
    # A 12-digit Brazilian mobile is stored with its ninth digit, as Meta sent it kept aside.
    assert_fields(joao, organization_id=org_a, wa_id="5511988887777",
                  wa_id_reported="551188887777", profile_name="João Lima")
    assert_fields(ana, organization_id=org_b, wa_id="5521991234567", profile_name="Ana Costa")

    ticket_m, ticket_j, ticket_a = all_rows(Ticket)
    assert_fields(ticket_m, organization_id=org_a, contact_id=mariana.id, unread_count=1,
                  window_expires_at=at(1781264000) + DAY, last_message_at=at(1781264000),
                  last_message_preview="Pode ser às 15h sim.")
    assert_fields(ticket_j, **live_ticket(org_a, account_a, joao, 1781264001, "[audio]"))
    assert_fields(ticket_a, **live_ticket(org_b, account_b, ana, 1781264002,
                                          "Centro\nAv. Rio Branco, 1 - Centro, Rio de Janeiro - "
                                          "RJ\n-22.9068,-43.1729"))

    ours_row, text, audio, location = all_rows(Message)
    assert ours_row.id == ours
    # read arrived before delivered: the message stays read, stamped with read's time.
    assert_fields(ours_row, status="read", status_at=at(1781263990))
    assert_fields(text, organization_id=org_a, ticket_id=ticket_m.id,
                  text="Pode ser às 15h sim.")
    assert_fields(audio, organization_id=org_a, ticket_id=ticket_j.id, type="audio",
                  media_id="700000000000002", media_mime_type="audio/ogg; codecs=opus",
                  media_state="stored")
    assert_fields(location, organization_id=org_b, ticket_id=ticket_a.id,
                  whatsapp_account_id=account_b, type="location",
                  details={"location": body["entry"][1]["changes"][0]["value"]["messages"][0][
                      "location"]})
    assert [(s.organization_id, s.status) for s in all_rows(MessageStatusEvent)] == [
        (org_a, "read"), (org_a, "delivered")]
    [media] = all_rows(MediaFile)
    assert_fields(media, organization_id=org_a, message_id=audio.id, content=OGG)
