"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

from whatrack import create_app
from whatrack.tasks import load_actors

app = create_app()
load_actors()
