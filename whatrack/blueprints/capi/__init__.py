from flask import Blueprint

bp = Blueprint("capi", __name__)

from whatrack.blueprints.capi import routes  # noqa: E402, F401
