"""A sale closed on the ticket panel reaches Meta, and the panel says so once the worker ran."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.fixtures_whatsapp import load_fixture

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "password-123!"


@pytest.fixture
def ad_lead(meta_app, whatsapp_org, connect_meta, post_webhook, worker, db):
    """A ticket opened by a click-to-WhatsApp ad, in an organization connected to Meta."""
    from whatrack.models import Ticket
    from whatrack.tenancy import bind_org

    connect_meta(whatsapp_org["org_id"])
    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    with bind_org(whatsapp_org["org_id"]):
        ticket = db.session.scalars(db.select(Ticket)).one()
        return {**whatsapp_org, "ticket_id": ticket.id}


@pytest.mark.browser
def test_closing_a_sale_shows_meta_received_on_the_ticket(live_server, new_page, ad_lead,
                                                          meta_app, worker):
    page = new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/login")
    page.locator("input[name=email]").fill(ad_lead["email"])
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")

    panel_url = f"{live_server.url}/dashboard/tickets/{ad_lead['ticket_id']}"
    page.goto(panel_url)
    sale_form = page.locator("form.tpanel-sale")
    sale_form.locator("input[name=value]").fill("1.234,56")
    sale_form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")

    purchase = page.locator("[data-capi-event]").filter(has_text="Purchase")
    deadline = time.monotonic() + 20
    while True:  # the worker sends in the background; the panel shows the row's state
        page.goto(panel_url)
        if "Meta recebeu em" in purchase.inner_text():
            break
        assert time.monotonic() < deadline, purchase.inner_text()
        worker.drain()
    expect(purchase).to_contain_text("R$")
    expect(purchase).to_contain_text("1.234,56")
    expect(purchase.locator("[data-capi-status=sent]")).to_be_visible()
    [accepted] = [e for e in meta_app.capi.accepted_events if e["event_name"] == "Purchase"]
    assert accepted["custom_data"] == {"currency": "BRL", "value": 1234.56}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "ticket_panel_meta_received.png", full_page=True)

    page.goto(f"{live_server.url}/dashboard/capi")
    expect(page.locator("[data-capi-table]")).to_contain_text("Meta recebeu em")
    page.screenshot(path=ARTIFACTS / "capi_audit.png", full_page=True)
    page.locator("[data-capi-table] a").first.click()
    expect(page.locator("[data-capi-payload]")).to_contain_text('"value": 1234.56')
    page.screenshot(path=ARTIFACTS / "capi_event.png", full_page=True)
    page.goto(f"{live_server.url}/dashboard/settings/meta")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Meta")
    page.screenshot(path=ARTIFACTS / "settings_meta.png", full_page=True)
