"""Helpers shared by the Kanban views: JSON-or-redirect answers and card rendering."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, url_for

from whatrack.errors import WhaTrackError, wants_json
from whatrack.extensions import db
from whatrack.models import Ticket
from whatrack.security import redirect_to_next
from whatrack.services import board
from whatrack.tenancy import current_org


def render_card(ticket: Ticket) -> str:
    ticket, won = board.ticket_card(current_org, ticket)
    return render_template("tickets/_card.html", ticket=ticket, won=won.get(
        current_org.currency))


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
