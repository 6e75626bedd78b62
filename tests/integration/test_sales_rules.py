"""Sale and ticket rules on PostgreSQL: money exactness, lifecycle, concurrency, ledger."""

import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.fixtures_whatsapp import load_fixture
from whatrack.errors import ConflictError, ValidationError
from whatrack.tenancy import bind_org, unscoped


@pytest.fixture
def ctx(app, whatsapp_org, post_webhook, worker, db):
    from whatrack.models import Organization, Ticket, User

    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    org_id = whatsapp_org["org_id"]
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        ticket = db.session.scalars(select(Ticket)).one()
        user = db.session.get(User, whatsapp_org["user_id"])
        yield {"org": org, "ticket": ticket, "user": user, "org_id": org_id}


def test_money_parsing_is_exact_and_strict():
    from whatrack.services.tickets.money import parse_amount

    assert parse_amount("1.234,56") == Decimal("1234.56")
    assert parse_amount("1234,5") == Decimal("1234.50")
    assert parse_amount("350") == Decimal("350.00")
    assert parse_amount("9.999.999,99") == Decimal("9999999.99")
    assert parse_amount("1234.56", style="api") == Decimal("1234.56")
    for bad in ("0", "-1", "1,234", "1.2345", "10.000.000,01", "abc", "1e5", "", "NaN"):
        with pytest.raises(ValidationError):
            parse_amount(bad)
    for bad in (1234.56, "1.234,56", "12.345"):
        with pytest.raises(ValidationError):
            parse_amount(bad, style="api")


def test_unknown_currency_is_refused():
    from whatrack.services.tickets.money import parse_currency

    assert parse_currency("brl") == "BRL"
    with pytest.raises(ValidationError):
        parse_currency("XYZ")


def test_sale_closes_ticket_and_next_message_opens_a_new_one(ctx, post_webhook, worker, db):
    from whatrack.models import Ticket
    from whatrack.services.tickets import sales

    sales.close_sale(ctx["org"], ctx["ticket"].id, sales.SaleInput(Decimal("350.00")), "panel",
                     ctx["user"])
    db.session.commit()
    assert ctx["ticket"].closed_at is not None
    assert ctx["ticket"].stage.kind == "won"
    post_webhook(load_fixture("inbound_text"))  # same org, maybe other contact
    # Written after the close (an older message would join the closed conversation).
    post_webhook(load_fixture("inbound_ctwa_referral").replace(b'"wamid.', b'"wamid.AGAIN')
                 .replace(b'"1781262345"', f'"{int(time.time()) + 1}"'.encode()))
    worker.drain()
    db.session.expire_all()
    with bind_org(ctx["org_id"]):
        tickets = list(db.session.scalars(
            select(Ticket).where(Ticket.contact_id == ctx["ticket"].contact_id)
            .order_by(Ticket.id)))
    assert len(tickets) == 2
    assert tickets[1].closed_at is None and tickets[1].lead_source == "ad"


def test_won_ticket_accepts_repeat_purchases(ctx, db):
    from whatrack.services.tickets import sales

    for value in ("100.00", "250.50"):
        sales.close_sale(ctx["org"], ctx["ticket"].id, sales.SaleInput(Decimal(value)), "panel",
                         ctx["user"])
        db.session.commit()
    assert sum(s.value for s in sales.ticket_sales(ctx["org"], ctx["ticket"])) == Decimal(
        "350.50")


def test_cancel_keeps_the_sale_marked_with_reason_and_ledger(ctx, db):
    from whatrack.models import SaleEvent
    from whatrack.services.tickets import sales

    sale = sales.close_sale(ctx["org"], ctx["ticket"].id, sales.SaleInput(Decimal("99.90")),
                            "panel", ctx["user"])
    db.session.commit()
    with pytest.raises(ValidationError):
        sales.cancel_sale(ctx["org"], sale.id, ctx["user"], "  ")
    db.session.rollback()
    sales.cancel_sale(ctx["org"], sale.id, ctx["user"], "lançado em duplicidade")
    db.session.commit()
    assert sale.cancelled_at is not None and sale.cancel_reason == "lançado em duplicidade"
    assert not sale.counts
    actions = [e.action for e in db.session.scalars(
        select(SaleEvent).where(SaleEvent.sale_id == sale.id).order_by(SaleEvent.id))]
    assert actions == ["approved", "cancelled"]
    with pytest.raises(ConflictError):
        sales.cancel_sale(ctx["org"], sale.id, ctx["user"], "again")


def test_copilot_proposal_counts_only_after_approval(ctx, db):
    from whatrack.services.tickets import sales

    proposal = sales.propose_sale(ctx["org"], ctx["ticket"], sales.SaleInput(Decimal("500")),
                                  evidence={"message_ids": [1]})
    db.session.commit()
    assert proposal.status == "proposed" and ctx["ticket"].closed_at is None
    sales.approve_sale(ctx["org"], proposal.id, ctx["user"], value=Decimal("450.00"))
    db.session.commit()
    assert proposal.status == "approved" and proposal.value == Decimal("450.00")
    assert proposal.decided_by_id == ctx["user"].id
    assert ctx["ticket"].stage.kind == "won"
    with pytest.raises(ConflictError):
        sales.approve_sale(ctx["org"], proposal.id, ctx["user"])


def test_two_people_closing_at_once_make_one_sale(app, ctx, db):
    """Real concurrency: two sessions, same seen version; the row lock serialises them."""
    from whatrack.models import Organization, Sale, User
    from whatrack.services.tickets import sales

    barrier = threading.Barrier(2)
    results: list[str] = []

    def close(value: str) -> None:
        with app.app_context(), bind_org(ctx["org_id"]):
            org = db.session.get(Organization, ctx["org_id"])
            user = db.session.get(User, ctx["user"].id)
            barrier.wait()
            try:
                sales.close_sale(org, ctx["ticket"].id, sales.SaleInput(Decimal(value)),
                                 "kanban", user, seen_version=1)
                db.session.commit()
                results.append("sale")
            except ConflictError:
                db.session.rollback()
                results.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=close, args=(v,)) for v in ("100.00", "200.00")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(results) == ["conflict", "sale"]
    with unscoped():
        assert len(db.session.scalars(select(Sale)).all()) == 1


def test_moving_to_lost_needs_reason_and_open_reopens(ctx, db):
    from whatrack.models import Stage
    from whatrack.services.tickets import commands as tickets

    stages = {s.kind: s for s in db.session.scalars(select(Stage).order_by(Stage.position))}
    with pytest.raises(ValidationError):
        tickets.move_ticket(ctx["org"], ctx["ticket"], stages["lost"], ctx["user"])
    db.session.rollback()
    tickets.move_ticket(ctx["org"], ctx["ticket"], stages["lost"], ctx["user"],
                        lost_reason="price")
    db.session.commit()
    assert ctx["ticket"].closed_at is not None and ctx["ticket"].lost_reason == "price"


def test_assignment_only_to_members(ctx, db, make_org):
    from whatrack.services.tickets import commands as tickets

    _other_org, stranger_id, _ = make_org()
    with pytest.raises(ValidationError):
        tickets.member_of(ctx["org"], stranger_id)
    member = tickets.member_of(ctx["org"], ctx["user"].id)
    tickets.assign_ticket(ctx["org"], ctx["ticket"], member, ctx["user"])
    db.session.commit()
    assert ctx["ticket"].assignee_id == ctx["user"].id


def test_stage_with_tickets_cannot_be_deleted_only_archived(ctx, db):
    from whatrack.models import Stage
    from whatrack.services.tickets import stages as stage_service

    novo = db.session.scalars(select(Stage).where(Stage.name == "Novo")).one()
    with pytest.raises(ConflictError):
        stage_service.delete_stage(ctx["org"], novo)
    db.session.rollback()
    new = stage_service.add_stage(ctx["org"], "Retorno", "open")
    stage_service.rename_stage(ctx["org"], new, "Pós-venda")
    stage_service.move_stage(ctx["org"], new, -1)
    db.session.commit()
    names = [s.name for s in stage_service.active_stages(ctx["org"])]
    assert names.index("Pós-venda") == len(names) - 2
    stage_service.delete_stage(ctx["org"], new)
    db.session.commit()
    assert "Pós-venda" not in [s.name for s in stage_service.active_stages(ctx["org"])]


@pytest.mark.endpoint("api.create_sale", "api.update_ticket")
def test_api_sale_and_patch(ctx, client, db):
    from whatrack.models import MetaConversionEvent, Sale, Stage
    from whatrack.services.accounts.apikeys import create_api_key

    key = create_api_key(ctx["org"]).key
    db.session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    tid = ctx["ticket"].id
    for bad in ({"value": 350.0}, {"value": "0"}, {"value": "1.234,56"}, {"value": "12.345"},
                {"value": "350.00", "currency": "XXX"}, {"value": "20000000.00"}):
        resp = client.post(f"/api/v1/tickets/{tid}/sales", json=bad, headers=headers)
        assert resp.status_code == 422, bad
        assert resp.get_json()["error"]["message"]
    resp = client.post(f"/api/v1/tickets/{tid}/sales", data="nope", headers=headers)
    assert resp.status_code == 422
    db.session.expire_all()
    with unscoped():  # every refusal left nothing behind: no sale, the ticket still open
        assert db.session.scalars(select(Sale)).all() == []
        assert db.session.scalars(select(MetaConversionEvent).where(
            MetaConversionEvent.event_name == "Purchase")).all() == []
    assert (ctx["ticket"].closed_at, ctx["ticket"].version) == (None, 1)
    resp = client.post(f"/api/v1/tickets/{tid}/sales", json={"value": "350.00", "currency": "BRL"},
                       headers=headers)
    assert resp.status_code == 201
    sale = resp.get_json()["sale"]
    assert (sale["value"], sale["currency"], sale["status"], sale["origin"]) == (
        "350.00", "BRL", "approved", "api")
    open_stage = db.session.scalars(select(Stage).where(Stage.name == "Agendado")).one()
    resp = client.patch(f"/api/v1/tickets/{tid}", json={"stage_id": open_stage.id,
                                                        "assignee": ctx["user"].id},
                        headers=headers)
    assert resp.status_code == 200
    body = resp.get_json()["ticket"]
    assert body["stage"]["name"] == "Agendado" and body["assignee"]["id"] == ctx["user"].id
    assert client.patch(f"/api/v1/tickets/{tid}", json={"stage_id": 999999},
                        headers=headers).status_code == 422
    assert client.patch("/api/v1/tickets/999999", json={}, headers=headers).status_code == 404
