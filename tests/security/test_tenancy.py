"""Tenant isolation: the ORM guard, the scoped loader, and every id-taking route.

THE URL-MAP WALK (STYLE.md 4.3, rule 9): every route that takes an argument must either
have a seed in ``ROUTE_SEEDS`` (a factory that creates the object in organization A) or
an entry in ``NOT_TENANT_ROUTES`` saying why it is not a tenant object. Each seeded route
is then called, with every method it allows, by the owner of organization B (404, exactly
as a missing id), anonymously (login redirect, or 401 under /api), and by the owner of A
(anything but 404 or 5xx: proves the seed really made a reachable object).
"""

from __future__ import annotations

import contextvars
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.fixtures_app import bearer
from whatrack.errors import NotFound  # a domain error; the app answers it with 404

SKIPPED_METHODS = {"HEAD", "OPTIONS"}

# endpoint -> name of the Seeder method that creates the object the URL names, in org A.
ROUTE_SEEDS: dict[str, str] = {
    "settings.revoke_api_key": "api_key",
    "settings.revoke_invite": "invite",
    "settings.change_role": "membership",
    "settings.remove_member": "membership",
    "settings.archive_stage": "stage",
    "settings.delete_stage": "stage",
    "settings.move_stage": "stage",
    "settings.rename_stage": "stage",
    "settings.restore_stage": "stage",
    "settings.reprocess_webhook": "webhook_event",
    "capi.detail": "conversion_event",
    "capi.resend": "conversion_event",
    "tickets.panel": "ticket",
    "tickets.column_page": "stage",
    "tickets.assign": "ticket",
    "tickets.card": "ticket",
    "tickets.move": "ticket",
    "tickets.add_note": "ticket",
    "tickets.create_sale": "ticket",
    "tickets.approve_sale": "sale",
    "tickets.reject_sale": "sale",
    "tickets.cancel_sale": "sale",
    "api.update_ticket": "ticket",
    "api.list_ticket_messages": "ticket",
    "api.create_sale": "ticket",
    "api.approve_sale": "sale",
    "api.reject_sale": "sale",
    "media.show": "media_message",
    "settings.whatsapp_disconnect": "whatsapp_account",
    "settings.whatsapp_refresh_health": "whatsapp_account",
    "settings.whatsapp_retry": "whatsapp_onboarding",
    "api.send_ticket_message": "ticket",
    "tickets.send_reply": "ticket",
    "tickets.thread": "ticket",
    "tickets.resend_message": "media_message",
    "tickets.export_contact": "contact",
    "tickets.confirm_erase_contact": "contact",
    "tickets.erase_contact": "contact",
    "tracking.toggle": "tracking_link",
    "inbox.conversation": "ticket",
    "inbox.composer": "ticket",
    "inbox.mark_read": "ticket",
    "inbox.mark_unread": "ticket",
    "settings.delete_quick_reply": "quick_reply",
}

# Routes with arguments that name no tenant object, and why.
NOT_TENANT_ROUTES: dict[str, str] = {
    "static": "public files shipped with the app",
    "auth.accept_invite": "the argument is a secret one-time token, not an id",
    "public.set_language": "the argument is a language code",
    "data_deletion.status": "public status page Meta links to, by an unguessable code",
    "tracking.follow": "public redirect by a link code, unique platform-wide; it binds the "
                       "link's own organization (tests/integration/test_tracking_links.py)",
}


def _id_rules(app) -> list[Any]:
    return sorted((r for r in app.url_map.iter_rules() if r.arguments), key=lambda r: r.rule)


def _methods(rule) -> list[str]:
    return sorted(rule.methods - SKIPPED_METHODS)


def _is_api(rule) -> bool:
    return rule.rule.startswith("/api/")


# --- seeds -----------------------------------------------------------------------------


@dataclass
class Seeder:
    """Creates objects in one organization (A) and returns their ids."""

    app: Any
    org_id: int
    make_api_key: Callable
    make_invite: Callable
    make_member: Callable
    make_ticket: Callable
    created: dict[str, int] = field(default_factory=dict)

    def _in_org(self, build: Callable[[Any, Any], int]) -> int:
        from whatrack.extensions import db
        from whatrack.models import Organization
        from whatrack.tenancy import bind_org

        with self.app.app_context(), bind_org(self.org_id):
            row_id = build(db, db.session.get(Organization, self.org_id))
            db.session.commit()
            return row_id

    def api_key(self) -> int:
        return self.make_api_key(self.org_id)[0]

    def invite(self) -> int:
        return self.make_invite(self.org_id)[0]

    def membership(self) -> int:
        return self.make_member(self.org_id, "agent").membership_id

    def ticket(self) -> int:
        return self.make_ticket(self.org_id)

    def contact(self) -> int:
        from whatrack.models import Ticket

        ticket_id = self.ticket()
        return self._in_org(lambda db, org: db.session.get(Ticket, ticket_id).contact_id)

    def whatsapp_account(self) -> int:
        from whatrack.models import WhatsAppAccount

        def build(db, org):
            account = WhatsAppAccount(organization_id=org.id, waba_id="200000000000009",
                                      phone_number_id=f"39{uuid.uuid4().int % 10**13:013d}",
                                      display_phone_number="5511940009999")
            db.session.add(account)
            db.session.flush()
            return account.id

        return self._in_org(build)

    def tracking_link(self) -> int:
        from whatrack.models import TrackingLink

        account_id = self.whatsapp_account()

        def build(db, org):
            link = TrackingLink(organization_id=org.id, whatsapp_account_id=account_id,
                                code=uuid.uuid4().hex[:7], name="Bio", message="Oi")
            db.session.add(link)
            db.session.flush()
            return link.id

        return self._in_org(build)

    def whatsapp_onboarding(self) -> int:
        from whatrack.models import WhatsAppOnboarding

        def build(db, org):
            onboarding = WhatsAppOnboarding(organization_id=org.id, via="web", status="failed",
                                            waba_id="200000000000009", steps={}, attempts=1,
                                            phone_number_id="300000000000009")
            db.session.add(onboarding)
            db.session.flush()
            return onboarding.id

        return self._in_org(build)

    def stage(self) -> int:
        from whatrack.services.tickets.stages import add_stage

        return self._in_org(lambda db, org: add_stage(org, f"Etapa {uuid.uuid4().hex[:6]}",
                                                      "open").id)

    def quick_reply(self) -> int:
        from whatrack.services.inbox.quick_replies import save_quick_reply

        return self._in_org(lambda db, org: save_quick_reply(
            org, f"r{uuid.uuid4().hex[:6]}", "Olá!").id)

    def sale(self) -> int:
        from whatrack.models import Ticket
        from whatrack.services.tickets.sales import SaleInput, propose_sale

        ticket_id = self.ticket()
        return self._in_org(lambda db, org: propose_sale(
            org, db.session.get(Ticket, ticket_id), SaleInput(Decimal("150.00"))).id)

    def conversion_event(self) -> int:
        from whatrack.models import MetaConversionEvent

        def build(db, org):
            event = MetaConversionEvent(
                organization_id=org.id, event_name="Purchase", event_id=uuid.uuid4().hex,
                event_time=datetime.now(UTC), trigger="sale", status="failed",
                value=Decimal("150.00"), currency="BRL")
            db.session.add(event)
            db.session.flush()
            return event.id

        return self._in_org(build)

    def webhook_event(self) -> int:
        from whatrack.models import WebhookEvent, WebhookEventRoute

        def build(db, org):
            body = b'{"object": "whatsapp_business_account", "entry": []}'
            event = WebhookEvent(body=body, body_sha256=hashlib.sha256(body).hexdigest(),
                                 state="failed", error="boom")
            db.session.add(event)
            db.session.flush()
            db.session.add(WebhookEventRoute(organization_id=org.id, webhook_event_id=event.id))
            return event.id

        return self._in_org(build)

    def media_message(self) -> int:
        from whatrack.models import MediaFile, Message, Ticket

        ticket_id = self.ticket()

        def build(db, org):
            ticket = db.session.get(Ticket, ticket_id)
            message = Message(
                organization_id=org.id, ticket_id=ticket.id, contact_id=ticket.contact_id,
                wamid=f"wamid.{uuid.uuid4().hex}", direction="inbound", origin="customer",
                type="image", timestamp=datetime.now(UTC), media_id="media-1",
                media_mime_type="image/png", media_state="stored")
            db.session.add(message)
            db.session.flush()
            db.session.add(MediaFile(organization_id=org.id, message_id=message.id,
                                     mime_type="image/png", size=4, content=b"\x89PNG"))
            return message.id

        return self._in_org(build)

    def url_values(self, rule) -> dict[str, Any]:
        row_id = getattr(self, ROUTE_SEEDS[rule.endpoint])()
        [argument] = rule.arguments
        return {argument: row_id}


@dataclass
class World:
    app: Any
    org_a: int
    org_b: int
    owner_a: FlaskClient
    owner_b: FlaskClient
    key_a: str
    key_b: str
    seeder: Seeder

    def call(self, rule, values: dict[str, Any], method: str, as_: str):
        path = self.app.url_map.bind("localhost").build(rule.endpoint, values, method=method)
        if as_ == "anonymous":
            return self.app.test_client().open(path, method=method)
        if _is_api(rule):
            key = self.key_a if as_ == "a" else self.key_b
            return self.app.test_client().open(path, method=method, headers=bearer(key),
                                               json={})
        client = self.owner_a if as_ == "a" else self.owner_b
        return client.open(path, method=method, data={})


@pytest.fixture
def world(app, make_org, make_api_key, make_invite, make_member, make_ticket, client_as):
    org_a, _user_a, email_a = make_org(name="Clínica Alfa")
    org_b, _user_b, email_b = make_org(name="Clínica Beta")
    seeder = Seeder(app, org_a, make_api_key, make_invite, make_member, make_ticket)
    return World(app, org_a, org_b, client_as(email_a), client_as(email_b),
                 make_api_key(org_a)[1], make_api_key(org_b)[1], seeder)


# --- (c) the url-map walk --------------------------------------------------------------


def test_every_route_with_an_argument_has_a_tenancy_seed(app):
    missing = [
        f"{rule.endpoint} ({rule.rule})" for rule in _id_rules(app)
        if rule.endpoint not in ROUTE_SEEDS and rule.endpoint not in NOT_TENANT_ROUTES
    ]
    assert not missing, (
        "Routes taking an id have no tenancy entry. Add each to ROUTE_SEEDS in "
        "tests/security/test_tenancy.py (with a Seeder method creating the object in org A) "
        "or, if it names no tenant object, to NOT_TENANT_ROUTES with the reason:\n  "
        + "\n  ".join(missing)
    )


def test_tenancy_tables_name_only_existing_routes(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}

    assert set(ROUTE_SEEDS) - endpoints == set()
    assert set(NOT_TENANT_ROUTES) - endpoints == set()


def _walk_problems(world, rule, method: str) -> list[str]:
    """One seeded object per call: org B and anonymous first, then the owner of A."""
    values = world.seeder.url_values(rule)
    where = f"{method} {rule.rule} {values}"
    problems = []
    as_b = world.call(rule, values, method, as_="b").status_code
    if as_b != 404:
        problems.append(f"{where} as a member of org B -> {as_b}, expected 404")
    anonymous = world.call(rule, values, method, as_="anonymous")
    if _is_api(rule):
        closed = anonymous.status_code == 401 and anonymous.json["error"]["code"] == "unauthorized"
    else:
        closed = (anonymous.status_code == 302
                  and anonymous.headers["Location"].startswith("/login"))
    if not closed:
        problems.append(f"{where} anonymous -> {anonymous.status_code}, expected "
                        + ("401" if _is_api(rule) else "a redirect to /login"))
    # The control: org A reaches it, so the 404 above means "not yours", not "no such row".
    as_a = world.call(rule, values, method, as_="a").status_code
    if as_a == 404 or as_a >= 500:
        problems.append(f"{where} as the owner of org A -> {as_a}, expected it to be reachable")
    return problems


def test_every_id_route_is_404_for_other_orgs_and_closed_to_anonymous(app, world):
    problems = [
        problem
        for rule in _id_rules(app) if rule.endpoint in ROUTE_SEEDS
        for method in _methods(rule)
        for problem in _walk_problems(world, rule, method)
    ]
    assert not problems, "\n".join(problems)


def test_api_key_of_another_org_sees_its_own_org_and_404_on_foreign_ids(app, world):
    me = app.test_client().get("/api/v1/me", headers=bearer(world.key_b))

    assert me.status_code == 200
    assert me.json["organization"]["id"] == world.org_b
    assert me.json["organization"]["name"] == "Clínica Beta"
    api_rules = [r for r in _id_rules(app) if _is_api(r) and r.endpoint in ROUTE_SEEDS]
    assert api_rules, "the JSON API has id routes; they must be walked here"
    for rule in api_rules:
        for method in _methods(rule):
            resp = world.call(rule, world.seeder.url_values(rule), method, as_="b")
            assert resp.status_code == 404, f"{method} {rule.rule}"
            assert resp.json["error"]["code"] == "not_found"


def test_api_key_wins_over_a_logged_in_session_and_binds_nothing_afterwards(app, world):
    """A browser logged in to A calling the API with B's key is B, and leaves no binding."""
    from whatrack.tenancy import bound_org_id

    server_thread = contextvars.Context()  # a server thread serves request after request
    resp = server_thread.run(FlaskClient.open, world.owner_a, "/api/v1/me",
                             headers=bearer(world.key_b))

    assert resp.json["organization"]["id"] == world.org_b
    assert server_thread.run(bound_org_id) is None


# --- (a) the ORM guard -----------------------------------------------------------------


@pytest.fixture
def two_orgs_with_keys(app, make_org, make_api_key, make_invite):
    org_a = make_org()[0]
    org_b = make_org()[0]
    keys = {org_a: [make_api_key(org_a)[0], make_api_key(org_a)[0]],
            org_b: [make_api_key(org_b)[0]]}
    make_invite(org_a)
    make_invite(org_b)
    return org_a, org_b, keys


def test_querying_a_tenant_table_with_no_org_bound_raises(db, two_orgs_with_keys):
    from whatrack.models import ApiKey, Invite
    from whatrack.tenancy import TenancyError

    for model in (ApiKey, Invite):
        with pytest.raises(TenancyError):
            db.session.scalars(select(model)).all()
    with pytest.raises(TenancyError):
        db.session.scalars(select(ApiKey.id).join(Invite, Invite.organization_id
                                                  == ApiKey.organization_id)).all()


def test_bound_org_sees_only_its_rows_even_without_a_filter(db, two_orgs_with_keys):
    from whatrack.models import ApiKey, Invite
    from whatrack.tenancy import bind_org

    org_a, org_b, keys = two_orgs_with_keys

    with bind_org(org_a):
        assert sorted(db.session.scalars(select(ApiKey.id))) == sorted(keys[org_a])
        assert {i.organization_id for i in db.session.scalars(select(Invite))} == {org_a}
        assert db.session.scalars(
            select(ApiKey).where(ApiKey.id == keys[org_b][0])).first() is None
    with bind_org(org_b):  # the same statement, cached, bound to another org
        assert sorted(db.session.scalars(select(ApiKey.id))) == keys[org_b]


def test_unscoped_sees_every_organization(db, two_orgs_with_keys):
    from whatrack.models import ApiKey
    from whatrack.tenancy import bind_org, unscoped

    _org_a, _org_b, keys = two_orgs_with_keys
    every_key = sorted(k for ids in keys.values() for k in ids)

    with unscoped():
        assert sorted(db.session.scalars(select(ApiKey.id))) == every_key
    with bind_org(_org_a), unscoped():
        assert sorted(db.session.scalars(select(ApiKey.id))) == every_key


def test_flushing_a_row_of_another_org_while_bound_raises(db, two_orgs_with_keys):
    from whatrack.models import ApiKey, Invite, utcnow
    from whatrack.tenancy import TenancyError, bind_org, unscoped

    org_a, org_b, keys = two_orgs_with_keys

    with bind_org(org_a):
        db.session.add(Invite(organization_id=org_b, token_hash="x" * 64, role="agent",
                              expires_at=utcnow()))
        with pytest.raises(TenancyError):
            db.session.flush()
        db.session.rollback()
    with unscoped():
        foreign = db.session.get(ApiKey, keys[org_b][0])
    with bind_org(org_a):
        foreign.name = "hijacked"
        with pytest.raises(TenancyError):
            db.session.flush()
        db.session.rollback()
    with bind_org(org_b):
        assert db.session.get(ApiKey, keys[org_b][0]).name == "test"


def test_a_new_tenant_row_takes_the_bound_org(db, two_orgs_with_keys):
    from whatrack.models import Invite, utcnow
    from whatrack.tenancy import bind_org

    org_a, _org_b, _keys = two_orgs_with_keys

    with bind_org(org_a):
        invite = Invite(token_hash="y" * 64, role="agent", expires_at=utcnow())
        db.session.add(invite)
        db.session.flush()
        assert invite.organization_id == org_a
        db.session.rollback()


# --- (b) the scoped loader -------------------------------------------------------------


@pytest.mark.parametrize("ident", ["foreign", "missing", "abc", "", None, "1.5", "1; DROP",
                                   "99999999999999999999", -1])
def test_get_for_org_or_404_refuses_foreign_and_garbage_ids(db, two_orgs_with_keys, ident):
    from whatrack.models import ApiKey, Organization
    from whatrack.tenancy import bind_org

    org_a, org_b, keys = two_orgs_with_keys
    ident = {"foreign": keys[org_b][0], "missing": 10_000}.get(ident, ident)
    org = db.session.get(Organization, org_a)

    with bind_org(org_a), pytest.raises(NotFound):
        ApiKey.get_for_org_or_404(ident, org)


def test_get_for_org_or_404_returns_the_orgs_own_row(db, two_orgs_with_keys):
    from whatrack.models import ApiKey, Organization
    from whatrack.tenancy import bind_org

    org_a, _org_b, keys = two_orgs_with_keys
    org = db.session.get(Organization, org_a)

    with bind_org(org_a):
        assert ApiKey.get_for_org_or_404(str(keys[org_a][0]), org).id == keys[org_a][0]


def test_an_id_beyond_the_database_range_is_a_404_not_a_500(world):
    resp = world.owner_a.get("/dashboard/settings/api-keys/99999999999999999999/revoke")
    assert resp.status_code in (404, 405)
    resp = world.owner_a.post("/dashboard/settings/api-keys/99999999999999999999/revoke")
    assert resp.status_code == 404
