"""The Kanban board, the ticket panel and closing sales from them."""

from decimal import Decimal

import pytest
from sqlalchemy import event, select

from tests.fixtures_whatsapp import load_fixture
from whatrack.tenancy import bind_org, unscoped


@pytest.fixture
def ticket_id(whatsapp_org, post_webhook, worker, db):
    from whatrack.models import Ticket

    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    with unscoped():
        return db.session.scalars(select(Ticket.id)).one()


def _stage(db, org_id, kind, name=None):
    from whatrack.models import Stage

    with bind_org(org_id):
        stmt = select(Stage).where(Stage.kind == kind)
        if name:
            stmt = stmt.where(Stage.name == name)
        return db.session.scalars(stmt.order_by(Stage.position)).first()


def test_board_shows_default_columns_and_the_card(whatsapp_org, ticket_id, client, login):
    login(whatsapp_org["email"])
    page = client.get("/dashboard/tickets")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("Novo", "Em atendimento", "Agendado", "Ganho", "Perdido"):
        assert name in html
    assert f'data-ticket-id="{ticket_id}"' in html


def test_closing_a_sale_in_brl_moves_card_to_won_with_value(
        whatsapp_org, ticket_id, client, login, db):
    from whatrack.models import Sale, Ticket

    login(whatsapp_org["email"])
    resp = client.post(f"/dashboard/tickets/{ticket_id}/sales",
                       data={"value": "1.234,56", "currency": "BRL", "version": "1",
                             "origin": "kanban"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    won = _stage(db, whatsapp_org["org_id"], "won")
    assert body["ticket"]["stage_id"] == won.id
    assert "R$\xa01.234,56" in body["card_html"] or "R$ 1.234,56" in body["card_html"]
    with bind_org(whatsapp_org["org_id"]):
        sale = db.session.scalars(select(Sale)).one()
        assert sale.value == Decimal("1234.56")
        assert (sale.origin, sale.status, sale.currency) == ("kanban", "approved", "BRL")
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.closed_at is not None


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1,234", "10.000.000,01", "12,345", ""])
def test_bad_sale_values_are_refused_and_nothing_saved(
        whatsapp_org, ticket_id, client, login, db, value):
    from whatrack.models import Sale

    login(whatsapp_org["email"])
    resp = client.post(f"/dashboard/tickets/{ticket_id}/sales",
                       data={"value": value, "currency": "BRL"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 422, value
    assert resp.get_json()["error"]["message"]
    with unscoped():
        assert db.session.scalars(select(Sale)).all() == []


def test_stale_version_gets_conflict_and_one_sale(whatsapp_org, ticket_id, client, login, db):
    from whatrack.models import Sale

    login(whatsapp_org["email"])
    first = client.post(f"/dashboard/tickets/{ticket_id}/sales",
                        data={"value": "100", "version": "1"},
                        headers={"Accept": "application/json"})
    second = client.post(f"/dashboard/tickets/{ticket_id}/sales",
                         data={"value": "200", "version": "1"},
                         headers={"Accept": "application/json"})
    assert first.status_code == 201
    assert second.status_code == 409
    assert second.get_json()["ticket"]["version"] > 1
    with unscoped():
        assert len(db.session.scalars(select(Sale)).all()) == 1


def test_lost_column_requires_a_reason(whatsapp_org, ticket_id, client, login, db):
    login(whatsapp_org["email"])
    lost_id = _stage(db, whatsapp_org["org_id"], "lost").id
    resp = client.post(f"/dashboard/tickets/{ticket_id}/move", data={"stage_id": lost_id},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 422
    resp = client.post(f"/dashboard/tickets/{ticket_id}/move",
                       data={"stage_id": lost_id, "lost_reason": "price", "lost_note": "caro"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 200
    assert resp.get_json()["ticket"]["stage_id"] == lost_id


def test_panel_renders_lead_source_and_sales(whatsapp_org, ticket_id, client, login):
    login(whatsapp_org["email"])
    resp = client.get(f"/dashboard/tickets/{ticket_id}?partial=1")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "ctwa_clid" in html


def _count_queries(db, fn):
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return len(statements)


def _make_tickets(db, org_id, account_id, n, start=0):
    from whatrack.models import Contact, Ticket, utcnow

    stage = _stage(db, org_id, "open")
    with bind_org(org_id):
        for i in range(start, start + n):
            contact = Contact(organization_id=org_id, wa_id=f"55119{i:08d}",
                              profile_name=f"Cliente {i}")
            db.session.add(contact)
            db.session.flush()
            db.session.add(Ticket(organization_id=org_id, contact_id=contact.id,
                                  whatsapp_account_id=account_id, stage_id=stage.id,
                                  last_message_at=utcnow(), last_message_preview="Oi"))
        db.session.commit()


def test_board_queries_are_constant_for_1000_tickets(whatsapp_org, client, login, db):
    login(whatsapp_org["email"])
    client.get("/dashboard/tickets")  # warm-up: session, babel, template cache
    _make_tickets(db, whatsapp_org["org_id"], whatsapp_org["account_id"], 10)
    few = _count_queries(db, lambda: client.get("/dashboard/tickets"))
    _make_tickets(db, whatsapp_org["org_id"], whatsapp_org["account_id"], 990, start=10)
    many = _count_queries(db, lambda: client.get("/dashboard/tickets"))
    assert few == many, (few, many)
    assert many <= 12


def test_admin_cancels_a_sale_from_the_panel_and_agents_cannot(
        whatsapp_org, ticket_id, client, login, db, app):
    from whatrack.models import Membership, Sale
    from whatrack.services.accounts import orgs

    login(whatsapp_org["email"])
    client.post(f"/dashboard/tickets/{ticket_id}/sales", data={"value": "80"},
                headers={"Accept": "application/json"})
    with unscoped():
        sale_id = db.session.scalars(select(Sale.id)).one()
    assert client.post(f"/dashboard/sales/{sale_id}/cancel", data={"reason": ""},
                       headers={"Accept": "application/json"}).status_code == 422
    resp = client.post(f"/dashboard/sales/{sale_id}/cancel", data={"reason": "duplicada"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.get_json()["ok"]
    with unscoped():
        assert db.session.get(Sale, sale_id).cancel_reason == "duplicada"

    agent = orgs.create_user("agente@example.com", "password-123!", "Agente")
    db.session.add(Membership(organization_id=whatsapp_org["org_id"], user_id=agent.id,
                              role="agent"))
    db.session.commit()
    client.post("/logout")
    login("agente@example.com")
    assert client.post(f"/dashboard/sales/{sale_id}/reject",
                       headers={"Accept": "application/json"}).status_code == 403
