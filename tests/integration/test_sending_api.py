"""POST /api/v1/tickets/<id>/messages and GET /api/v1/templates, and the rule that only
people send: no actor or sweeper ever creates or POSTs a message on its own."""

from __future__ import annotations

import pytest

from tests.fixtures_app import bearer
from tests.fixtures_whatsapp import FIXTURE_WABA, all_rows, assert_fields
from tests.integration.sending_helpers import customer_writes, message_posts, outbound
from whatrack.models import Message


@pytest.fixture(autouse=True)
def _session(db):
    return db


@pytest.fixture
def api_key(whatsapp_org, make_api_key) -> str:
    return make_api_key(whatsapp_org["org_id"])[1]


@pytest.fixture
def synced_templates(whatsapp_org, fake_graph, worker):
    fake_graph.cloud.add_template(FIXTURE_WABA, "lembrete_consulta",
                                  body="Olá {{1}}, sua consulta é {{2}}.")
    fake_graph.cloud.add_template(FIXTURE_WABA, "boas_vindas", language="en_US",
                                  body="Welcome {{nome}}", category="MARKETING")
    from whatrack.tasks.messaging import sync_templates

    sync_templates.send(whatsapp_org["org_id"])
    worker.drain()


def send(client, key, ticket_id, body):
    return client.post(f"/api/v1/tickets/{ticket_id}/messages", json=body,
                       headers=bearer(key))


@pytest.mark.endpoint("api.send_ticket_message")
def test_text_inside_the_window_answers_201_pending_and_is_sent(
        client, api_key, whatsapp_org, post_webhook, worker, fake_graph):
    ticket = customer_writes(post_webhook, worker)

    response = send(client, api_key, ticket.id, {"text": "Olá, tudo bem?"})

    assert response.status_code == 201
    message = response.json["message"]
    assert {k: message[k] for k in ("direction", "origin", "type", "text", "status", "wamid",
                                    "send_state")} == {
        "direction": "outbound", "origin": "api", "type": "text", "text": "Olá, tudo bem?",
        "status": "pending", "wamid": None, "send_state": "queued"}
    worker.drain()
    [row] = outbound()
    assert_fields(row, send_state="accepted", sent_by_id=None)
    assert row.api_key_id is not None
    listed = client.get(f"/api/v1/tickets/{ticket.id}/messages", headers=bearer(api_key)).json
    assert listed["data"][-1]["wamid"] == fake_graph.cloud.accepted[0]["wamid"]


def test_free_text_outside_the_window_answers_409_window_closed(
        client, api_key, post_webhook, worker, fake_graph):
    ticket = customer_writes(post_webhook, worker, hours_ago=24.5)
    response = send(client, api_key, ticket.id, {"text": "Olá"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "window_closed"
    assert response.json["error"]["message"]
    worker.drain()
    assert outbound() == [] and message_posts(fake_graph) == []


def test_a_template_is_sent_in_any_window_state(client, api_key, post_webhook, worker,
                                                fake_graph, synced_templates):
    ticket = customer_writes(post_webhook, worker, hours_ago=48)
    response = send(client, api_key, ticket.id, {"template": {
        "name": "boas_vindas", "language": "en_US", "parameters": ["Mariana"]}})
    assert response.status_code == 201, response.json
    worker.drain()
    [post] = message_posts(fake_graph)
    assert post.json()["template"]["components"] == [{"type": "body", "parameters": [
        {"type": "text", "text": "Mariana", "parameter_name": "nome"}]}]
    assert outbound()[0].text == "Welcome Mariana"


@pytest.mark.endpoint("api.list_message_templates")
def test_templates_list_their_category_language_status_and_parameter_count(
        client, api_key, synced_templates):
    response = client.get("/api/v1/templates", headers=bearer(api_key))
    assert response.status_code == 200
    assert response.json["data"] == [
        {"name": "boas_vindas", "language": "en_US", "category": "MARKETING",
         "status": "APPROVED", "parameters": 1},
        {"name": "lembrete_consulta", "language": "pt_BR", "category": "UTILITY",
         "status": "APPROVED", "parameters": 2},
    ]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"text": ""}, "text", "Escreva"),
    ({"text": "   "}, "text", "Escreva"),
    ({"text": 42}, "text", "Escreva"),
    ({"text": "x" * 4097}, "text", "4097"),
    ({}, "text", "text"),
    ({"template": {"name": "nao_existe", "language": "pt_BR", "parameters": []}},
     "template.name", "nao_existe"),
    ({"template": {"name": "lembrete_consulta", "language": "pt_BR",
                   "parameters": ["só um"]}}, "template.parameters", "2"),
    ({"template": {"name": "lembrete_consulta", "language": "pt_BR",
                   "parameters": "Mariana"}}, "template.parameters", "lista"),
    ({"template": "lembrete_consulta"}, "template", "template"),
], ids=["empty", "blank", "not-text", "too-long", "nothing", "unknown-template",
        "wrong-count", "params-not-list", "template-not-object"])
def test_bad_input_answers_422_with_a_clear_message_and_sends_nothing(
        client, api_key, post_webhook, worker, fake_graph, synced_templates, body, field,
        words):
    ticket = customer_writes(post_webhook, worker)
    response = send(client, api_key, ticket.id, body)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    assert response.json["error"]["field"] == field
    assert words in response.json["error"]["message"]
    worker.drain()
    assert outbound() == [] and message_posts(fake_graph) == []


def test_a_4096_character_text_is_accepted(client, api_key, post_webhook, worker, fake_graph):
    ticket = customer_writes(post_webhook, worker)
    assert send(client, api_key, ticket.id, {"text": "x" * 4096}).status_code == 201


def test_another_organizations_ticket_answers_404(
        client, whatsapp_org, post_webhook, worker, fake_graph, make_org, make_api_key):
    ticket = customer_writes(post_webhook, worker)
    other_org, _user, _email = make_org("Outra")
    _key_id, other_key = make_api_key(other_org)
    for ticket_id in (ticket.id, 999999):
        response = send(client, other_key, ticket_id, {"text": "Olá"})
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    worker.drain()
    assert outbound() == [] and message_posts(fake_graph) == []


# --- only people send ------------------------------------------------------------------

# Every actor, with how this test runs it. A new actor fails the test until it is added
# here, so nobody adds a background job that writes to customers without this check.
def _actor_calls(org_id: int, ticket_id: int, inbound_id: int) -> dict[str, tuple]:
    failed = {"actor_name": "x", "args": [org_id, inbound_id], "kwargs": {}, "options": {},
              "queue_name": "messaging", "message_id": "m", "message_timestamp": 0}
    return {
        "sweep_webhook_events": (), "sweep_conversion_events": (), "check_meta_tokens": (),
        "purge_login_attempts": (), "refresh_whatsapp_health": (), "sweep_outbound_messages": (),
        "sync_all_templates": (), "sync_templates": (org_id,), "sweep_copilot_reviews": (),
        "review_ticket_sales": (org_id, ticket_id),
        "mark_conversation_read": (org_id, ticket_id),
        "send_conversion_events": (org_id,),
        "fetch_media": (org_id, inbound_id),
        "media_fetch_gave_up": (failed, {"retries": 6}),
        "send_message_gave_up": (failed, {"retries": 8}),
        # Given an inbound message (the only kind no person queued), it must do nothing.
        "send_message": (org_id, inbound_id),
        "process_webhook_event": (1,), "process_webhook_events": ([1],),
    }


def test_no_actor_or_sweeper_creates_or_sends_a_message_without_a_person(
        whatsapp_org, post_webhook, worker, fake_graph, synced_templates):
    from whatrack.tasks.broker import broker
    from whatrack.tasks.schedule import schedule

    ticket = customer_writes(post_webhook, worker, hours_ago=1)
    [inbound] = all_rows(Message)
    calls = _actor_calls(whatsapp_org["org_id"], ticket.id, inbound.id)
    # Actors other test modules declare for themselves are not the application's.
    ours = {name for name, actor in broker.actors.items()
            if actor.fn.__module__.startswith("whatrack.")}
    assert ours <= set(calls), (
        "new actor(s) not checked by this test: " + repr(sorted(ours - set(calls))))
    assert {actor.actor_name for actor, _interval in schedule()} <= set(calls)
    fake_graph.requests.clear()

    for name, args in calls.items():
        if name in ours:
            broker.get_actor(name).send(*args)
    worker.drain()

    assert outbound() == []
    assert message_posts(fake_graph) == []
    assert fake_graph.cloud.accepted == [] and fake_graph.cloud.read_receipts == []
    assert fake_graph.requests_to(f"/v25.0/{whatsapp_org['org_id']}") == []
