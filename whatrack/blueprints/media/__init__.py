from flask import Blueprint

bp = Blueprint("media", __name__)

from whatrack.blueprints.media import routes  # noqa: E402, F401
