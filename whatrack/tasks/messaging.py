"""Per-message side work: media downloads (never blocks the message itself)."""

from __future__ import annotations

import logging

import dramatiq

from whatrack.extensions import db
from whatrack.integrations.meta.errors import MetaPermanentError, MetaTemporaryError
from whatrack.models import Message, Organization
from whatrack.realtime.events import publish_after_commit
from whatrack.services.inbox import media
from whatrack.tenancy import bind_org

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
