from flask import Blueprint

bp = Blueprint("settings", __name__)

from whatrack.blueprints.settings import routes  # noqa: E402, F401
