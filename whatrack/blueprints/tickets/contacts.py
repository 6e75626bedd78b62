"""A contact's data on request (LGPD): owners export it as JSON or erase it."""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from whatrack.blueprints.tickets import bp
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.models import Contact, Ticket
from whatrack.services.privacy import erase, export
from whatrack.tenancy import current_org, role_required


def _contact(contact_id: int) -> Contact:
    return Contact.get_for_org_or_404(contact_id, current_org)


@bp.get("/dashboard/contacts/<int:contact_id>/export")
@role_required("owner")
def export_contact(contact_id: int):
    document = export.export_contact(current_org, _contact(contact_id))
    body = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="contact-{contact_id}.json"',
        "Cache-Control": "no-store"})


def _latest_ticket(contact: Contact) -> Ticket | None:
    return db.session.scalars(select(Ticket).where(Ticket.contact_id == contact.id)
                              .order_by(Ticket.id.desc()).limit(1)).first()


@bp.get("/dashboard/contacts/<int:contact_id>/erase")
@role_required("owner")
def confirm_erase_contact(contact_id: int):
    contact = _contact(contact_id)
    return render_template("tickets/contact_erase.html", contact=contact,
                           ticket=_latest_ticket(contact))


@bp.post("/dashboard/contacts/<int:contact_id>/erase")
@role_required("owner")
def erase_contact(contact_id: int):
    contact = _contact(contact_id)
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm the erasure."), "error")
        return render_template("tickets/contact_erase.html", contact=contact,
                               ticket=_latest_ticket(contact)), 400
    try:
        done = erase.erase_contact(current_org, contact, current_user)
    except WhaTrackError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("tickets.confirm_erase_contact", contact_id=contact_id))
    db.session.commit()
    flash(_("Contact erased: %(messages)d messages deleted; %(sales)d sales kept without "
            "personal data.", messages=done.messages, sales=done.sales_kept), "success")
    return redirect(url_for("tickets.board_view"))
