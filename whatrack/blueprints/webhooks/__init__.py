from flask import Blueprint

from whatrack.extensions import csrf

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)  # authenticated by Meta's and Stripe's HMAC signatures, not cookies

from whatrack.blueprints.webhooks import meta, stripe  # noqa: E402, F401
