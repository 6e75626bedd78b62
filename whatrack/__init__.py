"""WhaTrack: WhatsApp-ads attribution. ``create_app`` only wires things together."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from config import Config, config_from_env


def create_app(config_class: type[Config] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_class or config_from_env())
    _apply_embedded_defaults(app)

    from whatrack.logging import configure_logging

    configure_logging("DEBUG" if app.debug else "INFO")
    _init_extensions(app)

    from whatrack.blueprints import register_blueprints
    from whatrack.cli import register_cli
    from whatrack.errors import register_error_handlers

    register_blueprints(app)
    register_error_handlers(app)
    register_cli(app)
    _trust_proxies(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Honour X-Forwarded-For / -Proto from exactly TRUSTED_PROXIES proxies, no more.

    Outermost (after the webhook intake wraps the app), so every layer sees the client's
    address and scheme: the login throttle, HSTS, ``_external`` links.
    """
    count = app.config["TRUSTED_PROXIES"]
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

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
        from cryptography.fernet import Fernet

        app.config["TOKEN_ENCRYPTION_KEYS"] = _instance_secret(
            app, "token_key", factory=lambda: Fernet.generate_key().decode()
        )


def _instance_secret(app: Flask, name: str, factory=None) -> str:
    # Generated once and kept in the instance folder (never in git), so sessions and
    # encrypted tokens survive restarts on a laptop without any configuration.
    import secrets

    path = Path(app.instance_path) / name
    if not path.exists():
        path.write_text((factory or (lambda: secrets.token_hex(32)))())
        path.chmod(0o600)
    return path.read_text().strip()


def _init_extensions(app: Flask) -> None:
    from flask_sqlalchemy.session import Session as FlaskSession

    from whatrack import after_commit, tenancy
    from whatrack.db_pool import install_idle_ping
    from whatrack.extensions import babel, csrf, db, login_manager, migrate, oauth, sock
    from whatrack.i18n import i18n_init_app, select_locale, select_timezone
    from whatrack.realtime import realtime_init_app
    from whatrack.security import security_init_app
    from whatrack.tasks.broker import dramatiq_init_app

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            install_idle_ping(engine)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    sock.init_app(app)
    oauth.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    i18n_init_app(app)
    _install_session_hooks(FlaskSession, after_commit, tenancy)
    realtime_init_app(app)
    dramatiq_init_app(app)
    security_init_app(app)


_hooks_installed = False


def _install_session_hooks(session_class, after_commit, tenancy) -> None:
    # Listeners live on the Session class, so they must be installed once per process
    # even when create_app() runs many times (tests).
    global _hooks_installed
    if not _hooks_installed:
        after_commit.install(session_class)
        tenancy.install(session_class)
        _hooks_installed = True
