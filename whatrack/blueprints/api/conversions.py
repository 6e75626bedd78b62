"""GET /api/v1/conversion-events: the CAPI audit log for integrators."""

from __future__ import annotations

from flask import jsonify, request

from whatrack.blueprints.api import bp
from whatrack.blueprints.api.serializers import conversion_event_json
from whatrack.errors import QueryError
from whatrack.services.conversions import queries as conversions_query
from whatrack.services.tickets.queries import page_size
from whatrack.tenancy import current_org


@bp.get("/conversion-events")
def list_conversion_events():
    """Newest first; ``status``, ``from`` / ``to`` (YYYY-MM-DD, org timezone), ``ticket_id``."""
    audit_filter, errors = conversions_query.parse_filter(request.args)
    if errors:
        field, message = next(iter(errors.items()))
        raise QueryError(message, field=field)
    page = conversions_query.list_events(current_org, audit_filter,
                                         cursor=request.args.get("cursor"),
                                         limit=page_size(request.args.get("limit")))
    return jsonify({"data": [conversion_event_json(e) for e in page.items],
                    "next_cursor": page.next_cursor})
