"""The copilot reads quiet conversations and proposes sales (queue "copilot": it may lag).

It only reads messages and writes proposals; it has no way to send anything to a customer.
"""

from __future__ import annotations

import logging

import dramatiq

from whatrack.extensions import db
from whatrack.models import Organization
from whatrack.services.copilot import review
from whatrack.tenancy import bind_org

log = logging.getLogger(__name__)


# A crash (database down, a bug) is retried; an LLM failure never raises (the detector falls
# back to the built-in one). The review row lock keeps two workers off the same ticket.
@dramatiq.actor(actor_name=review.REVIEW_ACTOR, queue_name="copilot", max_retries=3,
                min_backoff=5_000, max_backoff=120_000, time_limit=120_000)
def review_ticket_sales(org_id: int, ticket_id: int) -> None:
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        if org is None:
            return
        outcome = review.review_ticket(org, ticket_id)
        db.session.commit()
        log.debug("copilot review of ticket %s: %s", ticket_id, outcome)


@dramatiq.actor(queue_name="default", max_retries=0)
def sweep_copilot_reviews() -> None:
    """Enqueue the review of every conversation that has now been quiet long enough."""
    due = review.claim_due_reviews()
    db.session.commit()
    for org_id, ticket_id in due:
        review_ticket_sales.send(org_id, ticket_id)
    if due:
        log.info("copilot: %d conversations to read", len(due))
