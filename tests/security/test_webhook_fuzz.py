"""The webhook parser and intake, fuzzed with hypothesis.

Bodies are Meta's own fixtures with parts replaced by random JSON (so the walk goes deep
into messages, statuses, referrals and media before meeting the junk), plus random JSON
and random bytes. The parser must never raise (``parse_bytes`` only its MalformedPayload),
``POST /webhooks/whatsapp`` with a valid signature must never answer 5xx, and processing
the stored delivery must end it ``processed``, ``unroutable`` or ``failed``: never an
exception escaping to the worker.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures_whatsapp import all_rows
from whatrack.integrations.meta.signatures import sign
from whatrack.integrations.meta.webhook import MalformedPayload, parse, parse_bytes

FIXTURES = [json.loads(p.read_bytes()) for p in
            sorted((Path(__file__).parents[1] / "fixtures" / "meta").glob("*.json"))]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.sampled_from(["", "0", "-1", "1e999", "text", "image", "ad", "5511987654321",
                       "300000000000001", "wamid.X", "sent", "failed", "\u0000", "💥" * 50]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated_fixture(draw) -> Any:
    body = copy.deepcopy(draw(st.sampled_from(FIXTURES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(body) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return body


bodies = st.one_of(mutated_fixture(), json_values,
                   st.fixed_dictionaries({"object": json_values, "entry": json_values}))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(body=bodies)
def test_the_parser_never_raises(body):
    parse(body)
    try:
        parse_bytes(json.dumps(body))
    except MalformedPayload:
        pass


@settings(max_examples=200, deadline=None, derandomize=True)
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_the_parser_refuses_bytes_only_as_malformed(raw):
    try:
        parse_bytes(raw)
    except MalformedPayload:
        pass


@pytest.fixture
def intake(app, whatsapp_org, client):
    """POST a body signed with our secret, then process it as the worker would."""
    from whatrack.extensions import db
    from whatrack.models import WebhookEvent
    from whatrack.services.webhooks import commands as webhooks

    secret = app.config["META_APP_SECRET"]

    def _deliver(raw: bytes) -> str:
        resp = client.post("/webhooks/whatsapp", data=raw, content_type="application/json",
                           headers={"X-Hub-Signature-256": sign(secret, raw)})
        assert resp.status_code == 200, (resp.status_code, raw[:300])
        [event_id] = [e.id for e in all_rows(WebhookEvent) if e.state == "received"]
        with app.app_context():
            event = webhooks.lock_event(event_id)
            webhooks.process_event(event)  # an exception here fails the test
            db.session.commit()
            state = event.state
        return state

    return _deliver


# The intake also hands each delivery to the in-process worker thread, whose retry backoff
# draws from `random` while Hypothesis generates the next example: not a strategy's doing.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=mutated_fixture() | json_values)
def test_signed_random_deliveries_are_stored_and_processed_without_an_exception(intake, body):
    raw = json.dumps(body, ensure_ascii=False).encode()

    assert intake(raw) in ("processed", "unroutable", "failed")


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_signed_random_bytes_are_stored_and_marked_failed(intake, raw):
    assert intake(raw) in ("failed", "processed", "unroutable")
