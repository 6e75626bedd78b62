"""Test harness: a throwaway PostgreSQL database and a private Redis namespace per run.

The environment is set before anything imports whatrack, because the Dramatiq broker is
built at import time from it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("WHATRACK_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_ID = uuid.uuid4().hex[:8]
TEST_DB = f"whatrack_test_{RUN_ID}"
TEST_DB_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + TEST_DB

os.environ["WHATRACK_ENV"] = "testing"
os.environ["WHATRACK_TEST_DATABASE_URL"] = TEST_DB_URL
os.environ.setdefault("WHATRACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ["WHATRACK_TEST_REDIS_NAMESPACE"] = f"whatrack-test-{RUN_ID}"

pytest_plugins = ["tests.fixtures_app", "tests.fixtures_whatsapp", "tests.fixtures_capi",
                  "tests.fixtures_signup", "tests.fixtures_billing"]


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def pytest_configure(config):
    _require_catalogs()
    _admin(f'CREATE DATABASE "{TEST_DB}"')


def _require_catalogs() -> None:
    # The app compiles stale catalogs at start-up; when it cannot (a read-only checkout), stop
    # here rather than run the whole suite against an English UI.
    from whatrack.catalogs import COMPILE_HINT, ensure_compiled

    left = ensure_compiled(Path(__file__).resolve().parents[1] / "whatrack" / "translations")
    if left:
        pytest.exit(f"translation catalogs not compiled: {', '.join(map(str, left))}; "
                    f"run `.venv/bin/{COMPILE_HINT}` (scripts/test does it)", returncode=4)


def pytest_unconfigure(config):
    try:
        _admin(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    except psycopg.Error:
        pass


@pytest.fixture(scope="session")
def pg_url() -> str:
    return TEST_DB_URL
