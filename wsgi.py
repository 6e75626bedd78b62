"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

import gc

from whatrack import create_app
from whatrack.tasks import load_actors

app = create_app()
load_actors()
# Everything built so far (modules, mappers, templates: ~120k objects) lives as long as the
# process. Left in the collector, every full collection walked it while holding the GIL:
# ~60 ms with every request thread stopped, the worst of the webhook intake's latencies.
gc.freeze()
