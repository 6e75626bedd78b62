"""The inbox's JSON: conversation rows and thread messages, shaped for inbox.js.

Display text stays data (the browser sets it with textContent), so nothing here is HTML.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from whatrack.models import Message
from whatrack.models.whatsapp import ERASED_NAME
from whatrack.services.inbox.queries import ConversationRow
from whatrack.services.whatsapp.phones import format_phone

# Meta's referral fields an ad card shows (meta-platform.md 2.8).
AD_CARD_FIELDS = ("headline", "body", "source_url", "source_type", "media_type",
                  "thumbnail_url", "image_url")


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def contact_name(row: ConversationRow) -> str:
    contact = row.contact
    if contact.erased_at is not None:
        return ERASED_NAME  # LGPD erasure: the placeholder, never the old number
    return contact.saved_name or contact.profile_name or format_phone(contact.wa_id)


def contact_phone(row: ConversationRow) -> str:
    return "" if row.contact.erased_at is not None else format_phone(row.contact.wa_id)


def conversation_json(row: ConversationRow) -> dict[str, Any]:
    ticket, contact = row.ticket, row.contact
    return {
        "id": ticket.id,
        "version": ticket.version,
        "contact": {"id": contact.id, "wa_id": contact.wa_id, "name": contact_name(row),
                    "phone": contact_phone(row)},
        "preview": row.last_text or ticket.last_message_preview,
        "last_type": row.last_type,
        "last_direction": row.last_direction,
        "last_status": row.last_status,
        "last_message_at": iso(ticket.last_message_at),
        "unread_count": ticket.unread_count,
        "stage": ({"id": row.stage.id, "name": row.stage.name, "kind": row.stage.kind}
                  if row.stage else None),
        "assignee": ({"id": row.assignee.id, "name": row.assignee.name or row.assignee.email}
                     if row.assignee else None),
        "source": ticket.source,
        "ad_headline": ticket.ad_headline,
        "window_expires_at": iso(ticket.window_expires_at),
        "closed": ticket.closed_at is not None,
    }


def _ad_card(message: Message) -> dict[str, Any] | None:
    referral = message.referral
    if not isinstance(referral, dict):
        return None
    card = {key: referral.get(key) for key in AD_CARD_FIELDS if isinstance(referral.get(key), str)}
    return card or None


def _error(message: Message) -> dict[str, Any] | None:
    error = message.error
    if not isinstance(error, dict):
        return None
    return {"code": error.get("code"), "title": error.get("title"),
            "message": error.get("message"), "details": error.get("details")}


def message_json(message: Message, quoted: dict[str, Message] | None = None) -> dict[str, Any]:
    media = None
    if message.media_id:
        media = {"url": f"/media/{message.id}", "mime_type": message.media_mime_type,
                 "filename": message.media_filename, "caption": message.media_caption,
                 "state": message.media_state}
    reply_to = None
    if message.context_wamid:
        target = (quoted or {}).get(message.context_wamid)
        reply_to = {"wamid": message.context_wamid,
                    "text": (target.text or target.media_caption or "") if target else None,
                    "type": target.type if target else None,
                    "direction": target.direction if target else None}
    return {
        "id": message.id,
        "ticket_id": message.ticket_id,
        "contact_id": message.contact_id,
        "wamid": message.wamid,
        "direction": message.direction,
        "origin": message.origin,
        "type": message.type,
        "text": message.text,
        "media": media,
        "status": message.status,
        "error": _error(message),
        "timestamp": iso(message.timestamp),
        "is_history": message.is_history,
        "forwarded": message.forwarded,
        "reply_to": reply_to,
        "details": message.details if isinstance(message.details, dict) else None,
        "ad": _ad_card(message),
    }
