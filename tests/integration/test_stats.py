"""Dashboard numbers: leads, sales, revenue and conversion by source, in the org's timezone."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from whatrack.tenancy import bind_org


def _setup(app, whatsapp_org):
    from whatrack.extensions import db
    from whatrack.models import Contact, Organization, Stage, Ticket
    from whatrack.services.tickets import sales

    org_id = whatsapp_org["org_id"]
    with app.app_context(), bind_org(org_id):
        org = db.session.get(Organization, org_id)
        stage = db.session.scalars(select(Stage).where(Stage.kind == "open")).first()
        ids = []
        specs = [("ad", "111", "Clareamento"), ("ad", "111", "Clareamento"),
                 ("ad", "222", "Implante"), ("utm", None, None), ("organic", None, None)]
        for n, (source, ad_id, headline) in enumerate(specs):
            contact = Contact(organization_id=org_id, wa_id=f"5511988880{n:03d}")
            db.session.add(contact)
            db.session.flush()
            ticket = Ticket(organization_id=org_id, contact_id=contact.id, stage_id=stage.id,
                            whatsapp_account_id=whatsapp_org["account_id"], lead_source=source,
                            source_id=ad_id, ad_headline=headline,
                            utm_campaign="black-friday" if source == "utm" else None)
            db.session.add(ticket)
            db.session.flush()
            ids.append(ticket.id)
        db.session.commit()
        sales.close_sale(org, ids[0], sales.SaleInput(Decimal("1234.56")), "panel", None)
        sales.close_sale(org, ids[3], sales.SaleInput(Decimal("100.00")), "panel", None)
        db.session.commit()
        return org_id


def test_stats_count_leads_sales_revenue_by_source(app, whatsapp_org, db):
    from whatrack.models import Organization
    from whatrack.services.reports import stats

    org_id = _setup(app, whatsapp_org)
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        result = stats.compute_stats(org, stats.parse_period(org, None, None))
    assert result.leads == 5
    assert result.leads_by_source == {"ad": 3, "utm": 1, "organic": 1}
    assert result.sales == 2
    assert result.revenue == Decimal("1334.56")
    assert result.conversion_rate == Decimal("40.0")
    by_key = {r.key: r for r in result.rows}
    assert (by_key["ad:111"].leads, by_key["ad:111"].sales) == (2, 1)
    assert by_key["ad:111"].revenue == Decimal("1234.56")
    assert by_key["utm:black-friday"].revenue == Decimal("100.00")


def test_period_is_in_the_org_timezone(app, make_org, db):
    """A lead at 01:00 UTC on the 2nd is still the 1st in São Paulo (UTC-3)."""
    from whatrack.models import Contact, Organization, Stage, Ticket
    from whatrack.services.reports import stats

    org_id, *_ = make_org()
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        stage = db.session.scalars(select(Stage)).first()
        contact = Contact(organization_id=org_id, wa_id="5511999990000")
        db.session.add(contact)
        db.session.flush()
        db.session.add(Ticket(organization_id=org_id, contact_id=contact.id, stage_id=stage.id,
                              created_at=datetime(2026, 11, 2, 1, 0, tzinfo=UTC)))
        db.session.commit()
        first = stats.compute_stats(org, stats.Period(date(2026, 11, 1), date(2026, 11, 1)))
        second = stats.compute_stats(org, stats.Period(date(2026, 11, 2), date(2026, 11, 2)))
    assert (first.leads, second.leads) == (1, 0)


@pytest.mark.endpoint("api.stats")
def test_api_stats_and_bad_dates(app, whatsapp_org, client, db):
    from whatrack.models import Organization
    from whatrack.services.accounts.apikeys import create_api_key

    org_id = _setup(app, whatsapp_org)
    with bind_org(org_id):
        key = create_api_key(db.session.get(Organization, org_id)).key
        db.session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    body = client.get("/api/v1/stats", headers=headers).get_json()
    assert body["revenue"] == "1334.56" and body["leads"] == 5 and body["sales"] == 2
    bad = ("from=2026-13-01", "from=2026-11-10&to=2026-11-01", "from=2020-01-01&to=2026-01-01")
    for query in bad:
        resp = client.get(f"/api/v1/stats?{query}", headers=headers)
        assert resp.status_code == 400, query
        assert resp.get_json()["error"]["code"] == "validation_error"


def test_dashboard_home_shows_revenue(app, whatsapp_org, client, login):
    _setup(app, whatsapp_org)
    login(whatsapp_org["email"])
    html = client.get("/dashboard").get_data(as_text=True)
    assert "1.334,56" in html
