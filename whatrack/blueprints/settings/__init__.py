from flask import Blueprint

bp = Blueprint("settings", __name__)

from whatrack.blueprints.settings import (  # noqa: E402, F401
    copilot,
    messaging,
    meta,
    routes,
    stages,
    whatsapp,
)
