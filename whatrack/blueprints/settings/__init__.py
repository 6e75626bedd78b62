from flask import Blueprint

bp = Blueprint("settings", __name__)

from whatrack.blueprints.settings import copilot, meta, routes, stages  # noqa: E402, F401
