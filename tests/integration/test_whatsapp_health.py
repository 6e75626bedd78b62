"""Number health, refreshed daily; a token Meta refuses shows "Reconexão necessária"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures_whatsapp import FIXTURE_PHONE_ID, FIXTURE_WABA, GRAPH_TOKEN


def _account(db, org_id):
    from whatrack.models import WhatsAppAccount
    from whatrack.tenancy import bind_org

    db.session.expire_all()
    with bind_org(org_id):
        return db.session.scalars(db.select(WhatsAppAccount)).one()


def test_daily_check_stores_quality_limit_and_name_status(whatsapp_org, signup_app, db):
    from whatrack.tasks.maintenance import refresh_whatsapp_health

    signup_app.signup.numbers[FIXTURE_PHONE_ID].quality_rating = "YELLOW"
    refresh_whatsapp_health()
    account = _account(db, whatsapp_org["org_id"])
    assert (account.quality_rating, account.messaging_limit, account.name_status) == (
        "YELLOW", "TIER_2K", "APPROVED")
    assert account.health_checked_at is not None and account.throughput == "STANDARD"
    calls = len(signup_app.requests)
    refresh_whatsapp_health()  # checked today: nothing asked again
    assert len(signup_app.requests) == calls


def test_an_unknown_messaging_limit_field_does_not_break_the_check(whatsapp_org, signup_app,
                                                                  db):
    from whatrack.tasks.maintenance import refresh_whatsapp_health

    signup_app.signup.limit_field_supported = False
    refresh_whatsapp_health()
    account = _account(db, whatsapp_org["org_id"])
    assert account.quality_rating == "GREEN" and account.messaging_limit is None
    assert not account.needs_reconnect


def test_a_refused_token_marks_the_number_for_reconnection(whatsapp_org, signup_app, db,
                                                           client, login):
    from whatrack.tasks.maintenance import refresh_whatsapp_health

    signup_app.valid_tokens.discard(GRAPH_TOKEN)
    refresh_whatsapp_health()
    account = _account(db, whatsapp_org["org_id"])
    assert account.needs_reconnect and "Invalid OAuth access token" in account.health_error
    login(whatsapp_org["email"])
    page = client.get("/dashboard/settings/whatsapp").get_data(as_text=True)
    assert "Reconexão necessária" in page
    # No longer asked every day: only a new signup can fix it.
    assert account.id not in _due()


def test_meta_down_keeps_the_error_and_asks_again_next_run(whatsapp_org, signup_app, db):
    from whatrack.models import utcnow
    from whatrack.tasks.maintenance import refresh_whatsapp_health

    signup_app.fail(f"/v25.0/{FIXTURE_PHONE_ID}", 503, times=1)
    refresh_whatsapp_health()
    account = _account(db, whatsapp_org["org_id"])
    assert account.health_error and not account.needs_reconnect
    assert account.health_checked_at is None
    refresh_whatsapp_health()
    account = _account(db, whatsapp_org["org_id"])
    assert account.quality_rating == "GREEN" and account.health_error is None
    assert account.health_checked_at > utcnow() - timedelta(minutes=1)


def test_health_is_scheduled(app):
    from whatrack.tasks.maintenance import refresh_whatsapp_health
    from whatrack.tasks.schedule import schedule

    assert (refresh_whatsapp_health, 3600.0) in schedule()


@pytest.mark.endpoint("settings.whatsapp_refresh_health")
def test_refresh_button_and_a_new_signup_clear_reconnection(whatsapp_org, signup_app, db,
                                                            client, login):
    from whatrack.tasks.maintenance import refresh_whatsapp_health

    signup_app.valid_tokens.discard(GRAPH_TOKEN)
    refresh_whatsapp_health()
    login(whatsapp_org["email"])
    code = signup_app.signup.issue_code(FIXTURE_WABA, FIXTURE_PHONE_ID)
    state = client.post("/dashboard/settings/whatsapp/onboardings", json={
        "code": code, "event": "FINISH", "waba_id": FIXTURE_WABA,
        "phone_number_id": FIXTURE_PHONE_ID}).get_json()
    assert state["status"] == "connected", state
    account = _account(db, whatsapp_org["org_id"])
    assert not account.needs_reconnect and account.token != GRAPH_TOKEN
    response = client.post(f"/dashboard/settings/whatsapp/{account.id}/health")
    assert response.status_code == 302
    assert _account(db, whatsapp_org["org_id"]).health_error is None


def _due():
    from whatrack.services.whatsapp import health

    return health.accounts_due_for_health_check()
