from flask import Blueprint

bp = Blueprint("tickets", __name__)

from whatrack.blueprints.tickets import contacts, messaging, routes, sales, ws  # noqa: E402, F401
