"""Locale and timezone selection, and money/date formatting for templates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import format_currency, format_timedelta
from flask_login import current_user

from whatrack.services.whatsapp.phones import format_phone

LANG_SESSION_KEY = "lang"


def select_locale() -> str:
    supported = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]  # workers and CLI speak pt-BR
    chosen = session.get(LANG_SESSION_KEY)
    if chosen in supported:
        return chosen
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale:
        if current_user.locale in supported:
            return current_user.locale
    # pt-BR unless the browser clearly prefers English.
    best = request.accept_languages.best_match(["pt-BR", "pt", "en"]) if request else None
    return "en" if best == "en" else "pt_BR"


def select_timezone() -> str:
    org = g.get("current_org")
    return org.timezone if org is not None else current_app.config["BABEL_DEFAULT_TIMEZONE"]


def money(value: Decimal | None, currency: str = "BRL") -> str:
    """R$ 1.234,56 in pt-BR (the locale decides separators; never a float)."""
    if value is None:
        return ""
    return format_currency(value, currency)


def since(value: datetime | None) -> str:
    """'3 days' style age of a ticket, in the UI language."""
    if value is None:
        return ""
    return format_timedelta(datetime.now(UTC) - value, threshold=1.1)


def i18n_init_app(app: Flask) -> None:
    app.jinja_env.filters["since"] = since
    app.jinja_env.filters["phone"] = format_phone  # "+55 11 98765-4321"
