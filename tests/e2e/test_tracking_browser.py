"""Tracking links in a browser: create one, copy its URL, a customer follows it and writes,
and the report shows the lead under the link's UTMs (issue 12). Screenshots at 1366 and 390 px.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.fixtures_whatsapp import FIXTURE_DISPLAY, profile, text_message, webhook_body
from whatrack.services.tracking.refs import find_refs

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "password-123!"
# A person's browser: Playwright's own headless user agent is (rightly) treated as a bot.
DESKTOP = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36")


def login(page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.browser
def test_create_a_link_copy_its_url_follow_it_and_see_the_lead_in_the_report(
        live_server, new_page, whatsapp_org, post_webhook, worker):
    page = new_page(viewport={"width": 1366, "height": 900}, user_agent=DESKTOP,
                    permissions=["clipboard-read", "clipboard-write"])
    login(page, live_server, whatsapp_org["email"])

    page.locator(".sidebar-link", has_text="Rastreamento").click()
    expect(page.locator("h1")).to_have_text("Links de rastreamento")
    form = page.locator("form.link-form")
    form.locator("input[name=name]").fill("Bio do Instagram")
    form.locator("textarea[name=message]").fill("Olá! Quero agendar uma avaliação.")
    form.locator("input[name=utm_source]").fill("instagram")
    form.locator("input[name=utm_campaign]").fill("clareamento")
    form.locator("button[type=submit]").click()

    row = page.locator("tr[data-link-id]", has_text="Bio do Instagram")
    expect(row).to_be_visible()
    row.locator("[data-copy-link]").click()
    expect(row.locator("[data-copy-link]")).to_have_text("Copiado")
    url = page.evaluate("navigator.clipboard.readText()")
    assert url == row.locator("[data-link-url]").inner_text()
    assert urlsplit(url).path.startswith("/t/")
    shoot(page, "tracking-links-1366.png")

    # The customer's phone follows the link: 302 to WhatsApp with the message and a code.
    visit = page.request.get(url, max_redirects=0, headers={"User-Agent": DESKTOP})
    assert visit.status == 302
    location = visit.headers["location"]
    assert location.startswith(f"https://wa.me/{FIXTURE_DISPLAY}?text=")
    text = parse_qs(urlsplit(location).query)["text"][0]
    assert text.startswith("Olá! Quero agendar uma avaliação. (WT-")
    [ref] = find_refs(text)

    # ...and sends the prefilled text (the phone broke the line inside the code).
    typed = text.replace(ref, ref[:6] + "\n" + ref[6:])
    body = webhook_body(messages=[text_message("5511987654321", "wamid.E2ELINK",
                                               int(time.time()) - 30, typed)],
                        contacts=[profile("5511987654321", "Mariana Souza")])
    assert post_webhook(body).status_code == 200
    worker.drain()

    page.reload()
    row = page.locator("tr[data-link-id]", has_text="Bio do Instagram")
    expect(row.locator('[data-counter="clicks"]')).to_have_text("1")
    expect(row.locator('[data-counter="leads"]')).to_have_text("1")

    page.locator(".sidebar-link", has_text="Relatórios").click()
    today = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    page.locator("input[name=from]").fill(f"{today:%d/%m/%Y}")
    page.locator("input[name=to]").fill(f"{today:%d/%m/%Y}")
    page.locator("form.report-filter button[type=submit]").click()
    source = page.locator('tr[data-row="utm_source"]', has_text="instagram")
    expect(source.locator('[data-col="leads"]')).to_have_text("1")
    expect(page.locator('tr[data-row="utm_campaign"]', has_text="clareamento")).to_be_visible()
    expect(page.locator('[data-spend-status="not_connected"]')).to_be_visible()
    shoot(page, "tracking-report-1366.png")

    phone = new_page(viewport={"width": 390, "height": 844}, user_agent=DESKTOP,
                     is_mobile=True, has_touch=True)
    login(phone, live_server, whatsapp_org["email"])
    phone.goto(f"{live_server.url}/dashboard/tracking")
    expect(phone.locator("tr[data-link-id]")).to_have_count(1)
    shoot(phone, "tracking-links-390.png")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.goto(f"{live_server.url}/dashboard/reports?from={today}&to={today}")
    expect(phone.locator('tr[data-row="utm_source"]')).to_have_count(1)
    shoot(phone, "tracking-report-390.png")
    # Neither page is wider than the phone's screen: the tables turn into cards.
    overflow = phone.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390, overflow
