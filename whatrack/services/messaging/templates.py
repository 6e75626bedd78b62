"""The WABA's message templates: synced from Meta, offered to senders, validated before use."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select

from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.integrations.meta import messages as cloud
from whatrack.integrations.meta.graph import GraphClient
from whatrack.models import MessageTemplate, Organization, WhatsAppAccount, utcnow

log = logging.getLogger(__name__)

PARAMETER_MAX_CHARS = 1024  # UNCERTAIN: Meta's per-parameter limit; it refuses longer ones


@dataclass(frozen=True)
class SyncResult:
    wabas: int
    templates: int


def graph_client(account: WhatsAppAccount) -> GraphClient:
    cfg = current_app.config
    return GraphClient(account.token or "", cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"],
                       timeout=cfg["WHATSAPP_GRAPH_TIMEOUT"])


def _wabas(org: Organization) -> dict[str, WhatsAppAccount]:
    """One usable account (with a token) per WABA of the organization."""
    accounts = db.session.scalars(select(WhatsAppAccount).where(
        WhatsAppAccount.token_encrypted.is_not(None)).order_by(WhatsAppAccount.id))
    wabas: dict[str, WhatsAppAccount] = {}
    for account in accounts:
        wabas.setdefault(account.waba_id, account)
    return wabas


def sync_templates(org: Organization) -> SyncResult:
    """Replace the stored templates of each WABA with Meta's list; MetaError propagates."""
    total = 0
    wabas = _wabas(org)
    for waba_id, account in wabas.items():
        raw = graph_client(account).message_templates(waba_id)
        now = utcnow()
        seen: set[tuple[str, str]] = set()
        existing = {(t.name, t.language): t for t in db.session.scalars(
            select(MessageTemplate).where(MessageTemplate.waba_id == waba_id))}
        for item in raw:
            info = cloud.parse_template(item)
            if info is None or (info.name, info.language) in seen:
                continue
            seen.add((info.name, info.language))
            row = existing.get((info.name, info.language))
            if row is None:
                row = MessageTemplate(organization_id=org.id, waba_id=waba_id, name=info.name,
                                      language=info.language)
                db.session.add(row)
            row.meta_id, row.category, row.status = info.meta_id, info.category, info.status
            row.body, row.body_parameters = info.body, info.body_parameters
            row.sendable, row.components, row.synced_at = info.sendable, info.components, now
        gone = [key for key in existing if key not in seen]
        for name, language in gone:  # deleted at Meta: no longer offered
            db.session.execute(delete(MessageTemplate).where(
                MessageTemplate.organization_id == org.id, MessageTemplate.waba_id == waba_id,
                MessageTemplate.name == name, MessageTemplate.language == language))
        total += len(seen)
        log.info("templates of WABA %s synced: %d", waba_id, len(seen))
    db.session.flush()
    return SyncResult(wabas=len(wabas), templates=total)


def list_templates(org: Organization, *, usable_only: bool = False,
                   waba_id: str | None = None) -> list[MessageTemplate]:
    stmt = select(MessageTemplate).order_by(MessageTemplate.name, MessageTemplate.language)
    if waba_id:
        stmt = stmt.where(MessageTemplate.waba_id == waba_id)
    if usable_only:
        stmt = stmt.where(MessageTemplate.status == "APPROVED", MessageTemplate.sendable)
    return list(db.session.scalars(stmt))


def sendable_template(org: Organization, waba_id: str, name: Any,
                      language: Any) -> MessageTemplate:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(_("Choose a template."), field="template.name")
    if not isinstance(language, str) or not language.strip():
        raise ValidationError(_("Give the template's language (for example pt_BR)."),
                              field="template.language")
    template = db.session.scalars(select(MessageTemplate).where(
        MessageTemplate.waba_id == waba_id, MessageTemplate.name == name.strip(),
        MessageTemplate.language == language.strip())).first()
    if template is None:
        raise ValidationError(_("Unknown template %(name)s (%(language)s) for this number. "
                                "Refresh the templates if it was created recently.",
                                name=name.strip(), language=language.strip()),
                              field="template.name")
    if template.status != "APPROVED":
        raise ValidationError(_("Template %(name)s is %(status)s at Meta; only approved "
                                "templates can be sent.", name=template.name,
                                status=template.status), field="template.name")
    if not template.sendable:
        raise ValidationError(_("Template %(name)s has a media header or dynamic buttons, "
                                "which WhaTrack cannot fill in yet.", name=template.name),
                              field="template.name")
    return template


def check_parameters(template: MessageTemplate, parameters: Any) -> list[str]:
    expected = len(template.body_parameters or [])
    if parameters is None:
        parameters = []
    if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
        raise ValidationError(_("Template parameters must be a list of texts."),
                              field="template.parameters")
    if len(parameters) != expected:
        raise ValidationError(_("Template %(name)s takes %(expected)d parameters; "
                                "%(given)d were given.", name=template.name, expected=expected,
                                given=len(parameters)), field="template.parameters")
    values = [p.strip() for p in parameters]
    for position, value in enumerate(values, start=1):
        if not value:
            raise ValidationError(_("Fill in parameter %(position)d of the template.",
                                    position=position), field="template.parameters")
        if len(value) > PARAMETER_MAX_CHARS:
            raise ValidationError(_("Parameter %(position)d is too long.", position=position),
                                  field="template.parameters")
    return values


def render(template: MessageTemplate, values: list[str]) -> str:
    """The body as the customer will read it, for our own message list."""
    text = template.body or template.name
    for placeholder, value in zip(template.body_parameters or [], values, strict=True):
        text = text.replace("{{" + placeholder + "}}", value)
    return text[:cloud.TEXT_MAX_CHARS]


def template_json(template: MessageTemplate) -> dict[str, Any]:
    return {"name": template.name, "language": template.language,
            "category": template.category, "status": template.status,
            "parameters": len(template.body_parameters or [])}
