"""Platform-wide outbox upkeep for the sweeper (the only cross-tenant CAPI queries)."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import func, select, update

from whatrack.extensions import db
from whatrack.integrations.meta import capi
from whatrack.models import MetaConversionEvent, utcnow
from whatrack.tenancy import unscoped

# A message just enqueued by the normal path is not re-enqueued by the sweeper.
GRACE = timedelta(seconds=60)
# Parallel messages per organization, each locking its own batch (SKIP LOCKED).
MAX_MESSAGES_PER_ORG = 4


def due_organizations() -> list[tuple[int, int]]:
    """(organization id, messages to enqueue) for every organization with overdue events."""
    cutoff = utcnow() - GRACE
    stmt = (select(MetaConversionEvent.organization_id, func.count())
            .where(MetaConversionEvent.status == "pending",
                   MetaConversionEvent.next_attempt_at <= cutoff)
            .group_by(MetaConversionEvent.organization_id))
    with unscoped():
        rows = db.session.execute(stmt).all()
    return [(org_id, min(MAX_MESSAGES_PER_ORG, math.ceil(count / capi.MAX_BATCH)))
            for org_id, count in rows]


def skip_expired_events() -> int:
    """Pending events Meta would now refuse (older than 7 days) end ``skipped``."""
    limit = utcnow() - capi.MAX_EVENT_AGE + capi.AGE_MARGIN
    stmt = (update(MetaConversionEvent)
            .where(MetaConversionEvent.status == "pending",
                   MetaConversionEvent.event_time < limit)
            .values(status="skipped", reason_code="too_old", next_attempt_at=None)
            .execution_options(synchronize_session=False))
    with unscoped():
        return db.session.execute(stmt).rowcount or 0
