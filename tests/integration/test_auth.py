"""Signup, login, throttling, remember-me, logout, password change and ``next=`` redirects."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.fixtures_app import PASSWORD, Login

SIGNUP = {"org_name": "Clínica Sorriso", "name": "Ana", "email": "ana@example.com",
          "password": "senha-forte-123"}


def _count(db, model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def _nothing_created(db) -> bool:
    from whatrack.models import Membership, Organization, User

    return (_count(db, Organization), _count(db, User), _count(db, Membership)) == (0, 0, 0)


# --- signup ----------------------------------------------------------------------------


@pytest.mark.endpoint("auth.signup")
def test_signup_creates_trialing_org_with_owner_and_logs_in(client, db):
    from whatrack.models import Membership, Organization, User, utcnow

    resp = client.post("/signup", data=SIGNUP)

    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/dashboard")
    org = db.session.scalars(select(Organization)).one()
    user = db.session.scalars(select(User)).one()
    membership = db.session.scalars(select(Membership)).one()
    assert (org.name, org.slug, org.billing_state) == ("Clínica Sorriso", "clinica-sorriso",
                                                       "trialing")
    assert abs(org.trial_ends_at - (utcnow() + timedelta(days=14))) < timedelta(minutes=1)
    assert (user.email, user.name) == ("ana@example.com", "Ana")
    assert user.password_hash != SIGNUP["password"] and user.check_password(SIGNUP["password"])
    assert (membership.organization_id, membership.user_id, membership.role) == (
        org.id, user.id, "owner")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Clínica Sorriso" in page.get_data(as_text=True)


def test_signup_rejects_taken_email_case_insensitively_and_creates_nothing(client, db, make_org):
    from whatrack.models import Membership, Organization, User

    make_org(email="ana@example.com")

    resp = client.post("/signup", data={**SIGNUP, "email": "ANA@Example.COM"})

    assert resp.status_code == 422
    assert "Este e-mail já está cadastrado." in resp.get_data(as_text=True)
    assert [_count(db, m) for m in (Organization, User, Membership)] == [1, 1, 1]
    assert client.get("/dashboard").status_code == 302  # not logged in


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"password": "curta-123"}, "A senha deve ter pelo menos 10 caracteres."),
        ({"org_name": ""}, "Este campo é obrigatório."),
        ({"name": "   "}, "Este campo é obrigatório."),
        ({"email": ""}, "Este campo é obrigatório."),
        ({"password": ""}, "Este campo é obrigatório."),
        ({"email": "ana.example.com"}, "Informe um e-mail válido."),
        ({"email": "ana@"}, "Informe um e-mail válido."),
    ],
    ids=["weak-password", "no-org-name", "blank-name", "no-email", "no-password",
         "email-without-at", "email-without-domain"],
)
def test_signup_bad_input_rerenders_form_in_pt_br_and_creates_nothing(
    client, db, override, message
):
    resp = client.post("/signup", data={**SIGNUP, **override})

    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert message in body
    assert 'name="org_name"' in body  # the form itself came back, with the user's input
    assert _nothing_created(db)


def test_signup_form_is_in_portuguese(client):
    body = client.get("/signup").get_data(as_text=True)

    assert "Crie sua conta" in body or "Criar conta" in body
    assert "Start your 14-day free trial" not in body


# --- login -----------------------------------------------------------------------------


@pytest.mark.endpoint("auth.login", "dashboard.home")
def test_login_with_right_password_starts_session(client, make_org, login):
    _org_id, _user_id, email = make_org()

    resp = login(email.upper())

    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/dashboard")
    assert client.get("/dashboard").status_code == 200


def test_login_wrong_password_and_unknown_email_get_the_same_generic_401(client, make_org, login):
    _org_id, _user_id, email = make_org()

    wrong_password = login(email, "not-the-password")
    unknown_email = login("nobody@example.com", "not-the-password")

    assert wrong_password.status_code == unknown_email.status_code == 401
    generic = "E-mail ou senha inválidos."
    assert generic in wrong_password.get_data(as_text=True)
    assert generic in unknown_email.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_login_is_throttled_after_five_failures_for_one_account(client, make_org, login):
    _org_id, _user_id, email = make_org()
    for _ in range(5):
        assert login(email, "wrong-password").status_code == 401

    resp = login(email)  # even the right password now waits

    assert resp.status_code == 429
    assert "Muitas tentativas" in resp.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_login_is_throttled_per_ip_across_accounts(app, make_org):
    _org_id, _user_id, email = make_org()
    office = app.test_client()
    office.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    limit = app.config["LOGIN_MAX_FAILURES"] * 4
    for n in range(limit):
        assert Login(office)(f"guess{n}@example.com", "wrong-password").status_code == 401

    assert Login(office)(email).status_code == 429
    assert Login(elsewhere)(email).status_code == 302  # the account itself is not locked


def test_login_without_remember_sets_no_remember_cookie(client, make_org, login):
    _org_id, _user_id, email = make_org()

    resp = login(email)

    assert "remember_token=" not in " ".join(resp.headers.getlist("Set-Cookie"))
    assert client.get_cookie("remember_token") is None


def test_login_with_remember_me_sets_a_remember_cookie_that_outlives_the_session(
    app, client, make_org, login
):
    _org_id, _user_id, email = make_org()

    resp = login(email, remember="y")

    cookies = resp.headers.getlist("Set-Cookie")
    remember = next(c for c in cookies if c.startswith("remember_token="))
    assert "HttpOnly" in remember and "SameSite=Lax" in remember
    browser_restarted = app.test_client()
    browser_restarted.set_cookie("remember_token", client.get_cookie("remember_token").value)
    assert browser_restarted.get("/dashboard").status_code == 200


@pytest.mark.endpoint("auth.logout")
def test_logout_is_a_post_and_ends_the_session(client, make_org, login):
    _org_id, _user_id, email = make_org()
    login(email)

    assert client.get("/logout").status_code == 405
    resp = client.post("/logout")

    assert resp.status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_logout_also_ends_a_remember_me_login(client, make_org, login):
    _org_id, _user_id, email = make_org()
    login(email, remember="y")

    client.post("/logout")

    assert client.get_cookie("remember_token") is None
    resp = client.get("/dashboard")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


# --- password change -------------------------------------------------------------------


def _change(client, current: str, new: str = "nova-senha-forte-1", confirm: str | None = None):
    return client.post("/account/password", data={
        "current_password": current, "new_password": new, "confirm": confirm or new})


@pytest.mark.endpoint("auth.change_password")
def test_password_change_with_wrong_current_password_is_refused(client, db, make_org, login):
    from whatrack.models import User

    _org_id, user_id, email = make_org()
    login(email)

    resp = _change(client, "not-my-password")

    assert resp.status_code == 422
    assert "A senha atual está incorreta." in resp.get_data(as_text=True)
    assert db.session.get(User, user_id).check_password(PASSWORD)


@pytest.mark.endpoint("auth.change_password")
def test_password_change_logs_out_other_sessions_but_keeps_this_one(
    app, client, db, make_org, login, client_as
):
    from whatrack.models import User

    _org_id, user_id, email = make_org()
    other_browser = client_as(email)
    remembered = app.test_client()
    Login(remembered)(email, remember="y")
    login(email)

    resp = _change(client, PASSWORD)

    assert resp.status_code == 302
    assert client.get("/dashboard").status_code == 200
    assert other_browser.get("/dashboard").status_code == 302
    restarted = app.test_client()
    restarted.set_cookie("remember_token", remembered.get_cookie("remember_token").value)
    assert restarted.get("/dashboard").status_code == 302
    user = db.session.get(User, user_id)
    assert user.check_password("nova-senha-forte-1") and not user.check_password(PASSWORD)
    assert Login(app.test_client())(email, "nova-senha-forte-1").status_code == 302


def test_password_change_needs_login(client):
    resp = client.get("/account/password")

    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


# --- next= -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com",
                                    "\\\\evil.com", "javascript:alert(1)", "/\t/evil.com"])
def test_login_refuses_open_redirects_in_next(client, make_org, login, target):
    _org_id, _user_id, email = make_org()

    form = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    resp = login(email, next=target)

    assert 'name="next" type="hidden" value=""' in form
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/dashboard"


def test_login_honours_a_local_next(client, make_org, login):
    _org_id, _user_id, email = make_org()

    form = client.get("/login", query_string={"next": "/dashboard/settings/team"})
    resp = login(email, next="/dashboard/settings/team")

    assert 'value="/dashboard/settings/team"' in form.get_data(as_text=True)
    assert resp.headers["Location"] == "/dashboard/settings/team"


def test_protected_page_sends_anonymous_user_to_login_with_next(client):
    resp = client.get("/dashboard/settings/team")

    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=")


def test_passwords_are_hashed_with_scrypt_outside_the_test_suite(app, monkeypatch):
    from config import Config, ProductionConfig
    from whatrack.models import User

    monkeypatch.setitem(app.config, "PASSWORD_HASH_METHOD", Config.PASSWORD_HASH_METHOD)
    user = User(email="x@example.com")
    user.set_password("senha-forte-123")

    assert ProductionConfig.PASSWORD_HASH_METHOD == "scrypt"
    assert user.password_hash.startswith("scrypt:") and user.check_password("senha-forte-123")
