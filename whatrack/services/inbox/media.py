"""Media of WhatsApp messages: fetched from the Graph API once, cached, served to the org."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select

from whatrack.extensions import db
from whatrack.integrations.meta.graph import GraphClient, MediaTooLarge, timeout_for
from whatrack.models import MediaFile, Message, Organization, WhatsAppAccount

log = logging.getLogger(__name__)


def graph_client(account: WhatsAppAccount) -> GraphClient:
    cfg = current_app.config
    return GraphClient(account.token or "", cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"],
                       timeout=timeout_for(cfg["META_HTTP_TIMEOUT"]))


def cached_media(org: Organization, message: Message) -> MediaFile | None:
    return db.session.scalars(select(MediaFile).where(MediaFile.message_id == message.id)).first()


def fetch_media(org: Organization, message: Message) -> MediaFile | None:
    """Download and cache ``message``'s media; MetaError subclasses propagate for retries.

    The message row already exists: a failed download only changes ``media_state``.
    """
    existing = cached_media(org, message)
    if existing is not None or not message.media_id:
        return existing
    account = db.session.get(WhatsAppAccount, message.whatsapp_account_id)
    if account is None or not account.token_encrypted:
        message.media_state, message.media_error = "failed", "number has no access token"
        return None
    client = graph_client(account)
    limit = current_app.config["MEDIA_MAX_BYTES"]
    try:
        info = client.get_media(message.media_id)
        if info.file_size and info.file_size > limit:
            raise MediaTooLarge(info.file_size, limit)
        download = client.download(info.url, limit)
    except MediaTooLarge as exc:
        message.media_state, message.media_error = "too_large", str(exc)[:255]
        return None
    media = MediaFile(organization_id=org.id, message_id=message.id,
                      mime_type=message.media_mime_type or download.mime_type,
                      size=len(download.content), content=download.content)
    db.session.add(media)
    message.media_state, message.media_error = "stored", None
    db.session.flush()
    log.info("media of message %s cached (%d bytes)", message.id, media.size)
    return media
