"""Security headers and redirect-target checks shared by every blueprint."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import redirect, request
from werkzeug.routing import IntegerConverter

from whatrack.models.base import MAX_DB_ID

if TYPE_CHECKING:
    from flask import Flask, Response

# No inline scripts or styles anywhere: every script and stylesheet is a static file.
CSP = (
    "default-src 'self'; script-src 'self' https://connect.facebook.net; "
    "style-src 'self'; img-src 'self' data: https:; connect-src 'self' ws: wss: "
    "https://www.facebook.com; frame-src https://www.facebook.com https://web.facebook.com; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self' https://www.facebook.com "
    "https://checkout.stripe.com https://billing.stripe.com; object-src 'none'"
)


def safe_next_url(target: str | None) -> str | None:
    """Only same-site relative paths are honoured as ``next=``; anything else is refused."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers drop tabs/newlines and treat "\\" as "/", so "/\t/evil" or "/\\evil" would
    # leave the site; refuse any control character or backslash outright.
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    return target


def redirect_to_next(fallback: str, target: str | None = None) -> Response:
    """Redirect to the request's ``next`` (or ``target``) when it is same-site, else ``fallback``.

    The one place a user-supplied redirect target is honoured: every view that follows a
    posted or queried ``next`` goes through here, so none can become an open redirect.
    """
    if target is None:
        target = request.values.get("next")
    return redirect(safe_next_url(target) or fallback)


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


class IdConverter(IntegerConverter):
    """``<int:...>`` capped at the database's integer range: a huge id is a 404, not a 500."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_DB_ID, signed=False):
        super().__init__(map, fixed_digits, min, max, signed)


def security_init_app(app: Flask) -> None:
    # Before any blueprint registers a rule: rules bind their converters when added.
    app.url_map.converters["int"] = IdConverter
    app.after_request(add_security_headers)
