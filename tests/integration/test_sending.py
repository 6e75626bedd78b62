"""Replying from the ticket panel: the send reaches the fake Graph API once, statuses follow,
retries never double a message, and a lost answer is resolved by the status webhook."""

from __future__ import annotations

import pytest

from tests.fakes.graph import meta_error
from tests.fixtures_whatsapp import FIXTURE_WABA, all_rows, assert_fields
from tests.integration.sending_helpers import (
    CUSTOMER_REPORTED,
    MESSAGES_PATH,
    customer_writes,
    message_posts,
    outbound,
    post_status,
)
from whatrack.models import MediaFile, Message, MessageTemplate, WhatsAppAccount

JSON = {"Accept": "application/json"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(autouse=True)
def _session(db):
    return db


@pytest.fixture
def fast_send_retries(monkeypatch):
    from whatrack.tasks.messaging import send_message

    monkeypatch.setitem(send_message.options, "min_backoff", 20)
    monkeypatch.setitem(send_message.options, "max_backoff", 100)


@pytest.fixture
def agent(whatsapp_org, client_as):
    return client_as(whatsapp_org["email"])


def reply(agent, ticket_id: int, **form):
    form.setdefault("mode", "text")
    return agent.post(f"/dashboard/tickets/{ticket_id}/messages", data=form, headers=JSON)


@pytest.mark.endpoint("tickets.thread", "tickets.send_reply")
def test_a_reply_inside_the_window_is_sent_once_and_moved_by_statuses(
        whatsapp_org, post_webhook, worker, fake_graph, agent):
    ticket = customer_writes(post_webhook, worker)

    response = reply(agent, ticket.id, text="Sexta às 15h está ótimo!")
    assert response.status_code == 201, response.json
    assert response.json["message"]["status"] == "pending"
    assert "Sexta às 15h está ótimo!" in response.json["thread_html"]
    worker.drain()

    [message] = outbound()
    [post] = message_posts(fake_graph)
    body = post.json()
    assert body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": "+" + CUSTOMER_REPORTED, "type": "text",
                    "text": {"body": "Sexta às 15h está ótimo!", "preview_url": False},
                    "biz_opaque_callback_data": f"whatrack:message:{message.id}"}
    [accepted] = fake_graph.cloud.accepted
    assert_fields(message, wamid=accepted["wamid"], status="pending", send_state="accepted",
                  origin="web", direction="outbound", sent_by_id=whatsapp_org["user_id"],
                  send_attempts=1, ticket_id=ticket.id)

    for status in ("sent", "delivered", "read"):
        post_status(post_webhook, worker, accepted["wamid"], status)
        assert all_rows(Message, Message.id == message.id)[0].status == status
    thread = agent.get(f"/dashboard/tickets/{ticket.id}/thread").get_data(as_text=True)
    assert 'data-state="read"' in thread


def test_free_text_outside_the_window_is_refused_and_nothing_is_sent(
        whatsapp_org, post_webhook, worker, fake_graph, agent):
    ticket = customer_writes(post_webhook, worker, hours_ago=25)

    response = reply(agent, ticket.id, text="Ainda tem interesse?")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "window_closed"
    assert "24 horas" in response.json["error"]["message"]
    panel = agent.get(f"/dashboard/tickets/{ticket.id}?partial=1").get_data(as_text=True)
    assert "data-window-closed" in panel and 'name="text"' not in panel
    worker.drain()
    assert outbound() == [] and message_posts(fake_graph) == []


def test_a_5xx_is_retried_into_one_message_with_one_wamid(
        whatsapp_org, post_webhook, worker, fake_graph, agent, fast_send_retries):
    ticket = customer_writes(post_webhook, worker)
    fake_graph.fail(MESSAGES_PATH, 503, meta_error("Service temporarily unavailable", 131016))
    fake_graph.fail(MESSAGES_PATH, 429, meta_error("Throughput limit", 130429))

    assert reply(agent, ticket.id, text="Confirmado!").status_code == 201
    worker.drain()

    [message] = outbound()
    assert len(fake_graph.requests_to(MESSAGES_PATH)) == 3  # 503, 429, then accepted
    [accepted] = fake_graph.cloud.accepted
    assert_fields(message, wamid=accepted["wamid"], send_state="accepted", send_attempts=3,
                  status="pending", error=None)


def test_a_read_timeout_after_meta_accepted_waits_for_the_status_instead_of_resending(
        app, whatsapp_org, post_webhook, worker, fake_graph, agent, monkeypatch):
    ticket = customer_writes(post_webhook, worker)
    monkeypatch.setitem(app.config, "WHATSAPP_GRAPH_TIMEOUT", (3.05, 0.3))
    fake_graph.cloud.slow_accept(1.5)

    assert reply(agent, ticket.id, text="Pode vir amanhã").status_code == 201
    worker.drain()

    [message] = outbound()
    [accepted] = fake_graph.cloud.accepted  # Meta has it; we never saw the answer
    assert_fields(message, wamid=None, send_state="in_doubt", status="pending")
    thread = agent.get(f"/dashboard/tickets/{ticket.id}/thread").get_data(as_text=True)
    assert 'data-state="in_doubt"' in thread

    # The sweeper leaves it alone inside the confirmation delay, and never re-sends.
    from whatrack.tasks.messaging import sweep_outbound_messages

    sweep_outbound_messages.send()
    worker.drain()
    assert all_rows(Message, Message.id == message.id)[0].send_state == "in_doubt"

    # Meta's status names our message through biz_opaque_callback_data.
    post_status(post_webhook, worker, accepted["wamid"], "sent",
                biz_opaque_callback_data=f"whatrack:message:{message.id}")
    [message] = outbound()
    assert_fields(message, wamid=accepted["wamid"], send_state="accepted", status="sent")
    assert len(message_posts(fake_graph)) == 1


@pytest.mark.endpoint("tickets.resend_message")
def test_a_send_never_confirmed_becomes_unconfirmed_and_a_person_can_resend_it(
        app, whatsapp_org, post_webhook, worker, fake_graph, agent, monkeypatch):
    ticket = customer_writes(post_webhook, worker)
    monkeypatch.setitem(app.config, "WHATSAPP_GRAPH_TIMEOUT", (3.05, 0.3))
    fake_graph.cloud.slow_accept(1.0)
    assert reply(agent, ticket.id, text="Olá?").status_code == 201
    worker.drain()

    monkeypatch.setitem(app.config, "WHATSAPP_CONFIRM_SECONDS", 0)
    from whatrack.tasks.messaging import sweep_outbound_messages

    sweep_outbound_messages.send()
    worker.drain()
    [message] = outbound()
    assert_fields(message, send_state="unconfirmed", wamid=None)
    assert len(message_posts(fake_graph)) == 1  # the sweeper only marks it
    thread = agent.get(f"/dashboard/tickets/{ticket.id}/thread").get_data(as_text=True)
    assert "Não confirmado" in thread and f"/dashboard/messages/{message.id}/resend" in thread

    response = agent.post(f"/dashboard/messages/{message.id}/resend", headers=JSON)
    assert response.status_code == 201
    worker.drain()
    first, copy = outbound()
    assert first.details == {"resent_as": copy.id}
    assert_fields(copy, send_state="accepted", text="Olá?", origin="web")
    assert len(message_posts(fake_graph)) == 2
    assert agent.post(f"/dashboard/messages/{message.id}/resend",
                      headers=JSON).status_code == 409


def test_a_refusal_by_meta_fails_the_message_with_metas_reason(
        whatsapp_org, post_webhook, worker, fake_graph, agent):
    ticket = customer_writes(post_webhook, worker)
    error = meta_error("(#131026) Message undeliverable", 131026)
    error["error"]["error_data"] = {"details": "Recipient is not a WhatsApp user"}
    fake_graph.fail(MESSAGES_PATH, 400, error)

    assert reply(agent, ticket.id, text="Olá!").status_code == 201
    worker.drain()

    [message] = outbound()
    assert_fields(message, status="failed", send_state="failed", wamid=None)
    assert message.error["code"] == 131026
    assert message.error["details"] == "Recipient is not a WhatsApp user"
    assert len(fake_graph.requests_to(MESSAGES_PATH)) == 1  # never retried
    thread = agent.get(f"/dashboard/tickets/{ticket.id}/thread").get_data(as_text=True)
    assert "Recipient is not a WhatsApp user" in thread


def test_an_asynchronous_failure_shows_metas_reason(
        whatsapp_org, post_webhook, worker, fake_graph, agent):
    ticket = customer_writes(post_webhook, worker)
    reply(agent, ticket.id, text="Olá!")
    worker.drain()
    [accepted] = fake_graph.cloud.accepted
    post_status(post_webhook, worker, accepted["wamid"], "failed", errors=[{
        "code": 131047, "title": "Re-engagement message",
        "message": "Re-engagement message", "error_data": {"details": "24h passed"}}])
    [message] = outbound()
    assert message.status == "failed"
    assert message.error["code"] == 131047
    assert "Re-engagement message" in agent.get(
        f"/dashboard/tickets/{ticket.id}/thread").get_data(as_text=True)


@pytest.mark.endpoint("tickets.sync_templates")
def test_templates_sync_and_send_outside_the_window(
        whatsapp_org, post_webhook, worker, fake_graph, agent):
    ticket = customer_writes(post_webhook, worker, hours_ago=30)
    cloud = fake_graph.cloud
    cloud.add_template(FIXTURE_WABA, "lembrete_consulta", body="Olá {{1}}, sua consulta é {{2}}.")
    cloud.add_template(FIXTURE_WABA, "promo", status="PENDING", category="MARKETING")
    cloud.add_template(FIXTURE_WABA, "com_imagem", components=[
        {"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Veja"}])

    response = agent.post("/dashboard/whatsapp/templates/sync", headers=JSON)
    assert response.status_code == 200 and response.json["templates"] == 3
    rows = {t.name: t for t in all_rows(MessageTemplate)}
    assert_fields(rows["lembrete_consulta"], language="pt_BR", category="UTILITY",
                  status="APPROVED", body_parameters=["1", "2"], sendable=True)
    assert rows["com_imagem"].sendable is False

    panel = agent.get(f"/dashboard/tickets/{ticket.id}?partial=1").get_data(as_text=True)
    assert "lembrete_consulta" in panel and "promo" not in panel and "com_imagem" not in panel

    response = reply(agent, ticket.id, mode="template", template="lembrete_consulta|pt_BR",
                     parameters=["Mariana", "sexta, 15h"])
    assert response.status_code == 201, response.json
    worker.drain()
    [message] = outbound()
    assert_fields(message, type="template", send_state="accepted",
                  text="Olá Mariana, sua consulta é sexta, 15h.")
    [post] = message_posts(fake_graph)
    assert post.json()["template"] == {
        "name": "lembrete_consulta", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": "Mariana"}, {"type": "text", "text": "sexta, 15h"}]}]}

    wrong = reply(agent, ticket.id, mode="template", template="lembrete_consulta|pt_BR",
                  parameters=["Mariana"])
    assert wrong.status_code == 422 and "2" in wrong.json["error"]["message"]


def test_the_hourly_sync_covers_every_page_of_templates(whatsapp_org, worker, fake_graph):
    for n in range(130):
        fake_graph.cloud.add_template(FIXTURE_WABA, f"modelo_{n:03d}", body="Oi")
    from whatrack.tasks.messaging import sync_all_templates

    sync_all_templates.send()
    worker.drain()
    assert len(all_rows(MessageTemplate)) == 130
    assert len(fake_graph.requests_to(f"/v25.0/{FIXTURE_WABA}/message_templates")) == 2


def test_an_image_is_uploaded_then_sent_by_id(whatsapp_org, post_webhook, worker, fake_graph,
                                              agent):
    from io import BytesIO

    ticket = customer_writes(post_webhook, worker)
    response = agent.post(f"/dashboard/tickets/{ticket.id}/messages", headers=JSON,
                          content_type="multipart/form-data",
                          data={"mode": "file", "caption": "Seu orçamento",
                                "file": (BytesIO(PNG), "orcamento.png", "image/png")})
    assert response.status_code == 201, response.json
    worker.drain()

    [message] = outbound()
    [(media_id, (content, mime, filename))] = fake_graph.cloud.uploads.items()
    assert (content, mime, filename) == (PNG, "image/png", "orcamento.png")
    [post] = message_posts(fake_graph)
    assert post.json()["image"] == {"id": media_id, "caption": "Seu orçamento"}
    assert_fields(message, type="image", media_id=media_id, send_state="accepted",
                  text="Seu orçamento")
    assert all_rows(MediaFile)[0].content == PNG


@pytest.mark.parametrize(("filename", "mime", "size", "expected"), [
    ("virus.exe", "application/x-msdownload", 100, "tipo de arquivo"),
    ("grande.jpg", "image/jpeg", 5 * 1024 * 1024 + 1, "5 MB"),
], ids=["type", "size"])
def test_a_file_meta_would_refuse_is_rejected_before_upload(
        whatsapp_org, post_webhook, worker, fake_graph, agent, filename, mime, size, expected):
    from io import BytesIO

    ticket = customer_writes(post_webhook, worker)
    response = agent.post(f"/dashboard/tickets/{ticket.id}/messages", headers=JSON,
                          content_type="multipart/form-data",
                          data={"mode": "file", "file": (BytesIO(b"x" * size), filename, mime)})
    assert response.status_code == 422
    assert expected in response.json["error"]["message"]
    worker.drain()
    assert outbound() == [] and fake_graph.cloud.uploads == {}


def test_a_number_meta_disconnected_refuses_sends_with_the_reason(
        app, whatsapp_org, post_webhook, worker, fake_graph, agent, db):
    from whatrack.tenancy import bind_org

    ticket_id = customer_writes(post_webhook, worker).id
    with bind_org(whatsapp_org["org_id"]):
        db.session.get(WhatsAppAccount, whatsapp_org["account_id"]).status = "disconnected"
        db.session.commit()
    response = reply(agent, ticket_id, text="Olá")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "number_unavailable"
    assert "desconect" in response.json["error"]["message"].lower()
    assert outbound() == [] and message_posts(fake_graph) == []


def test_a_username_only_customer_is_sent_to_by_bsuid(whatsapp_org, post_webhook, worker,
                                                     fake_graph, agent):
    ticket = customer_writes(post_webhook, worker, sender=None, bsuid="BR.7391046625518830177")
    assert reply(agent, ticket.id, text="Olá!").status_code == 201
    worker.drain()
    [post] = message_posts(fake_graph)
    assert post.json()["recipient"] == "BR.7391046625518830177"
    assert "to" not in post.json()


@pytest.mark.endpoint("settings.read_receipts_setting")
def test_opening_a_conversation_marks_it_read_only_when_the_org_opted_in(
        whatsapp_org, post_webhook, worker, fake_graph, agent):
    ticket = customer_writes(post_webhook, worker)
    agent.get(f"/dashboard/tickets/{ticket.id}?partial=1&read=1")
    worker.drain()
    assert fake_graph.cloud.read_receipts == []

    assert agent.post("/dashboard/settings/whatsapp/read-receipts",
                      data={"enabled": "1"}).status_code == 302
    agent.get(f"/dashboard/tickets/{ticket.id}?partial=1&read=1")
    worker.drain()
    assert fake_graph.cloud.read_receipts == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"}]
    assert outbound() == []


def test_another_organizations_ticket_is_404_in_the_panel(
        whatsapp_org, post_webhook, worker, fake_graph, make_org, client_as):
    ticket = customer_writes(post_webhook, worker)
    _org_id, _user_id, email = make_org("Outra Clínica")
    stranger = client_as(email)
    assert reply(stranger, ticket.id, text="Olá").status_code == 404
    worker.drain()
    assert outbound() == [] and message_posts(fake_graph) == []


def test_a_refused_token_marks_the_number_for_reconnection_and_stops_sends(
        whatsapp_org, post_webhook, worker, fake_graph, agent, client_as):
    ticket = customer_writes(post_webhook, worker)
    fake_graph.fail(MESSAGES_PATH, 401, meta_error("Error validating access token", 190))

    assert reply(agent, ticket.id, text="Olá!").status_code == 201
    worker.drain()

    [message] = outbound()
    assert_fields(message, status="failed", send_state="failed")
    [account] = all_rows(WhatsAppAccount)
    assert account.needs_reconnect
    refused = reply(agent, ticket.id, text="De novo?")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "number_unavailable"
    assert len(outbound()) == 1 and len(fake_graph.requests_to(MESSAGES_PATH)) == 1
    page = client_as(whatsapp_org["email"]).get("/dashboard/settings/whatsapp")
    assert "Reconexão necessária" in page.get_data(as_text=True)


def test_a_reply_from_whatrack_pushes_the_copilots_review_back(
        whatsapp_org, post_webhook, worker, agent):
    from whatrack.models import CopilotReview

    ticket = customer_writes(post_webhook, worker)
    [review] = all_rows(CopilotReview)
    due_before = review.due_at

    assert reply(agent, ticket.id, text="O valor é R$ 480, pode ser?").status_code == 201

    [review] = all_rows(CopilotReview)
    assert review.ticket_id == ticket.id and review.due_at > due_before
