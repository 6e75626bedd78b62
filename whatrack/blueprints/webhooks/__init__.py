from flask import Blueprint

from whatrack.extensions import csrf

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)  # authenticated by Meta's HMAC signature, not cookies

from whatrack.blueprints.webhooks import meta  # noqa: E402, F401
