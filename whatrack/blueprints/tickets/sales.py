"""Sales from the ticket panel and the Kanban's won-column dialog."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from whatrack.blueprints.tickets import bp
from whatrack.blueprints.tickets.common import done, form_field, refused, seen_version
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.i18n import money
from whatrack.models import Sale, Ticket
from whatrack.services.copilot import queries as copilot_queries
from whatrack.services.tickets import sales
from whatrack.services.tickets.money import parse_amount, parse_currency
from whatrack.tenancy import current_org, org_required, role_required


@bp.post("/dashboard/tickets/<int:ticket_id>/sales")
@org_required
def create_sale(ticket_id: int):
    origin = "kanban" if form_field("origin") == "kanban" else "panel"
    try:
        data = sales.SaleInput(value=parse_amount(form_field("value")),
                               currency=parse_currency(form_field("currency")),
                               description=form_field("description"))
        sale = sales.close_sale(current_org, ticket_id, data, origin, current_user,
                                seen_version())
    except WhaTrackError as exc:
        return refused(exc, Ticket.get_for_org_or_404(ticket_id, current_org))
    db.session.commit()
    # The board's toast says the value and offers to undo (cancel) this very sale.
    return done(db.session.get(Ticket, sale.ticket_id), _("Sale recorded."), status=201,
                sale={"id": sale.id, "value": money(sale.value, sale.currency),
                      "message": _("Sale of %(value)s recorded.",
                                   value=money(sale.value, sale.currency))})


def _decide(sale_id: int, change, message: str):
    """Load the sale (scoped), apply ``change(sale)``, answer like every board action."""
    sale = Sale.get_for_org_or_404(sale_id, current_org)
    try:
        change(sale)
    except WhaTrackError as exc:
        return refused(exc, sale.ticket)
    db.session.commit()
    return done(db.session.get(Ticket, sale.ticket_id), message)


@bp.post("/dashboard/sales/<int:sale_id>/approve")
@role_required("admin")
def approve_sale(sale_id: int):
    def approve(sale: Sale) -> None:
        value = parse_amount(form_field("value")) if form_field("value") else None
        sales.approve_sale(current_org, sale.id, current_user, value)

    return _decide(sale_id, approve, _("Sale approved."))


@bp.post("/dashboard/sales/<int:sale_id>/reject")
@role_required("admin")
def reject_sale(sale_id: int):
    return _decide(sale_id, lambda sale: sales.reject_sale(
        current_org, sale.id, current_user, form_field("reason")), _("Proposal rejected."))


@bp.post("/dashboard/sales/<int:sale_id>/cancel")
@role_required("admin")
def cancel_sale(sale_id: int):
    return _decide(sale_id, lambda sale: sales.cancel_sale(
        current_org, sale.id, current_user, form_field("reason") or ""), _("Sale cancelled."))


@bp.get("/dashboard/sales/proposed")
@org_required
def proposals():
    """"Vendas para aprovar": every proposal waiting, newest first, with its evidence."""
    page = copilot_queries.list_sales(current_org, status="proposed",
                                      cursor=request.args.get("cursor"))
    return render_template("tickets/proposals.html", page=page,
                           evidence=copilot_queries.evidence_messages(current_org, page.items))
