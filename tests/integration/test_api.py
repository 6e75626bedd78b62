"""JSON API v1: bearer keys, /me, and the error shape."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.fixtures_app import bearer


def _assert_error(resp, status: int, code: str) -> None:
    assert resp.status_code == status
    assert resp.mimetype == "application/json"
    assert set(resp.json) == {"error"}
    assert resp.json["error"]["code"] == code
    assert isinstance(resp.json["error"]["message"], str) and resp.json["error"]["message"]


@pytest.mark.endpoint("api.me")
def test_me_returns_the_keys_organization_and_billing(client, make_org, make_api_key):
    org_id, _user_id, _email = make_org(name="Clínica Sorriso")
    _key_id, key = make_api_key(org_id)

    resp = client.get("/api/v1/me", headers=bearer(key))

    assert resp.status_code == 200
    org = resp.json["organization"]
    assert (org["id"], org["name"], org["slug"]) == (org_id, "Clínica Sorriso", "clinica-sorriso")
    assert org["billing"]["state"] == "trialing"
    trial_ends_at = org["billing"]["trial_ends_at"]
    assert trial_ends_at.endswith("+00:00")
    ends = datetime.fromisoformat(trial_ends_at)
    assert ends.utcoffset() == timedelta(0)
    assert abs(ends - (datetime.now(UTC) + timedelta(days=14))) < timedelta(minutes=1)


def test_me_reports_a_lapsed_trial_as_expired(client, db, make_org, make_api_key):
    org_id, _user_id, _email = make_org()
    _key_id, key = make_api_key(org_id)
    db.session.execute(text("UPDATE organizations SET trial_ends_at = now() - interval '1 day'"))
    db.session.commit()

    resp = client.get("/api/v1/me", headers=bearer(key))

    assert resp.json["organization"]["billing"]["state"] == "expired"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token wt_abc"},
        {"Authorization": "Bearer wt_not-a-real-key"},
        {"Authorization": "Bearer not-even-our-prefix"},
    ],
    ids=["missing", "empty", "scheme-only", "blank-key", "basic", "other-scheme",
         "unknown-key", "foreign-format"],
)
def test_requests_without_a_valid_key_get_401_json(client, make_org, make_api_key, headers):
    make_api_key(make_org()[0])

    resp = client.get("/api/v1/me", headers=headers)

    _assert_error(resp, 401, "unauthorized")


def test_revoked_key_gets_401_json(client, make_org, make_api_key):
    _key_id, key = make_api_key(make_org()[0], revoked=True)

    _assert_error(client.get("/api/v1/me", headers=bearer(key)), 401, "unauthorized")


@pytest.mark.endpoint("settings.revoke_api_key")
def test_key_revoked_in_settings_stops_working_at_once(client, make_org, make_api_key,
                                                      client_as):
    org_id, _user_id, email = make_org()
    key_id, key = make_api_key(org_id)
    assert client.get("/api/v1/me", headers=bearer(key)).status_code == 200

    client_as(email).post(f"/dashboard/settings/api-keys/{key_id}/revoke")

    _assert_error(client.get("/api/v1/me", headers=bearer(key)), 401, "unauthorized")


def test_scheme_is_case_insensitive(client, make_org, make_api_key):
    _key_id, key = make_api_key(make_org()[0])

    resp = client.get("/api/v1/me", headers={"Authorization": f"bearer {key}"})

    assert resp.status_code == 200


def test_unknown_api_path_is_a_json_404(client, make_org, make_api_key):
    _key_id, key = make_api_key(make_org()[0])

    _assert_error(client.get("/api/v1/nope", headers=bearer(key)), 404, "not_found")
    _assert_error(client.get("/api/v1/nope"), 404, "not_found")


def test_wrong_method_on_the_api_is_a_json_405(client, make_org, make_api_key):
    _key_id, key = make_api_key(make_org()[0])

    _assert_error(client.post("/api/v1/me", headers=bearer(key)), 405, "method_not_allowed")


@pytest.mark.endpoint("settings.api_keys", "settings.create_api_key")
def test_key_is_shown_once_and_stored_only_as_a_hash(client, db, make_org, client_as):
    org_id, _user_id, email = make_org()

    page = client_as(email).post("/dashboard/settings/api-keys", data={"name": "Zapier"})

    assert page.status_code == 200
    [key] = set(re.findall(r"wt_[A-Za-z0-9_-]{20,}", page.get_data(as_text=True)))
    assert client.get("/api/v1/me", headers=bearer(key)).json["organization"]["id"] == org_id
    dump = db.session.execute(text("SELECT api_keys::text FROM api_keys")).scalars().all()
    assert len(dump) == 1
    assert key not in dump[0]
    assert hashlib.sha256(key.encode()).hexdigest() in dump[0]
    listing = client_as(email).get("/dashboard/settings/api-keys").get_data(as_text=True)
    assert key not in listing and key[:10] in listing


def test_a_successful_call_records_when_the_key_was_last_used(client, db, make_org,
                                                            make_api_key):
    from whatrack.models import ApiKey
    from whatrack.tenancy import unscoped

    key_id, key = make_api_key(make_org()[0])

    client.get("/api/v1/me", headers=bearer(key))

    with unscoped():
        last_used = db.session.get(ApiKey, key_id).last_used_at
    assert last_used is not None and datetime.now(UTC) - last_used < timedelta(minutes=1)
