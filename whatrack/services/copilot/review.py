"""When and how the copilot reads a ticket, and how a detection becomes a proposal.

Each new message sets the ticket's review due COPILOT_DEBOUNCE_SECONDS later (a later
message pushes it back); a sweeper every few seconds claims the due ones and enqueues their
review. No queue message waits a minute per chat message, and a lost message is claimed
again after a lease. The review reads only when messages arrived since the last one it read.
It never writes to the customer: the only thing it creates is a proposed sale.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from whatrack.extensions import db
from whatrack.integrations.llm import LLMSettings
from whatrack.models import CopilotReview, Message, Organization, Sale, Ticket, utcnow
from whatrack.models.base import dialect_insert, reusable_statement
from whatrack.services.copilot.builtin import BuiltinDetector
from whatrack.services.copilot.detection import ChatMessage, Detection, SaleDetector
from whatrack.services.copilot.llm_detector import LLMDetector
from whatrack.services.copilot.queries import llm_configured, settings_of
from whatrack.services.tickets import sales as sales_service
from whatrack.tenancy import unscoped

log = logging.getLogger(__name__)

REVIEW_ACTOR = "review_ticket_sales"
# The built-in detector reads this many of the latest messages (the LLM one fewer).
READ_MESSAGES = 60
SAME_SALE_WINDOW = timedelta(days=1)
CLAIM_BATCH = 500
CLAIM_LEASE = timedelta(minutes=2)


def debounce_seconds() -> int:
    return int(current_app.config.get("COPILOT_DEBOUNCE_SECONDS", 60))


def schedule_review(org: Organization, ticket: Ticket) -> None:
    """After a new message on ``ticket``: read it once the conversation is quiet."""
    schedule_reviews([(org.id, ticket.id)])


def schedule_reviews(tickets: Iterable[tuple[int, int]]) -> None:
    """``schedule_review`` for (organization id, ticket id) pairs, in one statement.

    One statement on the webhook path, for a whole batch of deliveries: whether the
    organization switched the copilot off is checked when the review runs, not here.
    """
    now = utcnow()
    due = now + timedelta(seconds=debounce_seconds())
    rows = [{"organization_id": org_id, "ticket_id": ticket_id, "last_message_id": 0,
             "due_at": due, "created_at": now} for org_id, ticket_id in sorted(set(tickets))]
    if not rows:
        return

    def build() -> Any:
        stmt = dialect_insert(CopilotReview)
        return stmt.on_conflict_do_update(index_elements=["ticket_id"],
                                          set_={"due_at": stmt.excluded.due_at})

    db.session.execute(reusable_statement("copilot_review_due", build), rows)


def claim_due_reviews(now: datetime | None = None, limit: int = CLAIM_BATCH
                      ) -> list[tuple[int, int]]:
    """(organization id, ticket id) of every review now due, across tenants (the sweeper).

    Claimed rows are leased for CLAIM_LEASE: if the queue message is lost, the next sweep
    after the lease claims them again; the review clears the row when it runs.
    """
    now = now or utcnow()
    due = (select(CopilotReview.id).where(CopilotReview.due_at <= now)
           .order_by(CopilotReview.due_at).limit(limit).with_for_update(skip_locked=True))
    stmt = (update(CopilotReview).where(CopilotReview.id.in_(due.scalar_subquery()))
            .values(due_at=now + CLAIM_LEASE)
            .returning(CopilotReview.organization_id, CopilotReview.ticket_id)
            .execution_options(synchronize_session=False))
    with unscoped():
        return [(row.organization_id, row.ticket_id) for row in db.session.execute(stmt)]


def detector_for(org: Organization) -> SaleDetector:
    if settings_of(org).detector == "llm" and llm_configured():
        config = current_app.config
        return LLMDetector(LLMSettings(base_url=config["LLM_BASE_URL"], model=config["LLM_MODEL"],
                                       api_key=config.get("LLM_API_KEY"),
                                       timeout=float(config.get("LLM_TIMEOUT", 20))))
    return BuiltinDetector()


def _lock_review(org: Organization, ticket: Ticket) -> CopilotReview:
    db.session.execute(dialect_insert(CopilotReview)
                       .values(organization_id=org.id, ticket_id=ticket.id, last_message_id=0,
                               created_at=utcnow())
                       .on_conflict_do_nothing(index_elements=["ticket_id"]))
    return db.session.scalars(select(CopilotReview).where(CopilotReview.ticket_id == ticket.id)
                              .with_for_update()).one()


def _chat(messages: list[Message]) -> list[ChatMessage]:
    return [ChatMessage(str(m.id), m.direction, m.text or m.media_caption or "")
            for m in messages if (m.text or m.media_caption)]


def review_ticket(org: Organization, ticket_id: int, now: datetime | None = None) -> str:
    """Read the ticket's new messages and propose the sales found; returns what happened."""
    now = now or utcnow()
    ticket = Ticket.get_for_org(ticket_id, org)
    if ticket is None:
        return "gone"  # its review row went with it (ON DELETE CASCADE)
    review = _lock_review(org, ticket)
    if not settings_of(org).enabled:
        review.due_at = None  # switched off: the sweeper stops claiming it
        return "disabled"
    latest = db.session.scalars(select(Message).where(Message.ticket_id == ticket.id)
                                .order_by(Message.id.desc()).limit(1)).first()
    if latest is None:
        review.due_at = None
        return "empty"
    quiet_at = latest.created_at + timedelta(seconds=debounce_seconds())
    if now < quiet_at:
        review.due_at = quiet_at  # a message arrived after the claim: read it later
        return "not_quiet"
    review.due_at = None
    if review.last_message_id >= latest.id:
        return "already_read"
    # The latest messages in the order they were written (webhooks may arrive out of order).
    recent = sorted(db.session.scalars(
        select(Message).where(Message.ticket_id == ticket.id, Message.id <= latest.id)
        .order_by(Message.id.desc()).limit(READ_MESSAGES)).all(),
        key=lambda m: (m.timestamp, m.id))
    detector = detector_for(org)
    proposed = 0
    for detection in detector.detect(_chat(recent)):
        if propose(org, ticket, detection, now) is not None:
            proposed += 1
    review.last_message_id, review.reviewed_at = latest.id, now
    review.detector = detector.name
    review.outcome = f"proposed {proposed}" if proposed else "nothing"
    db.session.flush()
    log.info("copilot read ticket %s up to message %s with %s: %s", ticket.id, latest.id,
             detector.name, review.outcome)
    return review.outcome


def _ticket_sales(ticket: Ticket) -> list[Sale]:
    return list(db.session.scalars(select(Sale).where(Sale.ticket_id == ticket.id)))


def blocked_by(sales: list[Sale], value: Decimal, now: datetime) -> str | None:
    """Why a proposal of ``value`` must not be made, if it must not."""
    for sale in sales:
        if sale.value != value:
            continue
        if sale.status == "proposed":
            return "pending_same_value"
        if sale.counts and sale.decided_at and now - sale.decided_at <= SAME_SALE_WINDOW:
            return "approved_same_value"
    return None


def propose(org: Organization, ticket: Ticket, detection: Detection,
            now: datetime) -> Sale | None:
    """A proposal from a detection, unless those messages already proposed (or were
    rejected), or the same sale is already recorded or waiting."""
    sales = _ticket_sales(ticket)
    evidence = {int(i) for i in detection.evidence_message_ids if str(i).isdigit()}
    for sale in sales:
        if evidence & set(sale.evidence_message_ids):
            log.info("copilot: messages %s already led to sale %s (%s)", sorted(evidence),
                     sale.id, sale.status)
            return None
    blocked = blocked_by(sales, detection.value, now)
    if blocked:
        log.info("copilot: no proposal of %s on ticket %s: %s", detection.value, ticket.id,
                 blocked)
        return None
    return sales_service.propose_sale(
        org, ticket, sales_service.SaleInput(value=detection.value, currency=detection.currency),
        origin="copilot", confidence=Decimal(str(round(detection.confidence, 2))),
        reason=detection.reason,
        evidence={"message_ids": sorted(evidence), "detector": detection.detector,
                  "notes": list(detection.notes)})
