"""The inbox in Chromium: live messages and ticks, window mode, reconnects, phone layout, XSS."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.fixtures_whatsapp import (
    load_fixture,
    profile,
    status_item,
    text_message,
    webhook_body,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "password-123!"
NOW = int(time.time())
ANA, BRUNO = "5511911110001", "5511911110003"


def _login(page, live_server, email):
    page.goto(f"{live_server.url}/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action$='/login'] button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")


def _say(post_webhook, sender, wamid, body, name="Cliente", at=None):
    resp = post_webhook(webhook_body(messages=[text_message(sender, wamid, at or NOW, body)],
                                     contacts=[profile(sender, name)]))
    assert resp.status_code == 200


def _open_inbox(page, live_server, loads):
    """Open the inbox; ``loads`` then records any later page load (there must be none)."""
    page.goto(f"{live_server.url}/dashboard/whatsapp/inbox")
    page.on("load", lambda p: loads.append(p.url))
    expect(page.locator("html")).to_have_attribute("data-realtime", "connected")
    page.evaluate("window.__sameDocument = true")


def _bruno_on_screen(new_page, live_server, email):
    """A laptop-sized inbox with Bruno's thread open: (page, thread, page loads since)."""
    page = new_page(viewport={"width": 1366, "height": 800})
    _login(page, live_server, email)
    loads: list[int] = []
    _open_inbox(page, live_server, loads)
    page.locator(".conv", has_text="Bruno").click()
    thread = page.locator("#inbox-thread")
    expect(thread).to_contain_text("Qual o preço?")
    return page, thread, loads


def _ticket_id(page, name):
    return page.locator(".conv", has_text=name).first.get_attribute("data-ticket-id")


@pytest.fixture
def two_leads(whatsapp_org, post_webhook, worker):
    _say(post_webhook, ANA, "wamid.ana1", "Oi, quero marcar", "Ana", NOW - 600)
    _say(post_webhook, BRUNO, "wamid.bru1", "Qual o preço?", "Bruno", NOW - 300)
    worker.drain()
    return whatsapp_org


@pytest.mark.endpoint("inbox.index", "inbox.sync", "inbox.conversation")
@pytest.mark.browser
def test_live_message_reaches_the_open_thread_and_the_top_without_navigation(
        live_server, new_page, two_leads, post_webhook, worker, outbound_message):
    out_id = outbound_message(two_leads["org_id"], two_leads["account_id"], "wamid.out-ana",
                              ANA, status="sent", sent_at=NOW - 500)
    page = new_page(viewport={"width": 1366, "height": 800})
    _login(page, live_server, two_leads["email"])
    loads: list[int] = []
    _open_inbox(page, live_server, loads)
    expect(page.locator(".conv").first).to_contain_text("Bruno")
    page.locator(".conv", has_text="Ana").click()
    thread = page.locator("#inbox-thread")
    expect(thread).to_contain_text("Oi, quero marcar")
    tick = thread.locator(f".msg[data-message-id='{out_id}'] .tick")
    expect(tick).to_have_attribute("data-status", "sent")

    _say(post_webhook, ANA, "wamid.ana2", "Pode ser amanhã às 10h?", "Ana", NOW)
    expect(thread.locator(".msg-text", has_text="Pode ser amanhã às 10h?")).to_have_count(
        1, timeout=2000)
    expect(page.locator(".conv").first).to_contain_text("Ana", timeout=2000)

    post_webhook(webhook_body(statuses=[status_item("wamid.out-ana", "read", NOW, ANA)]))
    expect(tick).to_have_attribute("data-status", "read")
    assert loads == []
    assert page.evaluate("window.__sameDocument") is True
    worker.drain()


@pytest.mark.browser
def test_reconnect_delivers_messages_sent_while_the_socket_was_down_exactly_once(
        live_server, new_page, two_leads, post_webhook, worker):
    page, thread, loads = _bruno_on_screen(new_page, live_server, two_leads["email"])

    page.evaluate("window.WhaTrackRealtime.disconnect()")
    expect(page.locator("#inbox-conn")).to_be_visible()
    _say(post_webhook, BRUNO, "wamid.bru2", "Primeira enquanto caiu", "Bruno", NOW - 20)
    _say(post_webhook, BRUNO, "wamid.bru3", "Segunda enquanto caiu", "Bruno", NOW - 10)
    worker.drain()
    time.sleep(0.3)
    assert thread.locator(".msg-text", has_text="enquanto caiu").count() == 0  # truly offline

    page.evaluate("window.WhaTrackRealtime.connect()")
    expect(page.locator("#inbox-conn")).to_be_hidden()
    for text in ("Primeira enquanto caiu", "Segunda enquanto caiu"):
        expect(thread.locator(".msg-text", has_text=text)).to_have_count(1)
    # A late duplicate frame for the same message must not add a second bubble.
    page.evaluate("""document.dispatchEvent(new CustomEvent('whatrack:event', {detail:
        {type: 'message.created', data: {ticket_id: 1, message_id: 1}}}))""")
    page.wait_for_timeout(300)
    for text in ("Primeira enquanto caiu", "Segunda enquanto caiu"):
        expect(thread.locator(".msg-text", has_text=text)).to_have_count(1)
    assert loads == []


@pytest.mark.browser
def test_a_message_committed_after_a_newer_one_was_synced_still_appears(
        live_server, new_page, two_leads, post_webhook, worker, app):
    """Ids are handed out before commit: a message can become visible below the page's
    cursor. Its frame is lost here on purpose; the reconnect's rewound sync finds it."""
    from datetime import UTC, datetime

    from whatrack.extensions import db
    from whatrack.models import Contact, Message, Ticket
    from whatrack.services.whatsapp.phones import canonical_wa_id
    from whatrack.tenancy import bind_org

    page, thread, loads = _bruno_on_screen(new_page, live_server, two_leads["email"])

    with app.app_context(), bind_org(two_leads["org_id"]):
        contact = db.session.scalars(db.select(Contact).where(
            Contact.wa_id == canonical_wa_id(BRUNO))).one()
        ticket = db.session.scalars(db.select(Ticket).where(
            Ticket.contact_id == contact.id)).one()
        late = Message(organization_id=two_leads["org_id"], ticket_id=ticket.id,
                       contact_id=contact.id, whatsapp_account_id=two_leads["account_id"],
                       wamid="wamid.late", direction="inbound", origin="customer", type="text",
                       text="Escrita antes, gravada depois", status="delivered",
                       timestamp=datetime.fromtimestamp(NOW - 5, UTC))
        db.session.add(late)
        db.session.flush()  # its id is taken; the row stays invisible until the commit
        # Another customer's message gets a higher id, commits first and moves the cursor.
        _say(post_webhook, ANA, "wamid.after", "Gravada primeiro", "Ana", NOW)
        worker.drain()
        expect(page.locator(".conv", has_text="Gravada primeiro")).to_have_count(1)
        db.session.commit()  # visible now, below the page's cursor, and no frame names it
        db.session.remove()

    page.evaluate("window.WhaTrackRealtime.disconnect()")
    expect(page.locator("#inbox-conn")).to_be_visible()
    page.evaluate("window.WhaTrackRealtime.connect()")
    expect(page.locator("#inbox-conn")).to_be_hidden()
    expect(thread.locator(".msg-text", has_text="Escrita antes, gravada depois")).to_have_count(1)
    assert loads == []


@pytest.mark.browser
def test_closed_window_switches_the_composer_to_template_mode(
        live_server, new_page, whatsapp_org, post_webhook, worker):
    _say(post_webhook, ANA, "wamid.old1", "Mensagem de anteontem", "Ana", NOW - 30 * 3600)
    _say(post_webhook, BRUNO, "wamid.new1", "Mensagem de agora", "Bruno", NOW - 60)
    worker.drain()
    page = new_page(viewport={"width": 1366, "height": 800})
    _login(page, live_server, whatsapp_org["email"])
    page.goto(f"{live_server.url}/dashboard/whatsapp/inbox")
    page.locator(".conv", has_text="Bruno").click()
    composer = page.locator("#inbox-composer")
    expect(page.locator("#inbox-window-clock")).to_contain_text("23 h")
    expect(composer.locator("textarea[name=text]")).to_be_visible()
    expect(composer.locator("[data-window-closed]")).to_have_count(0)
    page.locator(".conv", has_text="Ana").click()
    expect(composer.locator("[data-window-closed]")).to_be_visible()
    expect(composer.locator("textarea[name=text]")).to_have_count(0)
    expect(composer.locator("select[name=template], .composer-template")).not_to_have_count(0)
    expect(page.locator("#inbox-window-clock")).to_have_text(
        live_server.translate("pt_BR", "24h window closed: only templates can be sent"))
    expect(page.locator("#inbox-thread-window")).to_have_text(
        live_server.translate("pt_BR", "Window closed"))


@pytest.mark.browser
def test_a_reply_typed_in_the_composer_appears_exactly_once(
        live_server, new_page, two_leads, post_webhook, worker):
    page = new_page(viewport={"width": 1366, "height": 800})
    _login(page, live_server, two_leads["email"])
    loads: list[int] = []
    _open_inbox(page, live_server, loads)
    page.locator(".conv", has_text="Bruno").click()
    text = page.locator("#inbox-composer textarea[name=text]")
    expect(text).to_be_visible()
    text.fill("Custa R$ 150,00.")
    text.press("Shift+Enter")
    text.type("Posso agendar?")
    assert text.input_value() == "Custa R$ 150,00.\nPosso agendar?"
    text.press("Enter")
    thread = page.locator("#inbox-thread")
    bubble = thread.locator(".msg-out .msg-text", has_text="Posso agendar?")
    expect(bubble).to_have_count(1)
    expect(text).to_have_value("")
    worker.drain()  # the send goes out; its statuses come back as frames
    page.wait_for_timeout(2000)  # the realtime frame and the fallback resync have both run
    expect(bubble).to_have_count(1)
    expect(page.locator(".conv").first).to_contain_text("Posso agendar?")
    assert loads == []


@pytest.mark.browser
def test_screenshots_desktop_and_phone_two_screens_without_overflow(
        live_server, new_page, two_leads, post_webhook, worker):
    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    ARTIFACTS.mkdir(exist_ok=True)
    desk = new_page(viewport={"width": 1366, "height": 800})
    _login(desk, live_server, two_leads["email"])
    desk.goto(f"{live_server.url}/dashboard/whatsapp/inbox")
    desk.locator(".conv").first.click()
    expect(desk.locator("#inbox-panel .tpanel")).to_be_visible()
    desk.screenshot(path=ARTIFACTS / "inbox_1366.png")

    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    _login(phone, live_server, two_leads["email"])
    phone.goto(f"{live_server.url}/dashboard/whatsapp/inbox")
    expect(phone.locator("#inbox-list")).to_be_visible()
    expect(phone.locator("#inbox-thread-pane")).to_be_hidden()
    phone.screenshot(path=ARTIFACTS / "inbox_390_list.png")
    _assert_no_horizontal_overflow(phone)

    phone.locator(".conv", has_text="Ana").click()
    expect(phone.locator("#inbox-thread")).to_contain_text("Oi, quero marcar")
    expect(phone.locator("#inbox-list")).to_be_hidden()
    expect(phone.locator("#inbox-back")).to_be_visible()
    composer = phone.locator("#inbox-composer textarea").first
    expect(composer).to_be_visible()
    box = composer.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 844, box  # no scrolling to answer
    phone.screenshot(path=ARTIFACTS / "inbox_390_thread.png")
    _assert_no_horizontal_overflow(phone)

    phone.locator("#inbox-panel-btn").click()
    close = phone.locator("#inbox-panel [data-close-drawer]")
    expect(close).to_be_visible()
    _assert_on_top(phone, close)
    phone.screenshot(path=ARTIFACTS / "inbox_390_panel.png")
    close.click()
    expect(phone.locator("#inbox-panel")).to_be_hidden()

    phone.locator("#inbox-back").click()
    expect(phone.locator("#inbox-list")).to_be_visible()
    expect(phone.locator("#inbox-thread-pane")).to_be_hidden()


def _assert_no_horizontal_overflow(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def _assert_on_top(page, locator):
    """Nothing (the sticky top bar) covers the element's centre."""
    box = locator.bounding_box()
    covered = page.evaluate(
        "([x, y, sel]) => { const hit = document.elementFromPoint(x, y);"
        " return !!hit && !!hit.closest(sel); }",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, "[data-close-drawer]"])
    assert covered, "the close button is hidden under something"


@pytest.mark.browser
def test_hostile_text_names_captions_and_headlines_render_as_text(
        live_server, new_page, whatsapp_org, post_webhook, worker):
    hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    raw = json.loads(load_fixture("inbound_ctwa_referral"))
    value = raw["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["profile"]["name"] = "Eve " + hostile
    message = value["messages"][0]
    message["text"] = {"body": "texto " + hostile}
    message["referral"]["headline"] = "anúncio " + hostile
    message["referral"]["body"] = hostile
    post_webhook(raw)
    image = json.loads(load_fixture("inbound_image"))
    image_msg = image["entry"][0]["changes"][0]["value"]["messages"][0]
    image_msg["image"]["caption"] = "legenda " + hostile
    image_msg["from"] = message["from"]
    image_contact = image["entry"][0]["changes"][0]["value"]["contacts"][0]
    image_contact["wa_id"] = message["from"]
    image_contact["profile"]["name"] = "Eve " + hostile
    post_webhook(image)
    worker.drain()

    page = new_page(viewport={"width": 1366, "height": 800})
    _login(page, live_server, whatsapp_org["email"])
    page.goto(f"{live_server.url}/dashboard/whatsapp/inbox")
    row = page.locator(".conv").first
    expect(row).to_contain_text("Eve <img src=x")
    row.click()
    thread = page.locator("#inbox-thread")
    expect(thread).to_contain_text("texto <img src=x onerror=")
    expect(thread).to_contain_text("legenda <img src=x")
    expect(thread.locator(".msg-ad-headline")).to_contain_text("anúncio <img")
    expect(page.locator("#inbox-panel .tpanel")).to_be_visible()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#inbox-thread script, #inbox-list img[src='x']").count() == 0
