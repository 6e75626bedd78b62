"""Meta's Data Deletion Request Callback and the public status page of each request."""

from __future__ import annotations

import logging

from flask import abort, current_app, jsonify, render_template, request, url_for

from whatrack.blueprints.data_deletion import bp
from whatrack.extensions import csrf, db
from whatrack.integrations.meta.facebook import parse_signed_request
from whatrack.services.meta import connection as meta_connection

log = logging.getLogger(__name__)


@bp.post("/meta/data-deletion")
@csrf.exempt  # authenticated by the signed_request (HMAC with the app secret), not cookies
def callback():
    secret = current_app.config.get("META_APP_SECRET")
    if not secret:
        return jsonify({"error": {"code": "not_configured",
                                  "message": "META_APP_SECRET is not configured"}}), 503
    data = parse_signed_request(request.form.get("signed_request"), secret)
    if data is None:
        log.warning("data deletion callback with an invalid signed_request refused")
        return jsonify({"error": {"code": "invalid_signed_request",
                                  "message": "signed_request missing or not signed by Meta"}}), 400
    deletion = meta_connection.record_deletion_request(data["user_id"], data.get("issued_at"))
    db.session.commit()
    code = deletion.confirmation_code
    return jsonify({"url": url_for("data_deletion.status", code=code, _external=True),
                    "confirmation_code": code})


@bp.get("/data-deletion/status/<code>")
def status(code: str):
    deletion = meta_connection.deletion_request(code)
    if deletion is None:
        abort(404)
    return render_template("data_deletion/status.html", deletion=deletion)
