"""A person's reply becomes an outbound message (status ``pending``) and a queued send.

Every function here takes a ``Sender``: a user clicking in the panel or an API key. There
is deliberately no way to create an outbound message without one (the product's rule that
only people write to customers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from whatrack.errors import ConflictError, ValidationError
from whatrack.extensions import db
from whatrack.integrations.meta import messages as cloud
from whatrack.models import (
    ApiKey,
    MediaFile,
    Message,
    Organization,
    Ticket,
    User,
    WhatsAppAccount,
    utcnow,
)
from whatrack.queue import enqueue_after_commit
from whatrack.realtime.events import publish_after_commit
from whatrack.services.copilot import review as copilot_review
from whatrack.services.messaging import templates

log = logging.getLogger(__name__)

PREVIEW_LENGTH = 160
SEND_ACTOR = "send_message"


@dataclass(frozen=True)
class Sender:
    """The person behind a send: a logged-in user (origin web) or an API key (origin api)."""

    origin: str
    user: User | None = None
    api_key: ApiKey | None = None

    def __post_init__(self) -> None:
        if self.origin == "web" and self.user is None:
            raise ValueError("a web send needs the user who clicked")
        if self.origin == "api" and self.api_key is None:
            raise ValueError("an API send needs its key")
        if self.origin not in ("web", "api"):
            raise ValueError(f"unknown origin {self.origin!r}")


def account_refusal(account: WhatsAppAccount | None) -> str | None:
    """Why this number cannot send right now (pt-BR, for people), or None."""
    if account is None:
        return _("This conversation has no connected WhatsApp number.")
    if account.status == "disconnected":
        return _("Meta disconnected this number (removed from the business or offboarded). "
                 "Reconnect it in Settings > WhatsApp to send messages.")
    if account.status != "connected" or not account.token_encrypted or account.needs_reconnect:
        return _("This number needs to be reconnected before it can send messages.")
    return None


def window_open(ticket: Ticket) -> bool:
    return ticket.window_expires_at is not None and ticket.window_expires_at > utcnow()


def _account_for(org: Organization, ticket: Ticket) -> WhatsAppAccount:
    account = (db.session.get(WhatsAppAccount, ticket.whatsapp_account_id)
               if ticket.whatsapp_account_id else None)
    reason = account_refusal(account)
    if reason:
        raise ConflictError(reason, code="number_unavailable")
    assert account is not None
    if not (ticket.contact.wa_id_reported or ticket.contact.bsuid
            or ticket.contact.wa_id.isdigit()):
        raise ConflictError(_("This contact has no WhatsApp id to send to."),
                            code="no_recipient")
    return account


def _require_window(ticket: Ticket) -> None:
    if not window_open(ticket):
        raise ConflictError(
            _("More than 24 hours have passed since the customer's last message, so WhatsApp "
              "only accepts an approved template now. Choose a template to restart the "
              "conversation."), code="window_closed")


def _new_message(org: Organization, ticket: Ticket, account: WhatsAppAccount, sender: Sender,
                 kind: str, text: str | None, **values: Any) -> Message:
    now = utcnow()
    message = Message(
        organization_id=org.id, ticket_id=ticket.id, contact_id=ticket.contact_id,
        whatsapp_account_id=account.id, wamid=None, direction="outbound",
        origin=sender.origin, type=kind, text=text, status="pending", timestamp=now,
        send_state="queued", send_state_at=now, send_attempts=0,
        sent_by_id=sender.user.id if sender.user else None,
        api_key_id=sender.api_key.id if sender.api_key else None, **values)
    db.session.add(message)
    db.session.flush()
    ticket.last_message_at = now
    ticket.last_message_preview = (text or f"[{kind}]")[:PREVIEW_LENGTH]
    ticket.unread_count = 0  # answering is reading
    # A quoted price or "fechado" typed here counts for the copilot like one from the phone.
    copilot_review.schedule_review(org, ticket)
    enqueue_after_commit(SEND_ACTOR, org.id, message.id)
    publish_after_commit(org.id, "message.created", {
        "ticket_id": ticket.id, "message_id": message.id, "direction": "outbound",
        "ticket_created": False})
    log.info("outbound %s message %s queued on ticket %s (%s)", kind, message.id, ticket.id,
             sender.origin)
    return message


def clean_text(text: Any, field: str = "text", limit: int = cloud.TEXT_MAX_CHARS) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("Write a message before sending."), field=field)
    text = text.strip("\n\r ")
    if len(text) > limit:
        raise ValidationError(_("The message has %(count)d characters; WhatsApp accepts at "
                                "most %(limit)d.", count=len(text), limit=limit), field=field)
    return text


def send_text(org: Organization, ticket: Ticket, text: Any, sender: Sender) -> Message:
    """Queue a free-text reply; only inside the 24-hour customer service window."""
    body = clean_text(text)
    account = _account_for(org, ticket)
    _require_window(ticket)
    return _new_message(org, ticket, account, sender, "text", body)


def send_media(org: Organization, ticket: Ticket, content: bytes, mime_type: str,
               filename: str, caption: Any, sender: Sender) -> Message:
    """Queue an image or document; type and size are checked before anything is uploaded."""
    mime_type = (mime_type or "").split(";")[0].strip().lower()
    kind = cloud.media_kind(mime_type)
    if kind is None:
        raise ValidationError(_("This file type cannot be sent. Send a JPEG or PNG image, or a "
                                "PDF, Word, Excel, PowerPoint or text document."), field="file")
    if not content:
        raise ValidationError(_("The file is empty."), field="file")
    limit = min(cloud.MEDIA_LIMITS[kind], current_app.config["MEDIA_MAX_BYTES"])
    if len(content) > limit:
        size_mb, limit_mb = f"{len(content) / 1048576:.1f}", f"{limit / 1048576:.0f}"
        raise ValidationError(_("The file has %(size)s MB; the limit for this type is "
                                "%(limit)s MB.", size=size_mb, limit=limit_mb), field="file")
    caption_text = None
    if isinstance(caption, str) and caption.strip():
        caption_text = clean_text(caption, "caption", cloud.CAPTION_MAX_CHARS)
    account = _account_for(org, ticket)
    _require_window(ticket)
    safe_name = (filename or "arquivo").replace("/", "_").replace("\\", "_")[-200:]
    message = _new_message(org, ticket, account, sender, kind, caption_text,
                           media_mime_type=mime_type, media_filename=safe_name,
                           media_caption=caption_text, media_state="stored")
    db.session.add(MediaFile(organization_id=org.id, message_id=message.id,
                             mime_type=mime_type, size=len(content), content=content))
    db.session.flush()
    return message


def send_template(org: Organization, ticket: Ticket, name: Any, language: Any,
                  parameters: Any, sender: Sender) -> Message:
    """Queue an approved template, in any window state (it is how a closed window reopens)."""
    account = _account_for(org, ticket)
    template = templates.sendable_template(org, account.waba_id, name, language)
    values = templates.check_parameters(template, parameters)
    rendered = templates.render(template, values)
    return _new_message(org, ticket, account, sender, "template", rendered, details={
        "template": {"name": template.name, "language": template.language,
                     "category": template.category, "parameters": values}})


def resend(org: Organization, message: Message, sender: Sender) -> Message:
    """A person chose to send again a message Meta never confirmed: a new message, new id.

    The original keeps its state: if Meta did deliver it after all, a late status still
    finds it by its own id, and both copies show as delivered (the truth).
    """
    if message.direction != "outbound" or message.send_state != "unconfirmed":
        raise ConflictError(_("Only a message whose delivery was never confirmed can be sent "
                              "again."), code="not_unconfirmed")
    if (message.details or {}).get("resent_as"):
        raise ConflictError(_("This message was already sent again."), code="already_resent")
    ticket = db.session.get(Ticket, message.ticket_id)
    account = _account_for(org, ticket)
    values: dict[str, Any] = {"details": message.details}
    if message.type == "template":
        pass  # templates are allowed in any window state
    else:
        _require_window(ticket)
    media = None
    if message.type in ("image", "document"):
        media = db.session.scalars(select(MediaFile).where(
            MediaFile.message_id == message.id)).first()
        if media is None:
            raise ConflictError(_("The file of this message is no longer available."),
                                code="media_missing")
        values.update(media_mime_type=message.media_mime_type,
                      media_filename=message.media_filename,
                      media_caption=message.media_caption, media_state="stored")
    copy = _new_message(org, ticket, account, sender, message.type, message.text, **values)
    if media is not None:
        db.session.add(MediaFile(organization_id=org.id, message_id=copy.id,
                                 mime_type=media.mime_type, size=media.size,
                                 content=media.content))
    message.details = {**(message.details or {}), "resent_as": copy.id}
    db.session.flush()
    return copy
