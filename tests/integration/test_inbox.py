"""The inbox's page and JSON: list, filters, keyset pages, thread, resync, tenancy, queries."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.fixtures_whatsapp import (
    SECOND_DISPLAY,
    SECOND_PHONE_ID,
    SECOND_WABA,
    load_fixture,
    profile,
    status_item,
    text_message,
    webhook_body,
)
from tests.sql import recorded_statements
from whatrack.services.inbox import queries
from whatrack.tenancy import bind_org, unscoped

JSON = {"Accept": "application/json"}
NOW = int(time.time())


def _say(post_webhook, sender: str, wamid: str, body: str, name: str | None = "Cliente",
         at: int | None = None, **extra):
    post_webhook(webhook_body(messages=[text_message(sender, wamid, at or NOW, body, **extra)],
                              contacts=[profile(sender, name)]))


def _ticket_of(db, wa_id: str) -> int:
    from whatrack.models import Contact, Ticket

    with unscoped():
        return db.session.scalars(select(Ticket.id).join(Contact).where(
            Contact.wa_id == wa_id).order_by(Ticket.id.desc())).first()


@pytest.fixture
def three(whatsapp_org, post_webhook, worker):
    """Three conversations: Ana (oldest), a number without a name, Bruno (newest)."""
    _say(post_webhook, "5511911110001", "wamid.ana1", "Quero marcar limpeza", "Ana", NOW - 300)
    _say(post_webhook, "5511911110002", "wamid.anon1", "Oi?", None, NOW - 200)
    _say(post_webhook, "5511911110003", "wamid.bru1", "Quanto custa o clareamento?", "Bruno",
         NOW - 100)
    worker.drain()
    return whatsapp_org


@pytest.mark.endpoint("inbox.conversations")
def test_list_is_ordered_by_last_message_with_name_fallbacks(three, client, login):
    login(three["email"])
    body = client.get("/dashboard/whatsapp/inbox/conversations", headers=JSON).get_json()
    names = [row["contact"]["name"] for row in body["data"]]
    assert names == ["Bruno", "+55 11 91111-0002", "Ana"]
    first = body["data"][0]
    assert first["preview"] == "Quanto custa o clareamento?"
    assert first["last_direction"] == "inbound"
    assert first["unread_count"] == 1
    assert first["stage"]["name"] == "Novo"
    assert first["source"] == "organic"
    assert first["window_expires_at"] is not None
    assert body["next_cursor"] is None


@pytest.mark.endpoint("inbox.index")
def test_page_renders_rows_for_the_script_and_no_coming_soon(three, client, login):
    login(three["email"])
    html = client.get("/dashboard/whatsapp/inbox").get_data(as_text=True)
    assert 'id="inbox-boot"' in html and "Bruno" in html
    assert "Em breve" not in html


@pytest.mark.endpoint("inbox.conversations")
def test_search_by_name_number_and_message_text(three, client, login):
    login(three["email"])

    def names(q):
        rows = client.get("/dashboard/whatsapp/inbox/conversations", query_string={"q": q},
                          headers=JSON).get_json()["data"]
        return [row["contact"]["name"] for row in rows]

    assert names("ana") == ["Ana"]
    assert names("11 91111-0002") == ["+55 11 91111-0002"]
    assert names("clareamento") == ["Bruno"]
    assert names("nada disso") == []


@pytest.mark.endpoint("inbox.conversations")
def test_search_reads_only_its_organization_and_takes_numbers_as_typed(
        three, second_org, post_webhook, worker, client, login):
    # The other clinic has a customer with the same name, a number sharing digits with Ana's
    # and the same words: none of it may show up in this organization's search.
    post_webhook(webhook_body(
        messages=[text_message("5511911110009", "wamid.other1", NOW, "Quero marcar limpeza")],
        contacts=[profile("5511911110009", "Ana")], phone_number_id=SECOND_PHONE_ID,
        display=SECOND_DISPLAY, waba_id=SECOND_WABA))
    worker.drain()
    login(three["email"])

    def names(q):
        rows = client.get("/dashboard/whatsapp/inbox/conversations", query_string={"q": q},
                          headers=JSON).get_json()["data"]
        return [row["contact"]["name"] for row in rows]

    assert names("Ana") == ["Ana"]
    assert names("marcar limpeza") == ["Ana"]
    assert names("911110009") == []
    assert names("+55 (11) 91111-0001") == ["Ana"]
    assert names("9111100") == ["Bruno", "+55 11 91111-0002", "Ana"]  # part of each number
    # LIKE's wildcards are plain characters in a search, not "anything".
    assert names("%") == [] and names("_") == []


def test_search_pages_with_the_cursor_and_keeps_other_filters(whatsapp_org, db):
    from whatrack.models import Contact, Organization, Ticket

    _bulk_conversations(db, whatsapp_org, 7)
    seen, cursor = [], None
    with bind_org(whatsapp_org["org_id"]):
        org = db.session.get(Organization, whatsapp_org["org_id"])
        while True:
            page = queries.list_conversations(
                org, None, queries.ListFilters(q="pessoa", cursor=cursor), limit=3)
            seen += [row.contact.profile_name for row in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"Pessoa {i}" for i in range(7)]  # newest first, each once
        db.session.scalars(select(Ticket).join(Contact).where(
            Contact.profile_name == "Pessoa 2")).one().unread_count = 0
        db.session.commit()
        unread = queries.list_conversations(org, None, queries.ListFilters(q="pessoa",
                                                                           unread=True))
    assert [row.contact.profile_name for row in unread.rows] == [
        f"Pessoa {i}" for i in range(7) if i != 2]


@pytest.mark.endpoint("inbox.conversations")
def test_filters_unread_mine_unassigned_stage_source_window(three, client, login, db):
    from whatrack.models import Stage, Ticket

    login(three["email"])
    bruno = _ticket_of(db, "5511911110003")
    ana = _ticket_of(db, "5511911110001")
    with bind_org(three["org_id"]):
        db.session.get(Ticket, bruno).assignee_id = three["user_id"]
        t_ana = db.session.get(Ticket, ana)
        t_ana.unread_count = 0
        t_ana.window_expires_at = t_ana.window_expires_at - timedelta(days=2)
        t_ana.lead_source = "ad"
        db.session.get(Ticket, bruno).lead_source = "link"
        other_id = db.session.scalars(select(Stage.id).where(Stage.name == "Agendado")).one()
        t_ana.stage_id = other_id
        db.session.commit()

    def ids(**params):
        rows = client.get("/dashboard/whatsapp/inbox/conversations", query_string=params,
                          headers=JSON).get_json()["data"]
        return {row["id"] for row in rows}

    everyone = ids()
    assert len(everyone) == 3
    assert ana not in ids(unread="1")
    assert ids(mine="1") == {bruno}
    assert bruno not in ids(unassigned="1") and ana in ids(unassigned="1")
    assert ids(stage=str(other_id)) == {ana}
    assert ids(source="ad") == {ana}
    # One vocabulary with the board and the API: Ana's ad sent no click id.
    assert ids(source="ad_no_click") == {ana}
    assert ids(source="link") == {bruno}
    assert ana not in ids(source="organic") and bruno not in ids(source="organic")
    rows = client.get("/dashboard/whatsapp/inbox/conversations", headers=JSON).get_json()["data"]
    assert {row["id"]: row["source"] for row in rows if row["id"] in (ana, bruno)} == {
        ana: "ad_no_click", bruno: "link"}
    assert ana not in ids(window="1") and bruno in ids(window="1")
    # Nonsense filter values are ignored, never a 500.
    resp = client.get("/dashboard/whatsapp/inbox/conversations",
                      query_string={"stage": "x", "source": "<b>", "cursor": "zz"}, headers=JSON)
    assert resp.status_code == 200 and len(resp.get_json()["data"]) == 3


@pytest.mark.endpoint("inbox.conversations")
def test_keyset_pages_cover_every_conversation_once(whatsapp_org, client, login, db):
    from whatrack.services.inbox import queries

    _bulk_conversations(db, whatsapp_org, 7)
    login(whatsapp_org["email"])
    seen, cursor = [], None
    with bind_org(whatsapp_org["org_id"]):
        from whatrack.models import Organization
        org = db.session.get(Organization, whatsapp_org["org_id"])
        while True:
            page = queries.list_conversations(org, None, queries.ListFilters(cursor=cursor),
                                              limit=3)
            seen += [row.ticket.id for row in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert len(seen) == 7 == len(set(seen))
    # Over HTTP too: the cursor of one page leads to the next.
    first = client.get("/dashboard/whatsapp/inbox/conversations", headers=JSON).get_json()
    assert len(first["data"]) == 7


def _bulk_conversations(db, org: dict, n: int, start: int = 0) -> None:
    """``n`` conversations with one message each, written directly (fast, for counts)."""
    from whatrack.models import Contact, Message, Ticket, utcnow
    from whatrack.services.tickets.stages import entry_stage

    with bind_org(org["org_id"]):
        from whatrack.models import Organization
        stage = entry_stage(db.session.get(Organization, org["org_id"]))
        now = utcnow()
        for i in range(start, start + n):
            contact = Contact(organization_id=org["org_id"], wa_id=f"5521988{i:06d}",
                              profile_name=f"Pessoa {i}")
            db.session.add(contact)
            db.session.flush()
            when = now - timedelta(minutes=i)
            ticket = Ticket(organization_id=org["org_id"], contact_id=contact.id,
                            whatsapp_account_id=org["account_id"], stage_id=stage.id,
                            last_message_at=when, last_message_preview="Oi",
                            window_expires_at=when + timedelta(hours=24), unread_count=1)
            db.session.add(ticket)
            db.session.flush()
            db.session.add(Message(organization_id=org["org_id"], ticket_id=ticket.id,
                                   contact_id=contact.id, whatsapp_account_id=org["account_id"],
                                   wamid=f"wamid.bulk{i}", direction="inbound",
                                   origin="customer", type="text", text="Oi", status="delivered",
                                   timestamp=when))
        db.session.commit()


def _count_queries(db, fn):
    with recorded_statements(db.engine) as statements:
        response = fn()
    return response, statements


@pytest.mark.endpoint("inbox.index")
def test_first_page_uses_at_most_six_queries_whatever_the_number_of_conversations(
        whatsapp_org, client, login, db):
    login(whatsapp_org["email"])
    client.get("/dashboard/whatsapp/inbox")  # warm-up: session, babel, template cache
    _bulk_conversations(db, whatsapp_org, 5)
    few_resp, few = _count_queries(db, lambda: client.get("/dashboard/whatsapp/inbox"))
    _bulk_conversations(db, whatsapp_org, 200, start=5)
    many_resp, many = _count_queries(db, lambda: client.get("/dashboard/whatsapp/inbox"))
    assert few_resp.status_code == many_resp.status_code == 200
    assert len(few) == len(many), (few, many)
    assert len(many) <= 6, "\n".join(s[:150] for s in many)
    assert "Pessoa 0" in many_resp.get_data(as_text=True)
    # Every one of the 205 is unread: the counter stops at the cap (the title says "99+").
    assert _boot(few_resp)["unread"] == 5
    assert _boot(many_resp)["unread"] == queries.UNREAD_CAP == _boot(many_resp)["unread_cap"]


def _boot(response) -> dict:
    page = response.get_data(as_text=True)
    raw = page.split('id="inbox-boot">', 1)[1].split("</script>", 1)[0]
    return json.loads(raw)


@pytest.mark.endpoint("inbox.conversation", "inbox.mark_unread", "inbox.mark_read", "inbox.sync",
                      "inbox.composer")
def test_another_organizations_conversation_is_404(three, make_org, client_as, db):
    _, _, stranger = make_org("Outra Clínica")
    bruno = _ticket_of(db, "5511911110003")
    other = client_as(stranger)
    for url in (f"/dashboard/whatsapp/inbox/conversations/{bruno}",
                f"/dashboard/whatsapp/inbox/conversations/{bruno}?before=99"):
        assert other.get(url, headers=JSON).status_code == 404
    assert other.post(f"/dashboard/whatsapp/inbox/conversations/{bruno}/unread",
                      headers=JSON).status_code == 404
    assert other.post(f"/dashboard/whatsapp/inbox/conversations/{bruno}/read",
                      headers=JSON).status_code == 404
    assert other.get(f"/dashboard/whatsapp/inbox/conversations/{bruno}/composer"
                     ).status_code == 404
    assert other.get("/dashboard/whatsapp/inbox/conversations",
                     headers=JSON).get_json()["data"] == []
    body = other.get("/dashboard/whatsapp/inbox/sync?after=0&tickets=" + str(bruno),
                     headers=JSON).get_json()
    assert body["messages"] == [] and body["conversations"] == []
    assert other.get("/dashboard/whatsapp/inbox?t=99999999999999",
                     headers=JSON).status_code == 200


@pytest.mark.endpoint("inbox.conversation")
def test_thread_marks_read_pages_older_and_quotes(whatsapp_org, post_webhook, worker, client,
                                                 login, db):
    sender = "5511922220001"
    for i in range(45):
        extra = {"context": {"from": sender, "id": "wamid.t0"}} if i == 44 else {}
        _say(post_webhook, sender, f"wamid.t{i}", f"mensagem {i}", "Carla", NOW - 1000 + i,
             **extra)
    worker.drain()
    ticket = _ticket_of(db, sender)
    login(whatsapp_org["email"])
    body = client.get(f"/dashboard/whatsapp/inbox/conversations/{ticket}?read=1",
                      headers=JSON).get_json()
    texts = [m["text"] for m in body["messages"]]
    assert texts[-1] == "mensagem 44" and len(texts) == 40 and body["has_older"] is True
    assert body["messages"][-1]["reply_to"]["text"] == "mensagem 0"  # quoted, not on the page
    assert body["ticket"]["unread_count"] == 0
    older = client.get(f"/dashboard/whatsapp/inbox/conversations/{ticket}",
                       query_string={"before": body["messages"][0]["id"]}, headers=JSON).get_json()
    assert [m["text"] for m in older["messages"]] == [f"mensagem {i}" for i in range(5)]
    assert older["has_older"] is False


@pytest.mark.endpoint("inbox.sync")
def test_sync_returns_what_came_after_the_cursor_and_named_statuses(
        whatsapp_org, post_webhook, worker, client, login, db, outbound_message):
    _say(post_webhook, "5511933330001", "wamid.s1", "primeira", "Dani", NOW - 50)
    worker.drain()
    login(whatsapp_org["email"])
    page = client.get("/dashboard/whatsapp/inbox").get_data(as_text=True)
    assert "primeira" in page
    from whatrack.models import Message
    with unscoped():
        last = db.session.scalar(select(Message.id).order_by(Message.id.desc()))
    _say(post_webhook, "5511933330001", "wamid.s2", "segunda", "Dani", NOW - 40)
    _say(post_webhook, "5511933330001", "wamid.s3", "terceira", "Dani", NOW - 30)
    worker.drain()
    body = client.get(f"/dashboard/whatsapp/inbox/sync?after={last}", headers=JSON).get_json()
    assert [m["text"] for m in body["messages"]] == ["segunda", "terceira"]
    assert [row["preview"] for row in body["conversations"]] == ["terceira"]
    assert body["unread"] == 1
    # A status on an older message: named by id, it comes back with its new status.
    out_id = outbound_message(whatsapp_org["org_id"], whatsapp_org["account_id"],
                              "wamid.out1", "5511933330001", status="sent")
    post_webhook(webhook_body(statuses=[status_item("wamid.out1", "read", NOW)]))
    worker.drain()
    body = client.get(f"/dashboard/whatsapp/inbox/sync?after={out_id}&messages={out_id}",
                      headers=JSON).get_json()
    assert [(m["id"], m["status"]) for m in body["messages"]] == [(out_id, "read")]
    assert client.get("/dashboard/whatsapp/inbox/sync", headers=JSON).status_code == 400


@pytest.mark.endpoint("inbox.conversation")
def test_failed_status_carries_metas_reason(whatsapp_org, post_webhook, worker, client, login,
                                            db, outbound_message):
    out_id = outbound_message(whatsapp_org["org_id"], whatsapp_org["account_id"],
                              "wamid.fail1", "5511944440001", status="sent")
    post_webhook(webhook_body(statuses=[status_item(
        "wamid.fail1", "failed", NOW, recipient="5511944440001",
        errors=[{"code": 131047, "title": "Re-engagement message",
                 "message": "Re-engagement message",
                 "error_data": {"details": "More than 24 hours have passed"}}])]))
    worker.drain()
    login(whatsapp_org["email"])
    ticket = _ticket_of(db, "5511944440001")
    body = client.get(f"/dashboard/whatsapp/inbox/conversations/{ticket}", headers=JSON).get_json()
    failed = next(m for m in body["messages"] if m["id"] == out_id)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == 131047


@pytest.mark.endpoint("inbox.conversation")
def test_ctwa_message_carries_the_ad_card_and_the_free_entry_point_clock(
        whatsapp_org, post_webhook, worker, client, login, db, outbound_message):
    import json

    raw = json.loads(load_fixture("inbound_ctwa_referral"))
    message = raw["entry"][0]["changes"][0]["value"]["messages"][0]
    sent_at = int(message["timestamp"])
    post_webhook(raw)
    worker.drain()
    login(whatsapp_org["email"])
    ticket = _ticket_of(db, message["from"]) or _ticket_of(db, "55" + message["from"][2:])
    body = client.get(f"/dashboard/whatsapp/inbox/conversations/{ticket}", headers=JSON).get_json()
    card = body["messages"][0]["ad"]
    assert card["headline"] == message["referral"]["headline"]
    assert body["fep_expires_at"] is None  # not answered yet
    outbound_message(whatsapp_org["org_id"], whatsapp_org["account_id"], "wamid.fep1",
                     message["from"], status="sent", sent_at=sent_at + 3600)
    body = client.get(f"/dashboard/whatsapp/inbox/conversations/{ticket}", headers=JSON).get_json()
    from datetime import UTC, datetime
    assert body["fep_expires_at"] == datetime.fromtimestamp(
        sent_at + 3600 + 72 * 3600, UTC).isoformat(timespec="seconds")


@pytest.mark.endpoint("inbox.mark_unread", "inbox.mark_read")
def test_mark_unread_and_read(three, client, login, db):
    login(three["email"])
    bruno = _ticket_of(db, "5511911110003")
    client.get(f"/dashboard/whatsapp/inbox/conversations/{bruno}?read=1", headers=JSON)
    resp = client.post(f"/dashboard/whatsapp/inbox/conversations/{bruno}/unread", headers=JSON)
    assert resp.get_json()["unread_count"] == 1
    resp = client.post(f"/dashboard/whatsapp/inbox/conversations/{bruno}/read", headers=JSON)
    assert resp.get_json()["unread_count"] == 0


@pytest.mark.endpoint("tickets.panel", "tickets.move")
def test_panel_moves_stage_without_drag_and_shows_recent_messages(three, client, login, db):
    from whatrack.models import Stage

    login(three["email"])
    bruno = _ticket_of(db, "5511911110003")
    html = client.get(f"/dashboard/tickets/{bruno}?partial=1").get_data(as_text=True)
    assert "Quanto custa o clareamento?" in html and f"/dashboard/whatsapp/inbox?t={bruno}" in html
    with bind_org(three["org_id"]):
        target = db.session.scalars(select(Stage).where(Stage.name == "Agendado")).one().id
    resp = client.post(f"/dashboard/tickets/{bruno}/move", data={"stage_id": target},
                       headers=JSON)
    assert resp.status_code == 200 and resp.get_json()["ticket"]["stage_id"] == target
    inbox_html = client.get(f"/dashboard/tickets/{bruno}?partial=1&in=inbox").get_data(
        as_text=True)
    assert "Quanto custa o clareamento?" not in inbox_html  # the thread is beside it there


@pytest.mark.endpoint("settings.quick_replies", "settings.save_quick_reply",
                      "settings.delete_quick_reply", "inbox.quick_replies")
def test_quick_replies_are_saved_per_organization_and_listed_for_the_composer(
        whatsapp_org, make_org, client, login, client_as):
    login(whatsapp_org["email"])
    resp = client.post("/dashboard/settings/quick-replies",
                       data={"name": "/Precos", "body": "Limpeza: R$ 150,00"})
    assert resp.status_code == 302
    client.post("/dashboard/settings/quick-replies", data={"name": "precos",
                                                           "body": "Limpeza: R$ 180,00"})
    bad = client.post("/dashboard/settings/quick-replies", data={"name": "com espaço",
                                                                 "body": "x"},
                      follow_redirects=True)
    assert bad.status_code == 200 and "/com espaço" not in bad.get_data(as_text=True)
    data = client.get("/dashboard/whatsapp/inbox/quick-replies", headers=JSON).get_json()["data"]
    assert data == [{"name": "precos", "body": "Limpeza: R$ 180,00"}]
    page = client.get("/dashboard/settings/quick-replies").get_data(as_text=True)
    assert "/precos" in page

    _, _, stranger = make_org("Outra")
    other = client_as(stranger)
    assert other.get("/dashboard/whatsapp/inbox/quick-replies",
                     headers=JSON).get_json()["data"] == []
    from whatrack.models import QuickReply
    with unscoped():
        from whatrack.extensions import db
        reply_id = db.session.scalars(select(QuickReply.id)).one()
    assert other.post(f"/dashboard/settings/quick-replies/{reply_id}/delete").status_code == 404
    assert client.post(f"/dashboard/settings/quick-replies/{reply_id}/delete").status_code == 302
    assert client.get("/dashboard/whatsapp/inbox/quick-replies",
                      headers=JSON).get_json()["data"] == []


@pytest.mark.endpoint("inbox.composer")
def test_composer_is_the_sending_composer_without_its_own_thread(three, client, login, db):
    from whatrack.models import Ticket

    login(three["email"])
    bruno = _ticket_of(db, "5511911110003")
    html = client.get(f"/dashboard/whatsapp/inbox/conversations/{bruno}/composer").get_data(
        as_text=True)
    assert f'action="/dashboard/tickets/{bruno}/messages"' in html
    assert 'name="text"' in html and 'data-window-open="true"' in html
    assert "data-thread" not in html.replace("data-thread-url", "")  # the inbox draws it
    with bind_org(three["org_id"]):
        ticket = db.session.get(Ticket, bruno)
        ticket.window_expires_at = ticket.window_expires_at - timedelta(days=2)
        db.session.commit()
    html = client.get(f"/dashboard/whatsapp/inbox/conversations/{bruno}/composer").get_data(
        as_text=True)
    assert 'data-window-open="false"' in html and 'name="text"' not in html


@pytest.mark.endpoint("inbox.conversations")
def test_an_erased_contact_shows_the_placeholder_not_a_number(three, client, login, db):
    from whatrack.models import Contact, utcnow

    with bind_org(three["org_id"]):
        contact = db.session.scalars(select(Contact).where(
            Contact.wa_id == "5511911110001")).one()
        contact.erased_at = utcnow()
        contact.wa_id = f"erased-{contact.id}"
        contact.profile_name = None
        db.session.commit()
    login(three["email"])
    rows = client.get("/dashboard/whatsapp/inbox/conversations", headers=JSON).get_json()["data"]
    erased = [row for row in rows if row["contact"]["wa_id"].startswith("erased-")]
    assert [(row["contact"]["name"], row["contact"]["phone"]) for row in erased] == [("—", "")]
