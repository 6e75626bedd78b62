from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from whatrack.blueprints.dashboard import capi, routes  # noqa: E402, F401
