"""A secretary drags a lead to Ganho, types the value the Brazilian way, and sees revenue."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.fixtures_whatsapp import load_fixture

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "password-123!"


def _login(page, live_server, email):
    page.goto(f"{live_server.url}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")


def _drag(page, card, column):
    """Drag with real mouse events (SortableJS listens to pointer/drag events)."""
    box = card.bounding_box()
    target = column.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 10)
    page.mouse.down()
    steps = [(0.3, 0.3), (0.6, 0.6), (1.0, 1.0)]
    for fx, fy in steps:
        page.mouse.move(box["x"] + (target["x"] + target["width"] / 2 - box["x"]) * fx,
                        box["y"] + (target["y"] + 60 - box["y"]) * fy, steps=8)
    page.mouse.up()


@pytest.fixture
def lead(whatsapp_org, post_webhook, worker):
    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    return whatsapp_org


@pytest.mark.browser
def test_drag_to_won_records_brl_sale_and_updates_revenue(live_server, new_page, lead):
    page = new_page(viewport={"width": 1920, "height": 1000})
    _login(page, live_server, lead["email"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    card = page.locator(".kcard").first
    expect(card).to_be_visible()
    won_column = page.locator(".kcol[data-stage-kind=won] .kcol-cards")
    _drag(page, card, won_column)

    dialog = page.locator("#sale-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("input[name=value]").fill("1.234,56")
    dialog.locator("#sale-confirm").click()
    expect(dialog).to_be_hidden()

    won_card = page.locator(".kcol[data-stage-kind=won] .kcard").first
    expect(won_card).to_contain_text("1.234,56")
    assert "R$" in won_card.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "kanban_after_sale.png", full_page=True)

    page.goto(f"{live_server.url}/dashboard")
    expect(page.locator("#stat-revenue")).to_contain_text("1.234,56")
    expect(page.locator("#stat-sales")).to_have_text("1")


@pytest.mark.browser
def test_card_moved_by_a_colleague_moves_on_my_screen(live_server, new_page, lead):
    mine = new_page(viewport={"width": 1920, "height": 1000})
    theirs = new_page(viewport={"width": 1920, "height": 1000})
    for page in (mine, theirs):
        _login(page, live_server, lead["email"])
        page.goto(f"{live_server.url}/dashboard/tickets")
    expect(mine.locator("html")).to_have_attribute("data-realtime", "connected")

    target = theirs.locator(".kcol").nth(1)  # "Em atendimento"
    stage_id = target.get_attribute("data-stage-id")
    _drag(theirs, theirs.locator(".kcard").first, target.locator(".kcol-cards"))
    expect(theirs.locator(f".kcol[data-stage-id='{stage_id}'] .kcard")).to_have_count(1)

    # No reload on my side: the websocket brings the change.
    expect(mine.locator(f".kcol[data-stage-id='{stage_id}'] .kcard")).to_have_count(1)


@pytest.mark.browser
def test_dropping_on_lost_asks_for_a_reason(live_server, new_page, lead):
    page = new_page(viewport={"width": 1920, "height": 1000})
    _login(page, live_server, lead["email"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    _drag(page, page.locator(".kcard").first,
          page.locator(".kcol[data-stage-kind=lost] .kcol-cards"))
    dialog = page.locator("#lost-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("select[name=lost_reason]").select_option("price")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".kcol[data-stage-kind=lost] .kcard")).to_have_count(1)


@pytest.mark.browser
def test_show_more_adds_the_rest_of_a_long_column(live_server, new_page, whatsapp_org, app):
    """A column of 15 shows its newest 12 and a count of 15; "Mostrar mais" adds the 3 older."""
    from sqlalchemy import select

    from whatrack.extensions import db
    from whatrack.models import Contact, Stage, Ticket, utcnow
    from whatrack.tenancy import bind_org

    org_id = whatsapp_org["org_id"]
    with app.app_context(), bind_org(org_id):
        stage = db.session.scalars(select(Stage).where(Stage.kind == "open")
                                   .order_by(Stage.position)).first()
        for i in range(15):
            contact = Contact(organization_id=org_id, wa_id=f"5511977{i:06d}",
                              profile_name=f"Paciente {i:02d}")
            db.session.add(contact)
            db.session.flush()
            db.session.add(Ticket(organization_id=org_id, contact_id=contact.id,
                                  whatsapp_account_id=whatsapp_org["account_id"],
                                  stage_id=stage.id, last_message_at=utcnow(),
                                  last_message_preview="Oi"))
        db.session.commit()
        stage_id = stage.id
    for width, height in ((1366, 800), (390, 844)):
        page = new_page(viewport={"width": width, "height": height})
        _login(page, live_server, whatsapp_org["email"])
        page.goto(f"{live_server.url}/dashboard/tickets")
        column = page.locator(f"#kcol-{stage_id}")
        if width < 900:
            page.locator("[data-column-switcher]").select_option(str(stage_id))
        expect(column.locator(".kcard")).to_have_count(12)
        expect(column.locator(".kcol-count")).to_have_text("15")
        more = column.locator(".kcol-more")
        expect(more).to_be_visible()
        more.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"kanban_show_more_{width}.png"))
        more.click()
        expect(column.locator(".kcard")).to_have_count(15)
        expect(more).to_be_hidden()
        expect(column).to_contain_text("Paciente 00")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
