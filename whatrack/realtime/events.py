"""Publishing organization events, always after the unit of work commits."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from whatrack.after_commit import run_after_commit
from whatrack.extensions import db

log = logging.getLogger(__name__)


def envelope(event_type: str, org_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Small frames (ids and display fields); clients fetch full objects over HTTP."""
    return {"type": event_type, "org_id": org_id, "data": data}


def publish_after_commit(org_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Publish to ``org_id``'s channel once the current unit of work commits."""
    hub = current_app.extensions["realtime"]
    frame = envelope(event_type, org_id, data)
    run_after_commit(db.session(), lambda: hub.publish(org_id, frame))
