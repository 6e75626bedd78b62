"""Ticket panel actions over HTTP: notes, assignment, the card, approving a proposed sale.

Each action is checked for its effect (rows in the database, what the panel or card shows)
and for its refusals (bad input, wrong role, another organization), which must leave the
database as it was.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from whatrack.tenancy import bind_org, unscoped

JSON = {"Accept": "application/json"}


@pytest.fixture
def org(make_org, make_ticket) -> dict[str, Any]:
    org_id, user_id, email = make_org("Clínica Sorriso")
    return {"id": org_id, "user_id": user_id, "email": email, "ticket_id": make_ticket(org_id)}


@pytest.fixture
def stranger(make_org, client_as) -> dict[str, Any]:
    """The owner of another organization, logged in."""
    org_id, user_id, email = make_org("Clínica Beta")
    return {"id": org_id, "user_id": user_id, "client": client_as(email)}


def _rows(db, model, *where):
    db.session.rollback()  # drop what this session cached; the requests committed elsewhere
    with unscoped():
        return list(db.session.scalars(select(model).where(*where).order_by(model.id)))


def _ticket(db, ticket_id):
    from whatrack.models import Ticket

    [ticket] = _rows(db, Ticket, Ticket.id == ticket_id)
    return ticket


# --- notes -----------------------------------------------------------------------------


@pytest.mark.endpoint("tickets.add_note", "tickets.panel")
def test_a_note_is_stored_with_its_author_and_shown_on_the_panel(org, client_as, make_member,
                                                                 db):
    from whatrack.models import TicketNote

    agent = make_member(org["id"], "agent")
    client = client_as(agent.email)
    ticket_id = org["ticket_id"]

    resp = client.post(f"/dashboard/tickets/{ticket_id}/notes",
                       data={"body": "  Retorna na segunda às 10h  "})

    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/dashboard/tickets/{ticket_id}"
    [note] = _rows(db, TicketNote)
    assert (note.ticket_id, note.user_id, note.body) == (ticket_id, agent.user_id,
                                                          "Retorna na segunda às 10h")
    panel = client.get(f"/dashboard/tickets/{ticket_id}").get_data(as_text=True)
    assert "Retorna na segunda às 10h" in panel


@pytest.mark.endpoint("tickets.add_note")
def test_the_board_adds_a_note_as_json(org, client_as, db):
    from whatrack.models import TicketNote

    resp = client_as(org["email"]).post(f"/dashboard/tickets/{org['ticket_id']}/notes",
                                        json={"body": "Pediu orçamento"}, headers=JSON)

    assert resp.status_code == 200
    assert resp.get_json()["ok"] is True
    assert f'data-ticket-id="{org["ticket_id"]}"' in resp.get_json()["card_html"]
    assert [n.body for n in _rows(db, TicketNote)] == ["Pediu orçamento"]


@pytest.mark.endpoint("tickets.add_note")
@pytest.mark.parametrize("body", ["", "   ", None])
def test_an_empty_note_is_refused_and_nothing_stored(org, client_as, db, body):
    from whatrack.models import TicketNote

    data = {} if body is None else {"body": body}
    resp = client_as(org["email"]).post(f"/dashboard/tickets/{org['ticket_id']}/notes",
                                        data=data, headers=JSON)

    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "body"
    assert resp.get_json()["error"]["message"]
    assert _rows(db, TicketNote) == []


@pytest.mark.endpoint("tickets.add_note")
def test_another_organization_cannot_add_a_note(org, stranger, client, db):
    from whatrack.models import TicketNote

    path = f"/dashboard/tickets/{org['ticket_id']}/notes"
    assert stranger["client"].post(path, data={"body": "intruso"}).status_code == 404
    anonymous = client.post(path, data={"body": "anônimo"})
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    assert _rows(db, TicketNote) == []


# --- assignment ------------------------------------------------------------------------


@pytest.mark.endpoint("tickets.assign", "tickets.card")
def test_assigning_a_member_is_recorded_and_shown_on_the_card(org, client_as, make_member, db):
    from whatrack.models import TicketEvent

    agent = make_member(org["id"], "agent")
    client = client_as(org["email"])
    ticket_id = org["ticket_id"]

    resp = client.post(f"/dashboard/tickets/{ticket_id}/assign",
                       data={"assignee": str(agent.user_id)})

    assert resp.status_code == 302
    assert _ticket(db, ticket_id).assignee_id == agent.user_id
    [event] = _rows(db, TicketEvent, TicketEvent.kind == "assigned")
    assert (event.ticket_id, event.user_id, event.data["assignee"]) == (
        ticket_id, org["user_id"], agent.user_id)
    card = client.get(f"/dashboard/tickets/{ticket_id}/card").get_data(as_text=True)
    assert agent.email in card  # the assignee's initial carries the email as its title

    unassign = client.post(f"/dashboard/tickets/{ticket_id}/assign", data={"assignee": ""},
                           headers=JSON)
    assert unassign.status_code == 200
    assert _ticket(db, ticket_id).assignee_id is None
    assert agent.email not in unassign.get_json()["card_html"]


@pytest.mark.endpoint("tickets.assign")
@pytest.mark.parametrize("assignee", ["outsider", "abc", "999999", "1.5"])
def test_assigning_someone_outside_the_organization_is_refused(
        org, stranger, client_as, make_member, db, assignee):
    agent = make_member(org["id"], "agent")
    client = client_as(org["email"])
    ticket_id = org["ticket_id"]
    client.post(f"/dashboard/tickets/{ticket_id}/assign", data={"assignee": agent.user_id})
    version = _ticket(db, ticket_id).version
    value = str(stranger["user_id"]) if assignee == "outsider" else assignee

    resp = client.post(f"/dashboard/tickets/{ticket_id}/assign", data={"assignee": value},
                       headers=JSON)

    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "assignee"
    ticket = _ticket(db, ticket_id)
    assert (ticket.assignee_id, ticket.version) == (agent.user_id, version)


@pytest.mark.endpoint("tickets.assign")
def test_another_organization_cannot_assign(org, stranger, db):
    resp = stranger["client"].post(f"/dashboard/tickets/{org['ticket_id']}/assign",
                                   data={"assignee": str(stranger["user_id"])})
    assert resp.status_code == 404
    assert _ticket(db, org["ticket_id"]).assignee_id is None


# --- the card --------------------------------------------------------------------------


@pytest.mark.endpoint("tickets.card")
def test_the_card_shows_the_contact_source_and_won_value(org, client_as, db):
    from whatrack.models import Contact

    client = client_as(org["email"])
    ticket_id = org["ticket_id"]
    contact = _rows(db, Contact)[0]

    before = client.get(f"/dashboard/tickets/{ticket_id}/card")
    assert before.status_code == 200
    html = before.get_data(as_text=True)
    assert f'data-ticket-id="{ticket_id}"' in html and contact.profile_name in html
    assert "1.234,56" not in html

    client.post(f"/dashboard/tickets/{ticket_id}/sales", data={"value": "1.234,56"})
    after = client.get(f"/dashboard/tickets/{ticket_id}/card").get_data(as_text=True)
    assert "1.234,56" in after
    assert f'data-version="{_ticket(db, ticket_id).version}"' in after


@pytest.mark.endpoint("tickets.card")
def test_the_card_of_another_organization_is_not_found(org, stranger, client):
    path = f"/dashboard/tickets/{org['ticket_id']}/card"
    assert stranger["client"].get(path).status_code == 404
    assert client.get(path).headers["Location"].startswith("/login")
    assert stranger["client"].get("/dashboard/tickets/999999/card").status_code == 404


# --- approving a proposed sale -----------------------------------------------------------


@pytest.fixture
def proposal(app, org) -> int:
    """A copilot proposal of R$ 500,00 on the organization's ticket."""
    from whatrack.extensions import db
    from whatrack.models import Organization, Ticket
    from whatrack.services.tickets.sales import SaleInput, propose_sale

    with app.app_context(), bind_org(org["id"]):
        sale = propose_sale(db.session.get(Organization, org["id"]),
                            db.session.get(Ticket, org["ticket_id"]), SaleInput(Decimal("500")))
        db.session.commit()
        return sale.id


def _sale(db, sale_id):
    from whatrack.models import Sale

    [sale] = _rows(db, Sale, Sale.id == sale_id)
    return sale


@pytest.mark.endpoint("tickets.approve_sale", "tickets.panel")
def test_an_admin_approves_a_proposal_with_a_corrected_value(org, proposal, client_as,
                                                             make_member, db):
    from whatrack.models import MetaConversionEvent, SaleEvent, Stage

    admin = make_member(org["id"], "admin")
    client = client_as(admin.email)
    ticket_id = org["ticket_id"]
    panel = client.get(f"/dashboard/tickets/{ticket_id}").get_data(as_text=True)
    assert f"/dashboard/sales/{proposal}/approve" in panel

    resp = client.post(f"/dashboard/sales/{proposal}/approve", data={"value": "450,00"},
                       headers=JSON)

    assert resp.status_code == 200, resp.get_json()
    sale = _sale(db, proposal)
    assert (sale.status, sale.value, sale.decided_by_id) == ("approved", Decimal("450.00"),
                                                             admin.user_id)
    [won] = _rows(db, Stage, Stage.organization_id == org["id"], Stage.kind == "won")
    assert resp.get_json()["ticket"]["stage_id"] == won.id == _ticket(db, ticket_id).stage_id
    assert [(e.action, e.user_id, e.note) for e in _rows(db, SaleEvent)] == [
        ("proposed", None, None), ("corrected", admin.user_id, "500.00 -> 450.00"),
        ("approved", admin.user_id, None)]
    [purchase] = _rows(db, MetaConversionEvent, MetaConversionEvent.sale_id == proposal)
    assert (purchase.event_name, purchase.value) == ("Purchase", Decimal("450.00"))
    panel = client.get(f"/dashboard/tickets/{ticket_id}").get_data(as_text=True)
    assert f"/dashboard/sales/{proposal}/approve" not in panel
    assert f"/dashboard/sales/{proposal}/cancel" in panel  # an approved sale can be cancelled


@pytest.mark.endpoint("tickets.approve_sale")
def test_approving_from_the_panel_form_keeps_the_proposed_value(org, proposal, client_as, db):
    resp = client_as(org["email"]).post(f"/dashboard/sales/{proposal}/approve")

    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/dashboard/tickets/{org['ticket_id']}"
    sale = _sale(db, proposal)
    assert (sale.status, sale.value) == ("approved", Decimal("500.00"))


@pytest.mark.endpoint("tickets.approve_sale")
def test_refused_approvals_leave_the_proposal_untouched(org, proposal, stranger, client_as,
                                                       make_member, db):
    from whatrack.models import MetaConversionEvent, SaleEvent

    agent = make_member(org["id"], "agent")
    path = f"/dashboard/sales/{proposal}/approve"
    owner = client_as(org["email"])

    assert client_as(agent.email).post(path, headers=JSON).status_code == 403
    assert stranger["client"].post(path, headers=JSON).status_code == 404
    for bad in ("abc", "0", "-10", "12,345"):
        resp = owner.post(path, data={"value": bad}, headers=JSON)
        assert resp.status_code == 422, bad
        assert resp.get_json()["error"]["message"]

    sale = _sale(db, proposal)
    assert (sale.status, sale.value, sale.decided_at) == ("proposed", Decimal("500.00"), None)
    assert [e.action for e in _rows(db, SaleEvent)] == ["proposed"]
    assert _rows(db, MetaConversionEvent) == []
    assert _ticket(db, org["ticket_id"]).closed_at is None


@pytest.mark.endpoint("tickets.approve_sale")
def test_a_decided_proposal_cannot_be_approved_again(org, proposal, client_as, db):
    from whatrack.models import MetaConversionEvent

    owner = client_as(org["email"])
    assert owner.post(f"/dashboard/sales/{proposal}/approve", headers=JSON).status_code == 200

    again = owner.post(f"/dashboard/sales/{proposal}/approve", data={"value": "999"},
                       headers=JSON)

    assert again.status_code == 409
    assert _sale(db, proposal).value == Decimal("500.00")
    assert len(_rows(db, MetaConversionEvent)) == 1


@pytest.mark.endpoint("tickets.reject_sale")
def test_rejecting_a_proposal_keeps_the_ticket_open_and_sends_nothing(
        org, proposal, stranger, client_as, make_member, db):
    from whatrack.models import MetaConversionEvent, SaleEvent

    path = f"/dashboard/sales/{proposal}/reject"
    agent = client_as(make_member(org["id"], "agent").email)
    assert agent.post(path, headers=JSON).status_code == 403
    assert stranger["client"].post(path, headers=JSON).status_code == 404
    assert _sale(db, proposal).status == "proposed"

    resp = client_as(org["email"]).post(path, data={"reason": "era só orçamento"},
                                        headers=JSON)

    assert resp.status_code == 200
    sale = _sale(db, proposal)
    assert (sale.status, sale.decided_by_id) == ("rejected", org["user_id"])
    assert [(e.action, e.note) for e in _rows(db, SaleEvent)] == [
        ("proposed", None), ("rejected", "era só orçamento")]
    assert _rows(db, MetaConversionEvent) == []
    assert _ticket(db, org["ticket_id"]).closed_at is None
    again = client_as(org["email"]).post(f"/dashboard/sales/{proposal}/approve", headers=JSON)
    assert again.status_code == 409 and _sale(db, proposal).status == "rejected"
