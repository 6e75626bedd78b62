"""LGPD: an owner exports everything about a contact, and erases it (issue 16, item 7).

The contact arrives the real way (a signed click-to-WhatsApp delivery processed by a
worker), gets a note, a cached image, a sale and its conversion event; a second contact of
the same organization must come out of the erasure untouched.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.fixtures_whatsapp import all_rows, load_fixture, profile, text_message, webhook_body

CTWA = "inbound_ctwa_referral"
NUMBER = "5521998765432"
NAME = "Carlos Pereira"
CLID = "ARAkLkA8FAKEctwaClid_x9Q2mVhT3sYpWq7eN0bC5dZrUuJ1oLgKqHsE4vTnYwRi"
TEXT = "Olá! Vi o anúncio e quero saber o valor do clareamento dental."
OTHER_NUMBER = "5511977776666"


@pytest.fixture
def lead(app, whatsapp_org, post_webhook, worker, client_as):
    """Carlos (CTWA lead with note, image, sale) and Ana (another contact) in one org."""
    from whatrack.extensions import db
    from whatrack.models import Contact, MediaFile, Message, Ticket
    from whatrack.tenancy import bind_org

    assert post_webhook(load_fixture(CTWA)).status_code == 200
    assert post_webhook(webhook_body(
        contacts=[profile(OTHER_NUMBER, "Ana Souza")],
        messages=[text_message(OTHER_NUMBER, "wamid.ana-1", 1781262400, "Bom dia")],
    )).status_code == 200
    worker.drain()
    owner = client_as(whatsapp_org["email"])
    [carlos] = all_rows(Contact, Contact.wa_id == NUMBER)
    [ticket] = all_rows(Ticket, Ticket.contact_id == carlos.id)
    assert ticket.ctwa_clid == CLID
    assert owner.post(f"/dashboard/tickets/{ticket.id}/notes",
                      data={"body": "Carlos prefere à tarde"}).status_code == 302
    assert owner.post(f"/dashboard/tickets/{ticket.id}/sales",
                      data={"value": "450,00", "currency": "BRL",
                            "description": "Clareamento"}).status_code == 302
    with app.app_context(), bind_org(whatsapp_org["org_id"]):
        image = Message(organization_id=whatsapp_org["org_id"], ticket_id=ticket.id,
                        contact_id=carlos.id, wamid="wamid.carlos-image", direction="inbound",
                        origin="customer", type="image", timestamp=datetime.now(UTC),
                        media_id="media-77", media_mime_type="image/jpeg",
                        media_caption="meu sorriso", media_state="stored")
        db.session.add(image)
        db.session.flush()
        db.session.add(MediaFile(organization_id=whatsapp_org["org_id"], message_id=image.id,
                                 mime_type="image/jpeg", size=3, content=b"\xff\xd8\xff"))
        db.session.commit()
    return {"owner": owner, "contact_id": carlos.id, "ticket_id": ticket.id, **whatsapp_org}


@pytest.mark.endpoint("tickets.export_contact")
def test_the_owner_exports_everything_about_a_contact_as_json(lead):
    resp = lead["owner"].get(f"/dashboard/contacts/{lead['contact_id']}/export")

    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.headers["Cache-Control"] == "no-store"
    data = json.loads(resp.data)
    assert data["contact"]["wa_id"] == NUMBER
    assert data["contact"]["profile_name"] == NAME
    [ticket] = data["tickets"]
    assert ticket["tracking"]["ctwa_clid"] == CLID
    assert ticket["tracking"]["headline"] == "Clareamento dental em 1 sessão"
    assert [m["text"] for m in ticket["messages"] if m["type"] == "text"] == [TEXT]
    [image] = [m for m in ticket["messages"] if m["type"] == "image"]
    assert image["media"] == {"mime_type": "image/jpeg", "filename": None,
                              "caption": "meu sorriso", "sha256": None, "state": "stored",
                              "cached_bytes": 3}
    assert [n["body"] for n in ticket["notes"]] == ["Carlos prefere à tarde"]
    assert [t["ctwa_clid"] for t in ticket["touches"]] == [CLID]
    [sale] = data["sales"]
    assert (sale["value"], sale["currency"], sale["description"]) == ("450.00", "BRL",
                                                                       "Clareamento")
    assert sorted(e["event_name"] for e in data["conversion_events"]) == ["LeadSubmitted",
                                                                          "Purchase"]
    # Nothing of the other contact.
    assert OTHER_NUMBER not in resp.get_data(as_text=True)


@pytest.mark.endpoint("tickets.export_contact", "tickets.confirm_erase_contact",
                      "tickets.erase_contact")
def test_only_the_owner_may_export_or_erase(lead, make_member, client_as):
    from whatrack.models import Contact, Message

    for role in ("agent", "admin"):
        member = client_as(make_member(lead["org_id"], role).email)
        base = f"/dashboard/contacts/{lead['contact_id']}"
        assert member.get(f"{base}/export").status_code == 403
        assert member.get(f"{base}/erase").status_code == 403
        assert member.post(f"{base}/erase", data={"confirm": "yes"}).status_code == 403
        # The panel offers them nothing either.
        panel = member.get(f"/dashboard/tickets/{lead['ticket_id']}").get_data(as_text=True)
        assert "/export" not in panel
    assert all_rows(Contact, Contact.id == lead["contact_id"])[0].erased_at is None
    assert len(all_rows(Message, Message.contact_id == lead["contact_id"])) == 2


@pytest.mark.endpoint("tickets.confirm_erase_contact", "tickets.erase_contact")
def test_erasing_needs_the_confirmation_box(lead):
    from whatrack.models import Contact

    page = lead["owner"].get(f"/dashboard/contacts/{lead['contact_id']}/erase")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Apagar contato" in html and NUMBER in html and 'name="confirm"' in html

    refused = lead["owner"].post(f"/dashboard/contacts/{lead['contact_id']}/erase", data={})

    assert refused.status_code == 400
    assert "Marque a caixa para confirmar" in refused.get_data(as_text=True)
    assert all_rows(Contact, Contact.id == lead["contact_id"])[0].profile_name == NAME


@pytest.mark.endpoint("tickets.erase_contact", "tickets.panel")
def test_erasing_deletes_personal_data_and_keeps_sales_anonymised(app, lead, caplog):
    from whatrack.models import (
        Contact,
        MediaFile,
        Message,
        MessageStatusEvent,
        MetaConversionEvent,
        Sale,
        Ticket,
        TicketEvent,
        TicketNote,
        TicketTouch,
        WebhookEvent,
    )

    caplog.set_level(logging.INFO)
    resp = lead["owner"].post(f"/dashboard/contacts/{lead['contact_id']}/erase",
                              data={"confirm": "yes"})

    assert resp.status_code == 302
    [contact] = all_rows(Contact, Contact.id == lead["contact_id"])
    assert contact.erased_at is not None
    assert (contact.wa_id, contact.profile_name, contact.bsuid, contact.wa_id_reported) == (
        f"erased-{contact.id}", None, None, None)
    assert all_rows(Message, Message.contact_id == contact.id) == []
    assert all_rows(MediaFile) == []
    assert all_rows(TicketTouch) == []
    assert all_rows(TicketNote) == []
    assert all_rows(MessageStatusEvent, MessageStatusEvent.wamid == "wamid.carlos-image") == []
    # The raw delivery that carried Carlos is gone (a reprocess cannot bring him back);
    # Ana's stays.
    bodies = [e.body for e in all_rows(WebhookEvent)]
    assert len(bodies) == 1 and NUMBER.encode() not in bodies[0]
    [ticket] = all_rows(Ticket, Ticket.id == lead["ticket_id"])
    assert (ticket.ctwa_clid, ticket.source_url, ticket.ad_headline, ticket.referral,
            ticket.last_message_preview) == (None, None, None, None, None)
    assert ticket.closed_at is not None
    assert [e.kind for e in all_rows(TicketEvent, TicketEvent.ticket_id == ticket.id)
            ][-1] == "contact_erased"
    [sale] = all_rows(Sale, Sale.contact_id == contact.id)
    assert (sale.value, sale.currency, sale.status) == (Decimal("450.00"), "BRL", "approved")
    [event] = all_rows(MetaConversionEvent, MetaConversionEvent.sale_id == sale.id)
    assert event.status == "skipped" and event.reason_code == "contact_erased"
    assert CLID not in (event.payload or "")
    # Ana is untouched.
    [ana] = all_rows(Contact, Contact.wa_id == OTHER_NUMBER)
    assert ana.profile_name == "Ana Souza"
    assert [m.text for m in all_rows(Message, Message.contact_id == ana.id)] == ["Bom dia"]
    # The log line says what was done without repeating what was erased.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "erased" in logged and NUMBER not in logged and NAME not in logged

    panel = lead["owner"].get(f"/dashboard/tickets/{ticket.id}").get_data(as_text=True)
    assert NAME not in panel and NUMBER not in panel and TEXT not in panel
    assert "Contato apagado a pedido dele" in panel
    again = lead["owner"].post(f"/dashboard/contacts/{contact.id}/erase",
                               data={"confirm": "yes"}, follow_redirects=True)
    assert "Este contato já foi apagado." in again.get_data(as_text=True)


@pytest.mark.endpoint("capi.resend")
def test_an_erased_contacts_event_cannot_be_resent(lead):
    from whatrack.models import MetaConversionEvent

    lead["owner"].post(f"/dashboard/contacts/{lead['contact_id']}/erase",
                       data={"confirm": "yes"})
    [event] = all_rows(MetaConversionEvent, MetaConversionEvent.event_name == "Purchase")

    page = lead["owner"].post(f"/dashboard/capi/{event.id}/resend", follow_redirects=True)

    assert "não pode ser enviado" in page.get_data(as_text=True)
    assert all_rows(MetaConversionEvent, MetaConversionEvent.id == event.id)[0].status == "skipped"


def test_a_new_message_after_erasure_starts_a_new_contact(lead, post_webhook, worker):
    from whatrack.models import Contact, Message

    lead["owner"].post(f"/dashboard/contacts/{lead['contact_id']}/erase",
                       data={"confirm": "yes"})
    assert post_webhook(webhook_body(
        contacts=[profile(NUMBER, NAME)],
        messages=[text_message(NUMBER, "wamid.carlos-again", 1781263000, "Voltei")],
    )).status_code == 200
    worker.drain()

    [fresh] = all_rows(Contact, Contact.wa_id == NUMBER)
    assert fresh.id != lead["contact_id"] and fresh.erased_at is None
    assert [m.text for m in all_rows(Message, Message.contact_id == fresh.id)] == ["Voltei"]
    assert all_rows(Message, Message.contact_id == lead["contact_id"]) == []


def test_the_export_of_an_erased_contact_holds_no_personal_data(lead):
    lead["owner"].post(f"/dashboard/contacts/{lead['contact_id']}/erase",
                       data={"confirm": "yes"})
    body = lead["owner"].get(f"/dashboard/contacts/{lead['contact_id']}/export").get_data(
        as_text=True)

    for secret in (NUMBER, NAME, TEXT, CLID, "Carlos prefere"):
        assert secret not in body


@pytest.mark.endpoint("data_deletion.callback", "data_deletion.status")
def test_the_meta_deletion_status_page_shows_each_step(app, client):
    from whatrack.extensions import db
    from whatrack.integrations.meta.facebook import sign_request
    from whatrack.models import DataDeletionRequest

    signed = sign_request({"algorithm": "HMAC-SHA256", "user_id": "10000000000000042",
                           "issued_at": 1781216000}, app.config["META_APP_SECRET"])
    code = client.post("/meta/data-deletion",
                       data={"signed_request": signed}).get_json()["confirmation_code"]

    done = client.get(f"/data-deletion/status/{code}").get_data(as_text=True)
    assert 'data-step="received" data-done="true"' in done
    assert 'data-step="tokens" data-done="true"' in done
    assert "Acesso do Facebook removido de 0 contas do WhaTrack." in done
    # A request still being worked on says so.
    with app.app_context():
        db.session.add(DataDeletionRequest(confirmation_code="DEL-PENDING01",
                                           fb_user_id="1", status="received"))
        db.session.commit()
    pending = client.get("/data-deletion/status/DEL-PENDING01").get_data(as_text=True)
    assert 'data-step="tokens" data-done="false"' in pending
    assert "Removendo o acesso do Facebook" in pending


@pytest.mark.endpoint("tickets.erase_contact")
def test_erasing_drops_the_copilots_quotes_of_the_conversation(app, lead):
    from whatrack.extensions import db
    from whatrack.models import Organization, Sale, Ticket
    from whatrack.services.tickets import sales
    from whatrack.tenancy import bind_org

    with app.app_context(), bind_org(lead["org_id"]):
        org = db.session.get(Organization, lead["org_id"])
        ticket = db.session.get(Ticket, lead["ticket_id"])
        sales.propose_sale(org, ticket, sales.SaleInput(value=Decimal("300.00"), currency="BRL"),
                           confidence=Decimal("0.9"), reason=f"{NAME} disse: {TEXT}",
                           evidence={"message_ids": [1]})
        db.session.commit()

    lead["owner"].post(f"/dashboard/contacts/{lead['contact_id']}/erase", data={"confirm": "yes"})

    [proposal] = all_rows(Sale, Sale.status == "proposed")
    assert (proposal.value, proposal.evidence, proposal.proposal_reason) == (
        Decimal("300.00"), None, None)
