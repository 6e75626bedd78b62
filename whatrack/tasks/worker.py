"""Worker entry point: ``dramatiq whatrack.tasks.worker``."""

from whatrack import create_app
from whatrack.tasks import load_actors

app = create_app()
load_actors()
