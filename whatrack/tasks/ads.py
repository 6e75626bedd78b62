"""Ad names from the Marketing API: on demand for a new ad id, and refreshed daily."""

from __future__ import annotations

import logging

import dramatiq

from whatrack.extensions import db
from whatrack.services.tracking import ads

log = logging.getLogger(__name__)


@dramatiq.actor(actor_name=ads.RESOLVE_ACTOR, queue_name="default", max_retries=3,
                min_backoff=60_000)
def resolve_meta_ads(org_id: int) -> None:
    """Name one organization's new and stale ads (errors are kept on the rows, not raised)."""
    ads.refresh_org(org_id)


@dramatiq.actor(queue_name="default", max_retries=0)
def refresh_ad_names() -> None:
    """Daily: every organization whose cached ad names are more than a day old."""
    org_ids = ads.organizations_with_stale_ads()
    db.session.rollback()
    for org_id in org_ids:
        resolve_meta_ads.send(org_id)
    if org_ids:
        log.info("ad names refresh enqueued for %d organizations", len(org_ids))
