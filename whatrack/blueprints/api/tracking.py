"""JSON API v1: tracking links and the ads report (issue 12)."""

from __future__ import annotations

from flask import jsonify, request, url_for

from whatrack.blueprints.api import bp
from whatrack.blueprints.api.serializers import tracking_link_json
from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.models.tracking import UTM_FIELDS
from whatrack.services.reports import ads as report_service
from whatrack.services.reports import stats as stats_service
from whatrack.services.tracking import commands as tracking
from whatrack.services.tracking import queries as tracking_query
from whatrack.tenancy import current_org


def _url(code: str) -> str:
    return url_for("tracking.follow", code=code, _external=True)


@bp.post("/tracking-links")
def create_tracking_link():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("send a JSON object (Content-Type: application/json)")
    data = tracking.link_input(body.get("name"), body.get("message"),
                               {key: body.get(key) for key in UTM_FIELDS})
    if not isinstance(body.get("phone_number_id"), (str, int)) or not str(
            body.get("phone_number_id")).strip():
        raise ValidationError("phone_number_id is required", field="phone_number_id")
    account = tracking.account_for_link(current_org,
                                        phone_number_id=str(body["phone_number_id"]).strip())
    link = tracking.create_link(current_org, account, data)
    db.session.commit()
    return jsonify({"id": link.id, "code": link.code, "url": _url(link.code)}), 201


@bp.get("/tracking-links")
def list_tracking_links():
    rows = tracking_query.list_links(current_org)
    return jsonify({"data": [tracking_link_json(row, _url(row.link.code)) for row in rows],
                    "next_cursor": None})


@bp.get("/reports/ads")
def ads_report():
    period = stats_service.parse_period(current_org, request.args.get("from"),
                                        request.args.get("to"))
    report = report_service.build_report(current_org, period, request.args.get("stage"))
    db.session.commit()
    return jsonify(report_service.report_json(report))
