"""App, database, Redis and login fixtures shared by every test."""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.orm import close_all_sessions

from config import TestingConfig

PASSWORD = "password-123!"


class AppTestConfig(TestingConfig):
    WTF_CSRF_ENABLED = False
    SERVER_NAME = None
    # Production hashes with scrypt (~150 ms a check); hundreds of logins would dominate
    # the suite's runtime.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"


class IsolatedClient(FlaskClient):
    """Runs every request in a fresh context, as a server thread would.

    pytest-flask pushes a request context for the whole test; without this, the client's
    requests would reuse its app context, so ``g`` (the resolved org, the membership) and
    the ``db.session`` identity map would leak from one request into the next, and the
    request's transaction would stay open until the test ends. Contexts are therefore never
    preserved after a request (pytest-flask's ``with client`` keeps nothing alive).
    """

    def open(self, *args: Any, **kwargs: Any):
        return contextvars.Context().run(super().open, *args, **kwargs)

    def _copy_environ(self, other: dict[str, Any]) -> dict[str, Any]:
        return {**self.environ_base, **other}


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    from whatrack import create_app
    from whatrack.tasks import load_actors

    app = create_app(AppTestConfig)
    app.test_client_class = IsolatedClient
    load_actors()
    with app.app_context():
        upgrade()  # the schema comes from the migrations, exactly as in production
    yield app


@pytest.fixture(autouse=True)
def _clean_state(request) -> Iterator[None]:
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from whatrack.extensions import db

    close_all_sessions()  # whatever context a test left a session open in
    with app.app_context(), db.engine.begin() as conn:
        # A connection still holding locks fails the test here instead of hanging the run.
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        # DELETE, children first: TRUNCATE costs ~1 s a test here (it rewrites every file).
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
        # Ids start at 1 again in every test, as TRUNCATE ... RESTART IDENTITY did.
        conn.execute(text("SELECT setval(oid::regclass, 1, false) FROM pg_class "
                          "WHERE relkind = 'S'"))
    _flush_redis_namespace()


def _flush_redis_namespace() -> None:
    client = redis_lib.Redis.from_url(os.environ["WHATRACK_TEST_REDIS_URL"])
    namespace = os.environ["WHATRACK_TEST_REDIS_NAMESPACE"]
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def db(app):
    from whatrack.extensions import db as _db

    with app.app_context():
        yield _db
        _db.session.remove()


@pytest.fixture
def make_org(app):
    """Create an organization with an owner (committed); returns (org, user)."""
    from whatrack.extensions import db as _db
    from whatrack.services.accounts import orgs

    counter = iter(range(1, 10_000))

    def _make(name: str | None = None, email: str | None = None, password: str = PASSWORD):
        n = next(counter)
        with app.app_context():
            result = orgs.sign_up(name or f"Clinica {n}", f"Owner {n}",
                                  email or f"owner{n}-{os.getpid()}@example.com", password)
            _db.session.commit()
            return result.org.id, result.user.id, result.user.email

    return _make


class Member(NamedTuple):
    user_id: int
    membership_id: int
    email: str


@pytest.fixture
def make_member(app):
    """Add a person to an organization with ``role`` (a new login unless ``email`` exists)."""
    from whatrack.extensions import db as _db
    from whatrack.models import Membership
    from whatrack.services.accounts import orgs

    counter = iter(range(1, 10_000))

    def _make(org_id: int, role: str = "agent", email: str | None = None,
              password: str = PASSWORD) -> Member:
        n = next(counter)
        with app.app_context():
            email = email or f"{role}{n}-{org_id}@example.com"
            user = orgs.find_user_by_email(email) or orgs.create_user(email, password, f"P {n}")
            membership = Membership(organization_id=org_id, user_id=user.id, role=role)
            _db.session.add(membership)
            _db.session.commit()
            return Member(user.id, membership.id, user.email)

    return _make


@pytest.fixture
def make_api_key(app):
    """An API key of the organization; returns (key id, plaintext key)."""
    from whatrack.extensions import db as _db
    from whatrack.models import Organization
    from whatrack.services.accounts import apikeys
    from whatrack.tenancy import bind_org

    def _make(org_id: int, revoked: bool = False) -> tuple[int, str]:
        with app.app_context(), bind_org(org_id):
            issued = apikeys.create_api_key(_db.session.get(Organization, org_id), "test")
            if revoked:
                apikeys.revoke_api_key(issued.api_key.organization, issued.api_key)
            _db.session.commit()
            return issued.api_key.id, issued.key

    return _make


@pytest.fixture
def make_invite(app):
    """A one-time invite link of the organization; returns (invite id, token)."""
    from whatrack.extensions import db as _db
    from whatrack.models import Membership, Organization, User
    from whatrack.services.accounts import orgs
    from whatrack.tenancy import bind_org

    def _make(org_id: int, role: str = "agent") -> tuple[int, str]:
        with app.app_context(), bind_org(org_id):
            org = _db.session.get(Organization, org_id)
            owner = _db.session.scalars(
                _db.select(User).join(Membership).where(Membership.organization_id == org_id)
            ).first()
            issued = orgs.invite_member(org, owner, role)
            _db.session.commit()
            return issued.invite.id, issued.token

    return _make


class Login:
    def __init__(self, client, password: str = PASSWORD):
        self.client = client
        self.password = password

    def __call__(self, email: str, password: str | None = None, **extra: Any):
        return self.client.post(
            "/login", data={"email": email, "password": password or self.password, **extra}
        )

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def login(client) -> Login:
    return Login(client)


@pytest.fixture
def client_as(app) -> Callable[..., Any]:
    """A fresh test client (its own cookie jar) logged in as ``email``."""

    def _client(email: str, password: str = PASSWORD):
        new_client = app.test_client()
        response = Login(new_client)(email, password)
        assert response.status_code == 302, response.get_data(as_text=True)
        return new_client

    return _client


@pytest.fixture
def make_app(app) -> Iterator[Callable[[type], Flask]]:
    """Build extra apps on other configs; the shared worker middleware is given back after."""
    from whatrack import create_app
    from whatrack.tasks.broker import dramatiq_init_app

    def _make(config_class: type) -> Flask:
        return create_app(config_class)

    yield _make
    dramatiq_init_app(app)  # create_app() rebinds actors to the last app built


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no csrf_token field in the page"
    return match.group(1)
