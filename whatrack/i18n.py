"""Locale and timezone selection, and money/date formatting for templates."""

from __future__ import annotations

from datetime import UTC, date, datetime
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


def parse_date_input(raw: str | None) -> date | None:
    """A date typed as dd/mm/aaaa (the forms' format) or sent as YYYY-MM-DD (links, the API).

    Empty is None; anything else that is not a real date raises ValueError, and so does a
    far-off year: it is a typo, and 9999-12-31 plus the day a range adds would overflow.
    """
    raw = (raw or "").strip()
    if not raw:
        return None
    if "/" in raw:
        day, month, year = raw.split("/")  # a wrong count of parts raises ValueError too
        if len(year) != 4:
            raise ValueError(raw)
        value = date(int(year), int(month), int(day))
    else:
        value = date.fromisoformat(raw)
    if not 1970 <= value.year <= 2999:
        raise ValueError(raw)
    return value


def date_input(value: date | None) -> str:
    """The value of a date field: dd/mm/aaaa whatever the browser's own locale."""
    return value.strftime("%d/%m/%Y") if value else ""


def ad_label(headline: str | None, ad_id: str | None) -> str:
    """An ad's name as people can tell it apart: two ads may share a headline until Meta's
    names are resolved, so the ad id's last digits go with it."""
    tail = f"…{ad_id[-4:]}" if ad_id and ad_id != "0" else ""
    if headline:
        return f"{headline} · {tail}" if tail else headline
    return f"Anúncio {tail}".strip() if tail else "Anúncio"


def i18n_init_app(app: Flask) -> None:
    app.jinja_env.globals["ad_label"] = ad_label
    app.jinja_env.filters["since"] = since
    app.jinja_env.filters["date_input"] = date_input
    app.jinja_env.filters["phone"] = format_phone  # "+55 11 98765-4321"
