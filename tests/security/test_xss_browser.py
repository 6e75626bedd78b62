"""Hostile text from customers, ads and colleagues renders as text in Chromium.

Every field a stranger or a teammate can fill and a page shows (message text, captions,
profile names, ad headlines and links, UTMs, stage names, notes, sale descriptions) holds a
script payload; each page that shows them is opened in Chromium. No dialog may open, no
payload may run (``window.__xss`` stays unset), and the payload must be readable as text.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from tests.fixtures_whatsapp import all_rows, load_fixture

IMG = '<img src=x onerror="window.__xss=1;alert(1)">'
SCRIPT = "<script>window.__xss=2;alert(2)</script>"
ATTR = '"><svg onload="window.__xss=3;alert(3)">'
JS_URL = "javascript:window.__xss=4;alert(4)"
PASSWORD = "password-123!"


@pytest.fixture
def hostile(app, whatsapp_org, post_webhook, worker, client_as):
    from whatrack.extensions import db
    from whatrack.models import Contact, Message, Organization, Ticket
    from whatrack.services.tickets.stages import add_stage, entry_stage
    from whatrack.tenancy import bind_org

    delivery = json.loads(load_fixture("inbound_ctwa_referral"))
    value = delivery["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["profile"]["name"] = f"Ana {IMG}"
    message = value["messages"][0]
    message["timestamp"] = str(int(time.time()) - 60)
    message["text"]["body"] = f"Oi {SCRIPT} {ATTR}"
    message["referral"].update({"headline": f"Promo {IMG}", "body": f"Corpo {SCRIPT}",
                                "source_url": JS_URL})
    assert post_webhook(delivery).status_code == 200
    worker.drain()
    org_id = whatsapp_org["org_id"]
    [ticket] = all_rows(Ticket)
    owner = client_as(whatsapp_org["email"])
    assert owner.post(f"/dashboard/tickets/{ticket.id}/notes",
                      data={"body": f"Nota {IMG}"}).status_code == 302
    assert owner.post(f"/dashboard/tickets/{ticket.id}/sales",
                      data={"value": "10,00", "currency": "BRL",
                            "description": f"Venda {ATTR}"}).status_code == 302
    with app.app_context(), bind_org(org_id):
        org = db.session.get(Organization, org_id)
        add_stage(org, f"Etapa {SCRIPT}"[:60], "open")
        db.session.add(Message(organization_id=org_id, ticket_id=ticket.id,
                               contact_id=ticket.contact_id, wamid="wamid.xss-image",
                               direction="inbound", origin="customer", type="image",
                               timestamp=datetime.now(UTC), media_id="m-1",
                               media_mime_type="image/png", media_filename=f"f{ATTR}.png",
                               media_caption=f"Legenda {IMG}", media_state="failed"))
        utm_contact = Contact(organization_id=org_id, wa_id="5511955554444",
                              saved_name=f"Bruno {ATTR}")
        db.session.add(utm_contact)
        db.session.flush()
        utm_ticket = Ticket(organization_id=org_id, contact_id=utm_contact.id,
                            stage_id=entry_stage(org).id, lead_source="link",
                            utm_source=f"fb{IMG}", utm_campaign=f"camp{SCRIPT}",
                            utm_medium=ATTR, utm_content=JS_URL, utm_term="t",
                            last_message_preview=f"prévia {IMG}")
        db.session.add(utm_ticket)
        db.session.commit()
        return {"email": whatsapp_org["email"], "ticket_id": ticket.id,
                "utm_ticket_id": utm_ticket.id, "contact_id": ticket.contact_id}


@pytest.mark.browser
def test_hostile_text_renders_as_text_on_every_page_that_shows_it(live_server, new_page,
                                                                  hostile):
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}/login")
    page.locator("input[name=email]").fill(hostile["email"])
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/dashboard")

    pages = {
        "/dashboard": [],
        "/dashboard/tickets": ["Ana <img src=x", "prévia <img src=x"],
        f"/dashboard/tickets/{hostile['ticket_id']}": [
            "Ana <img src=x", "Oi <script>", "Promo <img src=x", "Nota <img src=x",
            'Venda ">', 'f"><svg onload', JS_URL],
        f"/dashboard/tickets/{hostile['utm_ticket_id']}": ["fb<img src=x", "camp<script>"],
        f"/dashboard/tickets/{hostile['ticket_id']}/thread": ["Oi <script>"],
        "/dashboard/settings/stages": ["Etapa <script>"],
        "/dashboard/capi": [],
        f"/dashboard/contacts/{hostile['contact_id']}/erase": ["Ana <img src=x"],
    }
    for path, visible in pages.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, f"a payload ran on {path}"
        # Shown as text, or as the value of a field (the stage list edits names in place).
        text = page.inner_text("body") + "\n" + page.evaluate(
            "Array.from(document.querySelectorAll('input, textarea'))"
            ".map(e => e.value).join('\\n')")
        for fragment in visible:
            assert fragment in text, f"{fragment!r} not shown as text on {path}"
        # No element carries an event handler or a javascript: link from the data.
        assert page.locator("[onerror], [onload]").count() == 0, path
        assert page.locator("a[href^='javascript:']").count() == 0, path
    # The ad link that is not http(s) is not a link at all; clicking around runs nothing.
    page.goto(f"{live_server.url}/dashboard/tickets/{hostile['ticket_id']}")
    page.get_by_text(JS_URL).first.click()
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
