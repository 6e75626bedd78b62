"""Operator commands, run through Flask's CLI runner against the test database."""

from __future__ import annotations

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
    from whatrack.models import Membership, Organization, User

    first = _run(app, "demo")
    second = _run(app, "demo")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    for model in (Organization, User, Membership):
        assert db.session.scalar(select(func.count()).select_from(model)) == 1
    email = app.config["DEMO_EMAIL"]
    password = app.config["DEMO_PASSWORD"]
    for result in (first, second):
        assert email in result.output and password in result.output
    browser = app.test_client()
    assert Login(browser)(email, password).status_code == 302
    assert browser.get("/dashboard").status_code == 200
