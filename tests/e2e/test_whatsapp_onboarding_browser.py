"""Connecting WhatsApp in the browser: the page drives a fake Facebook SDK to "Conectado"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fakes.graph import meta_error
from tests.fixtures_signup import CONFIG_ID, PHONE_ID, WABA

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "password-123!"
VIEWPORTS = {
    390: {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
          "is_mobile": True, "has_touch": True},
    1366: {"viewport": {"width": 1366, "height": 900}},
}


@pytest.fixture
def live_signup(live_server, signup_app) -> Iterator[Any]:
    """The live app pointed at the fake Graph API and its fake SDK."""
    keys = ("META_APP_ID", "META_CONFIG_ID", "META_SDK_URL", "META_GRAPH_URL")
    previous = {key: live_server.app.config.get(key) for key in keys}
    live_server.app.config.update({key: signup_app.url if key == "META_GRAPH_URL"
                                   else signup_app_config(signup_app, key) for key in keys})
    yield signup_app
    live_server.app.config.update(previous)


def signup_app_config(fake, key):
    from tests.fixtures_capi import APP_ID

    return {"META_APP_ID": APP_ID, "META_CONFIG_ID": CONFIG_ID,
            "META_SDK_URL": f"{fake.url}/sdk.js"}[key]


@pytest.mark.browser
@pytest.mark.parametrize("width", sorted(VIEWPORTS))
def test_connect_whatsapp_ends_on_conectado(live_server, live_signup, new_page, make_org,
                                            width, db):
    from whatrack.models import WhatsAppAccount
    from whatrack.tenancy import bind_org

    org_id, _user_id, email = make_org("Clínica Sorriso")
    page = new_page(**VIEWPORTS[width])
    page.goto(f"{live_server.url}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")
    page.locator("[data-first-step=whatsapp]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard/settings/whatsapp")

    connect = page.get_by_role("button", name="Conectar WhatsApp", exact=True)
    expect(connect).to_be_enabled()  # the SDK loaded and fbAsyncInit ran
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"whatsapp_onboarding_start_{width}.png", full_page=True)
    if width == 1366:  # Meta refuses once: the step and its cause, then "Tentar novamente"
        live_signup.fail(f"/v25.0/{WABA}/subscribed_apps", 403,
                         meta_error("(#200) Permissions error", 200))
        with page.expect_popup():
            connect.click()
        error = page.locator("[data-wa-error]")
        expect(error).to_contain_text("falta de permissão")
        expect(page.locator("[data-wa-title]")).to_contain_text(
            "Receber as mensagens do número")
        page.get_by_text("Detalhes técnicos").click()
        expect(page.locator("[data-wa-tech-text]")).to_contain_text("AfakeTrace200")
        page.screenshot(path=ARTIFACTS / "whatsapp_onboarding_failed_1366.png", full_page=True)
        page.get_by_role("button", name="Tentar novamente").click()
    else:
        with page.expect_popup():
            connect.click()

    expect(page.locator("[data-wa-connected]")).to_be_visible()  # after the reload
    expect(page.locator("[data-wa-title]")).to_have_text("Conectado")
    expect(page.locator("[data-step=register_number]")).to_have_attribute("data-state", "done")
    page.screenshot(path=ARTIFACTS / f"whatsapp_onboarding_connected_{width}.png",
                    full_page=True)

    [dialog] = live_signup.signup.dialog_requests
    assert dialog == {"config_id": CONFIG_ID, "response_type": "code", "feature_type": "",
                      "session_info_version": "3"}
    assert len(live_signup.requests_to("/v25.0/oauth/access_token")) == 1
    with bind_org(org_id):
        account = db.session.scalars(db.select(WhatsAppAccount)).one()
        assert account.phone_number_id == PHONE_ID and account.token

    expect(page).to_have_url(f"{live_server.url}/dashboard/settings/whatsapp?connected=1")
    expect(page.locator("[data-wa-connected]")).to_contain_text("+55 11 94000-1234")
    row = page.locator(f"[data-wa-account='{PHONE_ID}']")
    expect(row).to_contain_text("+5511940001234")
    expect(row).to_contain_text("Alta")
    page.screenshot(path=ARTIFACTS / f"whatsapp_numbers_{width}.png", full_page=True)
