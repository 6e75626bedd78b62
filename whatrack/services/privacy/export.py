"""Everything WhaTrack stores about one contact, as one JSON document (LGPD art. 18, II/V)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from whatrack.extensions import db
from whatrack.models import (
    Contact,
    MediaFile,
    Message,
    MetaConversionEvent,
    Organization,
    Sale,
    Ticket,
    TicketEvent,
    TicketNote,
    TicketTouch,
)
from whatrack.models.base import utcnow

FORMAT_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _rows(model: Any, *where: Any) -> list[Any]:
    return list(db.session.scalars(select(model).where(*where).order_by(model.id)))


def export_contact(org: Organization, contact: Contact) -> dict[str, Any]:
    """The contact, its tickets (notes, history, touches, messages with media metadata),
    sales and conversion events. Media bytes are not inlined: their size and type are."""
    tickets = _rows(Ticket, Ticket.contact_id == contact.id)
    ticket_ids = [t.id for t in tickets]
    messages = _rows(Message, Message.contact_id == contact.id)
    cached = {m.message_id: m for m in _rows(MediaFile, MediaFile.message_id.in_(
        [m.id for m in messages]))} if messages else {}
    by_ticket: dict[int, dict[str, list[Any]]] = {t.id: {"messages": [], "notes": [],
                                                         "events": [], "touches": []}
                                                  for t in tickets}
    for message in messages:
        by_ticket[message.ticket_id]["messages"].append(_message(message, cached.get(message.id)))
    if ticket_ids:
        for note in _rows(TicketNote, TicketNote.ticket_id.in_(ticket_ids)):
            by_ticket[note.ticket_id]["notes"].append({
                "id": note.id, "body": note.body, "created_at": _iso(note.created_at),
                "author": note.user.email if note.user else None})
        for event in _rows(TicketEvent, TicketEvent.ticket_id.in_(ticket_ids)):
            by_ticket[event.ticket_id]["events"].append({
                "kind": event.kind, "data": event.data, "created_at": _iso(event.created_at)})
        for touch in _rows(TicketTouch, TicketTouch.ticket_id.in_(ticket_ids)):
            by_ticket[touch.ticket_id]["touches"].append(_touch(touch))
    sales = _rows(Sale, Sale.contact_id == contact.id)
    events = _rows(MetaConversionEvent, MetaConversionEvent.ticket_id.in_(ticket_ids)) \
        if ticket_ids else []
    return {
        "format": FORMAT_VERSION,
        "exported_at": _iso(utcnow()),
        "organization": {"id": org.id, "name": org.name},
        "contact": {
            "id": contact.id,
            "wa_id": None if contact.erased_at else contact.wa_id,
            "wa_id_reported": contact.wa_id_reported,
            "bsuid": contact.bsuid,
            "profile_name": contact.profile_name,
            "saved_name": contact.saved_name,
            "created_at": _iso(contact.created_at),
            "erased_at": _iso(contact.erased_at),
        },
        "tickets": [{**_ticket(t), **by_ticket[t.id]} for t in tickets],
        "sales": [_sale(s) for s in sales],
        "conversion_events": [_conversion_event(e) for e in events],
    }


def _ticket(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "stage": ticket.stage.name if ticket.stage else None,
        "status": "closed" if ticket.closed_at else "open",
        "created_at": _iso(ticket.created_at),
        "closed_at": _iso(ticket.closed_at),
        "lost_reason": ticket.lost_reason,
        "lost_note": ticket.lost_note,
        "lead_source": ticket.lead_source,
        "tracking": {
            "ctwa_clid": ticket.ctwa_clid, "ad_id": ticket.source_id,
            "source_type": ticket.source_type, "source_url": ticket.source_url,
            "headline": ticket.ad_headline, "body": ticket.ad_body,
            "utm_source": ticket.utm_source, "utm_medium": ticket.utm_medium,
            "utm_campaign": ticket.utm_campaign, "utm_content": ticket.utm_content,
            "utm_term": ticket.utm_term, "fbclid": ticket.fbclid,
            "referral": ticket.referral,
        },
    }


def _message(message: Message, media: MediaFile | None) -> dict[str, Any]:
    return {
        "id": message.id,
        "wamid": message.wamid,
        "direction": message.direction,
        "origin": message.origin,
        "type": message.type,
        "text": message.text,
        "timestamp": _iso(message.timestamp),
        "status": message.status,
        "reply_to": message.context_wamid,
        "referral": message.referral,
        "media": None if not message.media_id else {
            "mime_type": message.media_mime_type,
            "filename": message.media_filename,
            "caption": message.media_caption,
            "sha256": message.media_sha256,
            "state": message.media_state,
            "cached_bytes": media.size if media else None,
        },
    }


def _touch(touch: TicketTouch) -> dict[str, Any]:
    return {
        "kind": touch.kind, "touched_at": _iso(touch.touched_at), "wamid": touch.wamid,
        "ctwa_clid": touch.ctwa_clid, "ad_id": touch.source_id,
        "source_url": touch.source_url, "headline": touch.headline,
        "link_id": touch.link_id, "click_id": touch.click_id,
    }


def _sale(sale: Sale) -> dict[str, Any]:
    return {
        "id": sale.id, "ticket_id": sale.ticket_id, "value": _money(sale.value),
        "currency": sale.currency, "description": sale.description, "origin": sale.origin,
        "status": sale.status, "created_at": _iso(sale.created_at),
        "decided_at": _iso(sale.decided_at), "cancelled_at": _iso(sale.cancelled_at),
        "evidence": sale.evidence,
    }


def _conversion_event(event: MetaConversionEvent) -> dict[str, Any]:
    return {
        "id": event.id, "event_name": event.event_name, "event_id": event.event_id,
        "status": event.status, "ticket_id": event.ticket_id, "sale_id": event.sale_id,
        "event_time": _iso(event.event_time), "value": _money(event.value),
        "currency": event.currency, "sent_at": _iso(event.sent_at),
        # The event exactly as sent to Meta (phone hashed, as Meta received it).
        "payload": event.payload,
    }
