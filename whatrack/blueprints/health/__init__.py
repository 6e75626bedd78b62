from flask import Blueprint

bp = Blueprint("health", __name__)

from whatrack.blueprints.health import metrics, routes  # noqa: E402, F401
