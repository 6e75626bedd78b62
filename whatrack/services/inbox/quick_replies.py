"""An organization's quick replies: listed for the composer, managed in the settings."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from whatrack.errors import NotFound, ValidationError
from whatrack.extensions import db
from whatrack.models import Organization, QuickReply

NAME_PATTERN = re.compile(r"^[a-z0-9_-]{1,40}$")
MAX_BODY = 4096  # WhatsApp's limit for a text message body


def list_quick_replies(org: Organization) -> list[QuickReply]:
    stmt = select(QuickReply).where(QuickReply.organization_id == org.id).order_by(
        QuickReply.name)
    return list(db.session.scalars(stmt))


def save_quick_reply(org: Organization, name: str, body: str) -> QuickReply:
    """Create the reply ``name``, or replace its text when the name exists."""
    name = (name or "").strip().lstrip("/").lower()
    body = (body or "").strip()
    if not NAME_PATTERN.match(name):
        raise ValidationError(_("Use up to 40 lowercase letters, digits, - or _ for the "
                                "shortcut."), field="name")
    if not body:
        raise ValidationError(_("Write the text of the quick reply."), field="body")
    if len(body) > MAX_BODY:
        raise ValidationError(_("The text is longer than WhatsApp allows (4096 characters)."),
                              field="body")
    reply = db.session.scalars(select(QuickReply).where(
        QuickReply.organization_id == org.id, QuickReply.name == name)).first()
    if reply is None:
        reply = QuickReply(organization_id=org.id, name=name, body=body)
        db.session.add(reply)
    else:
        reply.body = body
    db.session.flush()
    return reply


def delete_quick_reply(org: Organization, reply_id: int) -> None:
    reply = QuickReply.get_for_org(reply_id, org)
    if reply is None:
        raise NotFound()
    db.session.delete(reply)
    db.session.flush()
