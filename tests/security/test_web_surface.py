"""CSRF, bearer keys, cookie flags, redirects and security headers, walked from the URL map.

Every test here lists its routes from ``app.url_map``, so a route added later is covered
(or, for the allowlists, fails the suite until someone says why it is different).
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from config import ProductionConfig
from tests.fixtures_app import PASSWORD, AppTestConfig, IsolatedClient, bearer, csrf_token_from
from tests.security.test_tenancy import NOT_TENANT_ROUTES, ROUTE_SEEDS, Seeder

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# State-changing endpoints that take no CSRF token, and what authenticates them instead.
CSRF_EXEMPT = {
    "data_deletion.callback": "Meta's signed_request (HMAC with the app secret)",
}
CSRF_EXEMPT_BLUEPRINTS = {
    "api": "bearer keys, never cookies",
    "webhooks": "Meta's X-Hub-Signature-256 (HMAC of the raw body)",
}
# Values for arguments that name no tenant object (NOT_TENANT_ROUTES).
PLAIN_ARGUMENTS = {"token": "x" * 43, "lang": "pt_BR", "code": "DEL-0000000000",
                   "filename": "css/app.css"}
EVIL = "https://evil.example/steal"
# Walked separately (test_login_follows_only_same_site_next): they end the owner's session.
ENDS_THE_SESSION = {"auth.logout", "auth.logout_everywhere", "auth.change_password"}
REQUIRED_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


class CsrfConfig(AppTestConfig):
    WTF_CSRF_ENABLED = True


def _rules(app, methods: set[str]) -> list[Any]:
    return sorted((r for r in app.url_map.iter_rules()
                   if r.endpoint != "static" and r.methods & methods), key=lambda r: r.rule)


def _blueprint(rule) -> str:
    return rule.endpoint.split(".", 1)[0]


def _values(rule, seeder: Seeder) -> dict[str, Any]:
    if not rule.arguments:
        return {}
    if rule.endpoint in ROUTE_SEEDS:
        return seeder.url_values(rule)
    assert rule.endpoint in NOT_TENANT_ROUTES, rule.endpoint
    return {name: PLAIN_ARGUMENTS[name] for name in rule.arguments}


def _path(app, rule, values: dict[str, Any], method: str) -> str:
    return app.url_map.bind("localhost").build(rule.endpoint, values, method=method)


def _table_counts(db) -> dict[str, int]:
    """Rows per table (a refused request must leave every count as it was)."""
    skip = {"login_attempts", "user_sessions"}  # logging in writes these by design
    counts = {table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
              for table in db.metadata.sorted_tables if table.name not in skip}
    db.session.rollback()
    return counts


@pytest.fixture
def seeded(app, make_org, make_api_key, make_invite, make_member, make_ticket):
    org_id, _user, email = make_org(name="Clínica Alfa")
    return org_id, email, Seeder(app, org_id, make_api_key, make_invite, make_member,
                                 make_ticket)


def _logged_in_with_csrf(app, email: str) -> IsolatedClient:
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": email, "password": PASSWORD,
                                       "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return client


# --- CSRF -------------------------------------------------------------------------------


def test_every_state_changing_form_refuses_a_post_without_its_csrf_token(app, make_app, db,
                                                                         seeded):
    csrf_app = make_app(CsrfConfig)
    csrf_app.test_client_class = IsolatedClient
    _org_id, email, seeder = seeded
    owner = _logged_in_with_csrf(csrf_app, email)
    checked, problems = [], []
    for rule in _rules(csrf_app, WRITE_METHODS):
        if _blueprint(rule) in CSRF_EXEMPT_BLUEPRINTS or rule.endpoint in CSRF_EXEMPT:
            continue
        for method in sorted(rule.methods & WRITE_METHODS):
            values = _values(rule, seeder)
            before = _table_counts(db)
            resp = owner.open(_path(csrf_app, rule, values, method), method=method,
                              data={"name": "x", "body": "x", "confirm": "yes"})
            checked.append(rule.endpoint)
            if resp.status_code != 400:
                problems.append(f"{method} {rule.rule} without a token -> {resp.status_code}")
            elif _table_counts(db) != before:
                problems.append(f"{method} {rule.rule} refused but changed the database")
    assert not problems, "\n".join(problems)
    assert "tickets.erase_contact" in checked and "auth.logout" in checked
    # The same session WITH its token gets through (the 400s above were the token's doing).
    page = owner.get("/dashboard/settings/api-keys").get_data(as_text=True)
    resp = owner.post("/dashboard/settings/api-keys",
                      data={"name": "csrf ok", "csrf_token": csrf_token_from(page)})
    assert resp.status_code in (200, 302)


def test_csrf_exemptions_are_exactly_the_listed_machine_endpoints(app):
    from whatrack.extensions import csrf

    exempt_views = set(csrf._exempt_views)
    exempt_blueprints = {getattr(bp, "name", bp) for bp in csrf._exempt_blueprints}
    assert exempt_blueprints == set(CSRF_EXEMPT_BLUEPRINTS)
    exempt_endpoints = {
        rule.endpoint for rule in app.url_map.iter_rules()
        if f"{app.view_functions[rule.endpoint].__module__}."
           f"{app.view_functions[rule.endpoint].__name__}" in exempt_views
        and rule.methods & WRITE_METHODS
    }
    assert exempt_endpoints == set(CSRF_EXEMPT), (
        "A state-changing view is CSRF-exempt without being listed (with what authenticates "
        "it instead) in tests/security/test_web_surface.py CSRF_EXEMPT")


# --- the JSON API: a key for every write ------------------------------------------------


@pytest.mark.endpoint("api.me")
def test_every_api_write_needs_a_live_read_write_key(app, seeded, make_api_key):
    from whatrack.extensions import db as _db
    from whatrack.models import Organization
    from whatrack.services.accounts import apikeys
    from whatrack.tenancy import bind_org

    org_id, _email, seeder = seeded
    _revoked_id, revoked = make_api_key(org_id, revoked=True)
    with app.app_context(), bind_org(org_id):
        read_only = apikeys.create_api_key(_db.session.get(Organization, org_id), "ro",
                                           read_only=True).key
        _db.session.commit()
    client = app.test_client()
    rules = [r for r in _rules(app, WRITE_METHODS) if r.rule.startswith("/api/")]
    assert rules, "the API has writes; they must be walked"
    problems = []
    for rule in rules:
        for method in sorted(rule.methods & WRITE_METHODS):
            path = _path(app, rule, _values(rule, seeder), method)
            for label, headers, status, code in (
                    ("no key", {}, 401, "unauthorized"),
                    ("a malformed header", {"Authorization": "Basic Zm9vOmJhcg=="}, 401,
                     "unauthorized"),
                    ("a revoked key", bearer(revoked), 401, "unauthorized"),
                    ("a read-only key", bearer(read_only), 403, "read_only_key")):
                resp = client.open(path, method=method, headers=headers, json={})
                got = (resp.status_code, (resp.get_json(silent=True) or {}).get(
                    "error", {}).get("code"))
                if got != (status, code):
                    problems.append(f"{method} {rule.rule} with {label} -> {got}")
    assert not problems, "\n".join(problems)
    # The read-only key still reads.
    assert client.get("/api/v1/me", headers=bearer(read_only)).status_code == 200


# --- cookies ----------------------------------------------------------------------------


def _set_cookies(resp) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in resp.headers.getlist("Set-Cookie")}


def test_session_and_remember_cookies_are_httponly_samesite_and_secure_in_production(
        make_app, pg_url, make_org):
    class Production(ProductionConfig):
        SECRET_KEY = "k" * 32
        SQLALCHEMY_DATABASE_URI = pg_url.replace("postgresql://", "postgresql+psycopg://")
        TOKEN_ENCRYPTION_KEYS = Fernet.generate_key().decode()
        REDIS_URL = os.environ["WHATRACK_TEST_REDIS_URL"]
        REDIS_NAMESPACE = os.environ["WHATRACK_TEST_REDIS_NAMESPACE"]
        INPROCESS_WORKER = False
        PASSWORD_HASH_METHOD = AppTestConfig.PASSWORD_HASH_METHOD

    _org, _user, email = make_org()
    production = make_app(Production)
    client = production.test_client()
    https = {"base_url": "https://localhost"}
    token = csrf_token_from(client.get("/login", **https).get_data(as_text=True))
    # Over https Flask-WTF also wants a same-site Referer (WTF_CSRF_SSL_STRICT).
    resp = client.post("/login", data={"email": email, "password": PASSWORD,
                                       "csrf_token": token, "remember": "y"},
                       headers={"Referer": "https://localhost/login"}, **https)

    assert resp.status_code == 302
    cookies = _set_cookies(resp)
    assert {"session", "remember_token"} <= set(cookies), cookies
    for name in ("session", "remember_token"):
        flags = cookies[name].lower()
        assert "; httponly" in flags and "; secure" in flags and "samesite=lax" in flags, \
            cookies[name]
    assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"


# --- redirects --------------------------------------------------------------------------


def _off_site(resp) -> bool:
    location = resp.headers.get("Location")
    if not (300 <= resp.status_code < 400 and location):
        return False
    parts = urlsplit(location)
    return bool(parts.netloc and parts.netloc != "localhost") or location.startswith("//")


def test_no_route_redirects_off_site_whatever_next_says(app, seeded, client):
    """Every route, GET and POST, anonymous and as the owner, with a hostile ``next``."""
    from tests.fixtures_app import Login

    _org_id, email, seeder = seeded
    owner = app.test_client()
    Login(owner)(email)
    problems = []
    hostile = [EVIL, "//evil.example", "/\\evil.example"]
    for rule in _rules(app, {"GET", "POST"}):
        if rule.rule.startswith(("/api/", "/ws")) or rule.endpoint in ENDS_THE_SESSION:
            continue
        values = _values(rule, seeder)
        for method in sorted(rule.methods & {"GET", "POST"}):
            for target in hostile:
                for who in (client, owner):
                    path = _path(app, rule, values, method)
                    resp = who.open(path, method=method, query_string={"next": target},
                                    data={"next": target})
                    if _off_site(resp):
                        problems.append(f"{method} {rule.rule} next={target!r} -> "
                                        f"{resp.headers['Location']}")
    assert not problems, "\n".join(problems)


def test_login_follows_only_same_site_next(app, make_org, client):
    _org, _user, email = make_org()
    from tests.fixtures_app import Login

    for target in (EVIL, "//evil.example/x", "/\\evil.example"):
        resp = Login(client)(email, next=target)
        assert resp.status_code == 302 and not _off_site(resp), resp.headers["Location"]
        client.post("/logout")
    resp = Login(client)(email, next="/dashboard/tickets?q=1")
    assert resp.headers["Location"].endswith("/dashboard/tickets?q=1")


# --- headers ----------------------------------------------------------------------------


def test_every_page_carries_the_security_headers(app, seeded, client):
    from tests.fixtures_app import Login

    _org_id, email, seeder = seeded
    owner = app.test_client()
    Login(owner)(email)
    problems = []
    for rule in _rules(app, {"GET"}):
        if rule.rule.startswith("/ws"):
            continue
        path = _path(app, rule, _values(rule, seeder), "GET")
        for who in (client, owner):
            resp = who.get(path)
            missing = {k: resp.headers.get(k) for k, v in REQUIRED_HEADERS.items()
                       if resp.headers.get(k) != v}
            csp = resp.headers.get("Content-Security-Policy", "")
            # Media is served under a stricter policy of its own (no script at all).
            sandboxed = "default-src 'none'" in csp and "sandbox" in csp
            if not sandboxed and ("frame-ancestors 'none'" not in csp
                                  or "object-src 'none'" not in csp):
                missing["Content-Security-Policy"] = csp
            if re.search(r"script-src[^;]*'unsafe-inline'", csp):
                missing["Content-Security-Policy (unsafe-inline)"] = csp
            if missing:
                problems.append(f"GET {rule.rule} ({resp.status_code}): {missing}")
    # Error pages too.
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and resp.headers.get("X-Frame-Options") == "DENY"
    assert not problems, "\n".join(problems)
