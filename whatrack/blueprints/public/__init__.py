"""The public site: landing, pricing, legal pages and the language switch."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from whatrack.blueprints.public import routes  # noqa: E402, F401
