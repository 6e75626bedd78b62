"""Kanban stages of an organization."""

from __future__ import annotations

from sqlalchemy import select

from whatrack.extensions import db
from whatrack.models import Organization, Stage
from whatrack.models.tickets import DEFAULT_STAGES


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
    stages = active_stages(org) or create_default_stages(org)
    return next((s for s in stages if s.kind == "open"), stages[0])
