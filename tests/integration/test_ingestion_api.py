"""What ingestion produced, as integrators read it: GET /api/v1/tickets and
GET /api/v1/tickets/<id>/messages (shapes per ARCHITECTURE.md "Public contracts")."""

from __future__ import annotations

import pytest

from tests.fixtures_app import bearer
from tests.fixtures_whatsapp import (
    all_rows,
    fixture_json,
    load_fixture,
    profile,
    text_message,
    webhook_body,
)
from tests.sql import recorded_statements
from whatrack.models import Message, Stage, Ticket

T0 = 1781262000


@pytest.fixture(autouse=True)
def _session(db):
    return db


def seed_tickets(app, whatsapp_org: dict, count: int, first: int = 0, ties: int = 1) -> None:
    """``count`` contacts with an open ticket each, as ingestion leaves them (bulk-inserted:
    these tests are about reading); ``ties`` tickets share each last_message_at."""
    from datetime import UTC, datetime, timedelta

    from whatrack.extensions import db
    from whatrack.models import Contact, Organization
    from whatrack.services.tickets.stages import entry_stage
    from whatrack.tenancy import bind_org

    org_id = whatsapp_org["org_id"]
    with app.app_context(), bind_org(org_id):
        stage = entry_stage(db.session.get(Organization, org_id))
        contacts = [Contact(organization_id=org_id, wa_id=f"55119{60000000 + n:08d}",
                            profile_name=f"Cliente {n}") for n in range(first, first + count)]
        db.session.add_all(contacts)
        db.session.flush()
        for n, contact in enumerate(contacts, start=first):
            when = datetime.fromtimestamp(T0 + n // ties, UTC)
            db.session.add(Ticket(
                organization_id=org_id, contact_id=contact.id, stage_id=stage.id,
                whatsapp_account_id=whatsapp_org["account_id"], last_inbound_at=when,
                window_expires_at=when + timedelta(hours=24), last_message_at=when,
                last_message_preview=f"oi {n}", unread_count=1))
        db.session.commit()


@pytest.mark.endpoint("api.list_tickets")
def test_a_ticket_carries_the_contracted_fields(whatsapp_org, post_webhook, worker,
                                                make_api_key, client):
    assert post_webhook(load_fixture("inbound_ctwa_referral")).status_code == 200
    worker.drain()
    _key_id, key = make_api_key(whatsapp_org["org_id"])
    referral = fixture_json("inbound_ctwa_referral")["entry"][0]["changes"][0]["value"][
        "messages"][0]["referral"]

    response = client.get("/api/v1/tickets", headers=bearer(key))
    assert response.status_code == 200
    [ticket] = all_rows(Ticket)
    [stage] = [s for s in all_rows(Stage) if s.id == ticket.stage_id]
    [data] = response.json["data"]
    assert response.json["next_cursor"] is None
    assert data["id"] == ticket.id
    assert data["contact"] == {"wa_id": "5521998765432", "name": "Carlos Pereira"}
    assert data["stage"] == {"id": stage.id, "name": "Novo", "kind": "open"}
    assert data["assignee"] is None
    assert data["window_expires_at"] == "2026-06-13T11:05:45+00:00"
    assert data["last_message_at"] == "2026-06-12T11:05:45+00:00"
    assert data["unread_count"] == 1
    assert data["tracking"] == {
        "ctwa_clid": referral["ctwa_clid"], "ad_id": "120210000000000001",
        "source_type": "ad", "source_url": "https://fb.me/8fAkEaDlInK",
        "headline": "Clareamento dental em 1 sessão", "utm_source": None, "utm_medium": None,
        "utm_campaign": None, "utm_content": None, "utm_term": None, "link": None,
        "source": "ad"}


def test_cursor_pagination_walks_120_tickets_exactly_once(app, whatsapp_org, make_api_key,
                                                          client):
    seed_tickets(app, whatsapp_org, 120, ties=3)
    _key_id, key = make_api_key(whatsapp_org["org_id"])

    seen, pages, cursor = [], [], None
    while True:
        url = "/api/v1/tickets?limit=50" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=bearer(key))
        assert response.status_code == 200
        pages.append(len(response.json["data"]))
        seen += [(t["last_message_at"], t["id"]) for t in response.json["data"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break

    assert pages == [50, 50, 20]
    ids = [ident for _when, ident in seen]
    assert sorted(ids) == sorted(t.id for t in all_rows(Ticket))
    assert len(set(ids)) == 120
    assert seen == sorted(seen, reverse=True)  # newest activity first, ties by id


def test_listing_tickets_takes_the_same_queries_for_10_or_100(app, whatsapp_org, make_api_key,
                                                              client):
    from whatrack.extensions import db

    _key_id, key = make_api_key(whatsapp_org["org_id"])
    with app.app_context():
        engine = db.engine

    def list_all() -> tuple[int, list[str]]:
        client.get("/api/v1/tickets?limit=200", headers=bearer(key))  # warm: key touch etc.
        with recorded_statements(engine) as statements:
            response = client.get("/api/v1/tickets?limit=200", headers=bearer(key))
        assert response.status_code == 200
        return len(response.json["data"]), statements

    seed_tickets(app, whatsapp_org, 10)
    small, few = list_all()
    seed_tickets(app, whatsapp_org, 90, first=10)
    large, many = list_all()

    assert (small, large) == (10, 100)
    assert len(few) == len(many) <= 5, many


@pytest.mark.endpoint("api.list_ticket_messages")
def test_messages_resume_after_a_message_id(whatsapp_org, post_webhook, worker, make_api_key,
                                            client):
    for n in range(5):
        post_webhook(webhook_body(messages=[text_message("5511987654321", f"wamid.M{n}",
                                                         T0 + n, f"parte {n}")],
                                  contacts=[profile("5511987654321", "Mariana")]))
        worker.drain()  # one at a time: arrival order is the order written
    _key_id, key = make_api_key(whatsapp_org["org_id"])
    [ticket] = all_rows(Ticket)
    messages = all_rows(Message)
    url = f"/api/v1/tickets/{ticket.id}/messages"

    everything = client.get(url, headers=bearer(key)).json
    assert everything["next_cursor"] is None
    assert [m["id"] for m in everything["data"]] == [m.id for m in messages]
    assert everything["data"][0] == {
        "id": messages[0].id, "wamid": "wamid.M0", "direction": "inbound",
        "origin": "customer", "type": "text", "text": "parte 0", "media": None,
        "status": "delivered", "error": None, "timestamp": "2026-06-12T11:00:00+00:00",
        "is_history": False, "reply_to": None, "send_state": None}

    after = client.get(f"{url}?after={messages[1].id}", headers=bearer(key)).json
    assert [m["text"] for m in after["data"]] == ["parte 2", "parte 3", "parte 4"]
    assert client.get(f"{url}?after={messages[4].id}", headers=bearer(key)).json["data"] == []

    page = client.get(f"{url}?limit=2", headers=bearer(key)).json
    assert [m["text"] for m in page["data"]] == ["parte 0", "parte 1"]
    rest = client.get(f"{url}?limit=2&after={page['next_cursor']}", headers=bearer(key)).json
    assert [m["text"] for m in rest["data"]] == ["parte 2", "parte 3"]

    bad = client.get(f"{url}?after=abc", headers=bearer(key))
    assert bad.status_code == 400
    assert bad.json["error"]["code"]


def test_a_media_message_links_to_its_bytes(whatsapp_org, post_webhook, worker, make_api_key,
                                            client, fake_graph):
    fake_graph.add_media("700000000000001", b"\xff\xd8jpeg", "image/jpeg")
    post_webhook(load_fixture("inbound_image"))
    worker.drain()
    _key_id, key = make_api_key(whatsapp_org["org_id"])
    [ticket] = all_rows(Ticket)
    [message] = all_rows(Message)

    [data] = client.get(f"/api/v1/tickets/{ticket.id}/messages", headers=bearer(key)).json["data"]
    assert data["media"] == {"id": "700000000000001", "mime_type": "image/jpeg",
                             "filename": None, "caption": "Foto do pedido médico",
                             "state": "stored", "url": f"/media/{message.id}"}


def test_another_organizations_key_sees_nothing_of_it(whatsapp_org, make_org, post_webhook,
                                                      worker, make_api_key, client):
    post_webhook(load_fixture("inbound_text"))
    worker.drain()
    [ticket] = all_rows(Ticket)
    other_org, _user, _email = make_org("Outra Clínica")
    _key_id, other_key = make_api_key(other_org)

    response = client.get(f"/api/v1/tickets/{ticket.id}/messages", headers=bearer(other_key))
    assert response.status_code == 404
    assert response.json["error"]["code"]
    missing = client.get("/api/v1/tickets/999999/messages", headers=bearer(other_key))
    assert missing.status_code == 404 and missing.json == response.json
    assert client.get("/api/v1/tickets", headers=bearer(other_key)).json == {
        "data": [], "next_cursor": None}
    assert client.get("/api/v1/tickets").status_code == 401
