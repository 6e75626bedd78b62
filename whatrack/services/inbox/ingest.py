"""Turning parsed WhatsApp updates into contacts, tickets and messages (per organization)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from whatrack.extensions import db
from whatrack.integrations.meta.webhook import (
    ContactBookChange,
    InboundMessage,
    ReportedError,
    StatusUpdate,
)
from whatrack.models import (
    Contact,
    Message,
    MessageStatusEvent,
    Organization,
    Ticket,
    WhatsAppAccount,
    utcnow,
)
from whatrack.models.base import dialect_insert, reusable_statement
from whatrack.models.whatsapp import STATUS_RANK
from whatrack.realtime.events import publish_after_commit
from whatrack.services.inbox import attribution
from whatrack.services.messaging.receipts import claim_by_callback
from whatrack.services.tickets.stages import entry_stage
from whatrack.services.whatsapp.phones import canonical_wa_id, digits, mask

log = logging.getLogger(__name__)

SERVICE_WINDOW = timedelta(hours=24)
PREVIEW_LENGTH = 160
# Meta's "message type not supported" (coexistence: polls, view-once...): kept as a placeholder.
UNSUPPORTED_CODE = 131060


@dataclass(frozen=True)
class Received:
    message: Message
    ticket: Ticket
    ticket_created: bool


def _bsuid_key(bsuid: str) -> str:
    return f"bsuid:{bsuid}"[:128]  # a BSUID may be 131 characters long


def _contact_key(org: Organization, item: InboundMessage) -> tuple[str, str | None]:
    """(canonical id, id as reported). Username-only users (BSUID era) have no phone.

    A withheld phone resolves through the BSUID to the contact already known by its phone;
    a username-only contact whose phone appears is re-keyed by it (meta-platform.md 8).
    """
    reported = digits(item.customer_wa_id)
    if reported:
        wa_id = canonical_wa_id(reported)
        if item.bsuid:
            _adopt_username_contact(org, wa_id, item.bsuid)
        return wa_id, reported
    if item.bsuid:
        known = db.session.scalars(
            select(Contact.wa_id)
            .where(Contact.organization_id == org.id, Contact.bsuid == item.bsuid[:128])
            .order_by(Contact.id)
        ).first()
        return known or _bsuid_key(item.bsuid), None
    raise ValueError("message without a customer id")


def _adopt_username_contact(org: Organization, wa_id: str, bsuid: str) -> None:
    """Give the phone to the username-only contact of ``bsuid``, unless the phone has one."""
    phone_taken = (
        select(Contact.id)
        .where(Contact.organization_id == org.id, Contact.wa_id == wa_id)
        .exists()
    )
    db.session.execute(
        update(Contact)
        .where(Contact.organization_id == org.id, Contact.wa_id == _bsuid_key(bsuid),
               ~phone_taken)
        .values(wa_id=wa_id)
        .execution_options(synchronize_session=False)
    )


def upsert_contact(org: Organization, item: InboundMessage) -> Contact:
    """The message's contact, created or refreshed; the row stays locked until commit.

    The upsert takes the contact's row lock on PostgreSQL, which serialises everything
    that follows for this (organization, contact): a burst of first messages opens one ticket.
    """
    wa_id, reported = _contact_key(org, item)
    values: dict[str, Any] = {"organization_id": org.id, "wa_id": wa_id, "created_at": utcnow()}
    updates: dict[str, Any] = {}
    if reported:
        values["wa_id_reported"] = updates["wa_id_reported"] = reported
    # Only the customer's own messages carry their profile name.
    if item.origin == "customer" and item.profile_name:
        values["profile_name"] = updates["profile_name"] = item.profile_name[:256]
    if item.bsuid:
        values["bsuid"] = updates["bsuid"] = item.bsuid[:128]
    refreshed = sorted(updates) or ["wa_id"]  # what a known contact takes from this message

    def build() -> Any:
        stmt = dialect_insert(Contact)
        return stmt.on_conflict_do_update(
            index_elements=["organization_id", "wa_id"],
            set_={name: stmt.excluded[name] for name in refreshed},
        ).returning(Contact)

    stmt = reusable_statement("contact_upsert:" + ",".join(refreshed), build)
    # populate_existing: a contact already in the session takes the row just written.
    return db.session.scalars(stmt, values,
                              execution_options={"populate_existing": True}).one()


def _open_ticket(org: Organization, account: WhatsAppAccount, contact: Contact) -> Ticket | None:
    stmt = select(Ticket).where(
        Ticket.contact_id == contact.id,
        Ticket.whatsapp_account_id == account.id,
        Ticket.closed_at.is_(None),
    )
    return db.session.scalars(stmt.with_for_update()).first()


def _ticket_at(account: WhatsAppAccount, contact: Contact, when: datetime) -> Ticket | None:
    """The live ticket a message written at ``when`` belongs to: the first not closed by then.

    Meta delivers late (it retries for days) and out of order: a message written before
    its ticket was closed (won with a sale, lost) belongs to that conversation, so its
    click still reaches that sale; only later messages open a new ticket. Imported
    history tickets are never reopened by live messages.
    """
    stmt = select(Ticket).where(
        Ticket.contact_id == contact.id,
        Ticket.whatsapp_account_id == account.id,
        Ticket.imported.is_(False),
        or_(Ticket.closed_at.is_(None), Ticket.closed_at >= when),
    ).order_by(Ticket.id).limit(1)
    return db.session.scalars(stmt.with_for_update()).first()


def _latest_ticket(contact: Contact) -> Ticket | None:
    stmt = select(Ticket).where(Ticket.contact_id == contact.id).order_by(Ticket.id.desc())
    return db.session.scalars(stmt.limit(1)).first()


def _new_ticket(org: Organization, account: WhatsAppAccount, contact: Contact,
                item: InboundMessage, when: datetime) -> Ticket:
    ticket = Ticket(
        organization_id=org.id,
        contact_id=contact.id,
        whatsapp_account_id=account.id,
        stage_id=entry_stage(org).id,
        lead_source="history" if item.is_history else "organic",
        imported=item.is_history,
        # A past conversation is filed closed: the customer's next live message is a new ticket.
        closed_at=utcnow() if item.is_history else None,
        unread_count=0,
    )
    # Its lead source comes from touches (attribution.record_touch), whatever message opens it.
    # Its first message is touched into the INSERT: one statement less on the hot path.
    _touch_ticket(ticket, item, when)
    db.session.add(ticket)
    db.session.flush()
    log.info("ticket %s opened (source %s)", ticket.id, ticket.lead_source)
    return ticket


def _ticket_for(org: Organization, account: WhatsAppAccount, contact: Contact,
                item: InboundMessage, when: datetime) -> tuple[Ticket, bool]:
    if item.is_history:
        ticket = _open_ticket(org, account, contact) or _latest_ticket(contact)
    else:
        ticket = _ticket_at(account, contact, when)
    if ticket is not None:
        return ticket, False
    return _new_ticket(org, account, contact, item, when), True


def _error_json(errors: tuple[ReportedError, ...]) -> dict[str, Any] | None:
    if not errors:
        return None
    first = errors[0]
    data = asdict(first)
    if len(errors) > 1:
        data["more"] = [asdict(e) for e in errors[1:]]
    return data


def _message_values(org: Organization, account: WhatsAppAccount, contact: Contact,
                    ticket: Ticket, item: InboundMessage, when: datetime) -> dict[str, Any]:
    media = item.media
    return {
        "organization_id": org.id,
        "ticket_id": ticket.id,
        "contact_id": contact.id,
        "whatsapp_account_id": account.id,
        "wamid": item.wamid,
        "direction": item.direction,
        "origin": item.origin,
        "type": item.type[:32],
        "text": item.text,
        "is_history": item.is_history,
        # Inbound messages arrived; echoes were sent by the business app already.
        "status": "read" if item.is_history else ("sent" if item.direction == "outbound"
                                                   else "delivered"),
        "error": _error_json(item.errors),
        "timestamp": when,
        "context_wamid": item.context.replied_to_wamid if item.context else None,
        "forwarded": bool(item.context and item.context.forwarded),
        "referral": item.referral.raw if item.referral else None,
        "details": item.details or None,
        "media_id": media.id if media else None,
        "media_mime_type": media.mime_type if media else None,
        "media_sha256": media.sha256 if media else None,
        "media_filename": media.filename if media else None,
        "media_caption": media.caption if media else None,
        "media_state": "pending" if media and media.id else "none",
        "created_at": utcnow(),
    }


def _insert_message(values: dict[str, Any]) -> Message | None:
    """INSERT ... ON CONFLICT DO NOTHING: a redelivered wamid is a no-op even under races."""
    stmt = reusable_statement("message_insert", lambda: (
        dialect_insert(Message)
        .on_conflict_do_nothing(index_elements=["organization_id", "wamid"])
        .returning(Message)))
    return db.session.scalars(stmt, values).one_or_none()


def _preview(item: InboundMessage) -> str:
    text = item.text or (item.media.caption if item.media else None) or f"[{item.type}]"
    return text[:PREVIEW_LENGTH]


def _touch_ticket(ticket: Ticket, item: InboundMessage, when: datetime) -> None:
    # Newer than every message of the ticket (the usual, in-order case): nothing was
    # written after it, so the unread count needs no query.
    newest = ticket.last_message_at is None or when >= ticket.last_message_at
    if newest:
        ticket.last_message_at = when
        ticket.last_message_preview = _preview(item)
    if item.origin == "customer":
        # Only the customer's own messages open the 24h window, by Meta's timestamp; a
        # `system` notice (number changed...) comes from WhatsApp, not from the customer.
        written = item.type != "system"
        if written and (ticket.last_inbound_at is None or when > ticket.last_inbound_at):
            ticket.last_inbound_at = when
            ticket.window_expires_at = when + SERVICE_WINDOW
        # Meta does not order deliveries: a message written before an answer that was
        # processed first has been read already (tests/reliability, shuffled deliveries).
        if newest or not _messages_after(ticket, when, "business_app_echo"):
            ticket.unread_count += 1
    elif item.origin == "business_app_echo":
        # The secretary answered from the phone: she has read what came before the answer,
        # not what the customer wrote after it (delivered earlier, processed first).
        after = 0 if newest else _messages_after(ticket, when, "customer")
        ticket.unread_count = min(ticket.unread_count, after)


def _messages_after(ticket: Ticket, when: datetime, origin: str) -> int:
    """Messages of ``origin`` on ``ticket`` written after ``when`` (Meta's timestamps)."""
    stmt = select(func.count()).select_from(Message).where(
        Message.organization_id == ticket.organization_id, Message.ticket_id == ticket.id,
        Message.origin == origin, Message.timestamp > when)
    with db.session.no_autoflush:  # the ticket's pending changes do not affect the count
        return db.session.scalar(stmt) or 0


def apply_contact_book_change(org: Organization, change: ContactBookChange) -> None:
    """The name the business saved on its phone, for a contact who has written to it.

    The address book also holds people who never wrote; they create nothing (a contact
    here is someone with a conversation). ``remove`` forgets the saved name, never the
    contact and its tickets. Changes are applied in arrival order.
    """
    wa_id = canonical_wa_id(digits(change.phone_number))
    if not wa_id:
        return
    if change.action == "add":
        name = (change.full_name or change.first_name or "").strip()[:256]
        if not name:
            return
    else:
        name = None
    contact_id = db.session.execute(
        update(Contact)
        .where(Contact.organization_id == org.id, Contact.wa_id == wa_id)
        .values(saved_name=name)
        .returning(Contact.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if contact_id is None:
        return
    # Boards showing this contact's cards re-fetch them with the new name.
    for ticket_id in db.session.scalars(select(Ticket.id).where(Ticket.contact_id == contact_id)):
        publish_after_commit(org.id, "ticket.updated", {"ticket_id": ticket_id,
                                                        "change": "contact"})


def receive_message(org: Organization, account: WhatsAppAccount,
                    item: InboundMessage) -> Received | None:
    """Store one inbound message, echo or history item for ``org``; None if already stored."""
    contact = upsert_contact(org, item)
    # Checked under the contact lock, so a duplicate never opens a stray ticket.
    if _lock_and_check(org, item.wamid):
        return None
    when = item.timestamp or utcnow()
    ticket, created = _ticket_for(org, account, contact, item, when)
    message = _insert_message(_message_values(org, account, contact, ticket, item, when))
    if message is None:
        return None
    if not created:
        _touch_ticket(ticket, item, message.timestamp)
    if message.direction == "outbound":  # Meta reports statuses of what was sent only
        _apply_pending_statuses(org, message)
    attribution.record_touch(org, ticket, message, item)
    db.session.flush()
    log.info("message %s stored on ticket %s from %s", message.id, ticket.id,
             mask(contact.wa_id))
    return Received(message=message, ticket=ticket, ticket_created=created)


# --- statuses ----------------------------------------------------------------------------


def lock_wamid(org: Organization, wamid: str) -> None:
    """Serialise a message's insert with its statuses, until commit.

    Without it a status processed while its message is being inserted by another worker
    is seen by neither transaction (each misses the other's uncommitted row) and is lost
    (found by tests/reliability/test_shuffled_duplicates.py). SQLite serialises writers.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(org.id, func.hashtext(wamid))))


def _lock_and_check(org: Organization, wamid: str) -> bool:
    """``lock_wamid``, and whether the message is stored already, in one round trip (the
    message path is hot)."""
    exists = select(Message.id).where(Message.organization_id == org.id,
                                      Message.wamid == wamid).scalar_subquery()
    if db.session.get_bind().dialect.name != "postgresql":
        return db.session.scalar(select(exists)) is not None
    locked = select(func.pg_advisory_xact_lock(org.id, func.hashtext(wamid)), exists)
    return db.session.execute(locked).one()[1] is not None


def _moves_forward(current: str, new: str) -> bool:
    # Failed ranks last and is terminal, so the result depends only on which statuses
    # arrived, never on the order Meta delivered them in.
    if current == "failed" or new not in STATUS_RANK:
        return False
    return STATUS_RANK[new] > STATUS_RANK.get(current, 0)


def _set_status(message: Message, status: str, when: datetime | None,
                errors: list[dict[str, Any]] | None) -> bool:
    normalized = "read" if status == "played" else status
    if not _moves_forward(message.status, normalized):
        return False
    message.status = normalized
    message.status_at = when
    if normalized == "failed" and errors:
        message.error = errors[0]
    return True


def _apply_pending_statuses(org: Organization, message: Message) -> None:
    """Statuses that arrived before their message (Meta does not order deliveries)."""
    stmt = select(MessageStatusEvent).where(MessageStatusEvent.wamid == message.wamid)
    events = sorted(db.session.scalars(stmt), key=lambda e: STATUS_RANK.get(e.status, 0))
    for event in events:
        _set_status(message, event.status, event.timestamp, event.errors)


def apply_recorded_statuses(org: Organization, message: Message) -> None:
    """Apply statuses stored before ``message`` got its wamid (a send answered late)."""
    _apply_pending_statuses(org, message)


def apply_status(org: Organization, update: StatusUpdate) -> Message | None:
    """Record a status and move its message forward; the message may not exist yet."""
    errors = [asdict(e) for e in update.errors] or None
    when = update.timestamp or utcnow()
    lock_wamid(org, update.wamid)
    stmt = (
        dialect_insert(MessageStatusEvent)
        .values(organization_id=org.id, wamid=update.wamid, status=update.status[:16],
                timestamp=when, errors=errors, conversation=update.conversation,
                pricing=update.pricing, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["organization_id", "wamid", "status"])
    )
    db.session.execute(stmt)
    message = db.session.scalars(
        select(Message).where(Message.wamid == update.wamid).with_for_update()
    ).first()
    if message is None and update.biz_opaque_callback_data:
        # Our own send whose response was lost: the status names the message by its id.
        message = claim_by_callback(org, update)
    if message is None or not _set_status(message, update.status, when, errors):
        return None
    db.session.flush()
    return message
