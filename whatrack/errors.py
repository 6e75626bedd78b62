"""One exception tree, mapped to HTTP in one place (JSON under /api, HTML elsewhere).

Services raise these and never speak HTTP; the handlers below choose the answer by the
kind of request: JSON for the API and scripts, a flash and a redirect for a form whose
view named where to go back to (``redirect_on_error``), an error page otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from functools import wraps
from typing import TYPE_CHECKING, Any

from flask import (
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from whatrack.extensions import db
from whatrack.integrations.meta.errors import MetaError
from whatrack.problems import meta_problem

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


class WhaTrackError(Exception):
    """A rule of the domain refused the operation; the message is safe to show."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class ValidationError(WhaTrackError):
    status = 422
    code = "validation_error"


class QueryError(ValidationError):
    """A query-string argument that cannot be read (cursor, limit, dates, ids): a bad request.

    The ``validation_error`` code stays, so clients keyed on it keep working; the status is
    400 because the request itself is malformed, not a well-formed entity we refuse (D-log).
    """

    status = 400


class ConflictError(WhaTrackError):
    status = 409
    code = "conflict"


class NotFound(WhaTrackError):
    """Missing, or another organization's: both answer the same, so ids leak nothing."""

    status = 404
    code = "not_found"

    def __init__(self, message: str | None = None, **kwargs: Any):
        super().__init__(message or _("Page not found."), **kwargs)


class NotConfigured(WhaTrackError):
    status = 503
    code = "not_configured"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "text/html"
    ]


def error_response(status: int, code: str, message: str, **extra: Any):
    if wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        body.update(extra)
        return jsonify({"error": body}), status
    return render_template("errors/error.html", status=status, message=message), status


def _http_message(status: int) -> str:
    return {
        400: _("The request could not be understood."),
        401: _("Authentication required."),
        403: _("You do not have permission to do this."),
        404: _("Page not found."),
        405: _("Method not allowed."),
        413: _("The request is too large."),
        429: _("Too many attempts. Please wait a few minutes."),
        503: _("Service temporarily unavailable."),
    }.get(status, _("Something went wrong."))


def redirect_on_error(endpoint: str, message: Any = None,
                      meta_message: Any = None) -> Callable[[Callable], Callable]:
    """A form view: a refusal flashes and redirects to ``endpoint`` instead of an error page.

    ``message`` (``%(error)s`` is the refusal) and ``meta_message`` (Meta's words) let a view
    say what failed; a NotFound still answers 404, and a Meta error is only caught with
    ``meta_message``.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.error_redirect = (endpoint, message, meta_message)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _flash_redirect(template: Any, error: str, details: list | None = None):
    endpoint = g.error_redirect[0]
    text = str(template) % {"error": error} if template else error
    flash({"text": text, "details": details} if details else text, "error")
    return redirect(url_for(endpoint))


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(WhaTrackError)
    def handle_domain_error(exc: WhaTrackError):
        db.session.rollback()
        if g.get("error_redirect") and not isinstance(exc, NotFound) and not wants_json():
            return _flash_redirect(g.error_redirect[1], exc.message)
        extra = {"field": exc.field} if exc.field else {}
        return error_response(exc.status, exc.code, exc.message, **extra)

    @app.errorhandler(MetaError)
    def handle_meta_error(exc: MetaError):
        db.session.rollback()
        if g.get("error_redirect") and g.error_redirect[2] and not wants_json():
            problem = meta_problem(exc)
            return _flash_redirect(g.error_redirect[2], problem.text,
                                   problem.as_flash()["details"])
        return handle_unexpected(exc)

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        db.session.rollback()
        status = exc.code or 500
        message = exc.description if getattr(exc, "whatrack_message", False) else _http_message(
            status
        )
        return error_response(status, HTTP_CODES.get(status, "error"), message)

    @app.errorhandler(OperationalError)
    def handle_database_unavailable(exc: OperationalError):
        # PostgreSQL refused, dropped or deadlocked the request: nothing was committed and
        # the same request may work in a moment, so "try again" (503), not "our bug" (500).
        with suppress(SQLAlchemyError):
            db.session.rollback()
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    str(exc.orig or exc).splitlines()[0][:200])
        try:
            response = make_response(error_response(503, HTTP_CODES[503], _http_message(503)))
        except SQLAlchemyError:  # the page's layout needed the database too
            response = make_response(_http_message(503), 503)
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", _("Something went wrong. We were notified."))
