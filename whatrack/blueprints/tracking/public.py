"""/t/<code>: the public tracking redirect (no login; the link's code names its organization)."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request
from flask_babel import force_locale

from whatrack.blueprints.tracking import bp
from whatrack.errors import NotFound
from whatrack.extensions import db
from whatrack.models.tracking import UTM_FIELDS
from whatrack.services.tracking import commands as tracking
from whatrack.services.tracking.visitors import ip_hash

VISIT_PARAMS = (*UTM_FIELDS, "fbclid", "gclid")


@bp.get("/t/<code>")
def follow(code: str):
    visit = tracking.Visit(
        user_agent=request.headers.get("User-Agent"),
        ip_hash=ip_hash(request.remote_addr, current_app.config["SECRET_KEY"]),
        referrer=request.headers.get("Referer"),
        params={key: request.args.get(key, "") for key in VISIT_PARAMS if key in request.args},
    )
    try:
        target = tracking.record_visit(code, visit)
    except NotFound:
        db.session.rollback()
        # The visitor is a clinic's customer, whatever their browser says: Portuguese.
        with force_locale("pt_BR"):
            html = render_template("tracking/missing.html")
        return html, 404, {"Cache-Control": "no-store"}
    db.session.commit()
    response = redirect(target.url, code=302)
    # Every visit must reach us to be counted, and the code in the text is per visit.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
