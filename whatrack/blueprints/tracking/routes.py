"""/dashboard/tracking: tracking links, their short URLs and their counters."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from whatrack.blueprints.settings.forms import EmptyForm
from whatrack.blueprints.tracking import bp
from whatrack.blueprints.tracking.forms import LinkForm
from whatrack.errors import ValidationError
from whatrack.extensions import db
from whatrack.models.tracking import UTM_FIELDS
from whatrack.services.tracking import commands as tracking
from whatrack.services.tracking import queries as tracking_query
from whatrack.services.tracking.ads import reason_text
from whatrack.services.whatsapp.accounts import list_accounts
from whatrack.tenancy import current_org, org_required, role_required


def _form() -> LinkForm:
    form = LinkForm()
    form.account.choices = [
        SelectChoice(str(a.id), f"+{a.display_phone_number}"
                     + (f" · {a.verified_name}" if a.verified_name else ""))
        for a in list_accounts(current_org) if a.status == "connected"]
    return form


def _page(form: LinkForm, status: int = 200):
    return render_template("tracking/index.html", links=tracking_query.list_links(current_org),
                           form=form, action_form=EmptyForm()), status


@bp.get("/dashboard/tracking")
@org_required
def index():
    return _page(_form())


@bp.post("/dashboard/tracking")
@role_required("admin")
def create():
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        data = tracking.link_input(form.name.data, form.message.data,
                                   {key: getattr(form, key).data for key in UTM_FIELDS})
        account = tracking.account_for_link(current_org, account_id=form.account.data)
    except ValidationError as exc:
        form.name.errors = [*form.name.errors, exc.message]
        return _page(form, 400)
    link = tracking.create_link(current_org, account, data, current_user)
    db.session.commit()
    flash(_("Link “%(name)s” created: %(url)s", name=link.name,
            url=url_for("tracking.follow", code=link.code, _external=True)), "success")
    return redirect(url_for("tracking.index"))


@bp.post("/dashboard/tracking/<int:link_id>/enabled")
@role_required("admin")
def toggle(link_id: int):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    enabled = request.form.get("enabled") == "1"
    link = tracking.set_link_enabled(current_org, link_id, enabled)
    db.session.commit()
    flash(_("Link “%(name)s” enabled.", name=link.name) if enabled
          else _("Link “%(name)s” disabled: visits now see a “link not found” page.",
                 name=link.name), "success")
    return redirect(url_for("tracking.index"))


@bp.app_template_global()
def attribution_window(ticket):
    """The ticket's 7-day Meta attribution window (the panel's "accepts this sale until")."""
    return tracking_query.attribution_window(current_org, ticket) if current_org else None


@bp.app_template_global()
def ad_reason(code: str | None) -> str | None:
    return reason_text(code)
