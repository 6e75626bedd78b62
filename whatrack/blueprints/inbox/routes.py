"""The live inbox: the page, and the JSON its script reads (list, thread, resync)."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from whatrack.blueprints.inbox import bp
from whatrack.blueprints.inbox.serializers import conversation_json, iso, message_json
from whatrack.blueprints.inbox.strings import client_strings
from whatrack.blueprints.tickets.messaging import composer_context
from whatrack.extensions import db
from whatrack.models import Ticket
from whatrack.models.base import MAX_DB_ID
from whatrack.models.tickets import SOURCES
from whatrack.services.inbox import queries
from whatrack.services.inbox import quick_replies as quick_replies_service
from whatrack.services.messaging import read_receipts
from whatrack.services.tickets import commands as tickets
from whatrack.tenancy import current_org, org_required


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    if raw.isdigit() and int(raw) <= MAX_DB_ID:
        return int(raw)
    return None


def _id_list(name: str) -> set[int]:
    """A comma list of ids ("3,5,8"); anything else in it is ignored."""
    values = set()
    for part in request.args.get(name, "").split(",")[:queries.SYNC_LIMIT]:
        part = part.strip()
        if part.isdigit() and int(part) <= MAX_DB_ID:
            values.add(int(part))
    return values


def _filters() -> queries.ListFilters:
    flag = lambda name: request.args.get(name) in ("1", "true", "on")  # noqa: E731
    return queries.ListFilters(
        q=(request.args.get("q") or "").strip()[:80] or None,
        unread=flag("unread"), mine=flag("mine"), unassigned=flag("unassigned"),
        stage_id=_int_arg("stage"),
        source=request.args.get("source") if request.args.get("source") in SOURCES
        else None,
        window_open=flag("window"),
        cursor=request.args.get("cursor") or None,
    )


def _page_json(page: queries.ConversationPage) -> dict:
    return {"data": [conversation_json(row) for row in page.rows],
            "next_cursor": page.next_cursor}


@bp.get("/dashboard/whatsapp/inbox")
@org_required
def index():
    filters = _filters()
    first = queries.first_page(current_org, current_user, filters)
    return render_template(
        "inbox/index.html",
        filters=filters,
        stages=first.stages,
        boot={
            "conversations": _page_json(first.page),
            "unread": first.unread,
            "unread_cap": queries.UNREAD_CAP,
            "last_message_id": first.newest_message_id,
            "open_ticket": _int_arg("t"),
            "me": current_user.id,
        },
        strings=client_strings(),
    )


@bp.get("/dashboard/whatsapp/inbox/conversations")
@org_required
def conversations():
    page = queries.list_conversations(current_org, current_user, _filters())
    return jsonify(_page_json(page))


@bp.get("/dashboard/whatsapp/inbox/conversations/<int:ticket_id>")
@org_required
def conversation(ticket_id: int):
    """The thread (newest page, or older than ``before``) and the window clocks."""
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    if request.args.get("read") == "1":
        read_receipts.conversation_opened(current_org, ticket)
        db.session.commit()
    found = queries.thread(current_org, ticket, before_id=_int_arg("before"))
    rows = queries.conversation_rows(current_org, {ticket.contact_id})
    return jsonify({
        "ticket": conversation_json(rows[0]) if rows else None,
        "ticket_id": ticket.id,
        "messages": [message_json(m, found.quoted) for m in found.messages],
        "has_older": found.has_older,
        "window_expires_at": iso(ticket.window_expires_at),
        "fep_expires_at": iso(queries.free_entry_point_expires_at(current_org, ticket)),
    })


@bp.get("/dashboard/whatsapp/inbox/conversations/<int:ticket_id>/composer")
@org_required
def composer(ticket_id: int):
    """The sending work's composer (text, file, template) for this conversation, without
    its own thread: the inbox draws the thread above it."""
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    return render_template("tickets/_composer.html", ticket=ticket, hide_thread=True,
                           **composer_context(ticket))


@bp.get("/dashboard/whatsapp/inbox/quick-replies")
@org_required
def quick_replies():
    """Fetched on the first "/" typed in the composer, not with the page (one query less)."""
    return jsonify({"data": [{"name": r.name, "body": r.body}
                             for r in quick_replies_service.list_quick_replies(current_org)]})


@bp.get("/dashboard/whatsapp/inbox/sync")
@org_required
def sync():
    """Everything after the client's last message id, plus the messages and tickets it names
    (a frame it received, or what it shows after a reconnect)."""
    after = _int_arg("after")
    if after is None:
        return jsonify({"error": {"code": "validation_error",
                                  "message": _("The last message id is missing.")}}), 400
    result = queries.sync(current_org, after, _id_list("messages"), _id_list("tickets"))
    quoted = queries.quoted_messages(current_org, result.messages)
    return jsonify({
        "messages": [message_json(m, quoted) for m in result.messages],
        "conversations": [conversation_json(row) for row in result.rows],
        "unread": queries.unread_conversations(current_org),
        "more": len(result.messages) >= queries.SYNC_LIMIT,
    })


@bp.post("/dashboard/whatsapp/inbox/conversations/<int:ticket_id>/unread")
@org_required
def mark_unread(ticket_id: int):
    ticket = tickets.lock_ticket(current_org, ticket_id)
    tickets.mark_unread(current_org, ticket)
    db.session.commit()
    return jsonify({"ok": True, "unread_count": ticket.unread_count})


@bp.post("/dashboard/whatsapp/inbox/conversations/<int:ticket_id>/read")
@org_required
def mark_read(ticket_id: int):
    ticket = tickets.lock_ticket(current_org, ticket_id)
    tickets.mark_read(current_org, ticket)
    db.session.commit()
    return jsonify({"ok": True, "unread_count": ticket.unread_count})
