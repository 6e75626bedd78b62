"""Every user-supplied redirect target (``next``) goes through one same-site check."""

import pytest
from sqlalchemy import select

from tests.fixtures_whatsapp import load_fixture
from whatrack.security import safe_next_url
from whatrack.tenancy import unscoped

OFFSITE = [
    "https://evil.example/x",
    "//evil.example/x",
    "/\\evil.example/x",
    "\\\\evil.example/x",
    "/\t/evil.example/x",
    "javascript:alert(1)",
    "evil.example/x",
]


@pytest.fixture
def ticket_id(whatsapp_org, post_webhook, worker, db):
    from whatrack.models import Ticket

    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    with unscoped():
        return db.session.scalars(select(Ticket.id)).one()


@pytest.mark.parametrize("target", OFFSITE)
def test_board_action_refuses_an_offsite_next(whatsapp_org, ticket_id, client, login, target):
    login(whatsapp_org["email"])
    resp = client.post(f"/dashboard/tickets/{ticket_id}/notes",
                       data={"body": "ligar amanhã", "next": target})
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/dashboard/tickets/{ticket_id}"


def test_board_action_follows_a_same_site_next(whatsapp_org, ticket_id, client, login):
    login(whatsapp_org["email"])
    resp = client.post(f"/dashboard/tickets/{ticket_id}/notes",
                       data={"body": "ok", "next": "/dashboard/tickets?view=mine"})
    assert resp.headers["Location"] == "/dashboard/tickets?view=mine"


@pytest.mark.parametrize("target", OFFSITE)
def test_language_switch_and_login_refuse_an_offsite_next(make_org, client, login, target):
    resp = client.get("/lang/en", query_string={"next": target})
    assert resp.headers["Location"] == "/"
    _, _, email = make_org()
    resp = login(email, next=target)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/dashboard"


@pytest.mark.parametrize("target", OFFSITE)
def test_safe_next_url_refuses_offsite_targets(target):
    assert safe_next_url(target) is None
