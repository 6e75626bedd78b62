"""Erase a contact at their request (LGPD art. 18, VI), keeping what the law lets us keep.

Deleted: every message (and its cached media, touches and delivery statuses), the notes,
the tickets' tracking (ad click, UTMs, referral) and the raw webhook deliveries that
carried the person's number, so a reprocess cannot bring them back.
Kept, anonymised: the contact row (sales hang off it), its tickets (stage and dates),
sales (value, currency, dates: accounting) without the copilot's quoted messages, and
conversion events without ``user_data`` (what Meta received stays provable).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import delete, select, text, update

from whatrack.errors import ConflictError
from whatrack.extensions import db
from whatrack.models import (
    Contact,
    MediaFile,
    Message,
    MessageStatusEvent,
    MetaConversionEvent,
    Organization,
    Sale,
    Ticket,
    TicketEvent,
    TicketNote,
    TicketTouch,
    User,
    WebhookEvent,
    WebhookEventRoute,
)
from whatrack.models.base import utcnow
from whatrack.tenancy import unscoped

log = logging.getLogger(__name__)

# What an erased delivery's body becomes when other organizations share it.
ERASED_BODY = b'{"erased": "contact data erased on request"}'
TICKET_TRACKING = ("ctwa_clid", "source_id", "source_type", "source_url", "ad_headline",
                   "ad_body", "ad_media_type", "ad_media_url", "referral", "utm_source",
                   "utm_medium", "utm_campaign", "utm_content", "utm_term", "fbclid",
                   "last_message_preview", "lost_note")


@dataclass(frozen=True)
class Erasure:
    contact_id: int
    messages: int
    media_files: int
    notes: int
    tickets: int
    sales_kept: int
    conversion_events_kept: int
    webhook_deliveries: int


def erase_contact(org: Organization, contact: Contact, by: User | None) -> Erasure:
    """Erase ``contact``'s personal data in one transaction (the caller commits)."""
    # The contact row lock serialises us with ingestion of a message from this number.
    contact = db.session.scalars(select(Contact).where(Contact.id == contact.id)
                                 .with_for_update()).one()
    if contact.erased_at is not None:
        raise ConflictError(_("This contact was already erased."), code="already_erased")
    numbers = {n for n in (contact.wa_id, contact.wa_id_reported) if n}
    tickets = list(db.session.scalars(select(Ticket).where(Ticket.contact_id == contact.id)
                                      .with_for_update()))
    ticket_ids = [t.id for t in tickets]
    message_ids = list(db.session.scalars(select(Message.id).where(
        Message.contact_id == contact.id)))
    wamids = [w for w in db.session.scalars(select(Message.wamid).where(
        Message.contact_id == contact.id)) if w]

    counts = {"media_files": 0, "notes": 0, "messages": 0}
    if message_ids:
        # Children first: SQLite runs without foreign-key cascades.
        counts["media_files"] = _delete(MediaFile, MediaFile.message_id.in_(message_ids))
        _delete(TicketTouch, TicketTouch.message_id.in_(message_ids))
        counts["messages"] = _delete(Message, Message.id.in_(message_ids))
    if wamids:
        _delete(MessageStatusEvent, MessageStatusEvent.wamid.in_(wamids))
    if ticket_ids:
        counts["notes"] = _delete(TicketNote, TicketNote.ticket_id.in_(ticket_ids))
        _strip_ticket_events(ticket_ids)
    now = utcnow()
    for ticket in tickets:
        for column in TICKET_TRACKING:
            setattr(ticket, column, None)
        ticket.unread_count = 0
        ticket.closed_at = ticket.closed_at or now
        ticket.window_expires_at = ticket.last_inbound_at = None
        ticket.version += 1
        db.session.add(TicketEvent(organization_id=org.id, ticket_id=ticket.id,
                                   kind="contact_erased", user_id=by.id if by else None))
    # The copilot's evidence and reason quote the conversation; value and dates stay.
    sales = db.session.execute(update(Sale).where(Sale.contact_id == contact.id)
                               .values(evidence=None, proposal_reason=None)
                               .execution_options(synchronize_session=False)).rowcount or 0
    events = _anonymise_conversion_events(ticket_ids)
    deliveries = _erase_webhook_deliveries(org, numbers)

    contact.wa_id = f"erased-{contact.id}"
    contact.wa_id_reported = contact.bsuid = contact.profile_name = contact.saved_name = None
    contact.erased_at = now
    db.session.flush()
    erasure = Erasure(contact_id=contact.id, tickets=len(tickets), sales_kept=sales,
                      conversion_events_kept=events, webhook_deliveries=deliveries, **counts)
    # Counts and ids only: the log must not keep what was just erased.
    log.info("contact %s of org %s erased by user %s: %s", contact.id, org.id,
             by.id if by else None, erasure)
    return erasure


def _delete(model: type, *where: object) -> int:
    return db.session.execute(delete(model).where(*where)
                              .execution_options(synchronize_session=False)).rowcount or 0


def _strip_ticket_events(ticket_ids: list[int]) -> None:
    """A lost stage move may carry the free-text note; the move itself stays."""
    for event in db.session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id.in_(ticket_ids))):
        if event.data and "lost_note" in event.data:
            event.data = {k: v for k, v in event.data.items() if k != "lost_note"}


def _anonymise_conversion_events(ticket_ids: list[int]) -> int:
    if not ticket_ids:
        return 0
    events = list(db.session.scalars(select(MetaConversionEvent).where(
        MetaConversionEvent.ticket_id.in_(ticket_ids))))
    for event in events:
        event.payload = _without_user_data(event.payload)
        if event.status in ("pending", "failed"):
            # Never sent now: the hashed phone and click id it needs are gone.
            event.status, event.reason_code, event.next_attempt_at = \
                "skipped", "contact_erased", None
    return len(events)


def _without_user_data(payload: str | None) -> str | None:
    if not payload:
        return payload
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    if isinstance(event, dict) and "user_data" in event:
        event["user_data"] = {"erased": True}
    return json.dumps(event, separators=(",", ":"), sort_keys=True)


def _erase_webhook_deliveries(org: Organization, numbers: set[str]) -> int:
    """Raw deliveries routed to ``org`` that carry the person's number.

    Deleted when only this organization received them; otherwise (one delivery naming
    several tenants' numbers) the body is replaced, the other tenants' rows being applied
    already. Numbers are searched as the quoted JSON string Meta sends.
    """
    if not numbers:
        return 0
    dialect = db.session.get_bind().dialect.name
    finder = "position(:needle in webhook_events.body) > 0" if dialect == "postgresql" \
        else "instr(webhook_events.body, :needle) > 0"
    ids: set[int] = set()
    with unscoped():
        routed = select(WebhookEventRoute.webhook_event_id).where(
            WebhookEventRoute.organization_id == org.id)
        for number in numbers:
            ids.update(db.session.scalars(
                select(WebhookEvent.id).where(WebhookEvent.id.in_(routed))
                .where(text(finder).bindparams(needle=f'"{number}"'.encode()))))
        if not ids:
            return 0
        shared = set(db.session.scalars(select(WebhookEventRoute.webhook_event_id).where(
            WebhookEventRoute.webhook_event_id.in_(ids),
            WebhookEventRoute.organization_id != org.id)))
        if shared:
            db.session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(shared))
                               .values(body=ERASED_BODY)
                               .execution_options(synchronize_session=False))
        own = ids - shared
        if own:
            _delete(WebhookEventRoute, WebhookEventRoute.webhook_event_id.in_(own))
            _delete(WebhookEvent, WebhookEvent.id.in_(own))
    return len(ids)
