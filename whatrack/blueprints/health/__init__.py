from flask import Blueprint

bp = Blueprint("health", __name__)

from whatrack.blueprints.health import routes  # noqa: E402, F401
