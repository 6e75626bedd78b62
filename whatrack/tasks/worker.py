"""Worker entry point: ``dramatiq whatrack.tasks.worker``."""

import gc

from sqlalchemy.orm import configure_mappers

from whatrack import create_app
from whatrack.tasks import load_actors

app = create_app()
load_actors()
# SQLAlchemy configures the mappers on the first query (~110 ms holding the GIL): in the
# first task of every worker process otherwise, with every other thread stopped, and
# before gc.freeze() the objects it builds would stay in the collector.
configure_mappers()
gc.freeze()  # as in wsgi.py: full collections must not walk the start-up heap
