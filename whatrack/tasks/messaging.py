"""Per-message side work: media downloads (never blocks the message itself)."""

from __future__ import annotations

import logging

import dramatiq

from whatrack.extensions import db
from whatrack.integrations.meta.errors import MetaPermanentError, MetaTemporaryError
from whatrack.models import Message, Organization, WhatsAppAccount
from whatrack.realtime.events import publish_after_commit
from whatrack.services.inbox import media
from whatrack.services.messaging import dispatch, read_receipts, templates
from whatrack.tenancy import bind_org, unscoped

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="messaging", max_retries=6, min_backoff=5_000, max_backoff=600_000,
                on_retry_exhausted="media_fetch_gave_up")
def fetch_media(org_id: int, message_id: int) -> None:
    """Cache one message's media; transient Graph errors retry, permanent ones are recorded."""
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        message = Message.get_for_org(message_id, org) if org else None
        if message is None or message.media_state in ("stored", "too_large", "none"):
            return
        try:
            media.fetch_media(org, message)
        except MetaTemporaryError as exc:
            db.session.rollback()
            log.warning("media of message %s not fetched yet: %s", message_id, exc)
            raise
        except MetaPermanentError as exc:
            db.session.rollback()
            message = Message.get_for_org(message_id, org)
            message.media_state, message.media_error = "failed", str(exc)[:255]
        publish_after_commit(org_id, "message.media", {"message_id": message_id,
                                                       "ticket_id": message.ticket_id})
        db.session.commit()


@dramatiq.actor(queue_name="messaging", max_retries=3)
def media_fetch_gave_up(message_data: dict, retry_info: dict) -> None:
    """Graph stayed unavailable through every retry: say so instead of staying "pending".

    The message keeps its media id: /media/<id> still fetches it on demand later.
    """
    org_id, message_id = message_data["args"]
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        message = Message.get_for_org(message_id, org) if org else None
        if message is None or message.media_state != "pending":
            return
        message.media_state = "failed"
        message.media_error = f"Graph API unavailable after {retry_info['retries'] + 1} attempts"
        publish_after_commit(org_id, "message.media", {"message_id": message_id,
                                                       "ticket_id": message.ticket_id})
        db.session.commit()
        log.warning("media of message %s given up after retries", message_id)


# --- replies sent by people (services/messaging) -------------------------------------------


SEND_RETRIES = 8


class _SendRetry(Exception):
    """Nothing reached Meta: Dramatiq retries the send after its backoff."""


def _should_retry(retries: int, exc: Exception) -> bool:
    # A crash (database down) is retried too: a rerun never POSTs a message already marked
    # "sending", so only work that did not reach Meta is ever repeated.
    return retries < (SEND_RETRIES if isinstance(exc, _SendRetry) else 3)


# Errors where nothing reached Meta raise dispatch.SendLater and retry with backoff; a lost
# answer or a refusal ends the actor normally, so the queue never repeats a send.
@dramatiq.actor(queue_name="messaging", min_backoff=2_000, max_backoff=300_000,
                retry_when=_should_retry, on_retry_exhausted="send_message_gave_up")
def send_message(org_id: int, message_id: int) -> None:
    """POST one outbound message a person queued (panel or API)."""

    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        if org is None:
            return
        try:
            outcome = dispatch.send(org, message_id)
        except dispatch.SendLater as exc:
            log.warning("message %s: will retry (%s)", message_id, exc)
            raise _SendRetry(str(exc)) from exc
        log.info("message %s: %s", message_id, outcome.state)


@dramatiq.actor(queue_name="messaging", max_retries=3)
def send_message_gave_up(message_data: dict, retry_info: dict) -> None:

    org_id, message_id = message_data["args"]
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        if org is not None:
            dispatch.give_up(org, message_id, retry_info.get("retries", 0) + 1)


@dramatiq.actor(queue_name="default", max_retries=0)
def sweep_outbound_messages() -> None:
    """Sends never confirmed become "não confirmado"; queued sends whose queue message was
    lost are handed to the worker again. Never creates a message."""

    changed = dispatch.sweep_unconfirmed()
    stale = dispatch.stale_queued()
    db.session.commit()
    for org_id, message_id in stale:
        send_message.send(org_id, message_id)
    if changed or stale:
        log.info("outbound sweep: %d unconfirmed, %d re-enqueued", len(changed), len(stale))


@dramatiq.actor(queue_name="messaging", max_retries=3, min_backoff=10_000)
def sync_templates(org_id: int) -> None:
    """Fetch the organization's templates from Meta (hourly and on demand)."""

    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        if org is None:
            return
        try:
            result = templates.sync_templates(org)
        except MetaPermanentError as exc:  # token or permission: the next run asks again
            db.session.rollback()
            log.warning("templates of organization %s not synced: %s", org_id, exc)
            return
        db.session.commit()
        log.info("templates of organization %s: %d from %d WABAs", org_id, result.templates,
                 result.wabas)


@dramatiq.actor(queue_name="default", max_retries=0)
def sync_all_templates() -> None:
    """Hourly: one sync per organization that has a connected number."""
    from sqlalchemy import select


    with unscoped():
        org_ids = sorted(set(db.session.scalars(select(WhatsAppAccount.organization_id).where(
            WhatsAppAccount.token_encrypted.is_not(None)))))
    db.session.rollback()
    for org_id in org_ids:
        sync_templates.send(org_id)


@dramatiq.actor(queue_name="messaging", max_retries=3, min_backoff=5_000)
def mark_conversation_read(org_id: int, ticket_id: int) -> None:
    """Blue ticks for the customer, after an agent opened the conversation (opt-in)."""

    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        if org is None:
            return
        try:
            read_receipts.send_read_receipt(org, ticket_id)
        except MetaPermanentError as exc:
            log.warning("read receipt for ticket %s refused: %s", ticket_id, exc)
        db.session.rollback()
