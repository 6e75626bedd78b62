"""The ticket panel's composer: reply with text, a file or a template; resend; sync templates."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from whatrack.blueprints.api.serializers import message_json
from whatrack.blueprints.tickets import bp
from whatrack.errors import ValidationError, WhaTrackError, wants_json
from whatrack.extensions import db
from whatrack.integrations.meta.errors import MetaError
from whatrack.models import Message, Ticket, WhatsAppAccount
from whatrack.security import redirect_to_next
from whatrack.services.messaging import commands, templates
from whatrack.tenancy import current_org, org_required

RECENT_MESSAGES = 30


def recent_messages(ticket: Ticket) -> list[Message]:
    stmt = (select(Message).where(Message.ticket_id == ticket.id)
            .order_by(Message.id.desc()).limit(RECENT_MESSAGES))
    return list(reversed(db.session.scalars(stmt).all()))


def composer_context(ticket: Ticket) -> dict[str, Any]:
    """What the composer partial needs; reused by the inbox screen."""
    account = (db.session.get(WhatsAppAccount, ticket.whatsapp_account_id)
               if ticket.whatsapp_account_id else None)
    usable = templates.list_templates(current_org, usable_only=True,
                                      waba_id=account.waba_id) if account else []
    return {
        "thread": recent_messages(ticket),
        "composer": {
            "window_open": commands.window_open(ticket),
            "refusal": commands.account_refusal(account),
            "templates": usable,
        },
    }


def _form_text(name: str) -> str | None:
    if request.is_json:
        value = (request.get_json(silent=True) or {}).get(name)
        return value if isinstance(value, str) or value is None else str(value)
    return request.form.get(name)


def _sender() -> commands.Sender:
    return commands.Sender(origin="web", user=current_user._get_current_object())


def _answer(ticket: Ticket, message: Message, notice: str, status: int = 201):
    if wants_json():
        return jsonify({"ok": True, "message": message_json(message),
                        "thread_html": render_template("tickets/_thread.html",
                                                       thread=recent_messages(ticket)),
                        "notice": notice}), status
    flash(notice, "success")
    return redirect(url_for("tickets.panel", ticket_id=ticket.id))


def _refused(ticket: Ticket, exc: WhaTrackError):
    db.session.rollback()
    if wants_json():
        return jsonify({"error": {"code": exc.code, "message": exc.message,
                                  "field": exc.field}}), exc.status
    flash(exc.message, "error")
    return redirect(url_for("tickets.panel", ticket_id=ticket.id))


def _template_parameters() -> list[str]:
    if request.is_json:
        body = request.get_json(silent=True) or {}
        params = body.get("parameters")
        return params if isinstance(params, list) else []
    return request.form.getlist("parameters")


@bp.post("/dashboard/tickets/<int:ticket_id>/messages")
@org_required
def send_reply(ticket_id: int):
    """mode=text (default), file (multipart ``file`` + ``caption``) or template
    (``template`` = "name|language" and ``parameters``)."""
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    mode = _form_text("mode") or "text"
    try:
        if mode == "file":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise ValidationError(_("Choose a file to send."), field="file")
            message = commands.send_media(current_org, ticket, upload.read(),
                                          upload.mimetype or "", upload.filename,
                                          _form_text("caption"), _sender())
        elif mode == "template":
            name, _sep, language = (_form_text("template") or "").partition("|")
            message = commands.send_template(current_org, ticket, name,
                                             language or _form_text("language"),
                                             _template_parameters(), _sender())
        else:
            message = commands.send_text(current_org, ticket, _form_text("text"), _sender())
    except WhaTrackError as exc:
        return _refused(ticket, exc)
    db.session.commit()
    return _answer(ticket, message, _("Message queued for sending."))


@bp.post("/dashboard/messages/<int:message_id>/resend")
@org_required
def resend_message(message_id: int):
    message = Message.get_for_org_or_404(message_id, current_org)
    ticket = db.session.get(Ticket, message.ticket_id)
    try:
        copy = commands.resend(current_org, message, _sender())
    except WhaTrackError as exc:
        return _refused(ticket, exc)
    db.session.commit()
    return _answer(ticket, copy, _("Message sent again."))


@bp.get("/dashboard/tickets/<int:ticket_id>/thread")
@org_required
def thread(ticket_id: int):
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    return render_template("tickets/_thread.html", thread=recent_messages(ticket))


@bp.post("/dashboard/whatsapp/templates/sync")
@org_required
def sync_templates():
    """On demand (the hourly sync may lag behind a template approved a minute ago)."""
    try:
        result = templates.sync_templates(current_org)
    except MetaError as exc:
        db.session.rollback()
        message = _("Meta did not return the templates: %(reason)s",
                    reason=exc.info.message or str(exc))
        if wants_json():
            return jsonify({"error": {"code": "meta_error", "message": message}}), 502
        flash(message, "error")
        return redirect_to_next(url_for("tickets.board_view"))
    db.session.commit()
    notice = _("%(count)d templates synced from Meta.", count=result.templates)
    if wants_json():
        return jsonify({"ok": True, "templates": result.templates, "notice": notice})
    flash(notice, "success")
    return redirect_to_next(url_for("tickets.board_view"))
