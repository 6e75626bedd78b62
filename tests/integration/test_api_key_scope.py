"""API keys: their creator is recorded and shown, removal revokes them, read-only keys."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from tests.fixtures_app import bearer
from whatrack.tenancy import unscoped

TEAM = "/dashboard/settings/team"
KEYS = "/dashboard/settings/api-keys"


def _create_in_settings(browser, name: str, access: str | None = None) -> str:
    data = {"name": name}
    if access:
        data["access"] = access
    resp = browser.post(KEYS, data=data)
    assert resp.status_code == 200, resp.status_code
    match = re.search(r'id="api-key">\s*(\S+?)\s*<', resp.get_data(as_text=True))
    assert match, "the page shows no key"
    return match.group(1)


def test_removing_the_creator_revokes_their_keys_and_the_list_says_why(
        app, db, make_org, make_member, client_as):
    from whatrack.models import ApiKey

    org_id, _owner_id, owner_email = make_org()
    admin = make_member(org_id, "admin")
    owner = client_as(owner_email)
    admin_key = _create_in_settings(client_as(admin.email), "Integração do admin")
    owner_key = _create_in_settings(owner, "Integração da dona")
    listing = owner.get(KEYS).get_data(as_text=True)
    assert listing.count(f"<td>{owner_name(db, admin.user_id)}</td>") == 1  # creator shown
    assert client_as(admin.email).get("/dashboard").status_code == 200
    assert app.test_client().get("/api/v1/me", headers=bearer(admin_key)).status_code == 200

    assert owner.post(f"{TEAM}/members/{admin.membership_id}/remove").status_code == 302

    api = app.test_client()
    refused = api.get("/api/v1/me", headers=bearer(admin_key))
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"
    assert api.get("/api/v1/me", headers=bearer(owner_key)).status_code == 200
    db.session.rollback()
    with unscoped():
        revoked = db.session.scalars(select(ApiKey).where(
            ApiKey.name == "Integração do admin")).one()
    assert revoked.revoked_reason == "creator_removed"
    assert revoked.created_by_id == admin.user_id
    listing = owner.get(KEYS).get_data(as_text=True)
    assert "quem a criou saiu da organização" in listing


def test_removal_revokes_only_that_organizations_keys(app, make_org, make_member, client_as):
    first, _, first_owner = make_org()
    second, _, _second_owner = make_org()
    both = make_member(first, "admin")
    make_member(second, "admin", email=both.email)
    browser = client_as(both.email)
    key_first = _create_in_settings(browser, "primeira")
    assert browser.post("/switch-org", data={"org_id": second}).status_code == 302
    key_second = _create_in_settings(browser, "segunda")
    api = app.test_client()
    assert api.get("/api/v1/me", headers=bearer(key_second)).json["organization"]["id"] == second

    assert client_as(first_owner).post(
        f"{TEAM}/members/{both.membership_id}/remove").status_code == 302

    assert api.get("/api/v1/me", headers=bearer(key_first)).status_code == 401
    assert api.get("/api/v1/me", headers=bearer(key_second)).status_code == 200


def test_a_read_only_key_reads_and_cannot_write(app, db, make_org, make_ticket, client_as):
    from whatrack.models import Sale

    org_id, _owner_id, owner_email = make_org()
    ticket_id = make_ticket(org_id)
    key = _create_in_settings(client_as(owner_email), "BI", access="read_only")
    api = app.test_client()
    assert api.get("/api/v1/tickets", headers=bearer(key)).status_code == 200
    for method, path, body in (
        ("POST", f"/api/v1/tickets/{ticket_id}/sales", {"value": "10.00"}),
        ("PATCH", f"/api/v1/tickets/{ticket_id}", {"assignee": None}),
    ):
        resp = api.open(path, method=method, json=body, headers=bearer(key))
        assert resp.status_code == 403, (method, path)
        assert resp.json["error"]["code"] == "read_only_key"
        assert resp.json["error"]["message"]
    with unscoped():
        assert db.session.scalars(select(Sale)).all() == []  # nothing was written
    listing = client_as(owner_email).get(KEYS).get_data(as_text=True)
    assert "Somente leitura" in listing


def test_a_read_write_key_still_writes(app, make_org, make_ticket, client_as, db):
    from whatrack.models import Sale

    org_id, _owner_id, owner_email = make_org()
    ticket_id = make_ticket(org_id)
    key = _create_in_settings(client_as(owner_email), "CRM")
    resp = app.test_client().post(f"/api/v1/tickets/{ticket_id}/sales",
                                  json={"value": "10.00"}, headers=bearer(key))
    assert resp.status_code == 201, resp.json
    with unscoped():
        assert db.session.scalars(select(Sale)).one().value == Decimal("10.00")


def test_cli_read_only_flag_keeps_the_last_line_contract(app, make_org, make_ticket):
    org_id, _user_id, _email = make_org(name="Clínica Sorriso")
    ticket_id = make_ticket(org_id)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["apikey", "create", "--org", "clinica-sorriso", "--read-only"])
    assert result.exit_code == 0, result.output
    key = result.output.rstrip("\n").splitlines()[-1]
    assert " " not in key and "read-only" in result.output
    api = app.test_client()
    assert api.get("/api/v1/me", headers=bearer(key)).status_code == 200
    assert api.post(f"/api/v1/tickets/{ticket_id}/sales", json={"value": "1"},
                    headers=bearer(key)).status_code == 403


def owner_name(db, user_id: int) -> str:
    from whatrack.models import User

    user = db.session.get(User, user_id)
    return user.name or user.email
