from flask import Blueprint

bp = Blueprint("settings", __name__)

from whatrack.blueprints.settings import messaging, meta, routes, stages, whatsapp  # noqa: E402, F401
