"""Connecting Facebook: the OAuth round trip against the fake, tokens, datasets, settings."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from tests.fixtures_capi import APP_ID, DATASET_ID, events_of
from tests.fixtures_whatsapp import FIXTURE_WABA, GRAPH_TOKEN
from whatrack.tenancy import bind_org, unscoped


def _connection(db, org_id):
    from sqlalchemy import select

    from whatrack.models import MetaConnection

    db.session.rollback()
    with unscoped():
        return db.session.scalars(select(MetaConnection).where(
            MetaConnection.organization_id == org_id)).first()


def _login_round_trip(client, fake):
    """Start the login, let the fake dialog answer, follow it back to our callback."""
    start = client.post("/dashboard/settings/meta/connect")
    assert start.status_code == 302, start.get_data(as_text=True)
    dialog = start.headers["Location"]
    assert dialog.startswith(f"{fake.url}/v25.0/dialog/oauth?")
    answer = requests.get(dialog, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    callback = urlsplit(answer.headers["Location"])
    assert callback.path == "/dashboard/settings/meta/callback"
    return client.get(f"{callback.path}?{callback.query}"), parse_qs(urlsplit(dialog).query)


@pytest.mark.endpoint("settings.meta_connect", "settings.meta_callback", "settings.meta")
def test_login_stores_a_long_lived_token_and_uses_the_waba_dataset(
        meta_app, whatsapp_org, client, login, db):
    meta_app.login.waba_datasets[FIXTURE_WABA] = [{"id": DATASET_ID, "name": "Sorriso Event"}]
    login(whatsapp_org["email"])
    done, dialog = _login_round_trip(client, meta_app)

    assert done.status_code == 302 and done.headers["Location"].endswith("/dashboard/settings/meta")
    assert dialog["client_id"] == [APP_ID]
    assert dialog["response_type"] == ["code"]
    assert dialog["state"][0]  # Authlib's per-login nonce, checked on the way back
    assert set(dialog["scope"][0].split(",")) == {
        "ads_read", "ads_management", "business_management", "whatsapp_business_management",
        "whatsapp_business_messaging", "whatsapp_business_manage_events"}
    # Short-lived code exchange, then the long-lived exchange, then debug_token.
    issued = meta_app.login.issued
    assert [t.kind for t in issued.values()] == ["short", "long"]
    long_token = next(t.token for t in issued.values() if t.kind == "long")
    exchange = meta_app.requests_to("/v25.0/oauth/access_token")
    assert [r.args.get("grant_type") for r in exchange] == [None, "fb_exchange_token"]
    [debug] = meta_app.requests_to("/v25.0/debug_token")
    assert debug.args["input_token"] == long_token
    assert debug.headers["Authorization"] == f"Bearer {APP_ID}|test-app-secret"

    conn = _connection(db, whatsapp_org["org_id"])
    assert conn.token == long_token and conn.token_encrypted != long_token
    assert long_token not in conn.token_encrypted
    assert conn.token_expires_at - conn.connected_at > timedelta(days=59)
    assert conn.fb_user_id == "10000000000000001" and conn.fb_user_name == "Ana Souza"
    assert "whatsapp_business_manage_events" in conn.scopes
    assert (conn.dataset_id, conn.dataset_source) == (DATASET_ID, "waba")
    assert meta_app.login.created_datasets == []

    page = client.get("/dashboard/settings/meta").get_data(as_text=True)
    assert "Ana Souza" in page and DATASET_ID in page


def test_login_creates_the_waba_dataset_when_none_exists(meta_app, whatsapp_org, client, login,
                                                         db):
    login(whatsapp_org["email"])
    _login_round_trip(client, meta_app)
    [created] = meta_app.login.created_datasets
    [post] = [r for r in meta_app.requests_to(f"/v25.0/{FIXTURE_WABA}/dataset")
              if r.method == "POST"]
    assert post.json()["dataset_name"].startswith("Clínica Sorriso")
    assert _connection(db, whatsapp_org["org_id"]).dataset_id == created


@pytest.mark.endpoint("settings.meta_callback")
def test_callback_with_a_forged_state_connects_nothing(meta_app, whatsapp_org, client, login,
                                                       db):
    login(whatsapp_org["email"])
    start = client.post("/dashboard/settings/meta/connect")
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    response = client.get("/dashboard/settings/meta/callback",
                          query_string={"code": query["code"][0], "state": "forged"})
    assert response.status_code == 302
    assert _connection(db, whatsapp_org["org_id"]) is None
    assert meta_app.requests_to("/v25.0/oauth/access_token") == []


def test_cancelled_login_says_why(meta_app, whatsapp_org, client, login, db):
    meta_app.login.deny = True
    login(whatsapp_org["email"])
    done, _dialog = _login_round_trip(client, meta_app)
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Permissions error" in page
    assert _connection(db, whatsapp_org["org_id"]) is None


def test_missing_scopes_and_expiry_warning_show_in_the_health_box(meta_app, whatsapp_org,
                                                                  client, login, db, app):
    from flask_babel import gettext

    from whatrack.models import utcnow

    meta_app.login.granted_scopes = ["ads_read", "public_profile"]
    login(whatsapp_org["email"])
    _login_round_trip(client, meta_app)
    page = client.get("/dashboard/settings/meta").get_data(as_text=True)
    assert "whatsapp_business_manage_events" in page and "ads_management" in page

    with app.test_request_context():
        reconnect = gettext("Reconnect Facebook")
    assert reconnect not in client.get("/dashboard/tickets").get_data(as_text=True)
    with bind_org(whatsapp_org["org_id"]):
        conn = _connection(db, whatsapp_org["org_id"])
        conn.token_expires_at = utcnow() + timedelta(days=5)
        db.session.commit()
    page = client.get("/dashboard/tickets").get_data(as_text=True)
    assert reconnect in page and 'href="/dashboard/settings/meta"' in page


@pytest.mark.endpoint("settings.meta", "settings.meta_connect", "settings.meta_disconnect")
def test_agents_cannot_manage_the_connection(meta_app, whatsapp_org, make_member, client_as):
    agent = make_member(whatsapp_org["org_id"], "agent")
    client = client_as(agent.email)
    assert client.get("/dashboard/settings/meta").status_code == 403
    assert client.post("/dashboard/settings/meta/connect").status_code == 403
    assert client.post("/dashboard/settings/meta/disconnect").status_code == 403


@pytest.mark.endpoint("settings.meta_disconnect")
def test_disconnect_deletes_the_token_and_new_events_wait(meta_app, whatsapp_org, connect_meta,
                                                          make_ticket, close_sale, client,
                                                          login, db):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    login(whatsapp_org["email"])
    assert client.post("/dashboard/settings/meta/disconnect").status_code == 302
    conn = _connection(db, org_id)
    assert conn.token_encrypted is None and conn.dataset_id == DATASET_ID
    body = close_sale(org_id, make_ticket(org_id)).get_json()
    assert body["conversion_event"]["reason"] == "conectar Facebook"


@pytest.mark.endpoint("settings.meta_datasets", "settings.meta_choose_dataset")
def test_choosing_an_ad_account_pixel(meta_app, whatsapp_org, connect_meta, client, login, db):
    meta_app.login.ad_accounts = [{"id": "act_600000000000001", "name": "Sorriso Ads"}]
    meta_app.login.pixels["act_600000000000001"] = [{"id": "700000000000001",
                                                     "name": "Site pixel"}]
    connect_meta(whatsapp_org["org_id"])
    login(whatsapp_org["email"])
    page = client.get("/dashboard/settings/meta/datasets").get_data(as_text=True)
    assert "700000000000001" in page and "Site pixel" in page
    response = client.post("/dashboard/settings/meta/dataset", data={
        "dataset_id": "700000000000001", "dataset_name": "Site pixel", "source": "ad_account"})
    assert response.status_code == 302
    conn = _connection(db, whatsapp_org["org_id"])
    assert (conn.dataset_id, conn.dataset_source) == ("700000000000001", "ad_account")
    bad = client.post("/dashboard/settings/meta/dataset", data={"dataset_id": "x; drop",
                                                                 "source": "evil"})
    assert bad.status_code == 302 and _connection(db, whatsapp_org["org_id"]).dataset_id == \
        "700000000000001"


@pytest.mark.endpoint("settings.meta_settings")
def test_capi_settings_form_saves_lead_and_stage_choices(meta_app, whatsapp_org, client, login,
                                                         db):
    from whatrack.models import Stage

    with bind_org(whatsapp_org["org_id"]):
        scheduled = db.session.scalars(db.select(Stage).where(Stage.name == "Agendado")).one()
        stage_id = scheduled.id
    login(whatsapp_org["email"])
    response = client.post("/dashboard/settings/meta/settings", data={
        "lead_event_name": "QualifiedLead", f"stage_{stage_id}": "LeadSubmitted",
        "test_event_code": "TEST123"})  # lead_event_enabled unchecked
    assert response.status_code == 302
    conn = _connection(db, whatsapp_org["org_id"])
    assert (conn.lead_event_enabled, conn.lead_event_name) == (False, "QualifiedLead")
    assert conn.stage_events == {str(stage_id): "LeadSubmitted"}
    assert conn.test_event_code == "TEST123"
    # Plain "Lead" (refused by Meta with 2804066) cannot be chosen.
    client.post("/dashboard/settings/meta/settings", data={"lead_event_name": "Lead"})
    assert _connection(db, whatsapp_org["org_id"]).lead_event_name == "QualifiedLead"


def test_meta_connect_cli_stores_the_connection_and_releases_events(
        meta_app, app, whatsapp_org, make_ticket, close_sale, worker, db):
    from tests.fixtures_capi import settled, wait_for

    org_id = whatsapp_org["org_id"]
    close_sale(org_id, make_ticket(org_id))
    slug = _slug(db, org_id)
    result = app.test_cli_runner().invoke(args=[
        "meta", "connect", "--org", slug, "--token", GRAPH_TOKEN, "--dataset-id", DATASET_ID,
        "--test-event-code", "TEST9"])
    assert result.exit_code == 0, result.output
    assert DATASET_ID in result.output
    worker.drain()
    [event] = wait_for(lambda: settled(org_id))
    assert event.status == "sent"
    bad = app.test_cli_runner().invoke(args=["meta", "connect", "--org", slug, "--token", "t",
                                             "--dataset-id", "not-a-number"])
    assert bad.exit_code != 0 and "Error" in bad.output
    missing = app.test_cli_runner().invoke(args=["meta", "connect", "--org", "nope", "--token",
                                                 "t", "--dataset-id", "1"])
    assert missing.exit_code != 0


def test_capi_resend_cli_requeues_one_event(meta_app, app, whatsapp_org, make_ticket,
                                            close_sale, connect_meta, worker, db):
    from tests.fixtures_capi import settled, wait_for

    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    meta_app.capi.poison_clids.add("bad")
    close_sale(org_id, make_ticket(org_id, clid="bad"))
    worker.drain()
    [event] = wait_for(lambda: settled(org_id))
    assert event.status == "failed"
    meta_app.capi.poison_clids.clear()  # Meta fixed on its side; resend
    result = app.test_cli_runner().invoke(args=["capi", "resend", "--event", str(event.id)])
    assert result.exit_code == 0, result.output
    worker.drain()
    [event] = wait_for(lambda: settled(org_id))
    assert event.status == "sent" and event.event_id.endswith(":Purchase")
    assert meta_app.capi.accepted[event.event_id] == 1
    again = app.test_cli_runner().invoke(args=["capi", "resend", "--event", str(event.id)])
    assert again.exit_code != 0  # already sent
    assert app.test_cli_runner().invoke(args=["capi", "resend", "--event", "999"]).exit_code != 0
    assert len(events_of(org_id)) == 1


def _slug(db, org_id):
    from whatrack.models import Organization

    return db.session.get(Organization, org_id).slug


def test_callback_survives_meta_being_down_or_odd_answers(meta_app, whatsapp_org, client, login,
                                                           db):
    from tests.fakes.graph import meta_error

    login(whatsapp_org["email"])
    for failure in ((500, "<html>down</html>"), (400, meta_error("bad code", 100, 36009)),
                    (200, {"no_token": True})):
        meta_app.fail("/v25.0/oauth/access_token", *failure)
        done, _dialog = _login_round_trip(client, meta_app)
        assert done.status_code == 302
        assert done.headers["Location"].endswith("/dashboard/settings/meta")
    assert _connection(db, whatsapp_org["org_id"]) is None
    assert client.get("/dashboard/settings/meta/callback").status_code == 302  # no state
    assert client.get("/dashboard/settings/meta/callback?state=x&error=access_denied"
                      ).status_code == 302


def test_the_daily_token_check_finds_a_revoked_token(meta_app, whatsapp_org, make_org,
                                                     connect_meta, client, login, db):
    from whatrack.models import MetaConnection, utcnow
    from whatrack.tasks.maintenance import check_meta_tokens

    org_id = whatsapp_org["org_id"]
    fresh_org = make_org("Clínica Recente")[0]
    connect_meta(org_id)
    connect_meta(fresh_org)
    with unscoped():
        for conn in db.session.scalars(select(MetaConnection)):
            recent = conn.organization_id == fresh_org
            conn.token_checked_at = utcnow() - timedelta(hours=1 if recent else 48)
        db.session.commit()
    meta_app.valid_tokens.discard(GRAPH_TOKEN)  # revoked in Business Settings
    asked_before = len(meta_app.requests_to("/v25.0/debug_token"))

    check_meta_tokens.fn()

    # Only the connection nobody asked about for a day.
    assert len(meta_app.requests_to("/v25.0/debug_token")) == asked_before + 1
    db.session.expire_all()
    with bind_org(org_id):
        conn = db.session.scalars(select(MetaConnection)).one()
        assert conn.needs_reconnect and conn.token_error == "debug_token: is_valid=false"
        assert conn.token_checked_at > utcnow() - timedelta(minutes=1)
    login(whatsapp_org["email"])
    assert "Reconexão necessária" in client.get("/dashboard/settings/meta").get_data(as_text=True)
    check_meta_tokens.fn()  # an invalid token is not asked about again
    assert len(meta_app.requests_to("/v25.0/debug_token")) == asked_before + 1
