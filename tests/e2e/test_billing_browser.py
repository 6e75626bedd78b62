"""The trial banner and the read-only state, in Chromium, on a laptop and on a phone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.fixtures_app import PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

VIEWPORTS = {
    390: {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
          "is_mobile": True, "has_touch": True},
    1366: {"viewport": {"width": 1366, "height": 800}},
}


def _login(page, live_server, email):
    page.goto(f"{live_server.url}/login")
    page.locator("form[action$='/login'] input[name=email]").fill(email)
    page.locator("form[action$='/login'] input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")


def _pt(live_server, message: str, **variables) -> str:
    text = live_server.translate("pt_BR", message, **variables)
    assert text != message % variables if variables else text != message, \
        f"no pt_BR translation of {message!r}"
    return text


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / name, full_page=True)


@pytest.mark.browser
@pytest.mark.parametrize("width", sorted(VIEWPORTS))
def test_the_trial_banner_counts_the_days_left(live_server, new_page, make_org, width):
    from flask_babel import force_locale, ngettext

    _org_id, _u, email = make_org(f"Clínica Teste {width}")
    page = new_page(**VIEWPORTS[width])

    _login(page, live_server, email)

    banner = page.locator("[data-billing-banner=trialing]")
    expect(banner).to_be_visible()
    with live_server.app.test_request_context(), force_locale("pt_BR"):
        start = ngettext("Your free trial ends in %(num)d day (%(date)s).",
                         "Your free trial ends in %(num)d days (%(date)s).", 14, date="|")
    expect(banner).to_contain_text(start.split("|")[0])
    subscribe = banner.get_by_role("link", name=_pt(live_server, "Subscribe"))
    expect(subscribe).to_be_visible()
    _screenshot(page, f"billing_trial_banner_{width}.png")

    subscribe.click()
    expect(page).to_have_url(f"{live_server.url}/dashboard/billing")
    expect(page.get_by_text(_pt(live_server, "Payment is arranged directly with our team (Pix, "
                                "boleto or card). Talk to us and we activate your plan on our "
                                "side; your data stays exactly as it is."))).to_be_visible()
    _screenshot(page, f"billing_page_manual_{width}.png")


@pytest.mark.browser
@pytest.mark.parametrize("width", sorted(VIEWPORTS))
def test_an_expired_organization_sees_everything_and_changes_nothing(
        live_server, new_page, make_org, set_billing, db, width):
    from sqlalchemy import select

    from whatrack.models import Stage, utcnow
    from whatrack.tenancy import bind_org

    org_id, _u, email = make_org(f"Clínica Vencida {width}")
    set_billing(org_id, trial_ends_at=utcnow() - timedelta(days=1))
    page = new_page(**VIEWPORTS[width])
    _login(page, live_server, email)

    banner = page.locator("[data-billing-banner=read_only]")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(_pt(live_server, "The dashboard is read-only: you can see "
                                       "everything, but changes are paused. Incoming WhatsApp "
                                       "messages are still recorded."))
    _screenshot(page, f"billing_read_only_dashboard_{width}.png")

    # Pages still open; an action is refused with the explanation and a way to pay.
    page.goto(f"{live_server.url}/dashboard/settings/stages")
    add = page.locator("form[action$='/dashboard/settings/stages']")
    add.locator("input[name=name]").fill("Nova etapa")
    add.locator("button[type=submit]").click()

    refusal = page.locator("[data-read-only-refusal]")
    expect(refusal).to_be_visible()
    expect(refusal.get_by_role("heading", name=_pt(live_server, "This change was not made")))\
        .to_be_visible()
    expect(refusal).to_contain_text(_pt(
        live_server, "Your organization's trial or subscription has ended, so the dashboard is "
        "read-only: you can see everything, but changes are paused until the plan is paid. "
        "Incoming WhatsApp messages are still recorded."))
    _screenshot(page, f"billing_read_only_refusal_{width}.png")
    with bind_org(org_id):
        assert db.session.scalars(select(Stage).where(Stage.name == "Nova etapa")).all() == []

    refusal.get_by_role("link", name=_pt(live_server, "Go to billing")).click()
    expect(page).to_have_url(f"{live_server.url}/dashboard/billing")
    expect(page.locator("[data-billing-state=expired]")).to_be_visible()
