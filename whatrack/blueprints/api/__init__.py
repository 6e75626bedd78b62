from flask import Blueprint

from whatrack.extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # bearer keys, not cookies: CSRF does not apply

from whatrack.blueprints.api import auth, conversions, messaging, routes, sales  # noqa: E402, F401
