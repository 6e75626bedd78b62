"""Bearer-key authentication for /api/v1: every request is scoped to the key's org."""

from __future__ import annotations

from flask import g, request
from flask_babel import gettext as _

from whatrack.blueprints.api import bp
from whatrack.blueprints.billing.guard import refuse_if_read_only
from whatrack.errors import error_response
from whatrack.extensions import db
from whatrack.models import utcnow
from whatrack.services.accounts.apikeys import find_active_key
from whatrack.tenancy import bind_api_org

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@bp.before_request
def authenticate_api_key():
    header = request.headers.get("Authorization", "")
    scheme, _sep, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return error_response(401, "unauthorized", _("Missing API key (Authorization: Bearer)."))
    api_key = find_active_key(key.strip())
    if api_key is None:
        return error_response(401, "unauthorized", _("Invalid or revoked API key."))
    if api_key.read_only and request.method not in READ_METHODS:
        return error_response(403, "read_only_key",
                              _("This API key is read-only: it can only make GET requests."))
    g.api_key = api_key
    bind_api_org(api_key.organization)
    # Touch at most once a minute so a busy integration does not write every request.
    now = utcnow()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        api_key.last_used_at = now
        db.session.commit()
    # Reads keep working for an organization that has not paid; writes answer 402.
    return refuse_if_read_only()
