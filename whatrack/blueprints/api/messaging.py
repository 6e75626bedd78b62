"""POST /api/v1/tickets/<id>/messages and GET /api/v1/templates: replying through the API."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from whatrack.blueprints.api import bp
from whatrack.blueprints.api.serializers import message_json
from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.models import Ticket
from whatrack.services.messaging import commands, templates
from whatrack.tenancy import current_org


@bp.post("/tickets/<int:ticket_id>/messages")
def send_ticket_message(ticket_id: int):
    """{"text": "..."} inside the 24h window, or {"template": {name, language, parameters}}."""
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError(_("Send a JSON object (Content-Type: application/json)."))
    sender = commands.Sender(origin="api", api_key=g.api_key)
    if "template" in body:
        spec = body["template"]
        if not isinstance(spec, dict):
            raise ValidationError(_("template must be an object with name, language and "
                                    "parameters."), field="template")
        message = commands.send_template(current_org, ticket, spec.get("name"),
                                         spec.get("language"), spec.get("parameters"), sender)
    elif "text" in body:
        message = commands.send_text(current_org, ticket, body.get("text"), sender)
    else:
        raise ValidationError(_("Give either text or template."), field="text")
    db.session.commit()
    return jsonify({"message": message_json(message)}), 201


@bp.get("/templates")
def list_message_templates():
    """The organization's templates as last synced from Meta (every status)."""
    rows = templates.list_templates(current_org)
    return jsonify({"data": [templates.template_json(t) for t in rows], "next_cursor": None})
