"""Helpers shared by the Kanban views: form reads, JSON-or-redirect answers, card rendering."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for

from whatrack.errors import NotFound, WhaTrackError, wants_json
from whatrack.extensions import db
from whatrack.models import Ticket
from whatrack.security import redirect_to_next
from whatrack.services.tickets import board
from whatrack.tenancy import current_org


def form_field(name: str) -> str | None:
    """A posted field, from the board's JSON body or the panel's form alike."""
    if request.is_json:
        value = (request.get_json(silent=True) or {}).get(name)
        return None if value is None else str(value)
    return request.form.get(name)


def seen_version() -> int | None:
    """The ticket version the client last saw (optimistic locking); None when absent or bad."""
    raw = request.form.get("version") or (request.get_json(silent=True) or {}).get("version")
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def render_card(ticket: Ticket) -> str:
    ticket, won = board.ticket_card(current_org, ticket)
    return render_template("tickets/_card.html", ticket=ticket, won=won.get(
        current_org.currency), proposals=board.ticket_proposals(current_org, ticket))


def done(ticket: Ticket, message: str | None = None, status: int = 200, **extra: Any):
    """Answer a change: JSON with the fresh card for the board's JS, else redirect."""
    if wants_json():
        return jsonify({"ok": True, "ticket": {"id": ticket.id, "stage_id": ticket.stage_id,
                                                "version": ticket.version},
                        "card_html": render_card(ticket), "message": message, **extra}), status
    if message:
        flash(message, "success")
    return redirect_to_next(url_for("tickets.panel", ticket_id=ticket.id))


def refused(exc: WhaTrackError, ticket: Ticket | None = None):
    """A domain refusal: 4xx JSON with the current card (to undo a drag), or a flash."""
    if isinstance(exc, NotFound):
        raise exc  # the app's handler answers 404 like any missing page
    db.session.rollback()
    if wants_json():
        body: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message,
                                          "field": exc.field}}
        if ticket is not None:
            fresh = db.session.get(Ticket, ticket.id)
            body["ticket"] = {"id": fresh.id, "stage_id": fresh.stage_id,
                              "version": fresh.version}
            body["card_html"] = render_card(fresh)
        return jsonify(body), exc.status
    flash(exc.message, "error")
    return redirect(url_for("tickets.panel", ticket_id=ticket.id) if ticket else
                    url_for("tickets.board"))
