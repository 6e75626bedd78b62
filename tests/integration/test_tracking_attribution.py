"""A tracking-link code in a customer's message attributes the ticket (issue 12).

Codes go through the real path: a visit of /t/<code> stores the click, a signed webhook
carries the customer's message, the worker processes it. The same first-touch rule as
CTWA referrals applies, by Meta's timestamps, whatever order deliveries are processed in.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.fixtures_app import bearer
from tests.fixtures_capi import CLICK_ID
from tests.fixtures_whatsapp import (
    FIXTURE_PHONE_ID,
    SECOND_DISPLAY,
    SECOND_PHONE_ID,
    SECOND_WABA,
    all_rows,
    assert_fields,
    fixture_json,
    profile,
    text_message,
    webhook_body,
)
from whatrack.models import Organization, Ticket, TicketTouch, TrackingClick
from whatrack.services.inbox import attribution
from whatrack.tenancy import bind_org

CUSTOMER = "5511987654321"
PHONE = ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Mobile Safari/537.36")


@pytest.fixture(autouse=True)
def _session(db):
    return db


@pytest.fixture
def link(whatsapp_org, make_api_key, client):
    """A link of the fixture number, with its API key."""
    _id, key = make_api_key(whatsapp_org["org_id"])
    response = client.post("/api/v1/tracking-links", headers=bearer(key), json={
        "name": "Bio do Instagram", "phone_number_id": FIXTURE_PHONE_ID, "message": "Oi!",
        "utm_source": "instagram", "utm_medium": "bio", "utm_campaign": "clareamento"})
    assert response.status_code == 201
    return {**response.json, "key": key}


def click(client, link, query: str = "", ip: str = "203.0.113.7") -> TrackingClick:
    response = client.get(f"/t/{link['code']}{query}", headers={"User-Agent": PHONE},
                          environ_base={"REMOTE_ADDR": ip})
    assert response.status_code == 302
    return all_rows(TrackingClick)[-1]


def message(wamid: str, ts: int, body: str, sender: str = CUSTOMER, **kwargs) -> dict:
    return webhook_body(messages=[text_message(sender, wamid, ts, body, **kwargs.pop("extra", {}))],
                        contacts=[profile(sender, "Mariana Souza")], **kwargs)


def send(post_webhook, worker, body: dict) -> None:
    assert post_webhook(body).status_code == 200
    worker.drain()


def referral(clid: str | None = CLICK_ID) -> dict:
    ref = dict(fixture_json("inbound_ctwa_referral")["entry"][0]["changes"][0]["value"][
        "messages"][0]["referral"])
    ref.update(source_id="120210000000000001")
    if clid is None:
        ref.pop("ctwa_clid")
    else:
        ref["ctwa_clid"] = clid
    return ref


def now_ts() -> int:
    return int(time.time())


def spaced(ref: str) -> str:
    return ref[:5] + "\n" + ref[5:].lower()


@pytest.mark.endpoint("api.list_tickets", "api.list_tracking_links")
@pytest.mark.parametrize("variant", [
    lambda ref: f"Oi! ({ref})",
    lambda ref: f"oi! ({ref.lower()})",
    lambda ref: f"Oi! ({spaced(ref)})",
    lambda ref: f"Oi!\n\n( {ref[:3]} {ref[3:6]} {ref[6:]} )\nobrigada",
    lambda ref: ref.replace("-", ""),
])
def test_the_first_message_with_the_code_attaches_the_click_to_the_ticket(
        whatsapp_org, link, client, post_webhook, worker, variant):
    clicked = click(client, link, "?utm_campaign=black-friday&fbclid=FB.abc&gclid=G.1")

    send(post_webhook, worker, message("wamid.LINK1", now_ts() - 60, variant(clicked.ref)))

    [ticket] = all_rows(Ticket)
    assert_fields(ticket, lead_source="link", tracking_link_id=link["id"],
                  tracking_click_id=clicked.id, utm_source="instagram", utm_medium="bio",
                  utm_campaign="black-friday", fbclid="FB.abc", gclid="G.1", ctwa_clid=None)
    assert ticket.source == "link"
    [touch] = all_rows(TicketTouch)
    assert (touch.kind, touch.link_id, touch.click_id) == ("link", link["id"], clicked.id)
    [matched] = all_rows(TrackingClick)
    assert matched.ticket_id == ticket.id and matched.matched_at is not None
    data = client.get("/api/v1/tickets", headers=bearer(link["key"])).json["data"][0]
    assert data["tracking"]["link"] == "Bio do Instagram"
    assert data["tracking"]["source"] == "link"
    assert data["tracking"]["utm_campaign"] == "black-friday"
    [row] = client.get("/api/v1/tracking-links", headers=bearer(link["key"])).json["data"]
    assert (row["clicks"], row["leads"]) == (1, 1)


def test_a_code_that_is_not_stored_or_only_resembles_one_leaves_the_ticket_organic(
        whatsapp_org, link, client, post_webhook, worker):
    clicked = click(client, link)
    near = clicked.ref[:-1] + ("2" if clicked.ref[-1] != "2" else "3")

    send(post_webhook, worker, message("wamid.NEAR", now_ts() - 60, f"Oi ({near})"))
    send(post_webhook, worker, message("wamid.PARTIAL", now_ts() - 50, f"Oi {clicked.ref[:-2]}"))

    [ticket] = all_rows(Ticket)
    assert ticket.lead_source == "organic" and ticket.tracking_link_id is None
    assert all_rows(TicketTouch) == []
    assert all_rows(TrackingClick)[0].ticket_id is None


def test_a_code_sent_to_another_organizations_number_never_matches(
        whatsapp_org, second_org, link, client, post_webhook, worker):
    clicked = click(client, link)

    send(post_webhook, worker, message("wamid.OTHER", now_ts() - 60, f"Oi ({clicked.ref})",
                                       phone_number_id=SECOND_PHONE_ID, display=SECOND_DISPLAY,
                                       waba_id=SECOND_WABA))

    [ticket] = all_rows(Ticket)
    assert ticket.organization_id == second_org["org_id"]
    assert ticket.lead_source == "organic" and ticket.tracking_link_id is None
    assert all_rows(TicketTouch) == []
    assert all_rows(TrackingClick)[0].ticket_id is None


def test_echoes_of_the_business_do_not_attribute(whatsapp_org, link, client, post_webhook,
                                                 worker):
    from tests.fixtures_whatsapp import FIXTURE_DISPLAY

    clicked = click(client, link)
    item = {"from": FIXTURE_DISPLAY, "to": CUSTOMER, "id": "wamid.ECHO",
            "timestamp": str(now_ts() - 60), "type": "text",
            "text": {"body": f"Seu código é {clicked.ref}"}}

    send(post_webhook, worker, webhook_body(echoes=[item]))

    assert all_rows(TicketTouch) == []
    assert all_rows(TrackingClick)[0].ticket_id is None


def test_an_earlier_link_processed_after_an_ad_becomes_the_first_touch_and_the_ad_the_last(
        app, db, whatsapp_org, link, client, post_webhook, worker):
    clicked = click(client, link)
    t0 = now_ts() - 600

    # Meta delivers the later ad message first.
    send(post_webhook, worker, message("wamid.AD", t0 + 120, "vi o anúncio",
                                       extra={"referral": referral()}))
    assert all_rows(Ticket)[0].source == "ad"
    send(post_webhook, worker, message("wamid.LINK", t0, f"Oi ({clicked.ref})"))

    [ticket] = all_rows(Ticket)
    assert_fields(ticket, lead_source="link", tracking_link_id=link["id"], ctwa_clid=None,
                  source_id=None, utm_source="instagram")
    with app.app_context(), bind_org(whatsapp_org["org_id"]):
        org = db.session.get(Organization, whatsapp_org["org_id"])
        ticket = Ticket.get_for_org(ticket.id, org)
        assert attribution.first_touch(org, ticket).kind == "link"
        last = attribution.last_touch(org, ticket)
        assert (last.kind, last.ctwa_clid) == ("ad", CLICK_ID)


def test_a_later_link_code_never_takes_the_ticket_from_an_earlier_ad(
        app, whatsapp_org, link, client, post_webhook, worker):
    clicked = click(client, link)
    t0 = now_ts() - 600

    send(post_webhook, worker, message("wamid.LINK", t0 + 120, f"Oi ({clicked.ref})"))
    assert all_rows(Ticket)[0].source == "link"
    send(post_webhook, worker, message("wamid.AD", t0, "vi o anúncio",
                                       extra={"referral": referral()}))

    [ticket] = all_rows(Ticket)
    assert_fields(ticket, lead_source="ad", ctwa_clid=CLICK_ID, tracking_link_id=None,
                  utm_source=None, source_id="120210000000000001")
    assert ticket.source == "ad"
    # The click still remembers the ticket it reached.
    assert all_rows(TrackingClick)[0].ticket_id == ticket.id
    assert {t.kind for t in all_rows(TicketTouch)} == {"ad", "link"}


@pytest.mark.endpoint("tickets.panel")
def test_an_ad_without_click_id_is_ad_no_click_and_the_panel_says_why(
        whatsapp_org, post_webhook, worker, client, login, make_api_key):
    send(post_webhook, worker, message("wamid.STATUS", now_ts() - 60, "oi",
                                       extra={"referral": referral(clid=None)}))

    [ticket] = all_rows(Ticket)
    assert (ticket.lead_source, ticket.ctwa_clid, ticket.source) == ("ad", None, "ad_no_click")
    _id, key = make_api_key(whatsapp_org["org_id"])
    data = client.get("/api/v1/tickets", headers=bearer(key)).json["data"][0]
    assert data["tracking"]["source"] == "ad_no_click"
    login(whatsapp_org["email"])
    html = client.get(f"/dashboard/tickets/{ticket.id}?partial=1").get_data(as_text=True)
    assert "Este anúncio não enviou ID de clique (ctwa_clid)" in html
    assert "Meta aceita esta venda até" not in html
    board = client.get("/dashboard/tickets?source=ad_no_click").get_data(as_text=True)
    assert 'data-source="ad_no_click"' in board


@pytest.mark.endpoint("tickets.panel", "tickets.board_view")
def test_the_panel_and_board_show_via_link_and_the_meta_window_for_ads(
        whatsapp_org, link, client, post_webhook, worker, login):
    clicked = click(client, link)
    ad_time = now_ts() - 2 * 86400
    send(post_webhook, worker, message("wamid.LINK", now_ts() - 60, f"Oi ({clicked.ref})"))
    send(post_webhook, worker, message("wamid.AD", ad_time, "vi o anúncio",
                                       sender="5511976543210", extra={"referral": referral()}))
    login(whatsapp_org["email"])
    link_ticket, ad_ticket = sorted(all_rows(Ticket), key=lambda t: t.lead_source != "link")

    link_panel = client.get(f"/dashboard/tickets/{link_ticket.id}?partial=1").get_data(
        as_text=True)
    ad_panel = client.get(f"/dashboard/tickets/{ad_ticket.id}?partial=1").get_data(as_text=True)
    board = client.get("/dashboard/tickets").get_data(as_text=True)

    assert "via link Bio do Instagram" in link_panel and "black" not in link_panel
    assert "instagram" in link_panel and "clareamento" in link_panel
    deadline = (datetime.fromtimestamp(ad_time, UTC) + timedelta(days=7)).astimezone(
        ZoneInfo("America/Sao_Paulo"))
    assert f"Meta aceita esta venda até {deadline:%d/%m}" in ad_panel
    zone = ZoneInfo("America/Sao_Paulo")
    left = (deadline.date() - datetime.now(zone).date()).days
    assert f"{left} dias restantes" in ad_panel
    assert "via link Bio do Instagram" in board and 'data-source="ad"' in board


@pytest.mark.endpoint("tickets.export_contact", "tickets.erase_contact")
def test_a_link_leads_click_is_exported_and_erased_with_the_contact(
        whatsapp_org, link, client, client_as, post_webhook, worker):
    clicked = click(client, link, "?fbclid=FB.erase")
    send(post_webhook, worker, message("wamid.LINKX", now_ts() - 60, f"Oi! ({clicked.ref})"))
    [ticket] = all_rows(Ticket)
    owner = client_as(whatsapp_org["email"])

    exported = owner.get(f"/dashboard/contacts/{ticket.contact_id}/export").get_json()
    [exported_click] = exported["tickets"][0]["clicks"]
    assert (exported_click["link"], exported_click["ref"], exported_click["fbclid"]) == (
        "Bio do Instagram", clicked.ref, "FB.erase")

    assert owner.post(f"/dashboard/contacts/{ticket.contact_id}/erase",
                      data={"confirm": "yes"}).status_code == 302
    assert all_rows(TrackingClick) == []
    [ticket] = all_rows(Ticket)
    assert (ticket.tracking_click_id, ticket.fbclid, ticket.utm_source) == (None, None, None)
    [row] = client.get("/api/v1/tracking-links", headers=bearer(link["key"])).json["data"]
    assert row["name"] == "Bio do Instagram"  # the business's link itself stays
