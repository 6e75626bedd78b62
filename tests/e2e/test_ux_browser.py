"""Every screen reads like a product for a clinic (issue 17), at 1366 px and at 390 px.

The pages are the demo organization's (`flask --app wsgi demo`): named contacts, two ads, a sale
shown on the audit log. The shared fixture in conftest.py also checks every page rendered here
for developer text (None, exception classes, environment variables, CLI commands).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "password-123!"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def _login(page, live_server, email, password=PASSWORD):
    page.goto(f"{live_server.url}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def _overflow(page) -> int:
    """Pixels the page is wider than the screen (0: nothing cut at the right edge)."""
    return page.evaluate("""() => Math.max(
        document.body.scrollWidth - document.body.clientWidth,
        document.documentElement.scrollWidth - document.documentElement.clientWidth)""")


@pytest.fixture
def demo(app, db):
    """The demo organization with its conversations; its owner's login."""
    from whatrack.models import MetaConversionEvent, Ticket
    from whatrack.tenancy import unscoped

    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    with unscoped():
        tickets = db.session.scalars(db.select(Ticket).order_by(Ticket.id)).all()
        event = db.session.scalars(db.select(MetaConversionEvent)).first()
        return {"email": app.config["DEMO_EMAIL"], "password": app.config["DEMO_PASSWORD"],
                "ticket_ids": [t.id for t in tickets], "event_id": event.id}


DASHBOARD_PAGES = [
    ("home", "/dashboard"),
    ("tickets", "/dashboard/tickets"),
    ("ticket", "/dashboard/tickets/{ticket}"),
    ("inbox", "/dashboard/whatsapp/inbox"),
    ("tracking", "/dashboard/tracking"),
    ("capi", "/dashboard/capi"),
    ("capi_event", "/dashboard/capi/{event}"),
    ("billing", "/dashboard/billing"),
    ("settings", "/dashboard/settings"),
    ("settings_whatsapp", "/dashboard/settings/whatsapp"),
    ("settings_team", "/dashboard/settings/team"),
    ("settings_stages", "/dashboard/settings/stages"),
    ("settings_meta", "/dashboard/settings/meta"),
    ("settings_api_keys", "/dashboard/settings/api-keys"),
    ("settings_webhooks", "/dashboard/settings/webhooks"),
    ("password", "/account/password"),
]


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
def test_every_dashboard_page_fits_the_screen(live_server, new_page, demo, viewport):
    page = new_page(viewport=viewport)
    _login(page, live_server, demo["email"], demo["password"])
    for name, path in DASHBOARD_PAGES:
        url = live_server.url + path.format(ticket=demo["ticket_ids"][0], event=demo["event_id"])
        response = page.goto(url)
        assert response.status == 200, (path, response.status)
        page.wait_for_load_state("networkidle")
        _shot(page, f"ux_{name}_{viewport['width']}")
        assert _overflow(page) <= 0, f"{path} is wider than {viewport['width']} px"


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
def test_first_steps_of_a_new_owner_each_lead_somewhere(live_server, new_page, make_org,
                                                        viewport):
    _, _, email = make_org("Clínica Nova")
    page = new_page(viewport=viewport)
    _login(page, live_server, email)
    steps = page.locator(".first-steps .step")
    expect(steps).to_have_count(3)
    expect(page.locator(".first-steps")).to_contain_text("Primeiros passos")
    _shot(page, f"ux_first_steps_{viewport['width']}")
    for index, (label, path, heading) in enumerate([
            ("Conectar WhatsApp", "/dashboard/settings/whatsapp", "WhatsApp"),
            ("Conectar Facebook", "/dashboard/settings/meta", "Meta"),
            ("Convidar alguém", "/dashboard/settings/team", "Equipe")]):
        page.goto(f"{live_server.url}/dashboard")
        steps.nth(index).get_by_role("link", name=label).click()
        expect(page).to_have_url(live_server.url + path)
        expect(page.locator("h1")).to_contain_text(heading)
        assert _overflow(page) <= 0
    # The empty board says what it is for and the one next action.
    page.goto(f"{live_server.url}/dashboard/tickets")
    empty = page.locator(".board-empty")
    expect(empty).to_contain_text("Cada conversa vira um cartão aqui")
    expect(empty.get_by_role("link", name="Conectar WhatsApp")).to_be_visible()
    expect(page.locator(".page-header")).to_contain_text("Nenhum ticket")


@pytest.mark.browser
def test_the_audit_log_is_a_list_of_cards_on_a_phone(live_server, new_page, demo):
    page = new_page(viewport=PHONE)
    _login(page, live_server, demo["email"], demo["password"])
    page.goto(f"{live_server.url}/dashboard/capi")
    row = page.locator("[data-capi-event]").filter(has_text="Purchase")
    expect(row).to_be_visible()
    expect(page.locator("[data-capi-table] thead")).to_be_hidden()
    status = row.locator("[data-capi-status]")
    reason = row.locator("[data-capi-reason]")
    expect(status).to_have_text("Enviado")
    expect(reason).to_contain_text("Dados de demonstração")
    # Key fields first: status, then the reason, then the value; the rest below them.
    tops = [el.bounding_box()["y"] for el in (status, reason, row.get_by_text("R$"),
                                              row.locator("td").first)]
    assert tops == sorted(tops), tops
    assert row.bounding_box()["width"] <= PHONE["width"]
    assert _overflow(page) <= 0
    _shot(page, "ux_capi_cards_390")


@pytest.mark.browser
def test_the_board_fits_a_laptop_and_collapses_columns(live_server, new_page, demo):
    page = new_page(viewport=LAPTOP)
    _login(page, live_server, demo["email"], demo["password"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    columns = page.locator(".kcol")
    expect(columns).to_have_count(5)
    for i in range(5):  # every default column on screen, no sideways scroll needed
        box = columns.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= LAPTOP["width"], (i, box)
    value = page.locator(".kcard-value").first
    expect(value).to_contain_text("1.290,00")
    assert value.evaluate("el => el.scrollWidth <= el.clientWidth")
    # Two ads with the same kind of name are told apart by the ad id's last digits.
    badges = page.locator(".kcard .badge-blue").all_inner_texts()
    assert any("…4521" in b for b in badges) and any("…7788" in b for b in badges), badges

    first = columns.first
    first.locator("[data-collapse-column]").click()
    assert first.bounding_box()["width"] < 60
    expect(first.locator(".kcard").first).to_be_hidden()
    page.reload()  # remembered by the browser
    assert columns.first.bounding_box()["width"] < 60
    columns.first.locator("[data-collapse-column]").click()
    expect(columns.first.locator(".kcard").first).to_be_visible()


@pytest.mark.browser
def test_the_board_on_a_phone_shows_one_column_with_a_switcher(live_server, new_page, demo):
    page = new_page(viewport=PHONE)
    _login(page, live_server, demo["email"], demo["password"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    switcher = page.locator("[data-column-switcher]")
    expect(switcher).to_be_visible()
    options = switcher.locator("option").all_inner_texts()
    assert options[0] == "Novo (5)" and "Ganho (1)" in options, options
    expect(page.locator(".kcol:visible")).to_have_count(1)
    expect(page.locator(".kcol:visible h2")).to_have_text("Novo")
    switcher.select_option(label="Ganho (1)")
    expect(page.locator(".kcol:visible h2")).to_have_text("Ganho")
    expect(page.locator(".kcol:visible .kcard")).to_contain_text("Ana Beatriz Souza")
    assert _overflow(page) <= 0
    _shot(page, "ux_board_switcher_390")


@pytest.mark.browser
def test_dates_are_typed_and_shown_as_dd_mm_yyyy_in_an_english_browser(live_server, new_page,
                                                                        demo):
    page = new_page(viewport=LAPTOP, locale="en-US")
    _login(page, live_server, demo["email"], demo["password"])
    page.goto(f"{live_server.url}/lang/pt_BR?next=/dashboard")  # pt-BR UI, English browser
    field = page.locator("#from")
    expect(field).to_have_attribute("placeholder", "dd/mm/aaaa")
    field.fill("")
    field.press_sequentially("01112026")  # slashes come by themselves
    expect(field).to_have_value("01/11/2026")
    page.locator("#to").fill("30/11/2026")
    page.get_by_role("button", name="Aplicar").click()
    expect(page.locator("#from")).to_have_value("01/11/2026")
    expect(page.locator("#to")).to_have_value("30/11/2026")
    expect(page.locator(".flash-error")).to_have_count(0)
    page.locator("#from").fill("31/02/2026")
    page.get_by_role("button", name="Aplicar").click()
    expect(page.locator(".flash-error")).to_contain_text("dd/mm/aaaa")


@pytest.mark.browser
def test_a_sale_says_its_value_and_can_be_undone(live_server, new_page, demo, db):
    from whatrack.models import Sale
    from whatrack.tenancy import unscoped

    page = new_page(viewport=LAPTOP)
    _login(page, live_server, demo["email"], demo["password"])
    page.goto(f"{live_server.url}/dashboard/tickets")
    card = page.locator(".kcard").filter(has_text="Carlos Eduardo Lima")
    expect(card.locator(".kcard-unread")).to_be_visible()
    card.locator("[data-panel-link]").click()
    drawer = page.locator("#ticket-drawer")
    expect(drawer).to_be_visible()
    expect(card.locator(".kcard-unread")).to_have_count(0)  # opened: read
    drawer.locator("form.tpanel-sale input[name=value]").fill("2.500,00")
    drawer.locator("form.tpanel-sale button[type=submit]").click()
    toast = page.locator(".toast").first
    expect(toast).to_contain_text("Venda de R$")
    expect(toast).to_contain_text("2.500,00")
    toast.get_by_role("button", name="Desfazer").click()
    expect(page.locator(".toast").last).to_contain_text("Venda cancelada")
    with unscoped():
        sale = db.session.scalars(db.select(Sale).where(Sale.value == 2500)).one()
        assert sale.cancelled_at is not None

    # A closed ticket asks before a second sale.
    drawer.locator("[data-close-drawer]").click()
    won = page.locator(".kcard").filter(has_text="Ana Beatriz Souza")
    won.locator("[data-panel-link]").click()
    # The drawer swaps its content when the new panel arrives: wait for it, not the old one.
    expect(drawer.locator(".tpanel-another-sale")).to_have_count(1)
    expect(drawer).to_contain_text("Ana Beatriz Souza")
    ask = drawer.locator(".tpanel-another-sale")
    expect(ask.locator("summary")).to_have_text(
        "Este ticket está encerrado. Registrar outra venda?")
    expect(ask.locator("form.tpanel-sale")).to_be_hidden()
