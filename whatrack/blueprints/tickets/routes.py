"""The Kanban board and the ticket panel."""

from __future__ import annotations

from datetime import date

from flask import flash, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from whatrack.blueprints.tickets import bp
from whatrack.blueprints.tickets.common import done, form_field, refused, render_card, seen_version
from whatrack.blueprints.tickets.messaging import composer_context
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.i18n import parse_date_input
from whatrack.models import Stage, Ticket
from whatrack.services.accounts import orgs
from whatrack.services.conversions import queries as conversions_query
from whatrack.services.copilot import queries as copilot_queries
from whatrack.services.messaging import read_receipts
from whatrack.services.tickets import board, sales
from whatrack.services.tickets import commands as tickets
from whatrack.services.tickets.commands import LOST_REASONS
from whatrack.services.tickets.stages import active_stages
from whatrack.tenancy import current_org, org_required


def _date_arg(name: str) -> date | None:
    try:
        return parse_date_input(request.args.get(name))
    except ValueError:
        flash(_("Type the dates as dd/mm/yyyy, for example 01/11/2026."), "error")
        return None


def _filters() -> board.BoardFilters:
    return board.BoardFilters(
        assignee=request.args.get("assignee") or None,
        source=request.args.get("source") or None,
        date_from=_date_arg("from"),
        date_to=_date_arg("to"),
        q=(request.args.get("q") or "").strip() or None,
    )


@bp.get("/dashboard/tickets")
@org_required
def board_view():
    filters = _filters()
    return render_template(
        "tickets/board.html",
        board=board.load_board(current_org, filters, current_user),
        filters=filters,
        members=orgs.list_members(current_org),
        lost_reasons=lost_reason_labels(),
        count_cap=board.COUNT_CAP,
        # "Show more" keeps the board's filters (as typed: the same parser reads them).
        filter_args={k: v for k in ("q", "assignee", "source", "from", "to")
                     if (v := request.args.get(k))},
    )


@bp.get("/dashboard/tickets/columns/<int:stage_id>")
@org_required
def column_page(stage_id: int):
    """The next cards of one column ("Show more"), after the board's cursor, same filters."""
    stage = Stage.get_for_org_or_404(stage_id, current_org)
    page = board.load_column(current_org, stage, _filters(), current_user,
                             request.args.get("after"))
    column = page.columns[0]
    html = "".join(render_template(
        "tickets/_card.html", ticket=ticket,
        won=page.won_values.get(ticket.id, {}).get(current_org.currency),
        proposals=page.proposals.get(ticket.id)) for ticket in column.tickets)
    return jsonify({"html": html, "count": len(column.tickets),
                    "next_cursor": column.next_cursor})


def lost_reason_labels() -> list[tuple[str, str]]:
    labels = {
        "price": _("Price"),
        "no_reply": _("Stopped replying"),
        "competitor": _("Chose a competitor"),
        "not_interested": _("Not interested"),
        "no_availability": _("No availability"),
        "other": _("Other"),
    }
    return [(key, labels[key]) for key in LOST_REASONS]


@bp.get("/dashboard/tickets/<int:ticket_id>")
@org_required
def panel(ticket_id: int):
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    if request.args.get("read") == "1":
        read_receipts.conversation_opened(current_org, ticket)
        db.session.commit()
    ticket_sales = sales.ticket_sales(current_org, ticket)
    context = {
        **composer_context(ticket),
        "ticket": ticket,
        # The inbox shows the thread and the composer beside the panel.
        "in_inbox": request.args.get("in") == "inbox",
        "sales": ticket_sales,
        "evidence": copilot_queries.evidence_messages(current_org, ticket_sales),
        "notes": tickets.ticket_notes(current_org, ticket),
        "members": orgs.list_members(current_org),
        "stages": active_stages(current_org),
        "conversion_events": conversions_query.ticket_events(current_org, ticket),
        "lost_reasons": lost_reason_labels(),
    }
    in_drawer = bool(request.args.get("partial"))
    template = "tickets/_panel.html" if in_drawer else "tickets/panel.html"
    return render_template(template, in_drawer=in_drawer, **context)


@bp.get("/dashboard/tickets/<int:ticket_id>/card")
@org_required
def card(ticket_id: int):
    return render_card(Ticket.get_for_org_or_404(ticket_id, current_org))


@bp.post("/dashboard/tickets/<int:ticket_id>/move")
@org_required
def move(ticket_id: int):
    ticket = tickets.lock_ticket(current_org, ticket_id)
    try:
        tickets.check_version(ticket, seen_version())
        stage = tickets.stage_of(current_org, form_field("stage_id"))
        if stage.kind == "won":
            raise WhaTrackError(_("Record the sale to move this ticket to a won stage."),
                                code="sale_required")
        tickets.move_ticket(current_org, ticket, stage, current_user,
                            lost_reason=form_field("lost_reason"),
                            lost_note=form_field("lost_note"))
        # Whoever moves a card has dealt with it: its unread badge goes.
        tickets.mark_read(current_org, ticket)
    except WhaTrackError as exc:
        return refused(exc, ticket)
    db.session.commit()
    return done(ticket, _("Ticket moved."))


@bp.post("/dashboard/tickets/<int:ticket_id>/assign")
@org_required
def assign(ticket_id: int):
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    raw = form_field("assignee")
    try:
        assignee = tickets.member_of(current_org, raw) if raw else None
        tickets.assign_ticket(current_org, ticket, assignee, current_user)
    except WhaTrackError as exc:
        return refused(exc, ticket)
    db.session.commit()
    return done(ticket, _("Assignment saved."))


@bp.post("/dashboard/tickets/<int:ticket_id>/notes")
@org_required
def add_note(ticket_id: int):
    ticket = Ticket.get_for_org_or_404(ticket_id, current_org)
    try:
        tickets.add_note(current_org, ticket, current_user, form_field("body") or "")
    except WhaTrackError as exc:
        return refused(exc, ticket)
    db.session.commit()
    return done(ticket, _("Note added."))
