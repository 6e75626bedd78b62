"""Optional blue ticks: when an agent opens a conversation, tell Meta it was read."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from whatrack.extensions import db
from whatrack.models import Message, Organization, Ticket, WhatsAppAccount, utcnow
from whatrack.queue import enqueue_after_commit
from whatrack.services.messaging.commands import account_refusal
from whatrack.services.messaging.templates import graph_client
from whatrack.services.tickets.commands import mark_read

# Meta accepts read receipts for messages received in the last 30 days (meta-platform.md 4.3).
READ_RECEIPT_DAYS = 30


def conversation_opened(org: Organization, ticket: Ticket) -> None:
    """An agent opened the conversation (inbox or Kanban panel): it is read here, and the
    read receipt goes to the customer if the organization opted in."""
    mark_read(org, ticket)
    if org.mark_read_on_open and ticket.whatsapp_account_id:
        enqueue_after_commit("mark_conversation_read", org.id, ticket.id)


def set_read_receipts(org: Organization, enabled: bool) -> None:
    org.mark_read_on_open = bool(enabled)
    db.session.flush()


def send_read_receipt(org: Organization, ticket_id: int) -> str | None:
    """Mark the customer's latest message read (Meta marks the earlier ones with it)."""
    if not org.mark_read_on_open:
        return None  # turned off since the agent opened the conversation
    ticket = Ticket.get_for_org(ticket_id, org)
    if ticket is None or not ticket.whatsapp_account_id:
        return None
    account = db.session.get(WhatsAppAccount, ticket.whatsapp_account_id)
    if account_refusal(account):
        return None
    wamid = db.session.scalars(
        select(Message.wamid)
        .where(Message.ticket_id == ticket.id, Message.direction == "inbound",
               Message.origin == "customer", Message.is_history.is_(False),
               Message.wamid.is_not(None),
               Message.timestamp > utcnow() - timedelta(days=READ_RECEIPT_DAYS))
        .order_by(Message.timestamp.desc(), Message.id.desc()).limit(1)).first()
    if wamid is None:
        return None
    graph_client(account).mark_read(account.phone_number_id, wamid)
    return wamid
