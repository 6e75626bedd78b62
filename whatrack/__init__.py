"""WhaTrack: WhatsApp-ads attribution. ``create_app`` only wires things together."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config, config_from_env


def create_app(config_class: type[Config] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_class or config_from_env())
    _require_settings(app)
    _apply_embedded_defaults(app)

    # Here, not at the top: every `import whatrack.x` runs this file first, and would
    # otherwise load the whole web app (and cycle back into this half-imported package).
    from whatrack.logging import configure_logging

    configure_logging("DEBUG" if app.debug else "INFO", app.config.get("LOG_FORMAT", "text"))
    _init_extensions(app)

    from whatrack.blueprints import register_blueprints
    from whatrack.blueprints.auth.session import init_login
    from whatrack.blueprints.webhooks.intake import intake_init_app
    from whatrack.cli import register_cli
    from whatrack.errors import register_error_handlers

    init_login(app)
    _install_request_hooks(app)
    register_blueprints(app)
    # Wraps app.wsgi_app: webhook deliveries are answered before Flask routing (D12).
    intake_init_app(app)
    _register_template_globals(app)
    register_error_handlers(app)
    register_cli(app)
    _trust_proxies(app)
    return app


class MissingConfiguration(SystemExit):
    """Start-up refused: required settings are absent or unusable.

    A SystemExit so every entry point (gunicorn, dramatiq, flask CLI) stops with the message
    and no traceback; exit status 4 is what gunicorn treats as "the app cannot load", so its
    master halts instead of respawning workers that fail the same way forever.
    """

    EXIT_STATUS = 4

    def __init__(self, message: str) -> None:
        super().__init__(self.EXIT_STATUS)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _require_settings(app: Flask) -> None:
    """Settings the config class marks REQUIRED must be present before anything else runs."""
    required: dict[str, str] = app.config.get("REQUIRED") or {}
    missing = [env for key, env in required.items() if not app.config.get(key)]
    problems = []
    if missing:
        problems.append("missing environment variables: " + ", ".join(missing))
    keys = app.config.get("TOKEN_ENCRYPTION_KEYS")
    if required and keys:
        from cryptography.fernet import Fernet

        for position, key in enumerate(k.strip() for k in keys.split(",")):
            try:
                Fernet(key)
            except ValueError:
                problems.append(f"TOKEN_ENCRYPTION_KEYS entry {position + 1} is not a Fernet "
                                "key (32 url-safe base64-encoded bytes)")
    if problems:
        message = ("WhaTrack refuses to start in production: "
                   + "; ".join(problems) + ". See README.md, Configuration.")
        print(message, file=sys.stderr, flush=True)
        raise MissingConfiguration(message)
def _trust_proxies(app: Flask) -> None:
    """Honour X-Forwarded-For / -Proto from exactly TRUSTED_PROXIES proxies, no more.

    Outermost (after the webhook intake wraps the app), so every layer sees the client's
    address and scheme: the login throttle, HSTS, ``_external`` links.
    """
    count = app.config["TRUSTED_PROXIES"]
    if count > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def _apply_embedded_defaults(app: Flask) -> None:
    """Laptop defaults: SQLite in the instance folder and a per-instance secret key."""
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            app.instance_path, "whatrack.sqlite"
        )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A database host that drops packets must fail /readyz fast, not hang it.
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.setdefault("connect_args", {"connect_timeout": 5})
        options.setdefault("pool_size", app.config["DATABASE_POOL_SIZE"])
        options.setdefault("max_overflow", app.config["DATABASE_POOL_SIZE"])
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app, "secret_key")
    if app.config.get("DEV_INSTANCE_META_SECRETS"):
        # Laptop only: lets `whatsapp simulate` sign webhooks the local app accepts.
        for name in ("META_APP_SECRET", "META_VERIFY_TOKEN"):
            if not app.config.get(name):
                app.config[name] = _instance_secret(app, name.lower())
    if not app.config.get("TOKEN_ENCRYPTION_KEYS"):
        app.config["TOKEN_ENCRYPTION_KEYS"] = _instance_secret(
            app, "token_key", factory=lambda: Fernet.generate_key().decode()
        )


def _instance_secret(app: Flask, name: str, factory=None) -> str:
    # Generated once and kept in the instance folder (never in git), so sessions and
    # encrypted tokens survive restarts on a laptop without any configuration.
    path = Path(app.instance_path) / name
    if not path.exists():
        path.write_text((factory or (lambda: secrets.token_hex(32)))())
        path.chmod(0o600)
    return path.read_text().strip()


def _init_extensions(app: Flask) -> None:
    from flask_sqlalchemy.session import Session as FlaskSession

    # Local for the same reason as in create_app: these modules import this package.
    from whatrack import after_commit, tenancy, transaction_memo
    from whatrack.catalogs import ensure_compiled
    from whatrack.db_pool import install_idle_ping
    from whatrack.extensions import babel, csrf, db, login_manager, migrate, oauth, sock
    from whatrack.i18n import i18n_init_app, select_locale, select_timezone
    from whatrack.metrics import metrics_init_app
    from whatrack.realtime import realtime_init_app
    from whatrack.security import security_init_app
    from whatrack.tasks.broker import dramatiq_init_app

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            install_idle_ping(engine)
    migrate.init_app(app, db, directory=str(_migrations_dir(app)))
    login_manager.init_app(app)
    csrf.init_app(app)
    sock.init_app(app)
    oauth.init_app(app)
    ensure_compiled(Path(app.root_path) / "translations")
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    i18n_init_app(app)
    _install_session_hooks(FlaskSession, after_commit, tenancy, transaction_memo)
    realtime_init_app(app)
    metrics_init_app(app)
    dramatiq_init_app(app)
    security_init_app(app)


def _install_request_hooks(app: Flask) -> None:
    # App-level hooks run before any blueprint's, so every view sees a request id and its org.
    from whatrack.logging import assign_request_id
    from whatrack.tenancy import release_request_org, resolve_request_org

    app.before_request(assign_request_id)
    app.before_request(resolve_request_org)
    app.teardown_request(release_request_org)


def _register_template_globals(app: Flask) -> None:
    from whatrack.i18n import money
    from whatrack.tenancy import current_org, current_role

    @app.context_processor
    def inject_template_globals() -> dict[str, object]:
        return {"current_org": current_org, "current_role": current_role, "money": money}


def _migrations_dir(app: Flask) -> Path:
    # An installed wheel carries the revisions inside the package (build_hooks.py); a source
    # checkout (and an editable install) keeps them next to the package.
    packaged = Path(app.root_path) / "migrations"
    return packaged if packaged.is_dir() else Path(app.root_path).parent / "migrations"


_hooks_installed = False


def _install_session_hooks(session_class, after_commit, tenancy, transaction_memo) -> None:
    # Listeners live on the Session class, so they must be installed once per process
    # even when create_app() runs many times (tests).
    global _hooks_installed
    if not _hooks_installed:
        after_commit.install(session_class)
        tenancy.install(session_class)
        transaction_memo.install(session_class)
        _hooks_installed = True
