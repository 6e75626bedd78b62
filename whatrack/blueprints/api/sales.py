"""Sales the copilot or Meta proposed, and their approval: GET /api/v1/sales, approve, reject."""

from __future__ import annotations

from flask import jsonify, request

from whatrack.blueprints.api import bp
from whatrack.blueprints.api.serializers import conversion_event_json, sale_json
from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.models import Sale
from whatrack.services.conversions import queries as conversions_query
from whatrack.services.copilot import queries as copilot_queries
from whatrack.services.tickets import queries as tickets_query
from whatrack.services.tickets import sales
from whatrack.services.tickets.money import parse_amount
from whatrack.tenancy import current_org


def _optional_body() -> dict:
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("send a JSON object (Content-Type: application/json)")
    return body


@bp.get("/sales")
def list_sales():
    page = copilot_queries.list_sales(current_org, status=request.args.get("status") or None,
                                      cursor=request.args.get("cursor"),
                                      limit=tickets_query.page_size(request.args.get("limit")))
    return jsonify({"data": [sale_json(s) for s in page.items], "next_cursor": page.next_cursor})


@bp.post("/sales/<int:sale_id>/approve")
def approve_sale(sale_id: int):
    sale = Sale.get_for_org_or_404(sale_id, current_org)
    body = _optional_body()
    value = parse_amount(body["value"], style="api") if body.get("value") is not None else None
    sale = sales.approve_sale(current_org, sale.id, None, value)
    db.session.commit()
    event = conversions_query.sale_purchase_event(current_org, sale)
    return jsonify({"sale": sale_json(sale),
                    "conversion_event": conversion_event_json(event) if event else None})


@bp.post("/sales/<int:sale_id>/reject")
def reject_sale(sale_id: int):
    sale = Sale.get_for_org_or_404(sale_id, current_org)
    reason = _optional_body().get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ValidationError("reason must be a string", field="reason")
    sale = sales.reject_sale(current_org, sale.id, None, reason)
    db.session.commit()
    return jsonify({"sale": sale_json(sale)})
