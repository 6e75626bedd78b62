"""Thin views: every public page is a template; the language switch only touches the session."""

from __future__ import annotations

from flask import current_app, render_template, request, session, url_for
from flask_babel import get_locale

from whatrack.blueprints.public import bp
from whatrack.i18n import LANG_SESSION_KEY
from whatrack.security import redirect_to_next


@bp.app_context_processor
def inject_locale() -> dict[str, str]:
    """``html_lang`` ("pt-BR" / "en") for ``<html lang>`` and ``current_lang`` for the switch."""
    locale = str(get_locale() or current_app.config.get("BABEL_DEFAULT_LOCALE", "pt_BR"))
    return {"html_lang": locale.replace("_", "-"), "current_lang": locale}


@bp.get("/")
def landing():
    return render_template("public/landing.html")


@bp.get("/pricing")
def pricing():
    return render_template("public/pricing.html")


@bp.get("/privacy")
def privacy():
    return render_template("public/privacy.html")


@bp.get("/terms")
def terms():
    return render_template("public/terms.html")


@bp.get("/data-deletion")
def data_deletion():
    return render_template("public/data_deletion.html")


@bp.get("/lang/<code>")
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session[LANG_SESSION_KEY] = code
    return redirect_to_next(url_for("public.landing"), request.args.get("next"))
