"""Turning rows into the JSON shapes ARCHITECTURE.md fixes (UTC ISO times, decimal strings)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from whatrack.models import MetaConversionEvent, Organization
from whatrack.services.billing.state import effective_state
from whatrack.services.conversions.queries import reason_pt


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def organization_json(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "slug": org.slug,
        "timezone": org.timezone,
        "currency": org.currency,
        "billing": {
            "state": effective_state(org),
            "trial_ends_at": iso(org.trial_ends_at),
            "paid_until": iso(org.paid_until),
        },
    }


def ticket_json(ticket: Any) -> dict[str, Any]:
    contact, stage = ticket.contact, ticket.stage
    return {
        "id": ticket.id,
        "contact": {"wa_id": contact.wa_id, "name": contact.display_name},
        "stage": {"id": stage.id, "name": stage.name, "kind": stage.kind} if stage else None,
        "assignee": (
            {"id": ticket.assignee.id, "name": ticket.assignee.name,
             "email": ticket.assignee.email} if ticket.assignee else None
        ),
        "status": "closed" if ticket.closed_at else "open",
        "lead_source": ticket.lead_source,
        "created_at": iso(ticket.created_at),
        "closed_at": iso(ticket.closed_at),
        "window_expires_at": iso(ticket.window_expires_at),
        "last_message_at": iso(ticket.last_message_at),
        "last_message_preview": ticket.last_message_preview,
        "unread_count": ticket.unread_count,
        "tracking": {
            "ctwa_clid": ticket.ctwa_clid,
            "ad_id": ticket.source_id,
            "source_type": ticket.source_type,
            "source_url": ticket.source_url,
            "headline": ticket.ad_headline,
            "utm_source": ticket.utm_source,
            "utm_medium": ticket.utm_medium,
            "utm_campaign": ticket.utm_campaign,
            "utm_content": ticket.utm_content,
            "utm_term": ticket.utm_term,
            "link": None,
        },
    }


def message_json(message: Any) -> dict[str, Any]:
    media = None
    if message.media_id:
        media = {
            "id": message.media_id,
            "mime_type": message.media_mime_type,
            "filename": message.media_filename,
            "caption": message.media_caption,
            "state": message.media_state,
            "url": f"/media/{message.id}",
        }
    return {
        "id": message.id,
        "wamid": message.wamid,
        "direction": message.direction,
        "origin": message.origin,
        "type": message.type,
        "text": message.text,
        "media": media,
        "status": message.status,
        "error": message.error,
        "timestamp": iso(message.timestamp),
        "is_history": message.is_history,
        "reply_to": message.context_wamid,
        # Our own sends: queued / sending / accepted / in_doubt / unconfirmed / failed.
        "send_state": message.send_state,
    }


def sale_json(sale: Any) -> dict[str, Any]:
    return {
        "id": sale.id,
        "ticket_id": sale.ticket_id,
        "value": str(sale.value),
        "currency": sale.currency,
        "description": sale.description,
        "origin": sale.origin,
        "status": sale.status,
        "cancelled": sale.cancelled_at is not None,
        "cancel_reason": sale.cancel_reason,
        "created_at": iso(sale.created_at),
        "decided_at": iso(sale.decided_at),
        # Proposals (copilot / meta): how sure, why, and the messages that show it.
        "confidence": float(sale.confidence) if sale.confidence is not None else None,
        "reason": sale.proposal_reason,
        "evidence_message_ids": sale.evidence_message_ids,
        "rejection_reason": sale.decision_note if sale.status == "rejected" else None,
    }


def conversion_event_json(event: MetaConversionEvent) -> dict[str, Any]:
    """A conversion event as the JSON API shows it (ARCHITECTURE.md)."""
    error = None
    if event.error_code is not None or event.error_message:
        error = {"code": event.error_code, "subcode": event.error_subcode,
                 "message": event.error_message}
    return {
        "id": event.id,
        "event_name": event.event_name,
        "event_id": event.event_id,
        "status": event.status,
        "attempts": event.attempts,
        "fbtrace_id": event.fbtrace_id,
        "events_received": event.events_received,
        "error": error,
        "reason": reason_pt(event),
        "ticket_id": event.ticket_id,
        "sale_id": event.sale_id,
        "event_time": iso(event.event_time),
        "value": money(event.value),
        "currency": event.currency,
        "next_attempt_at": iso(event.next_attempt_at) if event.status == "pending" else None,
        "sent_at": iso(event.sent_at),
        "created_at": iso(event.created_at),
    }
