"""The sales copilot end to end: webhooks in, quiet-time reviews, proposals, Meta's automatic
events, approval and rejection through the web and the API; and it never writes."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.fakes.llm import FakeLLM
from tests.fixtures_app import bearer, csrf_token_from
from tests.fixtures_capi import CLICK_ID, settled, wait_for
from tests.fixtures_whatsapp import (
    FIXTURE_DISPLAY,
    all_rows,
    load_fixture,
    profile,
    text_message,
    webhook_body,
)
from whatrack.tenancy import bind_org

TS = 1781262400
CUSTOMER = "5521998765432"  # the CTWA lead of inbound_ctwa_referral.json


def _say(post_webhook, wamid: str, text: str, at: int) -> None:
    body = webhook_body(messages=[text_message(CUSTOMER, wamid, at, text)],
                        contacts=[profile(CUSTOMER, "Ana Souza")])
    assert post_webhook(body).status_code == 200


def _answer(post_webhook, wamid: str, text: str, at: int) -> None:
    """The business replying from the WhatsApp Business app (an echo)."""
    echo = {"from": FIXTURE_DISPLAY, "to": CUSTOMER, "id": wamid, "timestamp": str(at),
            "type": "text", "text": {"body": text}}
    assert post_webhook(webhook_body(echoes=[echo])).status_code == 200


@pytest.fixture
def talk(app, whatsapp_org, post_webhook, worker, db):
    """A CTWA lead, a quote from the business, and the customer paying."""
    post_webhook(load_fixture("inbound_ctwa_referral"))
    _answer(post_webhook, "wamid.quote", "O clareamento fica R$ 480.", TS + 60)
    _say(post_webhook, "wamid.paid", "Fechado, paguei o pix agora", TS + 120)
    worker.drain()
    from whatrack.models import Organization, Ticket, User

    org_id = whatsapp_org["org_id"]
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        ticket = db.session.scalars(select(Ticket)).one()
        user = db.session.get(User, whatsapp_org["user_id"])
        yield {"org": org, "org_id": org_id, "ticket": ticket, "user": user}


def _messages(db, ticket_id):
    from whatrack.models import Message

    return list(db.session.scalars(select(Message).where(Message.ticket_id == ticket_id)
                                   .order_by(Message.id)))


def _review(db, ctx, after: float = 61):
    """Run the review as the worker would, ``after`` seconds past the latest message."""
    from whatrack.services.copilot import review

    latest = _messages(db, ctx["ticket"].id)[-1]
    outcome = review.review_ticket(ctx["org"], ctx["ticket"].id,
                                   now=latest.created_at + timedelta(seconds=after))
    db.session.commit()
    return outcome


def _sales(db, ticket_id=None):
    from whatrack.models import Sale

    stmt = select(Sale).order_by(Sale.id).execution_options(populate_existing=True)
    if ticket_id:
        stmt = stmt.where(Sale.ticket_id == ticket_id)
    return list(db.session.scalars(stmt))


def _assert_nothing_written(fake_graph, db):
    """No Graph call that sends a message, and no outbound message but the business's echo."""
    from whatrack.models import Message

    assert not [r for r in fake_graph.requests if r.path.endswith("/messages")]
    outbound = all_rows(Message, Message.direction == "outbound")
    assert [m.origin for m in outbound] == ["business_app_echo"] * len(outbound)
    assert [m.wamid for m in outbound] == ["wamid.quote"]


# --- when it runs ---------------------------------------------------------------------


def test_quiet_conversation_gets_one_proposal_through_the_worker(app, whatsapp_org,
                                                                  post_webhook, worker, db,
                                                                  fake_graph):
    from whatrack.models import CopilotReview, Sale
    from whatrack.tasks.copilot import sweep_copilot_reviews

    app.config["COPILOT_DEBOUNCE_SECONDS"] = 1
    try:
        post_webhook(load_fixture("inbound_ctwa_referral"))
        _answer(post_webhook, "wamid.quote", "O clareamento fica R$ 480.", TS + 60)
        _say(post_webhook, "wamid.paid", "Fechado, paguei o pix agora", TS + 120)
        worker.drain()

        def swept():
            sweep_copilot_reviews.fn()  # what the scheduler enqueues every 10 s
            worker.drain()
            return all_rows(Sale)

        [sale] = wait_for(swept, timeout=20, interval=0.3)
    finally:
        app.config["COPILOT_DEBOUNCE_SECONDS"] = 60
    with bind_org(whatsapp_org["org_id"]):
        messages = _messages(db, sale.ticket_id)
        assert (sale.status, sale.origin, sale.value) == ("proposed", "copilot", Decimal("480"))
        by_wamid = {m.wamid: m.id for m in messages}
        assert sale.evidence_message_ids == sorted([by_wamid["wamid.quote"],
                                                    by_wamid["wamid.paid"]])
        assert sale.confidence >= Decimal("0.8") and "R$ 480,00" in sale.proposal_reason
        [review] = all_rows(CopilotReview)
        assert review.last_message_id == max(by_wamid.values())
        assert review.detector == "builtin"
        _assert_nothing_written(fake_graph, db)
    # Several messages scheduled reviews; only one proposal came out of them.
    assert len(all_rows(Sale)) == 1


def test_debounce_waits_for_quiet_and_never_reads_the_same_messages_twice(talk, post_webhook,
                                                                          worker, db):
    assert _review(db, talk, after=30) == "not_quiet"
    assert _sales(db) == []
    assert _review(db, talk) == "proposed 1"
    assert _review(db, talk) == "already_read"
    # A new message: the conversation is read again, but the same evidence proposes nothing.
    _say(post_webhook, "wamid.thanks", "Obrigada!", TS + 300)
    worker.drain()
    assert _review(db, talk) == "nothing"
    assert len(_sales(db)) == 1


def test_each_message_pushes_the_review_back_and_the_sweeper_claims_it_once(talk, db):
    from whatrack.models import CopilotReview
    from whatrack.services.copilot import review

    [row] = all_rows(CopilotReview)
    latest = _messages(db, talk["ticket"].id)[-1]
    assert timedelta(seconds=59) < row.due_at - latest.created_at <= timedelta(seconds=61)
    assert review.claim_due_reviews(now=row.due_at - timedelta(seconds=1)) == []
    assert review.claim_due_reviews(now=row.due_at) == [(talk["org_id"], talk["ticket"].id)]
    # Leased: the next sweeps leave it alone unless the review never ran.
    assert review.claim_due_reviews(now=row.due_at + timedelta(seconds=10)) == []
    assert review.claim_due_reviews(now=row.due_at + timedelta(minutes=3)) != []
    db.session.commit()
    assert _review(db, talk) == "proposed 1"
    assert all_rows(CopilotReview)[0].due_at is None


def test_switched_off_organization_is_not_read(talk, app, db):
    from whatrack.services.copilot import commands

    commands.update_settings(talk["org"], enabled=False, detector="builtin")
    db.session.commit()
    assert _review(db, talk) == "disabled"
    assert _sales(db) == []
    from whatrack.models import CopilotReview

    assert all_rows(CopilotReview)[0].due_at is None  # not claimed again and again


def test_no_proposal_when_the_same_sale_was_approved_within_a_day(talk, db):
    from whatrack.services.tickets import sales

    sales.close_sale(talk["org"], talk["ticket"].id, sales.SaleInput(Decimal("480.00")),
                     "panel", talk["user"])
    db.session.commit()
    assert _review(db, talk) == "nothing"
    assert [s.origin for s in _sales(db)] == ["panel"]


# --- approve and reject ---------------------------------------------------------------


def test_approve_from_the_web_with_a_corrected_value_sends_the_purchase(
        talk, client, login, whatsapp_org, connect_meta, meta_app, db):
    from whatrack.models import SaleEvent

    connect_meta(talk["org_id"])
    _review(db, talk)
    [proposal] = _sales(db)
    login(whatsapp_org["email"])
    page = client.get(f"/dashboard/tickets/{talk['ticket'].id}")
    html = page.get_data(as_text=True)
    assert f'data-approve-proposal="{proposal.id}"' in html
    assert "O clareamento fica R$ 480." in html  # the evidence, quoted
    response = client.post(f"/dashboard/sales/{proposal.id}/approve",
                           data={"csrf_token": csrf_token_from(html), "value": "450,00"})
    assert response.status_code == 302
    [sale] = _sales(db)
    assert (sale.status, sale.value, sale.decided_by_id) == (
        "approved", Decimal("450.00"), talk["user"].id)
    actions = [e.action for e in db.session.scalars(select(SaleEvent).order_by(SaleEvent.id))]
    assert actions == ["proposed", "corrected", "approved"]
    events = wait_for(lambda: settled(talk["org_id"]))
    [event] = [e for e in events if e.event_name == "Purchase"]
    assert (event.status, event.trigger) == ("sent", "sale")
    body = json.loads(event.payload)
    assert body["custom_data"] == {"currency": "BRL", "value": 450.0}
    assert "messaging_outcome_data" not in body


def test_reject_from_the_web_keeps_who_and_why_and_those_messages_never_propose_again(
        talk, client, login, whatsapp_org, post_webhook, worker, db):
    _review(db, talk)
    [proposal] = _sales(db)
    login(whatsapp_org["email"])
    html = client.get(f"/dashboard/tickets/{talk['ticket'].id}").get_data(as_text=True)
    response = client.post(f"/dashboard/sales/{proposal.id}/reject",
                           data={"csrf_token": csrf_token_from(html),
                                 "reason": "Era o pix de outra cliente"})
    assert response.status_code == 302
    [sale] = _sales(db)
    assert (sale.status, sale.decision_note, sale.decided_by_id) == (
        "rejected", "Era o pix de outra cliente", talk["user"].id)
    _say(post_webhook, "wamid.more", "Até sexta então", TS + 400)
    worker.drain()
    assert _review(db, talk) == "nothing"
    assert len(_sales(db)) == 1
    html = client.get(f"/dashboard/tickets/{talk['ticket'].id}").get_data(as_text=True)
    assert "Era o pix de outra cliente" in html


@pytest.mark.endpoint("tickets.proposals")
def test_proposals_page_and_kanban_badge(talk, client, login, whatsapp_org, db):
    _review(db, talk)
    [proposal] = _sales(db)
    login(whatsapp_org["email"])
    board = client.get("/dashboard/tickets").get_data(as_text=True)
    assert "data-proposal-badge" in board
    page = client.get("/dashboard/sales/proposed")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-proposal="{proposal.id}"' in html and "R$ 480" in html
    assert "Vendas para aprovar" in html  # the pt-BR UI


@pytest.mark.endpoint("api.list_sales", "api.approve_sale", "api.reject_sale")
def test_api_lists_approves_and_rejects_proposals(talk, client, make_api_key, make_org,
                                                  post_webhook, worker, db):
    _review(db, talk)
    [first] = _sales(db)
    _answer(post_webhook, "wamid.quote2", "A manutenção fica R$ 150.", TS + 500)
    _say(post_webhook, "wamid.paid2", "Fiz o pix da manutenção", TS + 560)
    worker.drain()
    _review(db, talk)
    second = _sales(db)[-1]
    assert second.value == Decimal("150.00")
    key = make_api_key(talk["org_id"])[1]
    listed = client.get("/api/v1/sales?status=proposed", headers=bearer(key)).get_json()
    assert [s["id"] for s in listed["data"]] == [second.id, first.id]
    assert listed["next_cursor"] is None
    item = listed["data"][1]
    assert {k: item[k] for k in ("id", "ticket_id", "value", "currency", "status", "origin")} == {
        "id": first.id, "ticket_id": talk["ticket"].id, "value": "480.00", "currency": "BRL",
        "status": "proposed", "origin": "copilot"}
    assert 0 < item["confidence"] <= 1 and item["reason"]
    assert item["evidence_message_ids"] == first.evidence_message_ids

    other_key = make_api_key(make_org("Outra Clínica")[0])[1]
    for action in ("approve", "reject"):
        response = client.post(f"/api/v1/sales/{first.id}/{action}", headers=bearer(other_key))
        assert response.status_code == 404
    assert client.get("/api/v1/sales?status=proposed",
                      headers=bearer(other_key)).get_json()["data"] == []

    approved = client.post(f"/api/v1/sales/{first.id}/approve", json={"value": "350.00"},
                           headers=bearer(key))
    assert approved.status_code == 200
    assert approved.get_json()["sale"]["status"] == "approved"
    assert approved.get_json()["sale"]["value"] == "350.00"
    rejected = client.post(f"/api/v1/sales/{second.id}/reject", json={"reason": "duplicada"},
                           headers=bearer(key))
    assert rejected.status_code == 200
    assert rejected.get_json()["sale"]["rejection_reason"] == "duplicada"
    again = client.post(f"/api/v1/sales/{second.id}/approve", headers=bearer(key))
    assert again.status_code == 409
    bad = client.get("/api/v1/sales?status=whatever", headers=bearer(key))
    assert bad.status_code == 400  # a malformed query argument (D26)
    assert bad.get_json()["error"]["code"]
    float_value = client.post(f"/api/v1/sales/{first.id}/approve", json={"value": 350.5},
                              headers=bearer(key))
    assert float_value.status_code in (409, 422)


# --- Meta's automatic events -----------------------------------------------------------


def test_automatic_event_becomes_a_proposal_and_its_approval_confirms_it(
        app, whatsapp_org, post_webhook, worker, db, client, login, connect_meta, meta_app,
        fake_graph):
    from whatrack.models import MetaConversionEvent, Sale

    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    connect_meta(whatsapp_org["org_id"])
    for _ in range(2):  # Meta redelivers: still one proposal
        post_webhook(load_fixture("automatic_events_purchase"))
        worker.drain()
    [sale] = all_rows(Sale)
    assert (sale.origin, sale.status, sale.value) == ("meta", "proposed", Decimal("450.00"))
    assert sale.automatic_event["ctwa_clid"] == CLICK_ID
    assert all_rows(MetaConversionEvent, MetaConversionEvent.event_name == "Purchase") == []

    login(whatsapp_org["email"])
    html = client.get(f"/dashboard/tickets/{sale.ticket_id}").get_data(as_text=True)
    client.post(f"/dashboard/sales/{sale.id}/approve",
                data={"csrf_token": csrf_token_from(html), "value": "470,00"})
    with bind_org(whatsapp_org["org_id"]):
        wait_for(lambda: settled(whatsapp_org["org_id"]))
    [purchase] = all_rows(MetaConversionEvent, MetaConversionEvent.event_name == "Purchase")
    assert (purchase.status, purchase.trigger) == ("sent", "automatic_event")
    body = json.loads(purchase.payload)
    assert body["messaging_outcome_data"] == {"outcome_type": "automatic_events"}
    assert body["user_data"]["ctwa_clid"] == CLICK_ID
    assert body["custom_data"] == {"currency": "BRL", "value": 470.0}
    audit = client.get(f"/dashboard/capi/{purchase.id}")
    assert audit.status_code == 200
    assert "data-automatic-confirmation" in audit.get_data(as_text=True)
    assert not [r for r in fake_graph.requests if r.path.endswith("/messages")]


def test_manual_sale_of_the_same_value_approves_the_automatic_event(
        whatsapp_org, post_webhook, worker, db, client, login):
    from whatrack.models import Organization, Sale, Ticket, User
    from whatrack.services.tickets import sales

    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()  # Meta detects a purchase in a conversation it has delivered already
    post_webhook(load_fixture("automatic_events_purchase"))
    worker.drain()
    login(whatsapp_org["email"])
    [pending] = all_rows(Sale)
    html = client.get(f"/dashboard/tickets/{pending.ticket_id}").get_data(as_text=True)
    assert "data-meta-detection" in html and "A Meta detectou uma venda de R$" in html
    with bind_org(whatsapp_org["org_id"]):
        org = db.session.get(Organization, whatsapp_org["org_id"])
        ticket = db.session.scalars(select(Ticket)).one()
        user = db.session.get(User, whatsapp_org["user_id"])
        sale = sales.close_sale(org, ticket.id, sales.SaleInput(Decimal("450.00")), "panel", user)
        db.session.commit()
    [only] = all_rows(Sale)
    assert only.id == sale.id
    assert (only.origin, only.status, only.decided_by_id) == ("meta", "approved", user.id)


def test_automatic_event_without_a_conversation_or_value_is_logged_not_proposed(
        whatsapp_org, post_webhook, worker, caplog):
    from whatrack.models import Sale

    body = json.loads(load_fixture("automatic_events_purchase"))
    item = body["entry"][0]["changes"][0]["value"]["automatic_events"][0]
    item["ctwa_clid"] = "ARA-unknown-click"
    post_webhook(body)
    item["ctwa_clid"], item["custom_data"] = CLICK_ID, {"currency": "BRL", "value": "muito"}
    post_webhook(load_fixture("inbound_ctwa_referral"))
    post_webhook(body)
    worker.drain()
    assert all_rows(Sale) == []
    assert "matches no conversation" in caplog.text
    assert "no usable value" in caplog.text


# --- the LLM detector, chosen in settings ------------------------------------------------


@pytest.mark.endpoint("settings.copilot", "settings.save_copilot")
def test_settings_choose_the_llm_detector_only_when_one_is_configured(
        talk, app, client, login, whatsapp_org, db):
    login(whatsapp_org["email"])
    html = client.get("/dashboard/settings/copilot").get_data(as_text=True)
    refused = client.post("/dashboard/settings/copilot", data={
        "csrf_token": csrf_token_from(html), "enabled": "1", "detector": "llm"})
    assert refused.status_code == 400
    llm = FakeLLM().start()
    previous = (app.config["LLM_BASE_URL"], app.config.get("LLM_MODEL"))
    app.config.update(LLM_BASE_URL=llm.url, LLM_MODEL="fake-model")
    try:
        saved = client.post("/dashboard/settings/copilot", data={
            "csrf_token": csrf_token_from(html), "enabled": "1", "detector": "llm"})
        assert saved.status_code == 302
        ids = [str(m.id) for m in _messages(db, talk["ticket"].id)]
        llm.answer_json({"sale": True, "value": "480.00", "currency": "BRL",
                         "confidence": 0.93, "evidence_message_ids": ids[1:],
                         "reason": "A cliente pagou o pix do clareamento."})
        assert _review(db, talk) == "proposed 1"
    finally:
        app.config.update(LLM_BASE_URL=previous[0], LLM_MODEL=previous[1])
        llm.stop()
    [sale] = _sales(db)
    assert sale.evidence["detector"] == "llm"
    assert sale.proposal_reason == "A cliente pagou o pix do clareamento."
    sent = json.dumps(llm.requests[0], ensure_ascii=False)
    assert CUSTOMER not in sent


def test_no_copilot_path_writes_to_the_customer(talk, app, client, make_api_key, post_webhook,
                                                worker, db, fake_graph, connect_meta,
                                                meta_app):
    """Review, rejection, approval, Meta's automatic event and its approval, the LLM
    detector and its fall-back: none of them sends anything to the customer."""
    from whatrack.models import Message

    connect_meta(talk["org_id"])
    key = make_api_key(talk["org_id"])[1]
    _review(db, talk)
    first = _sales(db)[-1]
    client.post(f"/api/v1/sales/{first.id}/reject", json={"reason": "teste"},
                headers=bearer(key))
    _answer(post_webhook, "wamid.quote2", "A manutenção fica R$ 150.", TS + 500)
    _say(post_webhook, "wamid.paid2", "Paguei a manutenção, segue o comprovante", TS + 560)
    worker.drain()
    llm = FakeLLM().start()  # the LLM detector answers nonsense: the built-in one decides
    previous = (app.config["LLM_BASE_URL"], app.config.get("LLM_MODEL"))
    app.config.update(LLM_BASE_URL=llm.url, LLM_MODEL="fake-model")
    try:
        from whatrack.services.copilot import commands

        commands.update_settings(talk["org"], enabled=True, detector="llm")
        db.session.commit()
        llm.answer_json({"sale": "talvez"})
        assert _review(db, talk) == "proposed 1"
    finally:
        app.config.update(LLM_BASE_URL=previous[0], LLM_MODEL=previous[1])
        llm.stop()
    second = _sales(db)[-1]
    assert second.evidence["notes"] == ["llm_fallback"]
    client.post(f"/api/v1/sales/{second.id}/approve", headers=bearer(key))
    post_webhook(load_fixture("automatic_events_purchase"))
    worker.drain()
    detected = _sales(db)[-1]
    assert detected.origin == "meta"
    client.post(f"/api/v1/sales/{detected.id}/approve", headers=bearer(key))
    worker.drain()

    assert [s.status for s in _sales(db)] == ["rejected", "approved", "approved"]
    assert not [r for r in fake_graph.requests if r.path.endswith("/messages")]
    outbound = all_rows(Message, Message.direction == "outbound")
    assert sorted(m.wamid for m in outbound) == ["wamid.quote", "wamid.quote2"]
    assert {m.origin for m in outbound} == {"business_app_echo"}
