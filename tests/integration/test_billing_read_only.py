"""Read-only organizations: every mutating route refused (walked from the URL map), reads
still answered, Meta's webhooks and conversion events of earlier sales still flowing."""

from __future__ import annotations

import time

import pytest
from flask import url_for
from markupsafe import escape
from sqlalchemy import func, select
from werkzeug.routing.converters import NumberConverter

from tests.fixtures_app import bearer
from tests.fixtures_capi import settled, wait_for
from tests.fixtures_whatsapp import text_message, webhook_body
from whatrack.blueprints.billing.guard import ALLOWED_WHEN_READ_ONLY, SAFE_METHODS
from whatrack.tenancy import MACHINE_BLUEPRINTS

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def _pt(app, text: str) -> str:
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale("pt_BR"):
        return str(escape(gettext(text)))  # as the page shows it


def _guarded_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every route that can change data and is not exempt."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            blueprint = rule.endpoint.rpartition(".")[0]
            methods = rule.methods & MUTATING
            if not methods or rule.endpoint in ALLOWED_WHEN_READ_ONLY \
                    or blueprint in MACHINE_BLUEPRINTS:
                continue
            # Placeholders: the guard answers before any view looks them up.
            values = {name: 1 if isinstance(conv, NumberConverter) else "x"
                      for name, conv in rule._converters.items()}
            url = url_for(rule.endpoint, **values)
            routes.extend((rule.endpoint, m, url) for m in sorted(methods))
    return routes


def test_the_allow_list_names_real_routes_each_with_a_reason(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(ALLOWED_WHEN_READ_ONLY) <= endpoints
    assert all(len(reason) > 10 for reason in ALLOWED_WHEN_READ_ONLY.values())
    assert SAFE_METHODS == {"GET", "HEAD", "OPTIONS"}


def test_every_mutating_route_is_refused_with_402_for_a_read_only_organization(
        app, make_org, make_api_key, client_as, expire_trial):
    """Walks the URL map: a route added later that can change data is covered (or fails)."""
    org_id, _user_id, email = make_org()
    _key_id, key = make_api_key(org_id)
    expire_trial(org_id)
    owner = client_as(email)
    routes = _guarded_routes(app)
    assert len(routes) >= 30  # the walk really walked (37 such routes when written)

    refused_wrongly = []
    for endpoint, method, url in routes:
        if url.startswith("/api/"):
            resp = owner.open(url, method=method, json={}, headers=bearer(key))
            ok = resp.status_code == 402 and resp.json["error"]["code"] == "payment_required"
        else:
            resp = owner.open(url, method=method, data={})
            ok = resp.status_code == 402 and "data-read-only-refusal" in resp.get_data(
                as_text=True)
        if not ok:
            refused_wrongly.append(f"{method} {url} ({endpoint}): {resp.status_code}")
    assert not refused_wrongly, "Routes not refused for a read-only organization:\n  " + \
        "\n  ".join(refused_wrongly)


@pytest.mark.endpoint("dashboard.home")
def test_a_route_added_later_is_guarded_without_doing_anything(
        make_app, make_org, expire_trial):
    from flask import Blueprint

    from tests.fixtures_app import AppTestConfig, Login

    fresh = make_app(AppTestConfig)
    later = Blueprint("later", __name__)
    calls = []

    @later.post("/dashboard/later-feature")
    def later_feature():
        calls.append(1)
        return "changed"

    fresh.register_blueprint(later)
    _org_id, _user_id, email = make_org()
    expire_trial(_org_id)
    client = fresh.test_client()
    assert Login(client)(email).status_code == 302

    assert client.post("/dashboard/later-feature").status_code == 402
    assert calls == []


def test_an_organization_in_good_standing_is_not_refused(app, make_org, client_as, set_billing):
    from datetime import timedelta

    from whatrack.models import utcnow

    org_id, _user_id, email = make_org()
    owner = client_as(email)
    assert owner.post("/dashboard/settings/stages", data={"name": "Retorno"}).status_code != 402
    set_billing(org_id, billing_state="past_due", past_due_since=utcnow() - timedelta(days=2))
    assert owner.post("/dashboard/settings/stages", data={"name": "Outro"}).status_code != 402
    set_billing(org_id, past_due_since=utcnow() - timedelta(days=8))  # grace of 7 days is over
    assert owner.post("/dashboard/settings/stages", data={"name": "Mais"}).status_code == 402


@pytest.mark.endpoint("api.create_sale", "api.list_tickets", "api.me")
def test_an_expired_key_creating_a_sale_gets_402_and_nothing_is_written(
        app, db, client, whatsapp_org, make_ticket, make_api_key, expire_trial):
    from whatrack.models import MetaConversionEvent, Sale
    from whatrack.tenancy import unscoped

    org_id = whatsapp_org["org_id"]
    ticket_id = make_ticket(org_id)
    _key_id, key = make_api_key(org_id)
    expire_trial(org_id)

    resp = client.post(f"/api/v1/tickets/{ticket_id}/sales", json={"value": "100.00"},
                       headers=bearer(key))

    assert resp.status_code == 402
    assert resp.json["error"]["code"] == "payment_required"
    assert resp.json["error"]["message"]
    with unscoped():
        assert db.session.scalar(select(func.count()).select_from(Sale)) == 0
        assert db.session.scalar(select(func.count()).select_from(MetaConversionEvent)) == 0
    # Reads keep answering.
    listed = client.get("/api/v1/tickets", headers=bearer(key))
    assert listed.status_code == 200 and [t["id"] for t in listed.json["data"]] == [ticket_id]
    me = client.get("/api/v1/me", headers=bearer(key))
    assert me.status_code == 200
    assert set(me.json["organization"]["billing"]) == {"state", "trial_ends_at", "paid_until"}
    assert me.json["organization"]["billing"]["state"] == "expired"


@pytest.mark.endpoint("tickets.move", "tickets.board_view")
def test_the_dashboard_refuses_a_move_in_pt_br_with_a_button_to_billing(
        app, db, whatsapp_org, make_ticket, client_as, expire_trial):
    from whatrack.models import Stage, Ticket
    from whatrack.tenancy import bind_org

    org_id = whatsapp_org["org_id"]
    ticket_id = make_ticket(org_id)
    with bind_org(org_id):
        stage_before = db.session.get(Ticket, ticket_id).stage_id
        other = db.session.scalars(select(Stage.id).where(Stage.id != stage_before)).first()
    expire_trial(org_id)
    owner = client_as(whatsapp_org["email"])

    resp = owner.post(f"/dashboard/tickets/{ticket_id}/move", data={"stage_id": other})

    assert resp.status_code == 402
    html = resp.get_data(as_text=True)
    assert _pt(app, "Your organization's trial or subscription has ended, so the dashboard is "
                    "read-only: you can see everything, but changes are paused until the plan "
                    "is paid. Incoming WhatsApp messages are still recorded.") in html
    assert 'href="/dashboard/billing"' in html
    db.session.expire_all()
    with bind_org(org_id):
        assert db.session.get(Ticket, ticket_id).stage_id == stage_before
    # Every page still shows, with the read-only banner.
    board = owner.get("/dashboard/tickets")
    assert board.status_code == 200
    assert 'data-billing-banner="read_only"' in board.get_data(as_text=True)
    # A script asking for JSON gets JSON.
    as_json = owner.post(f"/dashboard/tickets/{ticket_id}/move", data={"stage_id": other},
                         headers={"Accept": "application/json"})
    assert as_json.status_code == 402 and as_json.json["error"]["code"] == "payment_required"


def test_an_agent_of_a_read_only_organization_is_told_to_ask_the_owner(
        app, whatsapp_org, make_ticket, make_member, client_as, expire_trial):
    org_id = whatsapp_org["org_id"]
    ticket_id = make_ticket(org_id)
    agent = make_member(org_id, "agent")
    expire_trial(org_id)

    resp = client_as(agent.email).post(f"/dashboard/tickets/{ticket_id}/notes",
                                       data={"body": "oi"})

    assert resp.status_code == 402
    html = resp.get_data(as_text=True)
    assert _pt(app, "Ask the owner of your organization to subscribe.") in html
    assert 'href="/dashboard/billing"' not in html.split("data-read-only-refusal")[1]


@pytest.mark.endpoint("auth.logout", "auth.switch_org")
def test_logout_and_switching_organization_keep_working(
        app, make_org, make_member, client_as, expire_trial):
    expired_id, _u, email = make_org("Vencida")
    paid_id, _u2, _e2 = make_org("Em dia")
    make_member(paid_id, "admin", email=email)
    expire_trial(expired_id)
    client = client_as(email)

    assert client.post("/switch-org", data={"org_id": paid_id}).status_code == 302
    assert client.post("/dashboard/settings/stages", data={"name": "Nova"}).status_code != 402
    assert client.post("/logout").status_code == 302


def test_meta_webhooks_are_still_ingested_while_expired(
        app, db, whatsapp_org, post_webhook, worker, expire_trial):
    from whatrack.models import Message
    from whatrack.tenancy import bind_org

    org_id = whatsapp_org["org_id"]
    expire_trial(org_id)
    body = webhook_body(messages=[text_message("5511987654321", "wamid.EXPIRED1",
                                               int(time.time()), "Ainda querem me atender?")])

    assert post_webhook(body).status_code == 200
    worker.drain()

    with bind_org(org_id):
        [message] = db.session.scalars(select(Message)).all()
    assert (message.wamid, message.text) == ("wamid.EXPIRED1", "Ainda querem me atender?")


def test_a_sale_made_before_the_end_still_reaches_meta_after_it(
        app, db, meta_app, whatsapp_org, make_ticket, close_sale, connect_meta, worker,
        expire_trial):
    org_id = whatsapp_org["org_id"]
    response = close_sale(org_id, make_ticket(org_id))  # while trialing
    assert response.status_code == 201
    worker.drain()  # waits: no Meta connection yet
    expire_trial(org_id)

    connect_meta(org_id)  # an operator connects it afterwards; the outbox goes on
    worker.drain()

    [event] = wait_for(lambda: settled(org_id))
    assert event.status == "sent"
    assert list(meta_app.capi.accepted.values()) == [1]
