from flask import Blueprint

bp = Blueprint("data_deletion", __name__)

from whatrack.blueprints.data_deletion import routes  # noqa: E402, F401
