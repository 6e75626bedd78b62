"""Worker entry point: ``dramatiq whatrack.tasks.worker``."""

import gc

from whatrack import create_app
from whatrack.tasks import load_actors

app = create_app()
load_actors()
gc.freeze()  # as in wsgi.py: full collections must not walk the start-up heap
