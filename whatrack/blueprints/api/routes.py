"""JSON API v1 endpoints."""

from __future__ import annotations

from flask import jsonify

from whatrack.blueprints.api import bp
from whatrack.blueprints.api.serializers import organization_json
from whatrack.tenancy import current_org


@bp.get("/me")
def me():
    return jsonify({"organization": organization_json(current_org)})



@bp.get("/tickets")
def list_tickets():
    from flask import request

    from whatrack.blueprints.api.serializers import ticket_json
    from whatrack.services.tickets_query import list_tickets as query
    from whatrack.services.tickets_query import page_size

    page = query(current_org, cursor=request.args.get("cursor"),
                 limit=page_size(request.args.get("limit")), status=request.args.get("status"))
    return jsonify({"data": [ticket_json(t) for t in page.items],
                    "next_cursor": page.next_cursor})


@bp.get("/tickets/<int:ticket_id>/messages")
def list_ticket_messages(ticket_id: int):
    from flask import request

    from whatrack.blueprints.api.serializers import message_json
    from whatrack.errors import ValidationError
    from whatrack.models import Ticket
    from whatrack.services.tickets_query import list_messages, page_size

    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    after = request.args.get("after")
    if after is not None and not after.isdigit():
        raise ValidationError("after must be a message id", field="after")
    page = list_messages(current_org, ticket, after=int(after) if after else None,
                         limit=page_size(request.args.get("limit")))
    return jsonify({"data": [message_json(m) for m in page.items],
                    "next_cursor": page.next_cursor})
