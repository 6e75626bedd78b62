"""Pages that only display: public pages for anyone, dashboard pages for members only."""

from __future__ import annotations

import pytest
from flask_babel import gettext

PUBLIC = {
    "/data-deletion": "How to delete your data",
    "/pricing": "One plan, everything included",
    "/privacy": "Privacy policy",
    "/terms": "Terms of service",
}
# The areas other issues fill in; until then each says what it will hold.
DASHBOARD = {
    "/dashboard/whatsapp/inbox": "Every WhatsApp conversation of your number, live, with the "
                                 "24-hour window.",
    "/dashboard/tracking": "Tracking links with UTMs that tag leads who do not come from an ad.",
    "/dashboard/settings": "Settings",
}


def _said(app, message: str) -> str:
    with app.test_request_context():
        return gettext(message)


@pytest.mark.endpoint("public.data_deletion", "public.pricing", "public.privacy",
                      "public.terms")
@pytest.mark.parametrize("path", sorted(PUBLIC))
def test_public_pages_render_for_anyone(app, client, path):
    resp = client.get(path)

    assert resp.status_code == 200
    assert _said(app, PUBLIC[path]) in resp.get_data(as_text=True)


@pytest.mark.endpoint("dashboard.inbox", "dashboard.tracking", "settings.index")
@pytest.mark.parametrize("path", sorted(DASHBOARD))
def test_dashboard_pages_are_for_members_only(app, client, make_org, client_as, path):
    _org_id, _user_id, email = make_org("Clínica Sorriso")

    anonymous = client.get(path)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    page = client_as(email).get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Clínica Sorriso" in html
    if path in DASHBOARD:
        assert _said(app, DASHBOARD[path]) in html
