"""Ads named through the Marketing API, spend from Insights, and the sources report (issue 12).

Names and spend come from the fake Graph API (tests/fakes/graph_ads.py) through our real
client; its errors (expired token, no ads_read, deleted ad) must leave the ids shown with
the reason, never break a page. Report sums are checked against a fixture computed by hand
in two time zones.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.fixtures_app import bearer
from tests.fixtures_whatsapp import all_rows, fixture_json, profile, text_message, webhook_body
from whatrack.models import (
    Contact,
    MetaAd,
    MetaConnection,
    Organization,
    Sale,
    Stage,
    Ticket,
    TicketEvent,
    TrackingLink,
)
from whatrack.tenancy import bind_org

ACCOUNT = "act_600000000000001"


@pytest.fixture(autouse=True)
def _session(db):
    return db


@pytest.fixture
def ads(fake_graph):
    fake = fake_graph.ads
    fake.add_ad("111", "Clareamento - vídeo", ("901", "Mulheres 25-45"),
                ("801", "Clareamento Nov"), thumbnail_url="https://scontent.example/111.jpg")
    fake.add_ad("222", "Implante - carrossel", ("902", "Homens 40+"), ("801", "Clareamento Nov"))
    fake.add_ad("333", "Lente - foto", ("903", "Todos"), ("802", "Lentes"))
    fake.add_spend(ACCOUNT, "111", "2026-11-10", "200.00")
    fake.add_spend(ACCOUNT, "111", "2026-11-09", "50.00")
    fake.add_spend(ACCOUNT, "222", "2026-11-10", "100.00")
    fake.add_spend(ACCOUNT, "333", "2026-11-10", "40.00")
    return fake


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Seed:
    """Rows of one organization written directly (the report only reads them)."""

    def __init__(self, app, org_id: int, account_id: int) -> None:
        self.app, self.org_id, self.account_id, self.n = app, org_id, account_id, 0

    def _run(self, build):
        from whatrack.extensions import db

        with self.app.app_context(), bind_org(self.org_id):
            result = build(db, db.session.get(Organization, self.org_id))
            db.session.commit()
            return result

    def stage(self, name: str) -> int:
        return self._run(lambda db, org: db.session.scalars(
            select(Stage.id).where(Stage.name == name)).one())

    def ticket(self, created: str, stage: str = "Novo", **fields) -> int:
        self.n += 1
        stage_id = self.stage(stage)

        def build(db, org):
            contact = Contact(organization_id=org.id, wa_id=f"55119{self.n:08d}",
                              profile_name=f"Cliente {self.n}")
            db.session.add(contact)
            db.session.flush()
            ticket = Ticket(organization_id=org.id, contact_id=contact.id,
                            whatsapp_account_id=self.account_id, stage_id=stage_id,
                            created_at=at(created), **fields)
            db.session.add(ticket)
            db.session.flush()
            return ticket.id

        return self._run(build)

    def sale(self, ticket_id: int, value: str, decided: str, status: str = "approved",
             currency: str = "BRL", cancelled: bool = False) -> None:
        def build(db, org):
            ticket = db.session.get(Ticket, ticket_id)
            db.session.add(Sale(organization_id=org.id, ticket_id=ticket_id,
                                contact_id=ticket.contact_id, value=Decimal(value),
                                currency=currency, origin="panel", status=status,
                                decided_at=at(decided),
                                cancelled_at=at(decided) if cancelled else None))

        self._run(build)

    def moved(self, ticket_id: int, to_stage: str) -> None:
        stage_id = self.stage(to_stage)
        self._run(lambda db, org: db.session.add(TicketEvent(
            organization_id=org.id, ticket_id=ticket_id, kind="stage_changed",
            data={"from_stage": None, "to_stage": stage_id})))

    def timezone(self, zone: str) -> None:
        def build(db, org):
            org.timezone = zone

        self._run(build)


@pytest.fixture
def seeded(app, whatsapp_org, connect_meta, ads):
    """The hand-computed fixture (see the module docstring of each test for the sums)."""
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    seed = Seed(app, org_id, whatsapp_org["account_id"])
    t = {}
    # 1: ad 111 with click, both zones; in "Agendado", after the qualifying stage.
    t[1] = seed.ticket("2026-11-10T12:00:00", "Agendado", lead_source="ad", ctwa_clid="C1",
                       source_id="111")
    seed.sale(t[1], "1000.00", "2026-11-10T13:00:00")
    # 2: ad 111 without click: 11-09 in São Paulo, 11-10 in Tokyo.
    t[2] = seed.ticket("2026-11-10T02:30:00", lead_source="ad", source_id="111")
    # 3: ad 222: 11-10 in São Paulo, 11-11 in Tokyo; its sale too.
    t[3] = seed.ticket("2026-11-10T23:30:00", lead_source="ad", ctwa_clid="C3",
                       source_id="222")
    seed.sale(t[3], "500.00", "2026-11-10T23:45:00")
    # 4: tracking link instagram / clareamento; went through the qualifying stage, then lost.
    t[4] = seed.ticket("2026-11-10T15:00:00", "Perdido", lead_source="link",
                       utm_source="instagram", utm_campaign="clareamento")
    seed.moved(t[4], "Em atendimento")
    seed.sale(t[4], "300.00", "2026-11-10T16:00:00")
    seed.sale(t[4], "999.00", "2026-11-10T16:30:00", cancelled=True)
    seed.sale(t[4], "77.00", "2026-11-10T16:40:00", currency="USD")
    seed.sale(t[4], "55.00", "2026-11-10T16:50:00", status="proposed")
    # 5: organic; 6: an imported history conversation (never a lead).
    t[5] = seed.ticket("2026-11-10T18:00:00", lead_source="organic")
    t[6] = seed.ticket("2026-11-10T18:30:00", lead_source="history", imported=True)
    return {"org_id": org_id, "seed": seed, "tickets": t}


def report(client, key, **params):
    query = "&".join(f"{k}={v}" for k, v in {"from": "2026-11-10", "to": "2026-11-10",
                                              **params}.items())
    response = client.get(f"/api/v1/reports/ads?{query}", headers=bearer(key))
    assert response.status_code == 200, response.json
    return response.json


def rows_by_ad(body):
    return {row["ad"]["id"]: row for row in body["data"]}


@pytest.mark.endpoint("api.ads_report")
def test_the_report_by_ad_in_sao_paulo_matches_the_hand_computed_sums(seeded, make_api_key,
                                                                       client):
    _id, key = make_api_key(seeded["org_id"])

    body = report(client, key)

    assert (body["from"], body["to"], body["currency"], body["spend_available"]) == (
        "2026-11-10", "2026-11-10", "BRL", True)
    rows = rows_by_ad(body)
    assert set(rows) == {"111", "222", "333"}
    assert rows["111"] == {
        "campaign": {"id": "801", "name": "Clareamento Nov"},
        "adset": {"id": "901", "name": "Mulheres 25-45"},
        "ad": {"id": "111", "name": "Clareamento - vídeo"},
        "leads": 1, "qualified_leads": 1, "sales": 1, "revenue": "1000.00",
        "spend": "200.00", "currency": "BRL", "spend_currency": "BRL",
        "cost_per_lead": "200.00", "roas": "5.00", "conversion_rate": "100.0"}
    assert (rows["222"]["leads"], rows["222"]["qualified_leads"], rows["222"]["sales"],
            rows["222"]["revenue"], rows["222"]["spend"], rows["222"]["cost_per_lead"],
            rows["222"]["roas"]) == (1, 0, 1, "500.00", "100.00", "100.00", "5.00")
    assert rows["222"]["adset"] == {"id": "902", "name": "Homens 40+"}
    # Spend without a lead is still money spent.
    assert (rows["333"]["leads"], rows["333"]["spend"], rows["333"]["cost_per_lead"],
            rows["333"]["roas"], rows["333"]["campaign"]["name"]) == (
        0, "40.00", None, "0.00", "Lentes")


@pytest.mark.endpoint("api.ads_report")
def test_the_same_rows_in_tokyo_count_other_tickets_and_sales(seeded, make_api_key, client):
    seeded["seed"].timezone("Asia/Tokyo")
    _id, key = make_api_key(seeded["org_id"])

    rows = rows_by_ad(report(client, key))

    # Ticket 2 (no click) joins ad 111; ticket 3 and its sale fall on 11-11.
    assert (rows["111"]["leads"], rows["111"]["sales"], rows["111"]["revenue"],
            rows["111"]["cost_per_lead"], rows["111"]["conversion_rate"]) == (
        2, 1, "1000.00", "100.00", "50.0")
    assert (rows["222"]["leads"], rows["222"]["sales"], rows["222"]["revenue"],
            rows["222"]["spend"], rows["222"]["roas"]) == (0, 0, "0.00", "100.00", "0.00")


@pytest.mark.endpoint("tracking.reports")
def test_the_report_page_shows_campaigns_links_organic_and_the_totals(seeded, whatsapp_org,
                                                                     client, login):
    login(whatsapp_org["email"])

    page = client.get("/dashboard/reports?from=2026-11-10&to=2026-11-10")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("Clareamento Nov", "Mulheres 25-45", "Clareamento - vídeo", "Homens 40+",
                 "Lentes", "instagram", "clareamento", "Orgânico", "Receita por origem"):
        assert text in html
    total = html[html.index('data-row="total"'):]
    # 4 leads, 2 qualified, 3 sales, R$ 1.800,00, spend R$ 340,00 (ad days of 11-10).
    assert 'data-col="leads">4</td>' in total
    assert 'data-col="qualified">2</td>' in total
    assert 'data-col="sales">3</td>' in total
    assert "1.800,00" in total and "340,00" in total
    assert html.count('data-row="campaign"') == 2 and html.count('data-row="utm_source"') == 1


@pytest.mark.endpoint("tracking.reports")
def test_only_owners_and_admins_see_reports(seeded, make_member, client_as):
    agent = client_as(make_member(seeded["org_id"], "agent").email)
    admin = client_as(make_member(seeded["org_id"], "admin").email)

    assert agent.get("/dashboard/reports").status_code == 403
    assert admin.get("/dashboard/reports").status_code == 200
    assert agent.get("/dashboard/reports/tickets.csv").status_code == 403


@pytest.mark.endpoint("tracking.reports_csv")
def test_the_csv_lists_the_periods_tickets_with_source_stage_and_sales(seeded, app, client_as,
                                                                       whatsapp_org):
    tickets = seeded["tickets"]
    seed = seeded["seed"]

    def build(db, org):
        link = TrackingLink(organization_id=org.id, whatsapp_account_id=seed.account_id,
                            code="csvlink", name="=Bio", message="Oi")
        db.session.add(link)
        db.session.flush()
        db.session.get(Ticket, tickets[4]).tracking_link_id = link.id

    seed._run(build)
    owner = client_as(whatsapp_org["email"])
    owner.get("/dashboard/reports?from=2026-11-10&to=2026-11-10")  # reads names from Meta

    response = owner.get("/dashboard/reports/tickets.csv?from=2026-11-10&to=2026-11-10")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_id = {int(r["ticket_id"]): r for r in rows}
    assert sorted(by_id) == [tickets[1], tickets[3], tickets[4], tickets[5]]
    assert by_id[tickets[1]] == {
        "ticket_id": str(tickets[1]), "created_at": "2026-11-10T09:00:00-03:00",
        "contact": "Cliente 1", "phone": "5511900000001", "source": "ad", "link": "",
        "campaign": "Clareamento Nov", "adset": "Mulheres 25-45", "ad_id": "111",
        "ad": "Clareamento - vídeo", "utm_source": "", "utm_medium": "", "utm_campaign": "",
        "stage": "Agendado", "sales": "1", "revenue": "1000.00", "currency": "BRL"}
    assert (by_id[tickets[4]]["source"], by_id[tickets[4]]["link"], by_id[tickets[4]]["stage"],
            by_id[tickets[4]]["sales"], by_id[tickets[4]]["revenue"]) == (
        "link", "'=Bio", "Perdido", "1", "300.00")
    assert (by_id[tickets[5]]["source"], by_id[tickets[5]]["sales"],
            by_id[tickets[5]]["revenue"]) == ("organic", "0", "0.00")


def _customer(wamid: str, ad_id: str) -> dict:
    ref = dict(fixture_json("inbound_ctwa_referral")["entry"][0]["changes"][0]["value"][
        "messages"][0]["referral"])
    ref["source_id"] = ad_id
    sender = f"55119876{abs(hash(wamid)) % 100000:05d}"
    return webhook_body(messages=[text_message(sender, wamid, int(time.time()) - 60, "oi",
                                               referral=ref)],
                        contacts=[profile(sender, "Mariana")])


@pytest.mark.endpoint("tickets.board_view", "tickets.panel")
def test_a_new_ad_id_is_named_on_demand_and_the_board_and_panel_show_the_names(
        whatsapp_org, connect_meta, ads, post_webhook, worker, client, login):
    connect_meta(whatsapp_org["org_id"])

    assert post_webhook(_customer("wamid.N1", "111")).status_code == 200
    worker.drain()
    worker.drain()  # the naming actor, enqueued after the message's commit

    [ad] = all_rows(MetaAd)
    assert (ad.ad_id, ad.name, ad.adset_name, ad.campaign_name, ad.thumbnail_url, ad.error) == (
        "111", "Clareamento - vídeo", "Mulheres 25-45", "Clareamento Nov",
        "https://scontent.example/111.jpg", None)
    login(whatsapp_org["email"])
    [ticket] = all_rows(Ticket)
    board = client.get("/dashboard/tickets").get_data(as_text=True)
    panel = client.get(f"/dashboard/tickets/{ticket.id}?partial=1").get_data(as_text=True)
    assert "Anúncio: Clareamento - vídeo" in board
    assert "Clareamento Nov" in panel and "Mulheres 25-45" in panel


def test_a_deleted_ad_keeps_its_id_and_says_why_while_the_others_are_named(
        whatsapp_org, connect_meta, ads, post_webhook, worker):
    connect_meta(whatsapp_org["org_id"])

    for wamid, ad_id in (("wamid.D1", "999"), ("wamid.D2", "222")):
        assert post_webhook(_customer(wamid, ad_id)).status_code == 200
        worker.drain()
    worker.drain()

    by_id = {ad.ad_id: ad for ad in all_rows(MetaAd)}
    assert (by_id["999"].name, by_id["999"].error) == (None, "missing")
    assert (by_id["222"].name, by_id["222"].error) == ("Implante - carrossel", None)


@pytest.mark.endpoint("tracking.reports", "api.ads_report")
@pytest.mark.parametrize("break_it, reason, page_text", [
    ("expired", "token", "O token do Facebook expirou ou foi revogado"),
    ("no_ads_read_at_meta", "permission", "A Meta recusou o acesso à conta de anúncios"),
    ("no_ads_read_granted", "no_ads_read", "sem a permissão ads_read"),
    ("not_connected", "not_connected", "O Facebook não está conectado"),
])
def test_marketing_api_errors_leave_ids_shown_and_say_why(seeded, app, fake_graph, make_api_key,
                                                          client, client_as, whatsapp_org,
                                                          break_it, reason, page_text):
    from whatrack.extensions import db

    org_id = seeded["org_id"]
    if break_it == "expired":
        fake_graph.valid_tokens.clear()
    elif break_it == "no_ads_read_at_meta":
        fake_graph.ads.refuse_without_ads_read = True
    else:
        with app.app_context(), bind_org(org_id):
            conn = db.session.scalars(select(MetaConnection)).one()
            if break_it == "no_ads_read_granted":
                conn.scopes = ["whatsapp_business_manage_events", "ads_management"]
            else:
                conn.token = None
            db.session.commit()
    fake_graph.requests.clear()
    _id, key = make_api_key(org_id)

    body = report(client, key)
    page = client_as(whatsapp_org["email"]).get(
        "/dashboard/reports?from=2026-11-10&to=2026-11-10")

    assert (body["spend_available"], body["spend_error"]) == (False, reason)
    rows = rows_by_ad(body)
    assert set(rows) == {"111", "222"}  # ids from the tickets, without names or spend
    assert rows["111"]["ad"] == {"id": "111", "name": None}
    assert (rows["111"]["spend"], rows["111"]["leads"], rows["111"]["revenue"]) == (
        None, 1, "1000.00")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert page_text in html and 'data-row="ad" data-id="111"' in html
    if reason in ("no_ads_read", "not_connected"):
        assert fake_graph.requests_to("/v25.0/") == []  # nothing asked of Meta


@pytest.mark.endpoint("api.ads_report")
def test_spend_is_read_from_insights_once_for_a_period_and_kept_per_day(seeded, fake_graph,
                                                                        make_api_key, client):
    from whatrack.models import MetaAdSpend

    _id, key = make_api_key(seeded["org_id"])

    report(client, key, **{"from": "2026-11-09"})
    report(client, key)  # inside the period already read within the hour: no new request

    [request] = fake_graph.ads.insight_requests
    assert (request["level"], request["time_increment"]) == ("ad", "1")
    assert request["time_range"] == '{"since": "2026-11-09", "until": "2026-11-10"}'
    spend = {(r.ad_id, r.day.isoformat()): r.spend for r in all_rows(MetaAdSpend)}
    assert spend == {("111", "2026-11-09"): Decimal("50.00"),
                     ("111", "2026-11-10"): Decimal("200.00"),
                     ("222", "2026-11-10"): Decimal("100.00"),
                     ("333", "2026-11-10"): Decimal("40.00")}


@pytest.mark.endpoint("api.ads_report")
@pytest.mark.parametrize("query", ["from=2026-13-01", "from=2026-11-10&to=2026-11-01",
                                   "from=2020-01-01&to=2026-01-01", "to=yesterday"])
def test_bad_periods_are_a_400(whatsapp_org, make_api_key, client, query):
    _id, key = make_api_key(whatsapp_org["org_id"])

    response = client.get(f"/api/v1/reports/ads?{query}", headers=bearer(key))

    assert response.status_code == 400
    assert response.json["error"]["code"] == "validation_error"
