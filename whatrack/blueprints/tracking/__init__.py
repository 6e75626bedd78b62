from flask import Blueprint

bp = Blueprint("tracking", __name__)

from whatrack.blueprints.tracking import public, reports, routes  # noqa: E402, F401
