"""App, database, Redis and login fixtures shared by every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from config import TestingConfig


class AppTestConfig(TestingConfig):
    WTF_CSRF_ENABLED = False
    SERVER_NAME = None


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    from whatrack import create_app
    from whatrack.tasks import load_actors

    app = create_app(AppTestConfig)
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

    with app.app_context():
        db.session.remove()
        tables = ", ".join(
            f'"{t.name}"' for t in db.metadata.sorted_tables
        )
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
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
    from whatrack.services import orgs

    counter = iter(range(1, 10_000))

    def _make(name: str | None = None, email: str | None = None, password: str = "password-123!"):
        n = next(counter)
        with app.app_context():
            result = orgs.sign_up(name or f"Clinica {n}", f"Owner {n}",
                                  email or f"owner{n}-{os.getpid()}@example.com", password)
            _db.session.commit()
            return result.org.id, result.user.id, result.user.email

    return _make


class Login:
    def __init__(self, client, password: str = "password-123!"):
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
