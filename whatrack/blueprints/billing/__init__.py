from flask import Blueprint

bp = Blueprint("billing", __name__)

from whatrack.blueprints.billing import guard, routes  # noqa: E402, F401
