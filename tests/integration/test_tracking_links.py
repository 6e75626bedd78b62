"""Tracking links (issue 12): the page, the public /t/<code> redirect, clicks and the API."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fixtures_app import bearer, csrf_token_from
from tests.fixtures_whatsapp import FIXTURE_DISPLAY, FIXTURE_PHONE_ID, all_rows
from whatrack.models import TrackingClick, TrackingLink
from whatrack.services.tracking.commands import CLICKS_PER_MINUTE
from whatrack.services.tracking.refs import find_refs

PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")


@pytest.fixture(autouse=True)
def _session(db):
    return db


@pytest.fixture
def api_link(whatsapp_org, make_api_key, client):
    """Create a link through the API; returns (response json, api key)."""
    _id, key = make_api_key(whatsapp_org["org_id"])

    def _create(**overrides):
        body = {"name": "Bio do Instagram", "phone_number_id": FIXTURE_PHONE_ID,
                "message": "Olá! Quero agendar uma avaliação.", "utm_source": "instagram",
                "utm_medium": "bio", "utm_campaign": "clareamento", "utm_content": None,
                "utm_term": None, **overrides}
        response = client.post("/api/v1/tracking-links", json=body, headers=bearer(key))
        assert response.status_code == 201, response.json
        return response.json

    _create.key = key
    return _create


def visit(client, path: str, agent: str = PHONE, ip: str = "203.0.113.7", **headers):
    return client.get(path, headers={"User-Agent": agent, **headers},
                      environ_base={"REMOTE_ADDR": ip})


@pytest.mark.endpoint("tracking.index", "tracking.create")
def test_an_admin_creates_a_link_on_the_page_and_sees_its_short_url(whatsapp_org, client_as):
    owner = client_as(whatsapp_org["email"])
    page = owner.get("/dashboard/tracking")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Nenhum link de rastreamento ainda." in html

    response = owner.post("/dashboard/tracking", data={
        "csrf_token": csrf_token_from(html), "name": "Site - botão", "account":
        str(whatsapp_org["account_id"]), "message": "Oi, vim pelo site",
        "utm_source": "site", "utm_medium": "botao", "utm_campaign": "x" * 700})

    assert response.status_code == 302
    [link] = all_rows(TrackingLink)
    assert (link.name, link.message, link.utm_source, link.utm_medium) == (
        "Site - botão", "Oi, vim pelo site", "site", "botao")
    assert link.utm_campaign == "x" * 500  # cut, never refused
    listed = owner.get("/dashboard/tracking").get_data(as_text=True)
    assert f"http://localhost/t/{link.code}" in listed
    assert "Site - botão" in listed and 'data-counter="clicks">0<' in listed


@pytest.mark.endpoint("tracking.create")
def test_bad_link_forms_are_refused_and_nothing_is_created(whatsapp_org, client_as, make_member):
    owner = client_as(whatsapp_org["email"])
    token = csrf_token_from(owner.get("/dashboard/tracking").get_data(as_text=True))

    no_name = owner.post("/dashboard/tracking", data={
        "csrf_token": token, "name": " ", "account": str(whatsapp_org["account_id"])})
    foreign_number = owner.post("/dashboard/tracking", data={
        "csrf_token": token, "name": "Bio", "account": "999999"})
    agent = make_member(whatsapp_org["org_id"], "agent")
    as_agent = client_as(agent.email).post("/dashboard/tracking", data={
        "csrf_token": token, "name": "Bio", "account": str(whatsapp_org["account_id"])})

    assert no_name.status_code == 400 and "Dê um nome ao link." in no_name.get_data(as_text=True)
    assert foreign_number.status_code == 400
    assert as_agent.status_code == 403
    assert all_rows(TrackingLink) == []


@pytest.mark.endpoint("tracking.follow")
def test_a_visit_records_the_click_and_redirects_to_wa_me_with_the_exact_text(
        whatsapp_org, api_link, client):
    created = api_link(message="Olá! Quero agendar: clareamento & limpeza?")
    assert created["url"] == f"http://localhost/t/{created['code']}"

    response = visit(client, f"/t/{created['code']}?utm_campaign=black+friday&fbclid=FB.1"
                             "&gclid=G-2&utm_term=sorriso", Referer="https://instagram.com/")

    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    [click] = all_rows(TrackingClick)
    assert response.headers["Location"] == (
        f"https://wa.me/{FIXTURE_DISPLAY}?text=Ol%C3%A1%21%20Quero%20agendar%3A%20clareamento"
        f"%20%26%20limpeza%3F%20%28{click.ref}%29")
    text = parse_qs(urlsplit(response.headers["Location"]).query)["text"][0]
    assert find_refs(text) == [click.ref]
    # The visit's own parameters override the link's defaults; the others stay.
    assert (click.utm_source, click.utm_medium, click.utm_campaign, click.utm_term) == (
        "instagram", "bio", "black friday", "sorriso")
    assert (click.fbclid, click.gclid, click.referrer) == ("FB.1", "G-2", "https://instagram.com/")
    assert click.user_agent == PHONE
    assert click.ip_hash and "203.0.113.7" not in click.ip_hash
    assert click.link_id == created["id"] and click.ticket_id is None


@pytest.mark.endpoint("tracking.follow")
def test_each_visit_gets_its_own_code_and_long_utms_are_cut_not_refused(whatsapp_org, api_link,
                                                                        client):
    code = api_link()["code"]

    first = visit(client, f"/t/{code}?utm_source={'s' * 900}", ip="203.0.113.1")
    second = visit(client, f"/t/{code.upper()}", ip="203.0.113.2")

    assert first.status_code == second.status_code == 302
    clicks = all_rows(TrackingClick)
    assert len(clicks) == 2 and clicks[0].ref != clicks[1].ref
    assert clicks[0].utm_source == "s" * 500
    assert clicks[1].utm_source == "instagram"


@pytest.mark.endpoint("tracking.follow")
@pytest.mark.parametrize("agent", [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "WhatsApp/2.23.20.0 A", "TelegramBot (like TwitterBot)", ""])
def test_link_preview_bots_get_the_redirect_but_no_click(whatsapp_org, api_link, client, agent):
    created = api_link(message="Oi")

    response = visit(client, f"/t/{created['code']}", agent=agent)

    assert response.status_code == 302
    assert response.headers["Location"] == f"https://wa.me/{FIXTURE_DISPLAY}?text=Oi"
    assert all_rows(TrackingClick) == []


@pytest.mark.endpoint("tracking.follow")
def test_a_flood_from_one_address_adds_no_rows_but_still_reaches_whatsapp(whatsapp_org,
                                                                          api_link, client):
    code = api_link()["code"]

    answers = [visit(client, f"/t/{code}", ip="198.51.100.4")
               for _ in range(CLICKS_PER_MINUTE + 15)]
    other = visit(client, f"/t/{code}", ip="198.51.100.5")

    assert {a.status_code for a in answers} == {302} and other.status_code == 302
    clicks = all_rows(TrackingClick)
    assert len(clicks) == CLICKS_PER_MINUTE + 1
    # Past the limit the visitor keeps the last code, so a real person is still attributed.
    last_ref = [c.ref for c in clicks if c.ip_hash == clicks[0].ip_hash][-1]
    assert answers[-1].headers["Location"].endswith(f"%28{last_ref}%29")


@pytest.mark.endpoint("tracking.follow", "tracking.toggle")
def test_unknown_and_disabled_codes_answer_a_friendly_portuguese_404_and_store_nothing(
        whatsapp_org, api_link, client, client_as):
    created = api_link()
    owner = client_as(whatsapp_org["email"])
    token = csrf_token_from(owner.get("/dashboard/tracking").get_data(as_text=True))

    disabled = owner.post(f"/dashboard/tracking/{created['id']}/enabled",
                          data={"csrf_token": token, "enabled": "0"})
    assert disabled.status_code == 302
    [link] = all_rows(TrackingLink)
    assert link.disabled_at is not None
    for path in (f"/t/{created['code']}", "/t/naoexiste", "/t/" + "x" * 300):
        response = visit(client, path, **{"Accept-Language": "en-US,en;q=0.9"})
        html = response.get_data(as_text=True)
        assert response.status_code == 404
        assert "Este link não está disponível" in html
        assert 'lang="pt-BR"' in html
    assert all_rows(TrackingClick) == []

    enabled = owner.post(f"/dashboard/tracking/{created['id']}/enabled",
                         data={"csrf_token": token, "enabled": "1"})
    assert enabled.status_code == 302
    assert visit(client, f"/t/{created['code']}").status_code == 302
    assert len(all_rows(TrackingClick)) == 1


@pytest.mark.endpoint("tracking.toggle")
def test_agents_cannot_switch_links_and_another_org_gets_404(whatsapp_org, api_link, make_member,
                                                             make_org, client_as):
    created = api_link()
    agent = client_as(make_member(whatsapp_org["org_id"], "agent").email)
    token = csrf_token_from(agent.get("/dashboard/tracking").get_data(as_text=True))
    _other, _user, other_email = make_org("Outra Clínica")
    stranger = client_as(other_email)
    stranger_token = csrf_token_from(stranger.get("/dashboard/tracking").get_data(as_text=True))

    assert agent.post(f"/dashboard/tracking/{created['id']}/enabled",
                      data={"csrf_token": token, "enabled": "0"}).status_code == 403
    assert stranger.post(f"/dashboard/tracking/{created['id']}/enabled",
                         data={"csrf_token": stranger_token, "enabled": "0"}).status_code == 404
    [link] = all_rows(TrackingLink)
    assert link.disabled_at is None


@pytest.mark.endpoint("api.create_tracking_link", "api.list_tracking_links")
def test_the_api_creates_and_lists_links_with_their_counters(whatsapp_org, api_link, client):
    created = api_link(utm_content="c" * 600)
    visit(client, f"/t/{created['code']}")

    listed = client.get("/api/v1/tracking-links", headers=bearer(api_link.key))

    assert set(created) == {"id", "code", "url"}
    assert listed.status_code == 200
    [row] = listed.json["data"]
    assert row["id"] == created["id"] and row["url"].endswith(f"/t/{created['code']}")
    assert (row["clicks"], row["leads"], row["sales"], row["revenue"]) == (1, 0, 0, "0.00")
    assert row["utm_content"] == "c" * 500 and row["enabled"] is True
    assert row["phone_number_id"] == FIXTURE_PHONE_ID
    assert Decimal(row["revenue"]) == 0


@pytest.mark.endpoint("api.create_tracking_link")
@pytest.mark.parametrize("body, field", [
    ({"phone_number_id": FIXTURE_PHONE_ID}, "name"),
    ({"name": "Bio"}, "phone_number_id"),
    ({"name": "Bio", "phone_number_id": "999"}, "phone_number_id"),
    ({"name": "Bio", "phone_number_id": FIXTURE_PHONE_ID, "utm_source": 5}, "utm_source"),
    ({"name": ["Bio"], "phone_number_id": FIXTURE_PHONE_ID}, "name"),
    ({"name": "Bio", "phone_number_id": FIXTURE_PHONE_ID, "message": "m" * 501}, "message"),
])
def test_bad_api_input_is_a_422_naming_the_field(whatsapp_org, make_api_key, client, body, field):
    _id, key = make_api_key(whatsapp_org["org_id"])

    response = client.post("/api/v1/tracking-links", json=body, headers=bearer(key))

    assert response.status_code == 422
    assert response.json["error"]["field"] == field
    assert all_rows(TrackingLink) == []


@pytest.mark.endpoint("api.create_tracking_link")
def test_a_number_of_another_organization_cannot_be_linked(whatsapp_org, make_org, make_api_key,
                                                           client):
    other_org, _user, _email = make_org("Outra Clínica")
    _id, key = make_api_key(other_org)

    response = client.post("/api/v1/tracking-links", headers=bearer(key),
                           json={"name": "Bio", "phone_number_id": FIXTURE_PHONE_ID})

    assert response.status_code == 422
    assert all_rows(TrackingLink) == []
