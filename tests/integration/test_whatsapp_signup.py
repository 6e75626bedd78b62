"""Embedded Signup completion: standard and coexistence, each failing step, resumption."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.graph import meta_error
from tests.fixtures_signup import BUSINESS, PHONE_ID, WABA

V = "/v25.0"


def _post(client, code: str | None, event: str = "FINISH", waba: str = WABA,
          phone: str | None = PHONE_ID) -> Any:
    body = {"code": code, "event": event, "waba_id": waba, "business_id": BUSINESS}
    if phone:
        body["phone_number_id"] = phone
    return client.post("/dashboard/settings/whatsapp/onboardings", json=body,
                       headers={"Accept": "application/json"})


def _retry(client, onboarding_id: int, code: str | None = None) -> Any:
    return client.post(f"/dashboard/settings/whatsapp/onboardings/{onboarding_id}/retry",
                       json={"code": code} if code else {},
                       headers={"Accept": "application/json"})


@pytest.fixture
def owner(make_org, client_as):
    org_id, _user_id, email = make_org("Clínica Sorriso")
    return {"org_id": org_id, "email": email, "client": client_as(email)}


def _account(db, org_id):
    from whatrack.models import WhatsAppAccount
    from whatrack.tenancy import bind_org

    db.session.expire_all()
    with bind_org(org_id):
        return db.session.scalars(db.select(WhatsAppAccount)).one()


def _onboarding(db, org_id):
    from whatrack.models import WhatsAppOnboarding
    from whatrack.tenancy import bind_org

    db.session.expire_all()
    with bind_org(org_id):
        return db.session.scalars(db.select(WhatsAppOnboarding)).one()


@pytest.mark.endpoint("settings.whatsapp_onboard")
def test_standard_signup_connects_the_number(owner, signup_app, db):
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    response = _post(owner["client"], code)
    assert response.status_code == 200, response.get_data(as_text=True)
    state = response.get_json()
    assert state["status"] == "connected"
    assert [s["name"] for s in state["steps"]] == [
        "check_number", "exchange_code", "subscribe_app", "register_number", "read_number",
        "save_account"]
    assert {s["state"] for s in state["steps"]} == {"done"}

    account = _account(db, owner["org_id"])
    [token] = [t for t, grants in signup_app.signup.grants.items() if WABA in grants]
    assert account.token == token and token not in account.token_encrypted
    assert account.display_phone_number == "5511940001234"
    assert account.verified_name == "Clínica Sorriso" and account.business_id == BUSINESS
    assert (account.quality_rating, account.name_status, account.messaging_limit) == (
        "GREEN", "APPROVED", "TIER_2K")
    assert account.coexistence is False and account.status == "connected"
    assert WABA in signup_app.signup.subscribed
    onboarding = _onboarding(db, owner["org_id"])
    pin = signup_app.signup.numbers[PHONE_ID].registered_pin
    assert pin and len(pin) == 6 and onboarding.pin == pin and pin not in onboarding.pin_encrypted
    assert onboarding.token_encrypted is None  # the account holds the token now
    [register] = signup_app.requests_to(f"{V}/{PHONE_ID}/register")
    assert register.json() == {"messaging_product": "whatsapp", "pin": pin}
    [exchange] = signup_app.requests_to(f"{V}/oauth/access_token")
    assert exchange.args["code"] == code and "redirect_uri" not in exchange.args
    assert "Authorization" not in exchange.headers

    page = owner["client"].get("/dashboard/settings/whatsapp").get_data(as_text=True)
    assert "+5511940001234" in page and "Conectado" in page


def test_coexistence_signup_never_registers_and_starts_both_syncs(owner, signup_app, db):
    signup_app.signup.numbers[PHONE_ID].on_biz_app = True
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    # Meta's coexistence FINISH may carry only the WABA: the number is looked up.
    state = _post(owner["client"], code, event="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING",
                  phone=None).get_json()
    assert state["status"] == "connected", state
    assert "register_number" not in [s["name"] for s in state["steps"]]
    assert signup_app.requests_to(f"{V}/{PHONE_ID}/register") == []
    assert signup_app.signup.syncs == [(PHONE_ID, "smb_app_state_sync"), (PHONE_ID, "history")]
    account = _account(db, owner["org_id"])
    assert account.coexistence is True and account.phone_number_id == PHONE_ID
    onboarding = _onboarding(db, owner["org_id"])
    assert onboarding.pin_encrypted is None
    assert onboarding.steps["sync_history"]["request_id"] == "FAKE_REQ_2"


@pytest.mark.endpoint("settings.whatsapp_retry")
def test_coexistence_resumes_after_meta_was_down_while_reading_the_number(owner, signup_app,
                                                                          db):
    signup_app.signup.numbers[PHONE_ID].on_biz_app = True
    signup_app.fail(f"{V}/{PHONE_ID}", 503, meta_error("Service temporarily unavailable", 2))
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    state = _post(owner["client"], code, event="FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING")\
        .get_json()
    assert (state["error"]["step"], state["error"]["reason"]) == ("read_number", "unavailable")
    assert "minutos" in state["error"]["message"]
    assert signup_app.signup.syncs == []  # nothing synced before the number is saved
    done = _retry(owner["client"], state["id"]).get_json()
    assert done["status"] == "connected"
    assert len(signup_app.requests_to(f"{V}/oauth/access_token")) == 1
    assert len(signup_app.requests_to(f"{V}/{WABA}/subscribed_apps")) == 1
    assert len(signup_app.signup.syncs) == 2


def test_an_expired_code_asks_for_the_window_again_and_a_new_code_resumes(owner, signup_app,
                                                                        db):
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    signup_app.signup.expired_codes.add(code)
    state = _post(owner["client"], code).get_json()
    assert state["status"] == "failed"
    error = state["error"]
    assert error["step"] == "exchange_code" and error["reason"] == "code_expired"
    assert error["restart_required"] is True
    assert "expirou" in error["message"]
    assert error["fbtrace_id"] == "AfakeTrace100" and error["subcode"] == 36007
    # A retry without a new code cannot exchange anything.
    again = _retry(owner["client"], state["id"]).get_json()
    assert again["error"]["reason"] == "code_missing" and again["error"]["restart_required"]

    fresh = signup_app.signup.issue_code(WABA, PHONE_ID)
    resumed = _post(owner["client"], fresh).get_json()
    assert resumed["id"] == state["id"] and resumed["status"] == "connected"


def test_a_reused_code_is_reported(owner, signup_app):
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    signup_app.signup.codes.pop(code)
    signup_app.signup.used_codes.add(code)
    error = _post(owner["client"], code).get_json()["error"]
    assert (error["step"], error["reason"]) == ("exchange_code", "code_used")


@pytest.mark.parametrize("step, path, status, body, reason, text", [
    ("subscribe_app", f"{V}/{WABA}/subscribed_apps", 403,
     meta_error("(#200) Permissions error", 200), "permission", "permissão"),
    ("register_number", f"{V}/{PHONE_ID}/register", 400,
     meta_error("(#133016) Account register deregister rate limit exceeded", 133016),
     "register_limit", "72 horas"),
    ("register_number", f"{V}/{PHONE_ID}/register", 400,
     meta_error("(#100) Invalid parameter", 100), "graph", "(#100) Invalid parameter"),
])
def test_a_failed_step_is_named_and_a_retry_never_repeats_a_finished_step(
        owner, signup_app, db, step, path, status, body, reason, text):
    signup_app.fail(path, status, body)
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    state = _post(owner["client"], code).get_json()
    assert state["status"] == "failed"
    assert state["error"]["step"] == step and state["error"]["reason"] == reason
    assert text in state["error"]["message"]
    assert state["error"]["restart_required"] is False
    assert state["error"]["fbtrace_id"] == body["error"]["fbtrace_id"]
    states = {s["name"]: s["state"] for s in state["steps"]}
    assert states[step] == "failed" and states["exchange_code"] == "done"
    counts = {p: len(signup_app.requests_to(p)) for p in (
        f"{V}/oauth/access_token", f"{V}/{WABA}/subscribed_apps")}

    done = _retry(owner["client"], state["id"]).get_json()
    assert done["status"] == "connected", done
    assert len(signup_app.requests_to(f"{V}/oauth/access_token")) == 1  # a code works once
    if step != "subscribe_app":
        assert len(signup_app.requests_to(f"{V}/{WABA}/subscribed_apps")) == \
            counts[f"{V}/{WABA}/subscribed_apps"]
    register_posts = signup_app.requests_to(f"{V}/{PHONE_ID}/register")
    assert len(register_posts) == (2 if step == "register_number" else 1)
    # The PIN chosen at the start is the one retried: Meta may have taken the first.
    assert len({r.json()["pin"] for r in register_posts}) == 1
    assert _account(db, owner["org_id"]).status == "connected"


def test_a_number_of_another_organization_is_refused_before_the_code_is_spent(
        owner, signup_app, whatsapp_org, db):
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    state = _post(owner["client"], code).get_json()
    assert state["error"]["step"] == "check_number"
    assert state["error"]["reason"] == "number_taken"
    assert "outra organização" in state["error"]["message"]
    assert signup_app.requests_to(f"{V}/oauth/access_token") == []
    assert code in signup_app.signup.codes  # still usable


def test_bad_input_answers_422_and_stores_nothing(owner, signup_app, db):
    from whatrack.models import WhatsAppOnboarding

    client = owner["client"]
    for body in ({"code": "x", "waba_id": "abc", "phone_number_id": PHONE_ID},
                 {"code": "x", "waba_id": WABA},
                 {"code": "x", "waba_id": WABA, "phone_number_id": PHONE_ID, "event": "NOPE"},
                 {"code": "", "waba_id": WABA, "phone_number_id": PHONE_ID},
                 {"code": ["x"], "waba_id": WABA, "phone_number_id": PHONE_ID}):
        response = client.post("/dashboard/settings/whatsapp/onboardings", json=body,
                               headers={"Accept": "application/json"})
        assert response.status_code == 422, (body, response.get_data(as_text=True))
        assert response.get_json()["error"]["message"]
    response = client.post("/dashboard/settings/whatsapp/onboardings", data="not json",
                           headers={"Accept": "application/json"})
    assert response.status_code == 422
    from whatrack.tenancy import bind_org

    db.session.expire_all()
    with bind_org(owner["org_id"]):
        assert db.session.scalars(db.select(WhatsAppOnboarding)).all() == []


def test_another_organization_gets_404_and_agents_403(owner, signup_app, make_org, client_as,
                                                      make_member, db):
    signup_app.fail(f"{V}/{WABA}/subscribed_apps", 500, meta_error("down", 2))
    state = _post(owner["client"], signup_app.signup.issue_code(WABA, PHONE_ID)).get_json()
    _other_id, _uid, other_email = make_org("Outra")
    other = client_as(other_email)
    assert _retry(other, state["id"]).status_code == 404
    agent = make_member(owner["org_id"], "agent")
    agent_client = client_as(agent.email)
    assert agent_client.get("/dashboard/settings/whatsapp").status_code == 403
    assert _retry(agent_client, state["id"]).status_code == 403
    assert _onboarding(db, owner["org_id"]).status == "failed"


def test_unconfigured_server_explains_without_naming_settings(owner, app, db):
    previous = app.config.get("META_CONFIG_ID")
    app.config["META_CONFIG_ID"] = None
    try:
        page = owner["client"].get("/dashboard/settings/whatsapp").get_data(as_text=True)
    finally:
        app.config["META_CONFIG_ID"] = previous
    assert "ainda não está disponível" in page
    assert "META_" not in page and "data-wa-start" not in page


def test_page_loads_the_configured_sdk_and_allows_it_in_the_csp(owner, signup_app):
    response = owner["client"].get("/dashboard/settings/whatsapp")
    page = response.get_data(as_text=True)
    assert "Conectar WhatsApp" in page and "whatsapp_signup.js" in page
    assert signup_app.url in response.headers["Content-Security-Policy"]
    assert "https://connect.facebook.net" in response.headers["Content-Security-Policy"]


def test_dashboard_points_to_the_onboarding_page_until_a_number_is_connected(owner,
                                                                            signup_app):
    home = owner["client"].get("/dashboard").get_data(as_text=True)
    assert 'data-first-step="whatsapp"' in home
    _post(owner["client"], signup_app.signup.issue_code(WABA, PHONE_ID))
    home = owner["client"].get("/dashboard").get_data(as_text=True)
    assert 'data-first-step="whatsapp"' not in home


@pytest.mark.endpoint("settings.whatsapp_signup_event")
def test_cancel_events_are_logged_not_stored(owner, signup_app, caplog):
    response = owner["client"].post("/dashboard/settings/whatsapp/signup-events", json={
        "event": "CANCEL", "current_step": "PHONE_NUMBER_SETUP", "session_id": "f34b51dab5e0"})
    assert response.status_code == 204
    assert "PHONE_NUMBER_SETUP" in caplog.text and "f34b51dab5e0" in caplog.text


@pytest.mark.endpoint("settings.whatsapp_disconnect")
def test_disconnect_unsubscribes_and_forgets_the_token(owner, signup_app, db):
    _post(owner["client"], signup_app.signup.issue_code(WABA, PHONE_ID))
    account = _account(db, owner["org_id"])
    response = owner["client"].post(f"/dashboard/settings/whatsapp/{account.id}/disconnect")
    assert response.status_code == 302
    account = _account(db, owner["org_id"])
    assert account.token_encrypted is None and account.status == "disconnected"
    assert WABA not in signup_app.signup.subscribed
    [delete] = [r for r in signup_app.requests_to(f"{V}/{WABA}/subscribed_apps")
                if r.method == "DELETE"]
    assert delete.headers["Authorization"].startswith("Bearer EAAfakeBiz")
    # A new signup connects it again.
    state = _post(owner["client"], signup_app.signup.issue_code(WABA, PHONE_ID)).get_json()
    assert state["status"] == "connected"
    assert _account(db, owner["org_id"]).status == "connected"


def test_disconnect_of_another_organizations_number_is_404(owner, signup_app, whatsapp_org):
    response = owner["client"].post(
        f"/dashboard/settings/whatsapp/{whatsapp_org['account_id']}/disconnect")
    assert response.status_code == 404
