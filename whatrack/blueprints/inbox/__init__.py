from flask import Blueprint

bp = Blueprint("inbox", __name__)

from whatrack.blueprints.inbox import routes  # noqa: E402, F401
