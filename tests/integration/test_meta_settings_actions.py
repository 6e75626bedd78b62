"""/dashboard/settings/meta/check and /dashboard/settings/meta/dataset/create, against the fake
Graph API: what Meta answers is stored and shown; a refusal or an outage changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask_babel import gettext
from sqlalchemy import select

from tests.fakes.graph import meta_error
from tests.fixtures_capi import DATASET_ID
from tests.fixtures_whatsapp import FIXTURE_WABA, GRAPH_TOKEN
from whatrack.tenancy import unscoped

CHECK = "/dashboard/settings/meta/check"
CREATE = "/dashboard/settings/meta/dataset/create"
SETTINGS = "/dashboard/settings/meta"


def _connection(db, org_id: int) -> Any:
    from whatrack.models import MetaConnection

    db.session.rollback()
    with unscoped():
        return db.session.scalars(select(MetaConnection).where(
            MetaConnection.organization_id == org_id)).first()


def _state(conn) -> tuple:
    return (conn.token_checked_at, conn.scopes, conn.token_expires_at, conn.token_invalid_at,
            conn.token_error, conn.dataset_id, conn.dataset_source, conn.dataset_name)


def _said(app, message: str, **variables: Any) -> str:
    with app.test_request_context():
        return gettext(message, **variables)


def _follow(client, resp, to: str = SETTINGS) -> str:
    assert resp.status_code == 302 and resp.headers["Location"] == to, resp.status_code
    return client.get(to).get_data(as_text=True)


@pytest.fixture
def connected(meta_app, whatsapp_org, connect_meta, client_as) -> dict[str, Any]:
    """The WhatsApp organization with a Facebook connection, its owner logged in."""
    connect_meta(whatsapp_org["org_id"])
    return {**whatsapp_org, "client": client_as(whatsapp_org["email"])}


# --- check the token -------------------------------------------------------------------


@pytest.mark.endpoint("settings.meta_check", "settings.meta")
def test_checking_the_token_stores_what_meta_says(app, meta_app, connected, db):
    assert _connection(db, connected["org_id"]).token_checked_at is None

    html = _follow(connected["client"], connected["client"].post(CHECK))

    [asked] = meta_app.requests_to("/v25.0/debug_token")
    assert asked.args["input_token"] == GRAPH_TOKEN
    conn = _connection(db, connected["org_id"])
    assert conn.token_checked_at is not None and conn.token_invalid_at is None
    assert set(conn.scopes) == set(meta_app.login.granted_scopes)
    assert _said(app, "Token checked with Meta.") in html


@pytest.mark.endpoint("settings.meta_check")
def test_checking_a_revoked_token_asks_for_a_reconnection(app, meta_app, connected, db):
    meta_app.valid_tokens.discard(GRAPH_TOKEN)  # revoked in Business Settings

    html = _follow(connected["client"], connected["client"].post(CHECK))

    conn = _connection(db, connected["org_id"])
    assert conn.token_invalid_at is not None and conn.needs_reconnect
    assert conn.scopes == []
    assert _said(app, "Meta says the token is no longer valid: reconnect Facebook.") in html


@pytest.mark.endpoint("settings.meta_check")
@pytest.mark.parametrize("failure", [(500, "<html>down</html>"),
                                     (400, meta_error("Invalid OAuth access token", 190))])
def test_a_failed_check_says_so_and_changes_nothing(app, meta_app, connected, db, failure):
    before = _state(_connection(db, connected["org_id"]))
    meta_app.fail("/v25.0/debug_token", *failure, times=5)

    html = _follow(connected["client"], connected["client"].post(CHECK))

    assert _state(_connection(db, connected["org_id"])) == before
    assert _said(app, "Could not check the token: %(error)s", error="") in html


@pytest.mark.endpoint("settings.meta_check")
def test_checking_is_for_admins_of_a_connected_organization(meta_app, connected, make_org,
                                                            make_member, client_as, db):
    before = _state(_connection(db, connected["org_id"]))
    agent = client_as(make_member(connected["org_id"], "agent").email)
    not_connected = client_as(make_org("Clínica Beta")[2])

    assert agent.post(CHECK).status_code == 403
    assert not_connected.post(CHECK).status_code == 400
    assert meta_app.requests_to("/v25.0/debug_token") == []
    assert _state(_connection(db, connected["org_id"])) == before


# --- create the WABA's dataset ---------------------------------------------------------


@pytest.mark.endpoint("settings.meta_create_dataset", "settings.meta")
def test_creating_the_waba_dataset_chooses_it(app, meta_app, connected, db):
    html = _follow(connected["client"], connected["client"].post(CREATE))

    [created] = meta_app.login.created_datasets
    [post] = [r for r in meta_app.requests_to(f"/v25.0/{FIXTURE_WABA}/dataset")
              if r.method == "POST"]
    assert post.json()["dataset_name"] == "Clínica Sorriso - WhaTrack"
    conn = _connection(db, connected["org_id"])
    assert (conn.dataset_id, conn.dataset_source) == (created, "waba")
    assert _said(app, "Dataset chosen: events go to %(id)s.", id=created) in html


@pytest.mark.endpoint("settings.meta_create_dataset")
def test_a_waba_that_has_a_dataset_gets_it_back(meta_app, connected, db):
    meta_app.login.waba_datasets[FIXTURE_WABA] = [{"id": "500000000000777", "name": "Existente"}]

    connected["client"].post(CREATE)

    assert meta_app.login.created_datasets == []
    assert _connection(db, connected["org_id"]).dataset_id == "500000000000777"


@pytest.mark.endpoint("settings.meta_create_dataset")
@pytest.mark.parametrize("failure", [
    (400, meta_error("(#200) Requires whatsapp_business_manage_events permission", 200)),
    (200, {"no_id": True}),
    (500, "<html>down</html>"),
])
def test_a_refused_creation_says_so_and_keeps_the_dataset(app, meta_app, connected, db, failure):
    before = _state(_connection(db, connected["org_id"]))
    meta_app.fail(f"/v25.0/{FIXTURE_WABA}/dataset", *failure, times=5)

    html = _follow(connected["client"], connected["client"].post(CREATE),
                   to="/dashboard/settings/meta/datasets")

    assert _state(_connection(db, connected["org_id"])) == before
    assert before[5] == DATASET_ID
    assert meta_app.login.created_datasets == []
    assert _said(app, "Meta refused to create the dataset: %(error)s", error="") in html


@pytest.mark.endpoint("settings.meta_create_dataset")
def test_without_a_whatsapp_number_there_is_no_dataset_to_create(app, meta_app, make_org,
                                                                  connect_meta, client_as, db):
    org_id, _user_id, email = make_org("Clínica Sem Número")
    connect_meta(org_id)
    client = client_as(email)
    before = _state(_connection(db, org_id))

    html = _follow(client, client.post(CREATE), to="/dashboard/settings/meta/datasets")

    assert _said(app, "Connect a WhatsApp number first.") in html
    assert _state(_connection(db, org_id)) == before
    assert [r for r in meta_app.requests if r.path.endswith("/dataset")] == []


@pytest.mark.endpoint("settings.meta_create_dataset")
def test_creating_is_for_admins_of_a_connected_organization(meta_app, connected, make_org,
                                                            make_member, client_as, db):
    before = _state(_connection(db, connected["org_id"]))
    agent = client_as(make_member(connected["org_id"], "agent").email)
    not_connected = client_as(make_org("Clínica Beta")[2])

    assert agent.post(CREATE).status_code == 403
    assert not_connected.post(CREATE).status_code == 400
    assert meta_app.login.created_datasets == []
    assert _state(_connection(db, connected["org_id"])) == before
