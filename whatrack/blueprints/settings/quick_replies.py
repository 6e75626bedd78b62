"""The organization's quick replies: the answers the composer inserts with "/name"."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from whatrack.blueprints.settings import bp
from whatrack.blueprints.settings.changes import apply_change
from whatrack.blueprints.settings.forms import EmptyForm
from whatrack.services.inbox import quick_replies as service
from whatrack.tenancy import current_org, org_required


def _apply(change, success: str):
    return apply_change(change, success, "settings.quick_replies")


@bp.get("/quick-replies")
@org_required
def quick_replies():
    # Every member answers customers, so every member keeps the shared answers.
    return render_template("settings/quick_replies.html",
                           replies=service.list_quick_replies(current_org), form=EmptyForm())


@bp.post("/quick-replies")
@org_required
def save_quick_reply():
    return _apply(lambda: service.save_quick_reply(current_org, request.form.get("name", ""),
                                                   request.form.get("body", "")),
                  _("Quick reply saved."))


@bp.post("/quick-replies/<int:reply_id>/delete")
@org_required
def delete_quick_reply(reply_id: int):
    return _apply(lambda: service.delete_quick_reply(current_org, reply_id),
                  _("Quick reply deleted."))
