"""JSON API v1 endpoints: thin views over the services, scoped to the key's organization."""

from __future__ import annotations

from flask import jsonify, request

from whatrack.blueprints.api import bp
from whatrack.blueprints.api.serializers import (
    conversion_event_json,
    message_json,
    organization_json,
    sale_json,
    ticket_json,
)
from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.models import Ticket
from whatrack.services.conversions import queries as conversions_query
from whatrack.services.reports import stats as stats_service
from whatrack.services.tickets import commands as ticket_service
from whatrack.services.tickets import queries as tickets_query
from whatrack.services.tickets import sales
from whatrack.services.tickets.money import parse_amount, parse_currency
from whatrack.tenancy import current_org


@bp.get("/me")
def me():
    return jsonify({"organization": organization_json(current_org)})


@bp.get("/tickets")
def list_tickets():
    page = tickets_query.list_tickets(current_org, cursor=request.args.get("cursor"),
                                      limit=tickets_query.page_size(request.args.get("limit")),
                                      status=request.args.get("status"))
    return jsonify({"data": [ticket_json(t) for t in page.items],
                    "next_cursor": page.next_cursor})


@bp.get("/tickets/<int:ticket_id>/messages")
def list_ticket_messages(ticket_id: int):
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    after = tickets_query.parse_id(request.args.get("after"), "after",
                                   "after must be a message id")
    page = tickets_query.list_messages(current_org, ticket, after=after,
                                       limit=tickets_query.page_size(request.args.get("limit")))
    return jsonify({"data": [message_json(m) for m in page.items],
                    "next_cursor": page.next_cursor})


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("send a JSON object (Content-Type: application/json)")
    return body


@bp.patch("/tickets/<int:ticket_id>")
def update_ticket(ticket_id: int):
    body = _json_body()
    ticket = ticket_service.lock_ticket(current_org, ticket_id)
    if "stage_id" in body:
        stage = ticket_service.stage_of(current_org, body["stage_id"])
        if stage.kind == "won":
            raise ValidationError("a ticket is won by a sale: POST /tickets/<id>/sales",
                                  field="stage_id")
        ticket_service.move_ticket(current_org, ticket, stage, None,
                                   lost_reason=body.get("lost_reason"),
                                   lost_note=body.get("lost_note"))
    if "assignee" in body:
        assignee = None
        if body["assignee"] is not None:
            assignee = ticket_service.member_of(current_org, body["assignee"])
        ticket_service.assign_ticket(current_org, ticket, assignee, None)
    db.session.commit()
    return jsonify({"ticket": ticket_json(ticket)})


def _sale_input(body: dict) -> sales.SaleInput:
    if not isinstance(body.get("description") or "", str):
        raise ValidationError("description must be a string", field="description")
    return sales.SaleInput(value=parse_amount(body.get("value"), style="api"),
                           currency=parse_currency(body.get("currency")),
                           description=body.get("description"))


@bp.post("/tickets/<int:ticket_id>/sales")
def create_sale(ticket_id: int):
    body = _json_body()
    try:
        data = _sale_input(body)
    except ValidationError:
        # Another organization's ticket answers 404 whatever the body; on success
        # close_sale alone loads (and locks) the ticket.
        ticket_service.lock_ticket(current_org, ticket_id)
        raise
    sale = sales.close_sale(current_org, ticket_id, data, "api", None)
    db.session.commit()
    event = conversions_query.sale_purchase_event(current_org, sale)
    return jsonify({"sale": sale_json(sale),
                    "conversion_event": conversion_event_json(event) if event else None}), 201


@bp.get("/stats")
def stats():
    period = stats_service.parse_period(current_org, request.args.get("from"),
                                        request.args.get("to"))
    return jsonify(stats_service.stats_json(stats_service.compute_stats(current_org, period)))
