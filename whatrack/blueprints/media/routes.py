"""Message media for logged-in members of the message's organization."""

from __future__ import annotations

import logging

from flask import Response, abort

from whatrack.blueprints.media import bp
from whatrack.extensions import db
from whatrack.integrations.meta.errors import MetaError
from whatrack.models import Message
from whatrack.services.inbox import media
from whatrack.tenancy import current_org, org_required

log = logging.getLogger(__name__)


@bp.get("/media/<int:message_id>")
@org_required
def show(message_id: int):
    message = Message.get_for_org_or_404(message_id, current_org)
    if not message.media_id:
        abort(404)
    cached = media.cached_media(current_org, message)
    if cached is None:
        try:
            cached = media.fetch_media(current_org, message)
        except MetaError as exc:
            db.session.rollback()
            log.warning("media of message %s unavailable: %s", message.id, exc)
            abort(503)
        db.session.commit()
    if cached is None:
        abort(404)
    response = Response(cached.content, mimetype=cached.mime_type)
    response.headers["Cache-Control"] = "private, max-age=86400"
    # Customer files are shown, never executed in our origin.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if message.media_filename:
        response.headers["Content-Disposition"] = (
            f"inline; filename*=UTF-8''{_quote(message.media_filename)}")
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
