"""Kanban stages of an organization."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from whatrack.errors import ConflictError, ValidationError
from whatrack.extensions import db
from whatrack.models import Organization, Stage, Ticket, utcnow
from whatrack.models.tickets import DEFAULT_STAGES, STAGE_KINDS
from whatrack.transaction_memo import remembered


def create_default_stages(org: Organization) -> list[Stage]:
    """The pt-BR default pipeline: Novo, Em atendimento, Agendado, Ganho, Perdido."""
    stages = [
        Stage(organization_id=org.id, name=name, kind=kind, position=index)
        for index, (name, kind) in enumerate(DEFAULT_STAGES)
    ]
    db.session.add_all(stages)
    db.session.flush()
    return stages


def active_stages(org: Organization) -> list[Stage]:
    stmt = (
        select(Stage)
        .where(Stage.organization_id == org.id, Stage.archived_at.is_(None))
        .order_by(Stage.position, Stage.id)
    )
    return list(db.session.scalars(stmt))


def entry_stage(org: Organization) -> Stage:
    """Where new tickets start: the first open stage (defaults are created if missing)."""
    return remembered(("entry_stage", org.id), lambda: _entry_stage(org))


def _entry_stage(org: Organization) -> Stage:
    stages = active_stages(org) or create_default_stages(org)
    return next((s for s in stages if s.kind == "open"), stages[0])


def _validated_name(name: str) -> str:

    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ValidationError(_("A stage name has 1 to 60 characters."), field="name")
    return name


def add_stage(org: Organization, name: str, kind: str) -> Stage:
    """A new column at the end of the board."""

    if kind not in STAGE_KINDS:
        raise ValidationError(_("Unknown stage kind."), field="kind")
    stages = active_stages(org)
    stage = Stage(organization_id=org.id, name=_validated_name(name), kind=kind,
                  position=(stages[-1].position + 1) if stages else 0)
    db.session.add(stage)
    db.session.flush()
    return stage


def rename_stage(org: Organization, stage: Stage, name: str) -> Stage:
    stage.name = _validated_name(name)
    db.session.flush()
    return stage


def move_stage(org: Organization, stage: Stage, offset: int) -> None:
    """Swap ``stage`` with its neighbour (offset -1: left, +1: right); positions renumbered."""
    stages = active_stages(org)
    index = next((i for i, s in enumerate(stages) if s.id == stage.id), None)
    if index is None:  # archived: it has no place on the board to move from
        raise ConflictError(_("Restore the stage before moving it."))
    target = index + offset
    if 0 <= target < len(stages):
        stages[index], stages[target] = stages[target], stages[index]
    for position, item in enumerate(stages):
        item.position = position
    db.session.flush()


def tickets_in_stage(org: Organization, stage: Stage) -> int:
    return db.session.scalar(select(func.count(Ticket.id)).where(Ticket.stage_id == stage.id))


def archive_stage(org: Organization, stage: Stage) -> None:
    """Hide a column; its tickets keep their history. The last won/open stage stays."""

    same_kind = [s for s in active_stages(org) if s.kind == stage.kind and s.id != stage.id]
    if stage.kind in ("open", "won") and not same_kind:
        raise ConflictError(_("Keep at least one stage of this kind."))
    open_tickets = _open_tickets(stage)
    if open_tickets:
        raise ConflictError(_("Move the %(n)d open tickets out of this stage first.",
                              n=open_tickets))
    stage.archived_at = utcnow()
    db.session.flush()


def _open_tickets(stage: Stage) -> int:
    return db.session.scalar(select(func.count(Ticket.id)).where(
        Ticket.stage_id == stage.id, Ticket.closed_at.is_(None)))


def delete_stage(org: Organization, stage: Stage) -> None:
    """Only an empty stage is deleted; one that ever held tickets can only be archived."""

    if tickets_in_stage(org, stage):
        raise ConflictError(_("This stage has tickets: archive it instead."))
    same_kind = [s for s in active_stages(org) if s.kind == stage.kind and s.id != stage.id]
    if stage.kind in ("open", "won") and not same_kind and stage.archived_at is None:
        raise ConflictError(_("Keep at least one stage of this kind."))
    db.session.delete(stage)
    db.session.flush()
