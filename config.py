"""Configuration read once from the environment.

Every variable is optional on a laptop: without DATABASE_URL the app uses SQLite in the
instance folder, without REDIS_URL it runs an in-process queue, worker thread and pub/sub.
A missing third-party secret disables that feature (shown as "not configured"), never start-up.
"""

from __future__ import annotations

import os
from datetime import timedelta


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _database_url(value: str | None) -> str | None:
    # Heroku-style URLs and plain postgresql:// must use the psycopg 3 driver.
    if value and value.startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://"):]
    if value and value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://"):]
    return value


class Config:
    SECRET_KEY = _env("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = _database_url(_env("DATABASE_URL"))
    # Connections per process for PostgreSQL (and as many more in bursts): at least the
    # requests one process serves at once, or the extra ones wait for a connection. Open
    # websockets hold none (tickets/ws.py gives it back).
    DATABASE_POOL_SIZE = int(_env("DATABASE_POOL_SIZE", "16"))
    REDIS_URL = _env("REDIS_URL")
    # Prefix of every Redis key and channel we own, so several deployments (or test runs)
    # can share one Redis.
    REDIS_NAMESPACE = _env("REDIS_NAMESPACE", "whatrack")

    TOKEN_ENCRYPTION_KEYS = _env("TOKEN_ENCRYPTION_KEYS")

    META_APP_ID = _env("META_APP_ID")
    META_APP_SECRET = _env("META_APP_SECRET")
    META_VERIFY_TOKEN = _env("META_VERIFY_TOKEN")
    META_CONFIG_ID = _env("META_CONFIG_ID")
    # Facebook's JS SDK for Embedded Signup (tests serve a fake of it on loopback).
    META_SDK_URL = _env("META_SDK_URL", "https://connect.facebook.net/en_US/sdk.js")
    META_GRAPH_URL = _env("META_GRAPH_URL", "https://graph.facebook.com")
    META_GRAPH_VERSION = _env("META_GRAPH_VERSION", "v25.0")
    # Facebook Login dialog host (tests point it at the fake Graph API).
    META_DIALOG_URL = _env("META_DIALOG_URL", "https://www.facebook.com")
    # CAPI: read timeout of one batch request, and the first retry delay (doubling, 1 h cap).
    META_CAPI_TIMEOUT = float(_env("META_CAPI_TIMEOUT", "10"))
    META_CAPI_RETRY_BASE = float(_env("META_CAPI_RETRY_BASE", "2"))
    # CAPI requests in flight at once per worker process (a split batch sends its parts together).
    META_CAPI_CONCURRENCY = int(_env("META_CAPI_CONCURRENCY", "8"))
    # Read timeout (seconds) of every other outbound Graph API / Facebook Login call: a Meta
    # that accepts the connection and never answers must not hold a request thread forever.
    META_HTTP_TIMEOUT = float(_env("META_HTTP_TIMEOUT", "15"))

    STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET")
    STRIPE_PRICE_ID = _env("STRIPE_PRICE_ID")
    STRIPE_API_BASE = _env("STRIPE_API_BASE")

    LLM_BASE_URL = _env("LLM_BASE_URL")
    LLM_API_KEY = _env("LLM_API_KEY")
    LLM_MODEL = _env("LLM_MODEL")
    # Seconds the copilot waits for the LLM's answer before using the built-in detector.
    LLM_TIMEOUT = float(_env("LLM_TIMEOUT", "20"))
    # The copilot reads a conversation once it has been quiet this long.
    COPILOT_DEBOUNCE_SECONDS = int(_env("COPILOT_DEBOUNCE_SECONDS", "60"))

    BABEL_DEFAULT_LOCALE = "pt_BR"
    BABEL_DEFAULT_TIMEZONE = "America/Sao_Paulo"
    LANGUAGES = ("pt_BR", "en")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "1") == "1"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # The longest a login lasts: the remember-me cookie and every server-side session.
    REMEMBER_COOKIE_DURATION = timedelta(days=int(_env("REMEMBER_COOKIE_DAYS", "30")))
    # Number of proxies in front of the app whose X-Forwarded-For / -Proto are trusted
    # (Werkzeug's ProxyFix). 0: headers ignored, so nobody can fake their IP or scheme.
    TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "0"))
    WTF_CSRF_TIME_LIMIT = None  # a form left open all day in the inbox must still submit

    MEDIA_MAX_BYTES = 16 * 1024 * 1024
    # Sends to the Cloud API: (connect, read) seconds. After a read timeout Meta may have
    # accepted the message, so the send waits for a status webhook instead of repeating.
    WHATSAPP_GRAPH_TIMEOUT = (3.05, float(_env("WHATSAPP_SEND_READ_TIMEOUT", "20")))
    # How long a send whose answer was lost waits for a status before "not confirmed".
    WHATSAPP_CONFIRM_SECONDS = int(_env("WHATSAPP_CONFIRM_SECONDS", "300"))
    # Meta allows webhook bodies up to 3 MB (history chunks); leave headroom.
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    TRIAL_DAYS = int(_env("TRIAL_DAYS", "14"))
    # Days a past-due (or lapsed manual) subscription keeps full access before read-only.
    BILLING_GRACE_DAYS = int(_env("BILLING_GRACE_DAYS", "7"))
    # Stripe's webhook signature tolerance (seconds): older signed timestamps are refused.
    STRIPE_WEBHOOK_TOLERANCE = int(_env("STRIPE_WEBHOOK_TOLERANCE", "300"))
    # werkzeug method string; the test suite uses a cheaper one.
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a hash algorithm, not a password
    # Failed logins per account+IP pair inside LOGIN_WINDOW_SECONDS before each further try
    # waits LOGIN_DELAY_SECONDS, doubling per failure; an IP gets 4 times as many failures.
    LOGIN_MAX_FAILURES = int(_env("LOGIN_MAX_FAILURES", "5"))
    LOGIN_WINDOW_SECONDS = int(_env("LOGIN_WINDOW_SECONDS", "900"))
    LOGIN_DELAY_SECONDS = int(_env("LOGIN_DELAY_SECONDS", "30"))
    INVITE_VALID_DAYS = 7

    # "text" (one readable line per record) or "json" (one object per line, for log pipelines).
    LOG_FORMAT = (_env("LOG_FORMAT", "text") or "text").lower()
    # Bearer token Prometheus sends to scrape /metrics; without one, /metrics answers 404.
    METRICS_TOKEN = _env("METRICS_TOKEN")

    SOCK_SERVER_OPTIONS = {"ping_interval": 25}
    # An open /ws re-checks its session and membership this often (logout, removal).
    WS_ACCESS_CHECK_SECONDS = float(_env("WS_ACCESS_CHECK_SECONDS", "15"))
    # The in-process worker thread only exists when there is no Redis.
    INPROCESS_WORKER = True
    DEMO_EMAIL = "demo@whatrack.local"
    DEMO_PASSWORD = "demo-whatrack-2026"  # noqa: S105 - a public, printed demo login


class DevelopmentConfig(Config):
    DEBUG = True
    DEV_INSTANCE_META_SECRETS = True
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False


# Nothing listens on the loopback discard port: a test that forgot its fake fails at once with
# "connection refused" instead of reaching Meta, Stripe or an LLM provider.
_CLOSED_LOOPBACK_URL = "http://127.0.0.1:9"


class TestingConfig(Config):
    TESTING = True
    # Tests that talk to a service start its fake (tests/fakes/) and override these (a test
    # that runs the app in subprocesses passes its fake's address in the environment).
    META_GRAPH_URL = _env("WHATRACK_TEST_META_GRAPH_URL", _CLOSED_LOOPBACK_URL)
    STRIPE_API_BASE = _CLOSED_LOOPBACK_URL
    LLM_BASE_URL = _CLOSED_LOOPBACK_URL
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    SECRET_KEY = "test-secret-key"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = _database_url(_env("WHATRACK_TEST_DATABASE_URL"))
    REDIS_URL = _env("WHATRACK_TEST_REDIS_URL")
    REDIS_NAMESPACE = _env("WHATRACK_TEST_REDIS_NAMESPACE", "whatrack-test")
    INPROCESS_WORKER = False  # tests drive workers explicitly
    META_APP_SECRET = "test-app-secret"  # noqa: S105
    META_VERIFY_TOKEN = "test-verify-token"  # noqa: S105
    # A fixed test key so encrypted tokens are reproducible across app instances.
    TOKEN_ENCRYPTION_KEYS = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMzJieXQ="  # noqa: S105
    LOGIN_MAX_FAILURES = 5


class ProductionConfig(Config):
    # Links built outside a request (workers, CLI) are https; inside one, the (trusted) scheme.
    PREFERRED_URL_SCHEME = "https"
    # Setting -> the environment variable that provides it. Without them each container would
    # invent its own secret key and token key (sessions and stored tokens unreadable by its
    # siblings) and its own SQLite file, so production refuses to start instead (D-log).
    REQUIRED = {
        "SECRET_KEY": "SECRET_KEY",
        "SQLALCHEMY_DATABASE_URI": "DATABASE_URL",
        "TOKEN_ENCRYPTION_KEYS": "TOKEN_ENCRYPTION_KEYS",
    }


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    return CONFIGS.get(_env("WHATRACK_ENV", "development") or "development", DevelopmentConfig)
