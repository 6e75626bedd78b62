"""A person approves the copilot's proposal from the ticket panel, correcting its value."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.fixtures_whatsapp import FIXTURE_DISPLAY, load_fixture, text_message, webhook_body

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "password-123!"
CUSTOMER = "5521998765432"


@pytest.fixture
def proposal(whatsapp_org, connect_meta, meta_app, post_webhook, worker, db):
    """A CTWA lead who paid a quoted price, read by the copilot: one proposal waiting."""
    from whatrack.models import Message, Organization, Sale, Ticket
    from whatrack.services.copilot import review
    from whatrack.tenancy import bind_org

    connect_meta(whatsapp_org["org_id"])
    post_webhook(load_fixture("inbound_ctwa_referral"))
    post_webhook(webhook_body(echoes=[{
        "from": FIXTURE_DISPLAY, "to": CUSTOMER, "id": "wamid.quote", "timestamp": "1781262500",
        "type": "text", "text": {"body": "O clareamento fica R$ 480, pode ser no pix."}}]))
    post_webhook(webhook_body(messages=[text_message(
        CUSTOMER, "wamid.paid", 1781262600, "Fechado! Fiz o pix, segue o comprovante")]))
    worker.drain()
    with bind_org(whatsapp_org["org_id"]):
        org = db.session.get(Organization, whatsapp_org["org_id"])
        ticket = db.session.scalars(select(Ticket)).one()
        latest = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
        review.review_ticket(org, ticket.id, now=latest.created_at + timedelta(minutes=2))
        db.session.commit()
        sale = db.session.scalars(select(Sale)).one()
        return {**whatsapp_org, "ticket_id": ticket.id, "sale_id": sale.id}


def _login(page, url, email):
    page.goto(f"{url}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{url}/dashboard")


@pytest.mark.browser
def test_approving_a_proposal_from_the_panel(live_server, new_page, proposal, db, fake_graph):
    from whatrack.models import Sale
    from whatrack.tenancy import bind_org

    ARTIFACTS.mkdir(exist_ok=True)
    phone = new_page(viewport={"width": 390, "height": 844})
    _login(phone, live_server.url, proposal["email"])
    phone.goto(f"{live_server.url}/dashboard/tickets/{proposal['ticket_id']}")
    evidence = phone.locator(f"[data-proposal-evidence='{proposal['sale_id']}']")
    expect(evidence).to_contain_text("O clareamento fica R$ 480")
    expect(evidence).to_contain_text("Fiz o pix")
    phone.screenshot(path=ARTIFACTS / "copilot_panel_390.png", full_page=True)
    phone.goto(f"{live_server.url}/dashboard/sales/proposed")
    expect(phone.locator(f"[data-proposal='{proposal['sale_id']}']")).to_contain_text("480,00")
    phone.screenshot(path=ARTIFACTS / "copilot_proposals_390.png", full_page=True)

    page = new_page(viewport={"width": 1366, "height": 900})
    _login(page, live_server.url, proposal["email"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    expect(page.locator("[data-proposal-badge]")).to_be_visible()
    page.goto(f"{live_server.url}/dashboard/tickets/{proposal['ticket_id']}")
    form = page.locator(f"[data-approve-proposal='{proposal['sale_id']}']")
    expect(form.locator("input[name=value]")).to_have_value("480,00")
    page.screenshot(path=ARTIFACTS / "copilot_panel_1366.png", full_page=True)
    form.locator("input[name=value]").fill("450,00")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/dashboard/tickets/{proposal['ticket_id']}")
    expect(page.locator(".tpanel-list").first).to_contain_text("450,00")
    expect(page.locator("[data-approve-proposal]")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "copilot_approved_1366.png", full_page=True)

    db.session.rollback()
    with bind_org(proposal["org_id"]):
        sale = db.session.get(Sale, proposal["sale_id"])
        assert (sale.status, sale.value) == ("approved", Decimal("450.00"))
    # Approving sent nothing to the customer.
    assert not [r for r in fake_graph.requests if r.path.endswith("/messages")]
