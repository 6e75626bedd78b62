"""The Graph API fake answers 500, 429, timeouts and dropped connections for a while:
conversion events and outbound messages retry with backoff and end sent, nothing is sent
twice, and permanent refusals end failed with Meta's reason.

Messages differ from conversion events on one point (decisions.md D22): when the answer is
lost (read timeout, connection dropped after the request went out) Meta may have the message
and there is no idempotency key, so the send is not repeated; the status webhook, which
names our message, settles it. Conversion events carry a stable event_id Meta deduplicates,
so every transient failure is retried.

The Stripe half of the item is test_stripe_faults.py.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from tests.fakes.graph import meta_error
from tests.fixtures_capi import DATASET_ID, events_of, settled, wait_for
from tests.fixtures_whatsapp import all_rows
from tests.integration.sending_helpers import (
    MESSAGES_PATH,
    customer_writes,
    message_posts,
    outbound,
    post_status,
)
from whatrack.models import Message, MetaConversionAttempt
from whatrack.services.conversions.queries import reason_pt

EVENTS_PATH = f"/v25.0/{DATASET_ID}/events"


@pytest.fixture(autouse=True)
def _session(db):
    return db


def test_conversion_events_ride_out_a_bad_spell_and_are_sent_once(
        meta_app, whatsapp_org, make_ticket, connect_meta, close_sale, worker, db):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    # The bad spell, in order: a 500, a 429 asking for a second, a read timeout (the fake
    # answers after the 1 s client timeout), a dropped connection, a 503.
    meta_app.fail(EVENTS_PATH, 500, meta_error("An unexpected error has occurred.", 2))
    meta_app.fail(EVENTS_PATH, 429, meta_error("Application request limit reached", 4),
                  headers={"Retry-After": "1"})
    meta_app.fail(EVENTS_PATH, 500, delay=1.5)
    meta_app.fail(EVENTS_PATH, 500, drop=True)
    meta_app.fail(EVENTS_PATH, 503, meta_error("Service temporarily unavailable", 1))

    ticket = make_ticket(org_id)
    assert close_sale(org_id, ticket).status_code == 201
    worker.drain()
    [event] = wait_for(lambda: settled(org_id), timeout=120)

    assert event.status == "sent" and event.attempts == 6
    assert dict(meta_app.capi.accepted) == {event.event_id: 1}
    attempts = all_rows(MetaConversionAttempt)
    assert [a.http_status for a in attempts] == [500, 429, None, None, 503, 200]
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in pairwise(attempts)]
    assert gaps[1] >= 0.99, gaps  # Retry-After honoured
    assert all(gap > 0 for gap in gaps)

    # A permanent refusal fails the event at once with Meta's reason; the others still go.
    meta_app.capi.poison_clids.add("bad-click")
    for clid in ("ok-1", "bad-click", "ok-2"):
        assert close_sale(org_id, make_ticket(org_id, clid=clid)).status_code == 201
    worker.drain()
    events = wait_for(lambda: settled(org_id), timeout=120)
    outcome = {e.id: (e.status, e.attempts) for e in events}
    bad = [e for e in events_of(org_id) if e.status == "failed"]
    # Failed at once: in the request that carried it, or (batched with a good event) in
    # the split that isolates it; never retried as if transient.
    assert len(bad) == 1 and bad[0].attempts <= 2, outcome
    lone = [a for a in all_rows(MetaConversionAttempt) if a.event_id == bad[0].id][-1]
    assert (lone.batch_size, lone.http_status) == (1, 400)
    assert (bad[0].error_code, bad[0].error_subcode) == (100, 2804087)
    assert reason_pt(bad[0]).startswith("a Meta não reconheceu")
    assert sorted(meta_app.capi.accepted.values()) == [1, 1, 1]


def test_outbound_messages_ride_out_a_bad_spell_without_a_double_send(
        app, whatsapp_org, post_webhook, worker, fake_graph, client_as, monkeypatch):
    from whatrack.tasks.messaging import send_message

    monkeypatch.setitem(send_message.options, "min_backoff", 50)
    monkeypatch.setitem(send_message.options, "max_backoff", 400)
    monkeypatch.setitem(app.config, "WHATSAPP_GRAPH_TIMEOUT", (3.05, 0.5))
    ticket = customer_writes(post_webhook, worker)
    agent = client_as(whatsapp_org["email"])

    # Nothing reached Meta: 500, 429, 503 are retried with backoff until accepted.
    fake_graph.fail(MESSAGES_PATH, 500, meta_error("Internal error", 1), times=2)
    fake_graph.fail(MESSAGES_PATH, 429, meta_error("Throughput limit", 130429))
    fake_graph.fail(MESSAGES_PATH, 503, meta_error("Service temporarily unavailable", 131016))
    texts = [f"Resposta {n}" for n in range(4)]
    for text in texts:
        response = agent.post(f"/dashboard/tickets/{ticket.id}/messages",
                              data={"mode": "text", "text": text},
                              headers={"Accept": "application/json"})
        assert response.status_code == 201, response.get_data(as_text=True)
    worker.drain()
    sent = outbound()
    assert {m.send_state for m in sent} == {"accepted"}, [(m.text, m.send_state) for m in sent]
    accepted = fake_graph.cloud.accepted
    assert sorted(a["text"]["body"] for a in accepted) == texts  # each once
    assert sum(m.send_attempts for m in sent) == len(texts) + 4
    assert len(message_posts(fake_graph)) == len(texts) + 4

    # The answer lost: once after a read timeout (Meta accepted it), once with the
    # connection dropped after the request went out. Neither is sent again.
    fake_graph.cloud.slow_accept(1.5)
    for text in ("Em dúvida 1", "Em dúvida 2"):
        if text.endswith("2"):
            fake_graph.fail(MESSAGES_PATH, 500, drop=True)
        agent.post(f"/dashboard/tickets/{ticket.id}/messages",
                   data={"mode": "text", "text": text}, headers={"Accept": "application/json"})
        worker.drain()
    doubtful = [m for m in outbound() if m.text.startswith("Em dúvida")]
    assert [m.send_state for m in doubtful] == ["in_doubt", "in_doubt"]
    posts_before = len(message_posts(fake_graph))
    from whatrack.tasks.messaging import sweep_outbound_messages

    sweep_outbound_messages.send()
    worker.drain()
    assert len(message_posts(fake_graph)) == posts_before  # nothing re-sent

    # Meta's status for the one it accepted names our message: it settles as sent.
    [timed_out] = [a for a in fake_graph.cloud.accepted if a["text"]["body"] == "Em dúvida 1"]
    post_status(post_webhook, worker, timed_out["wamid"], "sent",
                biz_opaque_callback_data=timed_out["biz_opaque_callback_data"])
    first = all_rows(Message, Message.id == doubtful[0].id)[0]
    assert (first.send_state, first.status, first.wamid) == ("accepted", "sent",
                                                             timed_out["wamid"])
    bodies = [a["text"]["body"] for a in fake_graph.cloud.accepted]
    assert len(bodies) == len(set(bodies))  # no message reached the customer twice

    # A permanent refusal ends failed with Meta's reason, sent once.
    fake_graph.fail(MESSAGES_PATH, 400, meta_error(
        "(#131026) Message undeliverable", 131026, error_type="OAuthException"))
    agent.post(f"/dashboard/tickets/{ticket.id}/messages",
               data={"mode": "text", "text": "Recusada"}, headers={"Accept": "application/json"})
    worker.drain()
    [refused] = [m for m in outbound() if m.text == "Recusada"]
    assert refused.send_state == "failed" and refused.send_attempts == 1
    assert refused.error and refused.error.get("code") == 131026
