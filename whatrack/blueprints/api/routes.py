"""JSON API v1 endpoints."""

from __future__ import annotations

from flask import jsonify

from whatrack.blueprints.api import bp
from whatrack.blueprints.api.serializers import organization_json
from whatrack.tenancy import current_org


@bp.get("/me")
def me():
    return jsonify({"organization": organization_json(current_org)})

