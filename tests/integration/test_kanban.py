"""The Kanban board, the ticket panel and closing sales from them."""

import html
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.fixtures_whatsapp import load_fixture
from tests.sql import recorded_statements
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


@pytest.mark.endpoint("tickets.board_view")
def test_board_shows_default_columns_and_the_card(whatsapp_org, ticket_id, client, login):
    login(whatsapp_org["email"])
    page = client.get("/dashboard/tickets")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("Novo", "Em atendimento", "Agendado", "Ganho", "Perdido"):
        assert name in html
    assert f'data-ticket-id="{ticket_id}"' in html


@pytest.mark.endpoint("tickets.create_sale")
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


@pytest.mark.endpoint("tickets.create_sale")
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


@pytest.mark.endpoint("tickets.create_sale")
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


def _ticket_state(db, ticket_id):
    from whatrack.models import Ticket, TicketEvent

    db.session.rollback()
    with unscoped():
        ticket = db.session.get(Ticket, ticket_id)
        events = db.session.scalars(select(TicketEvent.kind)).all()
        return (ticket.stage_id, ticket.closed_at, ticket.lost_reason, ticket.version, events)


@pytest.mark.endpoint("tickets.move")
def test_lost_column_requires_a_reason(whatsapp_org, ticket_id, client, login, db):
    login(whatsapp_org["email"])
    lost_id = _stage(db, whatsapp_org["org_id"], "lost").id
    before = _ticket_state(db, ticket_id)
    for reason in (None, "", "bored"):
        data = {"stage_id": lost_id} if reason is None else {"stage_id": lost_id,
                                                              "lost_reason": reason}
        resp = client.post(f"/dashboard/tickets/{ticket_id}/move", data=data,
                           headers={"Accept": "application/json"})
        assert resp.status_code == 422, reason
        assert resp.get_json()["error"]["field"] == "lost_reason"
        # The board puts the card back where the server says it is: where it was.
        assert resp.get_json()["ticket"]["stage_id"] == before[0] != lost_id
        assert _ticket_state(db, ticket_id) == before
    resp = client.post(f"/dashboard/tickets/{ticket_id}/move",
                       data={"stage_id": lost_id, "lost_reason": "price", "lost_note": "caro"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 200
    assert resp.get_json()["ticket"]["stage_id"] == lost_id


@pytest.mark.endpoint("tickets.panel")
def test_panel_renders_lead_source_and_sales(whatsapp_org, ticket_id, client, login):
    login(whatsapp_org["email"])
    resp = client.get(f"/dashboard/tickets/{ticket_id}?partial=1")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "ctwa_clid" in html


def _count_queries(db, fn):
    """(number of SQL statements ``fn`` ran, what ``fn`` returned)."""
    with recorded_statements(db.engine) as statements:
        result = fn()
    return len(statements), result


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


@pytest.mark.endpoint("tickets.board_view", "tickets.column_page")
def test_board_first_page_is_six_queries_whatever_the_number_of_tickets_and_pages_the_rest(
        whatsapp_org, client, login, db):
    from whatrack.services.tickets.board import COLUMN_PAGE, COUNT_CAP

    login(whatsapp_org["email"])
    client.get("/dashboard/tickets")  # warm-up: session, babel, template cache
    _make_tickets(db, whatsapp_org["org_id"], whatsapp_org["account_id"], 10)
    few, few_page = _count_queries(db, lambda: client.get("/dashboard/tickets"))
    total = COUNT_CAP + 10
    _make_tickets(db, whatsapp_org["org_id"], whatsapp_org["account_id"], total - 10, start=10)
    many, many_page = _count_queries(db, lambda: client.get("/dashboard/tickets"))
    assert few == many, (few, many)
    assert many <= 6
    assert (few_page.status_code, many_page.status_code) == (200, 200)
    few_html, many_html = few_page.get_data(as_text=True), many_page.get_data(as_text=True)
    assert few_html.count("data-ticket-id=") == 10 and "data-more-url" not in few_html
    # The newest cards, and a count that stopped at the cap instead of reading them all.
    assert many_html.count("data-ticket-id=") == COLUMN_PAGE
    assert f"Cliente {total - 1}<" in many_html and "Cliente 0<" not in many_html
    assert f">{COUNT_CAP - 1}+<" in many_html

    # "Show more" walks the rest of the column, newest first, each card once.
    seen = re.findall(r'data-ticket-id="(\d+)"', many_html)
    url = html.unescape(re.search(r'data-more-url="([^"]+)"', many_html).group(1))
    pages = 0
    while url:
        page = client.get(url, headers={"Accept": "application/json"}).get_json()
        seen += re.findall(r'data-ticket-id="(\d+)"', page["html"])
        cursor = page["next_cursor"]
        url = re.sub(r"after=[^&]+", f"after={cursor}", url) if cursor else None
        pages += 1
    assert pages == -(-(total - COLUMN_PAGE) // COLUMN_PAGE)
    assert len(seen) == len(set(seen)) == total
    assert "Cliente 0<" in page["html"]
    # A cursor that is not one of ours starts from the top instead of failing.
    base = html.unescape(re.search(r'data-more-url="([^"]+)"', many_html).group(1))
    for bad in ("x", "1.99999999999999999999999", "-5.-5", "1700000000000000.0"):
        response = client.get(re.sub(r"after=[^&]+", f"after={bad}", base))
        assert response.status_code == 200, (bad, response.status_code)


@pytest.mark.endpoint("tickets.board_view", "tickets.column_page")
def test_search_finds_by_name_number_and_headline_in_six_queries_and_only_here(
        whatsapp_org, second_org, ticket_id, client, client_as, login, db):
    from whatrack.services.tickets.board import COLUMN_PAGE

    # The other organization has a Carlos too, on a number sharing the last digits.
    with bind_org(second_org["org_id"]):
        from whatrack.models import Contact, Ticket, utcnow

        stage = _stage(db, second_org["org_id"], "open")
        contact = Contact(organization_id=second_org["org_id"], wa_id="5511998765432",
                          profile_name="Carlos Pereira")
        db.session.add(contact)
        db.session.flush()
        db.session.add(Ticket(organization_id=second_org["org_id"], contact_id=contact.id,
                              whatsapp_account_id=second_org["account_id"], stage_id=stage.id,
                              last_message_at=utcnow(), ad_headline="Clareamento dental"))
        db.session.commit()
    _make_tickets(db, whatsapp_org["org_id"], whatsapp_org["account_id"], 30)
    login(whatsapp_org["email"])
    client.get("/dashboard/tickets")  # warm-up: session, babel, template cache

    def cards(q):
        count, page = _count_queries(db, lambda: client.get("/dashboard/tickets",
                                                            query_string={"q": q}))
        assert page.status_code == 200 and count <= 6, count
        return re.findall(r'data-ticket-id="(\d+)"', page.get_data(as_text=True))

    mine = [str(ticket_id)]
    assert cards("carlos") == mine
    assert cards("(21) 99876-5432") == mine
    assert cards("dental em 1") == mine
    assert cards("98765432") == mine  # not the other organization's ...98765432
    # "Show more" pages the search's column: the 30 "Cliente" cards, each once.
    first = client.get("/dashboard/tickets", query_string={"q": "cliente"})
    first_html = first.get_data(as_text=True)
    seen = re.findall(r'data-ticket-id="(\d+)"', first_html)
    assert len(seen) == COLUMN_PAGE
    url = html.unescape(re.search(r'data-more-url="([^"]+)"', first_html).group(1))
    assert "q=cliente" in url
    while url:
        page = client.get(url, headers={"Accept": "application/json"}).get_json()
        seen += re.findall(r'data-ticket-id="(\d+)"', page["html"])
        cursor = page["next_cursor"]
        url = re.sub(r"after=[^&]+", f"after={cursor}", url) if cursor else None
    assert len(seen) == len(set(seen)) == 30
    other_org = client_as(second_org["email"])
    theirs = re.findall(r'data-ticket-id="(\d+)"', other_org.get(
        "/dashboard/tickets", query_string={"q": "carlos"}).get_data(as_text=True))
    assert len(theirs) == 1 and theirs != mine


@pytest.mark.endpoint("tickets.cancel_sale")
def test_admin_cancels_a_sale_from_the_panel_and_agents_cannot(
        whatsapp_org, ticket_id, client, login, client_as, db, app):
    from whatrack.models import Membership, Sale
    from whatrack.services.accounts import orgs

    def cancellation():
        db.session.rollback()
        with unscoped():
            sale = db.session.get(Sale, sale_id)
            return sale.cancelled_at, sale.cancel_reason

    login(whatsapp_org["email"])
    client.post(f"/dashboard/tickets/{ticket_id}/sales", data={"value": "80"},
                headers={"Accept": "application/json"})
    with unscoped():
        sale_id = db.session.scalars(select(Sale.id)).one()

    agent = orgs.create_user("agente@example.com", "password-123!", "Agente")
    db.session.add(Membership(organization_id=whatsapp_org["org_id"], user_id=agent.id,
                              role="agent"))
    db.session.commit()
    agent_client = client_as("agente@example.com")
    assert agent_client.post(f"/dashboard/sales/{sale_id}/cancel", data={"reason": "engano"},
                             headers={"Accept": "application/json"}).status_code == 403
    assert cancellation() == (None, None)

    assert client.post(f"/dashboard/sales/{sale_id}/cancel", data={"reason": ""},
                       headers={"Accept": "application/json"}).status_code == 422
    assert cancellation() == (None, None)
    resp = client.post(f"/dashboard/sales/{sale_id}/cancel", data={"reason": "duplicada"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.get_json()["ok"]
    cancelled_at, reason = cancellation()
    assert cancelled_at is not None and reason == "duplicada"
