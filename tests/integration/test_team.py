"""Team management: invite links, joining, roles, removal and switching organizations."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

TEAM = "/dashboard/settings/team"
LAST_OWNER = "A organização precisa de pelo menos um proprietário."


def _invite_link(client, role: str = "agent") -> str:
    resp = client.post(f"{TEAM}/invites", data={"role": role})
    assert resp.status_code == 200, resp.status_code
    match = re.search(r'id="invite-link">\s*(\S+?)\s*<', resp.get_data(as_text=True))
    assert match, "the invite page shows no link"
    return match.group(1).replace("http://localhost", "")


def _membership(db, org_id: int, user_id: int):
    from whatrack.models import Membership

    db.session.expire_all()
    return db.session.scalars(
        select(Membership).where(Membership.organization_id == org_id,
                                 Membership.user_id == user_id)
    ).first()


def _user_id(db, email: str) -> int:
    from whatrack.models import User

    return db.session.scalars(select(User.id).where(User.email == email)).one()


@pytest.mark.endpoint("auth.accept_invite", "settings.create_invite")
def test_new_person_joins_with_the_invite_role_and_the_link_works_once(
    app, db, make_org, client_as
):
    org_id, _owner_id, owner_email = make_org(name="Clínica Alfa")
    path = _invite_link(client_as(owner_email), role="admin")
    newcomer = app.test_client()

    assert "Clínica Alfa" in newcomer.get(path).get_data(as_text=True)
    resp = newcomer.post(path, data={"name": "Bia", "email": "bia@example.com",
                                     "password": "senha-da-bia-1"})

    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard")
    assert "Clínica Alfa" in newcomer.get("/dashboard").get_data(as_text=True)
    assert _membership(db, org_id, _user_id(db, "bia@example.com")).role == "admin"
    assert app.test_client().get(path).status_code == 404
    second = app.test_client().post(path, data={"name": "Eve", "email": "eve@example.com",
                                                "password": "senha-da-eve-1"})
    assert second.status_code == 404


def test_invite_signup_with_bad_input_rerenders_and_keeps_the_link_usable(
    app, db, make_org, client_as
):
    from whatrack.models import User

    _org_id, _owner_id, owner_email = make_org()
    path = _invite_link(client_as(owner_email))
    newcomer = app.test_client()

    resp = newcomer.post(path, data={"name": "Bia", "email": "bia@example.com",
                                     "password": "curta"})

    assert resp.status_code == 422
    assert "A senha deve ter pelo menos 10 caracteres." in resp.get_data(as_text=True)
    assert db.session.scalars(select(User).where(User.email == "bia@example.com")).first() is None
    assert newcomer.get(path).status_code == 200


@pytest.mark.endpoint("auth.accept_invite", "auth.switch_org", "dashboard.home")
def test_logged_in_user_accepts_invite_and_switches_between_organizations(
    app, db, make_org, client_as
):
    org_a, _owner_a, owner_a_email = make_org(name="Clínica Alfa")
    org_b, user_b, owner_b_email = make_org(name="Clínica Beta")
    org_c, _owner_c, _email_c = make_org(name="Clínica Gama")
    path = _invite_link(client_as(owner_a_email), role="agent")
    browser = client_as(owner_b_email)

    resp = browser.post(path)

    assert resp.status_code == 302
    assert _membership(db, org_a, user_b).role == "agent"
    assert _membership(db, org_b, user_b).role == "owner"
    assert "Clínica Alfa" in browser.get("/dashboard").get_data(as_text=True)
    assert browser.post("/switch-org", data={"org_id": org_b}).status_code == 302
    assert "Clínica Beta" in browser.get("/dashboard").get_data(as_text=True)
    assert browser.post("/switch-org", data={"org_id": org_c}).status_code == 404
    assert browser.post("/switch-org", data={"org_id": "nope"}).status_code == 404
    page = browser.get("/dashboard").get_data(as_text=True)
    assert "Clínica Beta" in page and "Clínica Gama" not in page


@pytest.mark.endpoint("settings.create_invite")
def test_agent_cannot_invite(make_org, make_member, client_as):
    org_id, _owner_id, _email = make_org()
    agent = make_member(org_id, "agent")

    resp = client_as(agent.email).post(f"{TEAM}/invites", data={"role": "agent"})

    assert resp.status_code == 403


def test_admin_can_invite_agents_but_cannot_grant_owner(db, make_org, make_member, client_as):
    from whatrack.models import Invite
    from whatrack.tenancy import unscoped

    org_id, _owner_id, _email = make_org()
    admin = client_as(make_member(org_id, "admin").email)

    assert admin.post(f"{TEAM}/invites", data={"role": "owner"}).status_code == 403
    with unscoped():
        assert db.session.scalars(select(Invite)).all() == []
    assert admin.post(f"{TEAM}/invites", data={"role": "agent"}).status_code == 200


@pytest.mark.endpoint("settings.change_role", "settings.team")
def test_owner_changes_a_members_role(db, make_org, make_member, client_as):
    org_id, _owner_id, owner_email = make_org()
    agent = make_member(org_id, "agent")
    owner = client_as(owner_email)

    resp = owner.post(f"{TEAM}/members/{agent.membership_id}/role", data={"role": "admin"})

    assert resp.status_code == 302
    assert _membership(db, org_id, agent.user_id).role == "admin"
    assert "Papel atualizado." in owner.get(TEAM).get_data(as_text=True)


@pytest.mark.endpoint("settings.change_role")
def test_only_owners_change_roles(db, make_org, make_member, client_as):
    org_id, _owner_id, _email = make_org()
    agent = make_member(org_id, "agent")
    admin = client_as(make_member(org_id, "admin").email)

    resp = admin.post(f"{TEAM}/members/{agent.membership_id}/role", data={"role": "admin"})

    assert resp.status_code == 403
    assert _membership(db, org_id, agent.user_id).role == "agent"


def test_last_owner_cannot_be_demoted(db, make_org, client_as):
    org_id, owner_id, owner_email = make_org()
    owner = client_as(owner_email)
    membership_id = _membership(db, org_id, owner_id).id

    resp = owner.post(f"{TEAM}/members/{membership_id}/role", data={"role": "agent"},
                      follow_redirects=True)

    assert resp.status_code == 200
    assert LAST_OWNER in resp.get_data(as_text=True)
    assert _membership(db, org_id, owner_id).role == "owner"


def test_last_owner_cannot_be_removed(db, make_org, client_as):
    org_id, owner_id, owner_email = make_org()
    owner = client_as(owner_email)
    membership_id = _membership(db, org_id, owner_id).id

    resp = owner.post(f"{TEAM}/members/{membership_id}/remove", follow_redirects=True)

    assert resp.status_code == 200
    assert LAST_OWNER in resp.get_data(as_text=True)
    assert _membership(db, org_id, owner_id) is not None
    assert owner.get("/dashboard").status_code == 200


def test_an_owner_can_be_demoted_while_another_owner_remains(db, make_org, make_member,
                                                             client_as):
    org_id, _owner_id, owner_email = make_org()
    second_owner = make_member(org_id, "owner")

    resp = client_as(owner_email).post(
        f"{TEAM}/members/{second_owner.membership_id}/role", data={"role": "agent"})

    assert resp.status_code == 302
    assert _membership(db, org_id, second_owner.user_id).role == "agent"


def test_admin_cannot_remove_an_owner(db, make_org, make_member, client_as):
    org_id, owner_id, _email = make_org()
    admin = client_as(make_member(org_id, "admin").email)
    owner_membership = _membership(db, org_id, owner_id).id

    assert admin.post(f"{TEAM}/members/{owner_membership}/remove").status_code == 403
    assert _membership(db, org_id, owner_id) is not None


@pytest.mark.endpoint("settings.remove_member")
def test_removing_a_member_ends_their_access_on_the_next_request(
    db, make_org, make_member, client_as
):
    org_id, _owner_id, owner_email = make_org()
    agent = make_member(org_id, "agent")
    agent_browser = client_as(agent.email)
    assert agent_browser.get("/dashboard").status_code == 200

    resp = client_as(owner_email).post(f"{TEAM}/members/{agent.membership_id}/remove")

    assert resp.status_code == 302
    assert _membership(db, org_id, agent.user_id) is None
    after = agent_browser.get("/dashboard")
    assert after.status_code in (302, 404)
    assert after.status_code == 302 or "Clinica" not in after.get_data(as_text=True)
    assert agent_browser.get("/dashboard/settings/team").status_code in (302, 404)


@pytest.mark.endpoint("settings.revoke_invite", "settings.team")
def test_a_revoked_invite_link_stops_working(app, db, make_org, make_member, client_as):
    from whatrack.models import Invite, User
    from whatrack.tenancy import unscoped

    org_id, _owner_id, owner_email = make_org(name="Clínica Alfa")
    owner = client_as(owner_email)
    path = _invite_link(owner)
    with unscoped():
        invite_id = db.session.scalars(select(Invite.id)).one()
    revoke = f"{TEAM}/invites/{invite_id}/revoke"
    agent = client_as(make_member(org_id, "agent").email)
    assert agent.post(revoke).status_code == 403
    assert client_as(make_org(name="Clínica Beta")[2]).post(revoke).status_code == 404
    assert app.test_client().get(path).status_code == 200  # still usable after the refusals

    resp = owner.post(revoke)

    assert resp.status_code == 302 and resp.headers["Location"] == TEAM
    db.session.expire_all()
    with unscoped():
        assert db.session.get(Invite, invite_id).revoked_at is not None
    assert app.test_client().get(path).status_code == 404
    joined = app.test_client().post(path, data={"name": "Eve", "email": "eve@example.com",
                                                "password": "senha-da-eve-1"})
    assert joined.status_code == 404
    with unscoped():
        assert db.session.scalars(select(User).where(User.email == "eve@example.com")).all() == []
