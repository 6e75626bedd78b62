"""Production refuses to start without its secrets, naming what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config import ProductionConfig

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # Only what a fresh container has: none of the test run's WHATRACK_* or secrets.
    env = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path),
           "WHATRACK_ENV": "production", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_gunicorn_refuses_to_start_and_names_the_missing_variables(tmp_path):
    result = _run([str(BIN / "gunicorn"), "-w", "1", "-b", "127.0.0.1:0", "wsgi:app"],
                  _bare_env(tmp_path))
    assert result.returncode != 0
    for name in ("SECRET_KEY", "DATABASE_URL", "TOKEN_ENCRYPTION_KEYS"):
        assert name in result.stderr
    assert "App failed to load" in result.stderr  # the master halts, no respawn loop
    assert "Traceback" not in result.stderr


def test_cli_names_only_what_is_missing_and_refuses_a_malformed_key(tmp_path):
    result = _run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
                  _bare_env(tmp_path, SECRET_KEY="s" * 32,
                            TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode() + ",nope"))
    assert result.returncode == 4
    assert "missing environment variables: DATABASE_URL;" in result.stderr
    assert "SECRET_KEY" not in result.stderr
    assert "TOKEN_ENCRYPTION_KEYS entry 2 is not a Fernet key" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_config_with_its_secrets_starts(make_app, pg_url):
    from whatrack import MissingConfiguration

    class Missing(ProductionConfig):
        SECRET_KEY = None
        SQLALCHEMY_DATABASE_URI = None
        TOKEN_ENCRYPTION_KEYS = None

    with pytest.raises(MissingConfiguration) as refused:
        make_app(Missing)
    assert refused.value.code == 4
    assert str(refused.value).count("SECRET_KEY") == 1

    class Complete(ProductionConfig):
        SECRET_KEY = "k" * 32
        SQLALCHEMY_DATABASE_URI = pg_url.replace("postgresql://", "postgresql+psycopg://")
        TOKEN_ENCRYPTION_KEYS = Fernet.generate_key().decode()
        REDIS_URL = os.environ["WHATRACK_TEST_REDIS_URL"]
        REDIS_NAMESPACE = os.environ["WHATRACK_TEST_REDIS_NAMESPACE"]
        INPROCESS_WORKER = False

    app = make_app(Complete)
    assert app.config["SECRET_KEY"] == "k" * 32
