"""The ticket panel on the Kanban: opened from anywhere on a card, moved without dragging,
live while open, and a full sheet on a phone."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.fixtures_whatsapp import profile, text_message, webhook_body

PASSWORD = "password-123!"
NOW = int(time.time())
LEAD = "5511955550001"


def _login(page, live_server, email):
    page.goto(f"{live_server.url}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")


def _say(post_webhook, wamid, body, at):
    post_webhook(webhook_body(messages=[text_message(LEAD, wamid, at, body)],
                              contacts=[profile(LEAD, "Helena")]))


@pytest.fixture
def lead(whatsapp_org, post_webhook, worker):
    _say(post_webhook, "wamid.h1", "Bom dia, vocês atendem sábado?", NOW - 120)
    worker.drain()
    return whatsapp_org


@pytest.mark.browser
def test_panel_opens_from_the_card_and_moves_the_stage_without_dragging(
        live_server, new_page, lead):
    page = new_page(viewport={"width": 1366, "height": 800})
    _login(page, live_server, lead["email"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    card = page.locator(".kcard").first
    card.locator(".kcard-meta").click()  # not the name: anywhere on the card
    drawer = page.locator("#ticket-drawer")
    expect(drawer).to_be_visible()
    expect(drawer.locator("[data-thread]")).to_contain_text("vocês atendem sábado?")
    expect(drawer.get_by_role("link", name="Abrir no inbox").first).to_be_visible()

    target = page.locator(".kcol").nth(2)  # "Agendado"
    stage_id = target.get_attribute("data-stage-id")
    drawer.locator("select[name=stage_id]").select_option(stage_id)
    drawer.locator(".tpanel-stage button[type=submit]").click()
    expect(page.locator(f".kcol[data-stage-id='{stage_id}'] .kcard")).to_have_count(1)
    expect(drawer.locator("select[name=stage_id]")).to_have_value(stage_id)


@pytest.mark.browser
def test_open_panel_updates_live_on_a_webhook(live_server, new_page, lead, post_webhook,
                                              worker):
    page = new_page(viewport={"width": 1366, "height": 800})
    _login(page, live_server, lead["email"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    expect(page.locator("html")).to_have_attribute("data-realtime", "connected")
    page.locator(".kcard").first.click()
    drawer = page.locator("#ticket-drawer")
    expect(drawer.locator("[data-thread]")).to_be_visible()
    _say(post_webhook, "wamid.h2", "Pode ser às 9h?", NOW)
    expect(drawer.locator("[data-thread]")).to_contain_text("Pode ser às 9h?")
    worker.drain()


@pytest.mark.browser
def test_phone_panel_is_a_sheet_above_the_top_bar(live_server, new_page, lead):
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    _login(page, live_server, lead["email"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    page.locator(".kcard").first.tap()
    close = page.locator("#ticket-drawer [data-close-drawer]")
    expect(close).to_be_visible()
    box = close.bounding_box()
    on_top = page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y).closest('[data-close-drawer]')",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert on_top, "the sticky top bar covers the panel's close button"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    close.tap()
    expect(page.locator("#ticket-drawer")).to_be_hidden()
