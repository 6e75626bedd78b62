"""Probes, security headers, cookies, CSRF and error pages."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from tests.fixtures_app import AppTestConfig, Login, csrf_token_from

CLOSED_PORT_DB = "postgresql+psycopg://postgres@127.0.0.1:1/x"
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"


class DatabaseDownConfig(AppTestConfig):
    SQLALCHEMY_DATABASE_URI = CLOSED_PORT_DB


class RedisDownConfig(AppTestConfig):
    REDIS_URL = CLOSED_PORT_REDIS


class CsrfConfig(AppTestConfig):
    WTF_CSRF_ENABLED = True


class CrashingConfig(AppTestConfig):
    pass


# --- probes ----------------------------------------------------------------------------


@pytest.mark.endpoint("health.healthz")
def test_healthz_answers_ok(client):
    resp = client.get("/healthz")

    assert resp.status_code == 200
    assert resp.json == {"status": "ok"}


@pytest.mark.endpoint("health.readyz")
def test_readyz_is_ok_when_database_and_redis_answer(client):
    resp = client.get("/readyz")

    assert resp.status_code == 200
    assert resp.json["status"] == "ok"
    assert resp.json["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.endpoint("health.readyz")
def test_readyz_is_503_naming_the_database_when_it_is_unreachable(make_app):
    resp = make_app(DatabaseDownConfig).test_client().get("/readyz")

    assert resp.status_code == 503
    assert resp.json["failing"] == ["database"]
    assert resp.json["checks"]["database"].startswith("error")
    assert resp.json["checks"]["redis"] == "ok"


def test_readyz_is_503_naming_redis_when_it_is_unreachable(make_app):
    resp = make_app(RedisDownConfig).test_client().get("/readyz")

    assert resp.status_code == 503
    assert resp.json["failing"] == ["redis"]
    assert resp.json["checks"]["database"] == "ok"


# --- headers and cookies ---------------------------------------------------------------


def test_pages_carry_the_security_headers(client):
    for path in ("/", "/login", "/nope-404"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_session_cookie_is_httponly_and_samesite_lax(client, make_org):
    _org_id, _user_id, email = make_org()

    resp = Login(client)(email)

    [cookie] = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


@pytest.mark.skipif(os.environ.get("SESSION_COOKIE_SECURE", "1") != "1",
                    reason="SESSION_COOKIE_SECURE turned off in this environment")
def test_production_cookies_are_secure_by_default():
    from config import DevelopmentConfig, ProductionConfig

    assert ProductionConfig.SESSION_COOKIE_SECURE is True
    assert ProductionConfig.REMEMBER_COOKIE_SECURE is True
    assert DevelopmentConfig.SESSION_COOKIE_SECURE is False  # plain http on a laptop


# --- CSRF ------------------------------------------------------------------------------

SIGNUP = {"org_name": "Clínica CSRF", "name": "Ana", "email": "ana@example.com",
          "password": "senha-forte-123"}


def test_csrf_rejects_a_form_post_without_the_token_and_creates_nothing(make_app, db):
    from whatrack.models import Organization, User

    browser = make_app(CsrfConfig).test_client()

    resp = browser.post("/signup", data=SIGNUP)

    assert resp.status_code == 400
    assert "Traceback" not in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(Organization)) == 0


def test_csrf_accepts_the_form_post_with_the_token_from_the_form(make_app, db):
    from whatrack.models import Organization

    browser = make_app(CsrfConfig).test_client()
    token = csrf_token_from(browser.get("/signup").get_data(as_text=True))

    resp = browser.post("/signup", data={**SIGNUP, "csrf_token": token})

    assert resp.status_code == 302
    assert db.session.scalars(select(Organization.name)).one() == "Clínica CSRF"


def test_csrf_rejects_a_token_from_another_session(make_app, make_org):
    _org_id, _user_id, email = make_org()
    csrf_app = make_app(CsrfConfig)
    attacker_token = csrf_token_from(csrf_app.test_client().get("/login").get_data(as_text=True))

    resp = csrf_app.test_client().post("/login", data={"email": email, "password": "x" * 12,
                                                       "csrf_token": attacker_token})

    assert resp.status_code == 400


def test_the_json_api_needs_no_csrf_token(make_app, make_org, make_api_key):
    _key_id, key = make_api_key(make_org()[0])

    resp = make_app(CsrfConfig).test_client().post(
        "/api/v1/me", headers={"Authorization": f"Bearer {key}"})

    assert resp.status_code == 405  # reached the API (wrong method), not a CSRF 400


# --- error pages -----------------------------------------------------------------------


def test_unknown_url_gets_the_styled_html_404(client):
    resp = client.get("/this/does/not/exist")

    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    body = resp.get_data(as_text=True)
    assert "404" in body and "<html" in body and "css/app.css" in body
    assert "Traceback" not in body and "werkzeug" not in body.lower()


def test_unknown_url_asking_for_json_gets_json(client):
    resp = client.get("/this/does/not/exist", headers={"Accept": "application/json"})

    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "not_found"


def test_an_exception_in_a_view_is_a_500_page_without_details(make_app):
    crashing = make_app(CrashingConfig)

    def explode():
        raise RuntimeError("secret-internal-detail in /srv/whatrack/secret.py")

    crashing.add_url_rule("/boom", "boom", explode)
    crashing.add_url_rule("/api/v1/boom", "api_boom", explode)

    page = crashing.test_client().get("/boom")
    api = crashing.test_client().get("/api/v1/boom")

    assert page.status_code == 500
    body = page.get_data(as_text=True)
    assert "<html" in body and "500" in body
    assert "secret-internal-detail" not in body and "Traceback" not in body
    assert api.status_code == 500
    assert api.json["error"]["code"] == "internal_error"
    assert "secret-internal-detail" not in api.get_data(as_text=True)
