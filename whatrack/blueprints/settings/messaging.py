"""Sending preferences of the organization (read receipts)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from whatrack.blueprints.settings import bp
from whatrack.extensions import db
from whatrack.services.messaging import read_receipts
from whatrack.tenancy import current_org, role_required


@bp.post("/whatsapp/read-receipts")
@role_required("admin")
def read_receipts_setting():
    enabled = request.form.get("enabled") == "1"
    read_receipts.set_read_receipts(current_org, enabled)
    db.session.commit()
    flash(_("Read receipts turned on.") if enabled else _("Read receipts turned off."),
          "success")
    return redirect(url_for("settings.whatsapp"))
