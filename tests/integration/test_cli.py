"""Operator commands, run through Flask's CLI runner against the test database."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from tests.fixtures_app import Login, bearer


def _run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def test_org_create_prints_the_slug_and_the_owner_can_log_in(app, db):
    from whatrack.models import Membership, Organization

    result = _run(app, "org", "create", "--name", "Clínica Sorriso",
                  "--owner-email", "dono@example.com", "--owner-password", "senha-forte-123")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "clinica-sorriso"
    org = db.session.scalars(select(Organization)).one()
    assert (org.slug, org.billing_state) == ("clinica-sorriso", "trialing")
    assert db.session.scalars(select(Membership)).one().role == "owner"
    assert Login(app.test_client())("dono@example.com", "senha-forte-123").status_code == 302


def test_org_create_with_a_taken_email_fails_clearly_and_creates_nothing(app, db, make_org):
    from whatrack.models import Organization

    make_org(email="dono@example.com")

    result = _run(app, "org", "create", "--name", "Outra", "--owner-email", "DONO@example.com",
                  "--owner-password", "senha-forte-123")

    assert result.exit_code != 0
    assert "already registered" in result.output or "já está cadastrado" in result.output
    assert db.session.scalar(select(func.count()).select_from(Organization)) == 1


def test_org_create_with_a_weak_password_fails(app, db):
    from whatrack.models import User

    result = _run(app, "org", "create", "--name", "X", "--owner-email", "x@example.com",
                  "--owner-password", "curta")

    assert result.exit_code != 0
    assert "10" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_apikey_create_prints_a_working_key_alone_on_the_last_line(app, make_org):
    org_id, _user_id, _email = make_org(name="Clínica Sorriso")

    result = _run(app, "apikey", "create", "--org", "clinica-sorriso")

    assert result.exit_code == 0, result.output
    last_line = result.output.rstrip("\n").splitlines()[-1]
    assert last_line == last_line.strip() and " " not in last_line
    resp = app.test_client().get("/api/v1/me", headers=bearer(last_line))
    assert resp.status_code == 200
    assert resp.json["organization"]["id"] == org_id


def test_apikey_create_for_an_unknown_org_fails(app):
    result = _run(app, "apikey", "create", "--org", "nope")

    assert result.exit_code != 0
    assert "nope" in result.output


def test_demo_is_idempotent_and_prints_a_login_that_works(app, db):
    from whatrack.models import Membership, Organization, User, WhatsAppAccount

    first = _run(app, "demo")
    second = _run(app, "demo")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    for model in (Organization, User, Membership, WhatsAppAccount):
        assert db.session.scalar(select(func.count()).select_from(model)) == 1
    assert "whatsapp simulate --org clinica-demo" in first.output
    email = app.config["DEMO_EMAIL"]
    password = app.config["DEMO_PASSWORD"]
    for result in (first, second):
        assert email in result.output and password in result.output
    browser = app.test_client()
    assert Login(browser)(email, password).status_code == 302
    assert browser.get("/dashboard").status_code == 200


def test_demo_board_reads_like_a_clinic(app, db):
    """Named contacts from two different ads and organic ones, and one sale shown as sent to
    Meta, marked as demo data (no request to Meta was made for it)."""
    from whatrack.models import Contact, MetaConversionAttempt, MetaConversionEvent, Ticket
    from whatrack.tenancy import unscoped

    assert _run(app, "demo").exit_code == 0
    assert _run(app, "demo").exit_code == 0  # no second set of contacts
    with unscoped():
        contacts = db.session.scalars(select(Contact)).all()
        tickets = db.session.scalars(select(Ticket)).all()
        purchase = db.session.scalars(select(MetaConversionEvent).where(
            MetaConversionEvent.event_name == "Purchase")).one()
        attempts = db.session.scalar(select(func.count()).select_from(MetaConversionAttempt))
    names = {c.profile_name for c in contacts}
    assert len(contacts) == len(names) >= 5 and "Cliente Simulado" not in names
    assert len({c.wa_id[:4] for c in contacts}) >= 3  # numbers from several area codes
    headlines = {t.ad_headline for t in tickets if t.lead_source == "ad"}
    assert len(headlines) >= 2
    assert any(t.lead_source == "organic" for t in tickets)
    assert (purchase.status, purchase.reason_code, purchase.value) == ("sent", "demo",
                                                                       Decimal("1290.00"))
    assert attempts == 0  # nothing was posted to Meta

    browser = app.test_client()
    Login(browser)(app.config["DEMO_EMAIL"], app.config["DEMO_PASSWORD"])
    audit = browser.get("/dashboard/capi").get_data(as_text=True)
    assert "não foi enviada à Meta" in audit
    board = browser.get("/dashboard/tickets").get_data(as_text=True)
    assert "Ana Beatriz Souza" in board and "…4521" in board and "…7788" in board


def test_simulate_posts_a_signed_delivery_the_running_app_turns_into_a_lead(app, db, worker):
    import threading

    from werkzeug.serving import make_server

    from whatrack.cli.demo_data import simulated_name
    from whatrack.models import Message, Ticket, WebhookEvent
    from whatrack.tenancy import unscoped

    assert _run(app, "demo").exit_code == 0
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = _run(app, "whatsapp", "simulate", "--org", "clinica-demo", "--from",
                      "5511988887777", "--text", "Oi, vi o anúncio", "--ctwa-clid", "clid-1",
                      "--ad-id", "ad-9", "--url", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("200 ok")
    worker.drain()
    db.session.expire_all()
    with unscoped():
        latest = db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id.desc())).first()
        assert latest.state == "processed"
        message = db.session.scalars(
            select(Message).where(Message.text == "Oi, vi o anúncio")).one()
        ticket = db.session.get(Ticket, message.ticket_id)
        name = ticket.contact.profile_name
    assert message.direction == "inbound"
    assert (ticket.ctwa_clid, ticket.source_id) == ("clid-1", "ad-9")
    # No --name: a real-looking name, the same one every time for this number.
    assert name and name != "Cliente Simulado" and name == simulated_name("5511988887777")


def test_simulate_against_an_app_that_is_not_running_fails_clearly(app, db):
    assert _run(app, "demo").exit_code == 0
    result = _run(app, "whatsapp", "simulate", "--org", "clinica-demo", "--from", "5511988887777",
                  "--text", "Oi", "--url", "http://127.0.0.1:1")
    assert result.exit_code != 0
    assert "could not reach http://127.0.0.1:1" in result.output
