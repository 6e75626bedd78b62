"""Bad query input on the JSON API is a 400 with the error shape, never a 500."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures_app import bearer


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _assert_400(resp, field: str | None = None) -> None:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    error = resp.json["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if field:
        assert resp.json["error"].get("field", field) == field


@pytest.fixture
def api(app, client, make_org, make_api_key, make_ticket):
    org_id = make_org()[0]
    ticket_id = make_ticket(org_id)
    key = make_api_key(org_id)[1]

    def get(path: str, **params: str):
        return client.get(path, query_string=params, headers=bearer(key))

    get.ticket_id = ticket_id
    return get


@pytest.mark.parametrize("params", [
    {"cursor": _cursor("2026-11-29T14:03:00|5")},               # naive datetime
    {"cursor": _cursor("2026-11-29T14:03:00+00:00|99999999999999999999")},
    {"cursor": _cursor("2026-11-29T14:03:00+00:00|-1")},
    {"cursor": _cursor("2026-11-29T14:03:00+00:00|²")},
    {"cursor": "%%%"},
    {"status": "pending"},
    {"status": "OPEN"},
    {"limit": "0"},
    {"limit": "abc"},
    {"limit": "99999999999999999999"},
])
def test_ticket_list_refuses_bad_cursor_status_and_limit(api, params):
    _assert_400(api("/api/v1/tickets", **params))


def test_ticket_list_still_pages_with_its_own_cursor_and_status(api, make_ticket):
    first = api("/api/v1/tickets", limit="1", status="open")
    assert first.status_code == 200 and len(first.json["data"]) == 1
    assert api("/api/v1/tickets", status="closed").json["data"] == []
    assert api("/api/v1/tickets", status="").status_code == 200


@pytest.mark.parametrize("after", ["99999999999999999999", "2147483648", "²", "-1", "1.5"])
def test_messages_after_beyond_the_id_range_is_a_400(api, after):
    _assert_400(api(f"/api/v1/tickets/{api.ticket_id}/messages", after=after), "after")


@pytest.mark.parametrize("params", [
    {"cursor": "99999999999"}, {"cursor": "²"}, {"ticket_id": "²"},
    {"from": "0001-01-01"}, {"to": "9999-12-31"},
])
def test_conversion_events_refuse_out_of_range_input(api, params):
    _assert_400(api("/api/v1/conversion-events", **params))


@pytest.mark.parametrize("params", [{"to": "0001-01-01"}, {"from": "9999-12-31",
                                                          "to": "9999-12-31"}])
def test_stats_refuse_dates_at_the_calendar_edges(api, params):
    _assert_400(api("/api/v1/stats", **params))


# Every GET endpoint of the API and the query parameters it reads. The test below fails when
# an endpoint is added without being listed here, so the fuzzing never silently skips one.
GET_ENDPOINTS = {
    "/api/v1/me": (),
    "/api/v1/tickets": ("cursor", "limit", "status"),
    "/api/v1/tickets/<int:ticket_id>/messages": ("after", "limit"),
    "/api/v1/conversion-events": ("cursor", "limit", "status", "event_name", "from", "to",
                                  "ticket", "ticket_id"),
    "/api/v1/stats": ("from", "to"),
    "/api/v1/templates": (),
    "/api/v1/sales": ("status", "cursor", "limit"),
}


def test_every_get_endpoint_of_the_api_is_fuzzed(app):
    rules = {rule.rule for rule in app.url_map.iter_rules()
             if rule.rule.startswith("/api/v1/") and "GET" in rule.methods}
    assert rules == set(GET_ENDPOINTS)


# Text that reaches the parsers: printable junk, digits of every script, control characters,
# huge numbers, and base64 of things that look almost like our cursors.
_junk = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True),
    st.builds(lambda when, ident: _cursor(f"{when}|{ident}"),
              st.one_of(st.datetimes().map(str), st.text(max_size=30)),
              st.one_of(st.integers(min_value=-(10**25), max_value=10**25), st.text(max_size=8))),
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_query_strings_never_cause_a_5xx(api, data):
    for rule, names in GET_ENDPOINTS.items():
        path = rule.replace("<int:ticket_id>", str(api.ticket_id))
        params = {name: data.draw(_junk, label=name) for name in names
                  if data.draw(st.booleans(), label=f"send {name}")}
        resp = api(path, **params)
        assert resp.status_code < 500, (path, urlencode(params), resp.get_data(as_text=True))
        if resp.status_code >= 400:
            _assert_400(resp)
