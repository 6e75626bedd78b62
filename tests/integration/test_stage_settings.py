"""/dashboard/settings/stages: owners and admins add, rename, reorder, archive, restore and
delete the Kanban's columns; every refusal leaves the columns as they were."""

from __future__ import annotations

from typing import Any

import pytest
from flask_babel import gettext
from sqlalchemy import select

from whatrack.tenancy import unscoped

BASE = "/dashboard/settings/stages"
DEFAULTS = ["Novo", "Em atendimento", "Agendado", "Ganho", "Perdido"]


@pytest.fixture
def org(make_org, client_as) -> dict[str, Any]:
    org_id, _user_id, email = make_org("Clínica Sorriso")
    return {"id": org_id, "client": client_as(email)}


def _stages(db, org_id: int) -> list[Any]:
    """Every stage of the organization (archived too), fresh from the database."""
    from whatrack.models import Stage

    db.session.rollback()
    with unscoped():
        return list(db.session.scalars(select(Stage).where(Stage.organization_id == org_id)
                                       .order_by(Stage.position, Stage.id)))


def _snapshot(db, org_id: int) -> list[tuple]:
    return [(s.id, s.name, s.kind, s.position, s.archived_at) for s in _stages(db, org_id)]


def _active_names(db, org_id: int) -> list[str]:
    return [s.name for s in _stages(db, org_id) if s.archived_at is None]


def _by_name(db, org_id: int, name: str) -> Any:
    return next(s for s in _stages(db, org_id) if s.name == name)


def _said(app, message: str, **variables: Any) -> str:
    """``message`` as the app renders it (its default language, pt-BR)."""
    with app.test_request_context():
        return gettext(message, **variables)


def _post(client, path: str, **data: str):
    """POST a form and follow the redirect back to the stages page."""
    resp = client.post(path, data=data)
    assert resp.status_code == 302 and resp.headers["Location"] == BASE, resp.status_code
    page = client.get(BASE)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _in_order(html: str, names: list[str]) -> bool:
    positions = [html.find(f'value="{name}"') for name in names]
    return -1 not in positions and positions == sorted(positions)


@pytest.mark.endpoint("settings.stages")
def test_the_page_lists_the_columns_in_board_order(org):
    page = org["client"].get(BASE)

    assert page.status_code == 200
    assert _in_order(page.get_data(as_text=True), DEFAULTS)


@pytest.mark.endpoint("settings.add_stage")
def test_a_new_stage_is_added_at_the_end_of_the_board(app, org, db):
    html = _post(org["client"], BASE, name="  Retorno  ", kind="open")

    assert _active_names(db, org["id"]) == [*DEFAULTS, "Retorno"]
    new = _by_name(db, org["id"], "Retorno")
    assert new.kind == "open"
    assert _said(app, "Stage added.") in html and _in_order(html, [*DEFAULTS, "Retorno"])
    board = org["client"].get("/dashboard/tickets").get_data(as_text=True)
    assert "Retorno" in board


@pytest.mark.endpoint("settings.add_stage")
@pytest.mark.parametrize(("name", "kind", "error"), [
    ("", "open", "A stage name has 1 to 60 characters."),
    ("   ", "open", "A stage name has 1 to 60 characters."),
    ("x" * 61, "open", "A stage name has 1 to 60 characters."),
    ("Retorno", "closed", "Unknown stage kind."),
])
def test_a_bad_new_stage_is_refused_with_a_message(app, org, db, name, kind, error):
    before = _snapshot(db, org["id"])

    html = _post(org["client"], BASE, name=name, kind=kind)

    assert _snapshot(db, org["id"]) == before
    assert _said(app, error) in html


@pytest.mark.endpoint("settings.rename_stage")
def test_renaming_a_stage(app, org, db):
    stage = _by_name(db, org["id"], "Agendado")

    html = _post(org["client"], f"{BASE}/{stage.id}/rename", name="Consulta marcada")

    assert _active_names(db, org["id"])[2] == "Consulta marcada"
    assert _said(app, "Stage renamed.") in html and 'value="Consulta marcada"' in html

    before = _snapshot(db, org["id"])
    html = _post(org["client"], f"{BASE}/{stage.id}/rename", name=" ")
    assert _snapshot(db, org["id"]) == before
    assert _said(app, "A stage name has 1 to 60 characters.") in html


@pytest.mark.endpoint("settings.move_stage")
def test_moving_a_stage_left_and_right_reorders_the_board(org, db):
    stage = _by_name(db, org["id"], "Agendado")

    html = _post(org["client"], f"{BASE}/{stage.id}/move", direction="left")
    assert _active_names(db, org["id"]) == ["Novo", "Agendado", "Em atendimento", "Ganho",
                                            "Perdido"]
    assert _in_order(html, ["Novo", "Agendado", "Em atendimento"])

    _post(org["client"], f"{BASE}/{stage.id}/move", direction="right")
    assert _active_names(db, org["id"]) == DEFAULTS
    assert [s.position for s in _stages(db, org["id"])] == [0, 1, 2, 3, 4]


@pytest.mark.endpoint("settings.move_stage")
def test_moving_past_either_end_changes_nothing(org, db):
    first, last = _by_name(db, org["id"], "Novo"), _by_name(db, org["id"], "Perdido")
    _post(org["client"], f"{BASE}/{first.id}/move", direction="left")
    _post(org["client"], f"{BASE}/{last.id}/move", direction="right")

    assert _active_names(db, org["id"]) == DEFAULTS


@pytest.mark.endpoint("settings.move_stage", "settings.archive_stage")
def test_an_archived_stage_cannot_be_moved(app, org, db):
    stage = _by_name(db, org["id"], "Agendado")
    _post(org["client"], f"{BASE}/{stage.id}/archive")
    before = _snapshot(db, org["id"])

    html = _post(org["client"], f"{BASE}/{stage.id}/move", direction="left")

    assert _snapshot(db, org["id"]) == before
    assert _said(app, "Restore the stage before moving it.") in html


@pytest.mark.endpoint("settings.archive_stage", "settings.restore_stage")
def test_archiving_hides_a_column_and_restoring_brings_it_back(app, org, db):
    stage = _by_name(db, org["id"], "Agendado")
    restore_url = f"{BASE}/{stage.id}/restore"

    html = _post(org["client"], f"{BASE}/{stage.id}/archive")
    assert _by_name(db, org["id"], "Agendado").archived_at is not None
    assert "Agendado" not in _active_names(db, org["id"])
    assert _said(app, "Stage archived.") in html and restore_url in html
    assert "Agendado" not in org["client"].get("/dashboard/tickets").get_data(as_text=True)

    html = _post(org["client"], restore_url)
    assert _active_names(db, org["id"]) == DEFAULTS
    assert _said(app, "Stage restored.") in html and restore_url not in html
    assert "Agendado" in org["client"].get("/dashboard/tickets").get_data(as_text=True)


@pytest.mark.endpoint("settings.archive_stage")
def test_the_last_won_stage_and_a_stage_with_open_tickets_stay(app, org, make_ticket, db):
    won = _by_name(db, org["id"], "Ganho")
    novo = _by_name(db, org["id"], "Novo")
    make_ticket(org["id"])  # starts in Novo
    before = _snapshot(db, org["id"])

    html = _post(org["client"], f"{BASE}/{won.id}/archive")
    assert _said(app, "Keep at least one stage of this kind.") in html
    html = _post(org["client"], f"{BASE}/{novo.id}/archive")
    assert _said(app, "Move the %(n)d open tickets out of this stage first.", n=1) in html

    assert _snapshot(db, org["id"]) == before


@pytest.mark.endpoint("settings.delete_stage")
def test_an_empty_stage_is_deleted(app, org, db):
    _post(org["client"], BASE, name="Retorno", kind="open")
    stage = _by_name(db, org["id"], "Retorno")

    html = _post(org["client"], f"{BASE}/{stage.id}/delete")

    assert "Retorno" not in [s.name for s in _stages(db, org["id"])]
    assert _said(app, "Stage deleted.") in html and 'value="Retorno"' not in html


@pytest.mark.endpoint("settings.delete_stage")
def test_a_stage_that_held_tickets_or_the_last_won_stage_is_not_deleted(app, org, make_ticket,
                                                                          db):
    won = _by_name(db, org["id"], "Ganho")
    novo = _by_name(db, org["id"], "Novo")
    make_ticket(org["id"])
    before = _snapshot(db, org["id"])

    html = _post(org["client"], f"{BASE}/{novo.id}/delete")
    assert _said(app, "This stage has tickets: archive it instead.") in html
    html = _post(org["client"], f"{BASE}/{won.id}/delete")
    assert _said(app, "Keep at least one stage of this kind.") in html

    assert _snapshot(db, org["id"]) == before


@pytest.mark.endpoint("settings.stages", "settings.add_stage", "settings.rename_stage",
                      "settings.move_stage", "settings.archive_stage", "settings.restore_stage",
                      "settings.delete_stage")
def test_agents_and_other_organizations_change_nothing(org, make_org, make_member, client_as,
                                                       db):
    agent = client_as(make_member(org["id"], "agent").email)
    other = client_as(make_org("Clínica Beta")[2])
    stage = _by_name(db, org["id"], "Agendado")
    before = _snapshot(db, org["id"])
    actions = [f"{BASE}/{stage.id}/{action}"
               for action in ("rename", "move", "archive", "restore", "delete")]

    assert agent.get(BASE).status_code == 403
    assert agent.post(BASE, data={"name": "Intruso", "kind": "open"}).status_code == 403
    for path in actions:
        assert agent.post(path, data={"name": "Intruso"}).status_code == 403, path
        assert other.post(path, data={"name": "Intruso"}).status_code == 404, path

    assert _snapshot(db, org["id"]) == before
