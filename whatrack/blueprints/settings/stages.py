"""Owners and admins shape the Kanban: add, rename, reorder, archive, delete stages."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from whatrack.blueprints.settings import bp
from whatrack.blueprints.settings.changes import apply_change
from whatrack.blueprints.settings.forms import EmptyForm
from whatrack.extensions import db
from whatrack.models import Stage
from whatrack.services.tickets import stages as stage_service
from whatrack.tenancy import current_org, role_required


def _apply(change, success: str):
    return apply_change(change, success, "settings.stages")


@bp.get("/stages")
@role_required("admin")
def stages():
    from sqlalchemy import select

    archived = list(db.session.scalars(
        select(Stage).where(Stage.archived_at.is_not(None)).order_by(Stage.name)))
    return render_template("settings/stages.html",
                           stages=stage_service.active_stages(current_org), archived=archived,
                           form=EmptyForm())


@bp.post("/stages")
@role_required("admin")
def add_stage():
    return _apply(lambda: stage_service.add_stage(current_org, request.form.get("name", ""),
                                                  request.form.get("kind", "open")),
                  _("Stage added."))


@bp.post("/stages/<int:stage_id>/rename")
@role_required("admin")
def rename_stage(stage_id: int):
    stage = Stage.get_for_org_or_404(stage_id, current_org)
    return _apply(lambda: stage_service.rename_stage(current_org, stage,
                                                     request.form.get("name", "")),
                  _("Stage renamed."))


@bp.post("/stages/<int:stage_id>/move")
@role_required("admin")
def move_stage(stage_id: int):
    stage = Stage.get_for_org_or_404(stage_id, current_org)
    offset = -1 if request.form.get("direction") == "left" else 1
    return _apply(lambda: stage_service.move_stage(current_org, stage, offset), _("Order saved."))


@bp.post("/stages/<int:stage_id>/archive")
@role_required("admin")
def archive_stage(stage_id: int):
    stage = Stage.get_for_org_or_404(stage_id, current_org)
    return _apply(lambda: stage_service.archive_stage(current_org, stage), _("Stage archived."))


@bp.post("/stages/<int:stage_id>/restore")
@role_required("admin")
def restore_stage(stage_id: int):
    stage = Stage.get_for_org_or_404(stage_id, current_org)

    def restore():
        stage.archived_at = None
        stage_service.move_stage(current_org, stage, 0)

    return _apply(restore, _("Stage restored."))


@bp.post("/stages/<int:stage_id>/delete")
@role_required("admin")
def delete_stage(stage_id: int):
    stage = Stage.get_for_org_or_404(stage_id, current_org)
    return _apply(lambda: stage_service.delete_stage(current_org, stage), _("Stage deleted."))
