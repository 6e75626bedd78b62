"""Linking Meta's answers (the send response, status webhooks) to our outbound messages."""

from __future__ import annotations

import logging

from sqlalchemy import select

from whatrack.extensions import db
from whatrack.integrations.meta.messages import message_id_from_callback
from whatrack.integrations.meta.webhook import StatusUpdate
from whatrack.models import Message, Organization, utcnow

log = logging.getLogger(__name__)

# States in which the wamid may still be unknown to us.
AWAITING_WAMID = ("queued", "sending", "in_doubt", "unconfirmed")


def adopt_wamid(message: Message, wamid: str) -> bool:
    """Record the wamid Meta gave this message; False if it already has another one."""
    if message.wamid is not None:
        if message.wamid != wamid:
            log.error("message %s has wamid %s, Meta now reports %s for it", message.id,
                      message.wamid, wamid)
        return message.wamid == wamid
    message.wamid = wamid
    message.send_state = "accepted"
    message.send_state_at = utcnow()
    return True


def claim_by_callback(org: Organization, update: StatusUpdate) -> Message | None:
    """The outbound message a status names through our ``biz_opaque_callback_data``.

    This is how a send whose response was lost (read timeout) learns its wamid: the status
    webhook carries the message's own id back, so nothing is ever sent twice to find out.
    """
    message_id = message_id_from_callback(update.biz_opaque_callback_data)
    if message_id is None:
        return None
    message = db.session.scalars(
        select(Message).where(Message.id == message_id, Message.organization_id == org.id,
                              Message.direction == "outbound")
        .with_for_update()).first()
    if message is None or message.send_state not in (*AWAITING_WAMID, "accepted", "failed"):
        return None
    if message.wamid is None and message.send_state == "failed":
        return None  # Meta refused the POST itself: no status can belong to it
    if not adopt_wamid(message, update.wamid):
        return None
    db.session.flush()
    log.info("message %s confirmed by a status webhook (%s)", message.id, update.status)
    return message
