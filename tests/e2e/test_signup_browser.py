"""A new customer signs up in the browser, on a phone and on a laptop, in Portuguese."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

VIEWPORTS = {
    390: {  # iPhone-sized
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    1280: {"viewport": {"width": 1280, "height": 800}},
}


@pytest.mark.browser
@pytest.mark.parametrize("width", sorted(VIEWPORTS))
def test_signup_lands_on_portuguese_dashboard(live_server, new_page, width):
    def pt(message: str) -> str:
        text = live_server.translate("pt_BR", message)
        assert text != message, f"no pt_BR translation of {message!r} (whatrack/translations)"
        return text

    org_name = f"Clínica Sorriso {width}"
    page = new_page(**VIEWPORTS[width])

    page.goto(f"{live_server.url}/signup")
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    form = page.locator("form[action$='/signup']")
    expect(form.locator("input[name=csrf_token]")).to_have_count(1)
    form.get_by_label(pt("Business name")).fill(org_name)
    form.get_by_label(pt("Your name")).fill("Ana Souza")
    form.get_by_label(live_server.translate("pt_BR", "Email")).fill(f"ana{width}@example.com")
    form.get_by_label(pt("Password")).fill("senha-forte-123")
    form.get_by_role("button", name=pt("Create account")).click()

    expect(page).to_have_url(f"{live_server.url}/dashboard")
    expect(page.get_by_role("heading", level=1, name=org_name)).to_be_visible()
    expect(page.get_by_text(pt("Welcome! Your 14-day trial has started."))).to_be_visible()
    expect(page.get_by_role("heading", name=pt("Get started"))).to_be_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"dashboard_after_signup_{width}.png", full_page=True)
