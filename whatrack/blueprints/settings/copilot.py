"""/dashboard/settings/copilot: the sales copilot on or off, and which detector reads."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from whatrack.blueprints.settings import bp
from whatrack.blueprints.settings.forms import EmptyForm
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.services.copilot import commands as copilot_commands
from whatrack.services.copilot import queries as copilot_queries
from whatrack.tenancy import current_org, role_required


@bp.get("/copilot")
@role_required("admin")
def copilot():
    return render_template("settings/copilot.html", form=EmptyForm(),
                           settings=copilot_queries.settings_of(current_org),
                           llm_configured=copilot_queries.llm_configured(),
                           pending=copilot_queries.pending_count(current_org))


@bp.post("/copilot")
@role_required("admin")
def save_copilot():
    if not EmptyForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(url_for("settings.copilot"))
    try:
        copilot_commands.update_settings(current_org, enabled=request.form.get("enabled") == "1",
                                         detector=request.form.get("detector") or "builtin")
    except WhaTrackError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return render_template("settings/copilot.html", form=EmptyForm(),
                               settings=copilot_queries.settings_of(current_org),
                               llm_configured=copilot_queries.llm_configured(),
                               pending=copilot_queries.pending_count(current_org)), 400
    db.session.commit()
    flash(_("Copilot settings saved."), "success")
    return redirect(url_for("settings.copilot"))
