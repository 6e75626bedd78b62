"""``/dashboard/billing``: the plan, its state, invoices; Checkout and the Billing Portal."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user

from whatrack.blueprints.billing import bp
from whatrack.errors import redirect_on_error
from whatrack.extensions import db
from whatrack.services.billing import commands as billing
from whatrack.services.billing.queries import billing_overview
from whatrack.services.billing.state import billing_summary
from whatrack.tenancy import current_org, role_required


@bp.get("/dashboard/billing")
@role_required("owner")
def page():
    return render_template("billing/page.html", overview=billing_overview(current_org))


@bp.post("/dashboard/billing/checkout")
@role_required("owner")
@redirect_on_error("billing.page")
def checkout():
    url = billing.start_checkout(
        current_org, current_user,
        success_url=url_for("billing.success", _external=True),
        cancel_url=url_for("billing.canceled", _external=True))
    db.session.commit()
    return redirect(url, code=303)


@bp.post("/dashboard/billing/portal")
@role_required("owner")
@redirect_on_error("billing.page")
def portal():
    url = billing.open_portal(current_org, return_url=url_for("billing.page", _external=True))
    return redirect(url, code=303)


@bp.get("/dashboard/billing/success")
@role_required("owner")
def success():
    return render_template("billing/returned.html", paid=True,
                           billing=billing_summary(current_org))


@bp.get("/dashboard/billing/canceled")
@role_required("owner")
def canceled():
    return render_template("billing/returned.html", paid=False,
                           billing=billing_summary(current_org))
