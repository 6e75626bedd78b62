from flask import Blueprint

bp = Blueprint("settings", __name__)

from whatrack.blueprints.settings import meta, quick_replies, routes, stages  # noqa: E402, F401
