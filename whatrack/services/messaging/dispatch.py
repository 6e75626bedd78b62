"""The worker's send step: one queued outbound message, POSTed to Meta at most once.

The state machine (``Message.send_state``) is what prevents a double send:

* ``queued`` -> ``sending`` is committed *before* the POST. A worker that finds a message
  already ``sending`` (its earlier run died, or the queue delivered twice) never POSTs it again.
* Errors where nothing reached Meta (refused or timed-out connection, 429, 5xx) put it back to
  ``queued`` and raise ``SendLater``: the actor retries with backoff.
* A lost answer (read timeout) makes it ``in_doubt``: Meta may have accepted it. Every send
  carries the message id in ``biz_opaque_callback_data``, so the status webhook tells us its
  wamid (receipts.claim_by_callback). Without one within ``WHATSAPP_CONFIRM_SECONDS`` the
  sweeper marks it ``unconfirmed`` and a person decides whether to resend.
* Meta's refusals (4xx) fail it visibly with Meta's reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from whatrack.extensions import db
from whatrack.integrations.meta import messages as cloud
from whatrack.integrations.meta.errors import (
    MetaError,
    MetaOutcomeUnknown,
    MetaPermanentError,
    MetaRateLimited,
    MetaTemporaryError,
    MetaTokenError,
)
from whatrack.models import (
    Contact,
    MediaFile,
    Message,
    MessageTemplate,
    Organization,
    WhatsAppAccount,
    utcnow,
)
from whatrack.realtime.events import publish_after_commit
from whatrack.services.inbox import ingest as inbox
from whatrack.services.messaging import receipts
from whatrack.services.messaging.commands import account_refusal
from whatrack.services.messaging.templates import graph_client
from whatrack.services.whatsapp import health
from whatrack.tenancy import unscoped

log = logging.getLogger(__name__)


class SendLater(Exception):
    """Nothing reached Meta; the same send may be tried again after a backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outcome:
    state: str  # accepted / in_doubt / failed / skipped
    wamid: str | None = None


def _lock(org: Organization, message_id: int) -> Message | None:
    return db.session.scalars(
        select(Message).where(Message.id == message_id, Message.organization_id == org.id,
                              Message.direction == "outbound")
        .with_for_update().execution_options(populate_existing=True)).first()


def _announce(org: Organization, message: Message) -> None:
    publish_after_commit(org.id, "message.status", {
        "ticket_id": message.ticket_id, "message_id": message.id, "status": message.status,
        "send_state": message.send_state})


def error_json(exc: MetaError) -> dict[str, Any]:
    """Meta's reason, in the shape status webhooks use (code, title, message, details)."""
    info = exc.info
    details = None
    body = info.body if isinstance(info.body, dict) else {}
    error_data = (body.get("error") or {}).get("error_data") if body else None
    if isinstance(error_data, dict):
        details = error_data.get("details")
    elif isinstance(error_data, str):
        details = error_data
    return {"code": info.code, "subcode": info.subcode, "title": info.user_title,
            "message": info.user_msg or info.message or str(exc), "details": details,
            "fbtrace_id": info.fbtrace_id, "http_status": info.http_status}


def _fail(org: Organization, message: Message, error: dict[str, Any]) -> Outcome:
    message.status = "failed"
    message.send_state = "failed"
    message.send_state_at = utcnow()
    message.error = error
    _announce(org, message)
    return Outcome("failed")


def _payload(message: Message, contact: Contact) -> dict[str, Any]:
    phone = contact.wa_id_reported or (contact.wa_id if contact.wa_id.isdigit() else None)
    to = cloud.recipient(phone, contact.bsuid)
    if message.type == "text":
        return cloud.text_body(to, message.id, message.text or "")
    if message.type in ("image", "document"):
        return cloud.media_body(to, message.id, message.type, message.media_id or "",
                                message.media_caption, message.media_filename)
    if message.type == "template":
        spec = (message.details or {}).get("template") or {}
        template = db.session.scalars(select(MessageTemplate).where(
            MessageTemplate.name == spec.get("name"),
            MessageTemplate.language == spec.get("language"))).first()
        placeholders = list(template.body_parameters or []) if template else [
            str(i) for i in range(1, len(spec.get("parameters") or []) + 1)]
        return cloud.template_body(to, message.id, spec.get("name", ""),
                                   spec.get("language", ""), placeholders,
                                   list(spec.get("parameters") or []))
    raise ValueError(f"cannot send a message of type {message.type}")


def _upload_media(org: Organization, message: Message, account: WhatsAppAccount) -> None:
    """Upload the stored file once; repeating an upload is harmless (nothing reaches anyone)."""
    media = db.session.scalars(select(MediaFile).where(MediaFile.message_id == message.id)).first()
    if media is None:
        raise MetaPermanentError("the file to send is missing")
    message.media_id = graph_client(account).upload_media(
        account.phone_number_id, media.content, media.mime_type,
        message.media_filename or "arquivo")
    db.session.commit()


def send(org: Organization, message_id: int) -> Outcome:
    """POST one queued message; commits its state transitions itself (see module doc)."""
    message = _lock(org, message_id)
    if message is None or message.send_state != "queued":
        db.session.rollback()
        return Outcome("skipped")  # sent, in doubt or failed already: never POST again
    account = db.session.get(WhatsAppAccount, message.whatsapp_account_id) \
        if message.whatsapp_account_id else None
    refusal = account_refusal(account)
    if refusal:
        outcome = _fail(org, message, {"code": None, "message": refusal})
        db.session.commit()
        return outcome
    assert account is not None
    contact = db.session.get(Contact, message.contact_id)
    try:
        if message.type in ("image", "document") and not message.media_id:
            _upload_media(org, message, account)
            message = _lock(org, message_id)
            if message is None or message.send_state != "queued":
                db.session.rollback()
                return Outcome("skipped")
        payload = _payload(message, contact)
    except MetaPermanentError as exc:
        db.session.rollback()
        message = _lock(org, message_id)
        outcome = _fail(org, message, error_json(exc))
        db.session.commit()
        return outcome
    except MetaTemporaryError as exc:  # the upload: nothing was sent to the customer
        db.session.rollback()
        raise SendLater(str(exc), getattr(exc, "retry_after", None)) from exc

    message.send_state, message.send_state_at = "sending", utcnow()
    message.send_attempts += 1
    db.session.commit()  # from here on, this message is never POSTed again by a worker

    try:
        sent = graph_client(account).send_message(account.phone_number_id, payload)
    except MetaOutcomeUnknown as exc:
        return _settle(org, message_id, "in_doubt", None, exc)
    except MetaRateLimited as exc:
        _settle(org, message_id, "queued", None, exc)
        raise SendLater(str(exc), exc.retry_after) from exc
    except MetaTemporaryError as exc:
        _settle(org, message_id, "queued", None, exc)
        raise SendLater(str(exc)) from exc
    except MetaPermanentError as exc:
        outcome = _settle(org, message_id, "failed", None, exc)
        if isinstance(exc, MetaTokenError):
            # Every later send would be refused the same way: show "reconnect" instead.
            health.mark_token_invalid(db.session.get(WhatsAppAccount, account.id), str(exc))
            db.session.commit()
        return outcome
    return _settle(org, message_id, "accepted", sent.wamid, None)


def _settle(org: Organization, message_id: int, state: str, wamid: str | None,
            exc: MetaError | None) -> Outcome:
    message = _lock(org, message_id)
    if message is None:
        db.session.rollback()
        return Outcome("skipped")
    if state == "accepted" and wamid:
        receipts.adopt_wamid(message, wamid)
        db.session.flush()
        inbox.apply_recorded_statuses(org, message)
        _announce(org, message)
        outcome = Outcome("accepted", wamid)
    elif message.wamid is not None:
        # A status webhook already told us the wamid while the POST was out: it was sent.
        outcome = Outcome("accepted", message.wamid)
    elif state == "failed" and exc is not None:
        outcome = _fail(org, message, error_json(exc))
        log.warning("message %s refused by Meta: %s", message_id, exc)
    elif state == "in_doubt":
        message.send_state, message.send_state_at = "in_doubt", utcnow()
        _announce(org, message)
        log.warning("message %s: answer lost (%s); waiting for its status webhook",
                    message_id, exc)
        outcome = Outcome("in_doubt")
    else:  # nothing reached Meta: queued again for the retry
        message.send_state, message.send_state_at = "queued", utcnow()
        log.warning("message %s not sent yet: %s", message_id, exc)
        outcome = Outcome("queued")
    db.session.commit()
    return outcome


def give_up(org: Organization, message_id: int, attempts: int) -> None:
    """Meta stayed unreachable through every retry: fail the message visibly."""
    message = _lock(org, message_id)
    if message is None or message.send_state != "queued" or message.wamid is not None:
        db.session.rollback()
        return
    _fail(org, message, {"code": None, "message": f"WhatsApp (Meta) unavailable after "
                                                  f"{attempts} attempts; nothing was sent."})
    db.session.commit()


def sweep_unconfirmed(now: Any = None) -> list[tuple[int, int]]:
    """Sends still unanswered after the confirmation delay become ``unconfirmed``.

    Covers ``in_doubt`` (answer lost) and ``sending`` (the worker died mid-POST). Returns
    (organization id, message id) of what changed; the caller commits.
    """
    now = now or utcnow()
    limit = now - timedelta(seconds=current_app.config["WHATSAPP_CONFIRM_SECONDS"])
    with unscoped():
        rows = db.session.execute(
            update(Message)
            .where(Message.send_state.in_(("in_doubt", "sending")),
                   Message.send_state_at < limit, Message.wamid.is_(None))
            .values(send_state="unconfirmed", send_state_at=now)
            .returning(Message.organization_id, Message.id, Message.ticket_id)
            .execution_options(synchronize_session=False)).all()
    for org_id, message_id, ticket_id in rows:
        publish_after_commit(org_id, "message.status", {
            "ticket_id": ticket_id, "message_id": message_id, "status": "pending",
            "send_state": "unconfirmed"})
        log.warning("message %s of organization %s never confirmed by Meta", message_id,
                    org_id)
    return [(org_id, message_id) for org_id, message_id, _ in rows]


def stale_queued(now: Any = None, older_than: int = 120) -> list[tuple[int, int]]:
    """Queued sends whose queue message was lost (Redis down at commit): to re-enqueue."""
    now = now or utcnow()
    with unscoped():
        return [tuple(r) for r in db.session.execute(
            select(Message.organization_id, Message.id)
            .where(Message.send_state == "queued",
                   Message.send_state_at < now - timedelta(seconds=older_than),
                   Message.send_state_at > now - timedelta(hours=24))
            .order_by(Message.id).limit(500)).all()]
