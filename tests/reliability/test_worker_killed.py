"""A production worker (``dramatiq whatrack.tasks.worker``) killed with SIGKILL in the middle of
a batch of webhooks: after a restart every delivery is processed exactly once.

The kill is real: no atexit, no acknowledgement, a transaction cut at whatever statement it
was on. Its queue messages stay unacknowledged in Redis; the sweeper (run at once here,
the rows aged past its 2 minutes) hands the unprocessed rows to the restarted worker, and the
later redelivery of the dead worker's messages changes nothing.
"""

from __future__ import annotations

from collections import Counter

import psycopg
import pytest

from tests.fixtures_whatsapp import all_rows, profile, text_message, webhook_body
from tests.reliability.helpers import app_env, start_worker, wait_for
from whatrack.models import Contact, Message, Ticket, WebhookEvent

DELIVERIES = 60
PER_DELIVERY = 4
T0 = 1781262000


@pytest.fixture(autouse=True)
def _session(db):
    return db


def body(n: int) -> dict:
    senders = [f"55119{50000000 + n * PER_DELIVERY + k:08d}" for k in range(PER_DELIVERY)]
    return webhook_body(
        messages=[text_message(s, f"wamid.KILL.{n}.{k}", T0 + n, f"oi {n}.{k}")
                  for k, s in enumerate(senders)],
        contacts=[profile(s, f"Cliente {s[-4:]}") for s in senders])


def processed(pg_url: str) -> int:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT count(*) FROM webhook_events "
                            "WHERE state = 'processed'").fetchone()[0]


def queues_empty(app) -> bool:
    import redis

    client = redis.Redis.from_url(app.config["REDIS_URL"])
    namespace = f"{app.config['REDIS_NAMESPACE']}:dramatiq"
    try:
        return not any(client.llen(f"{namespace}:{queue}") for queue in ("webhooks", "default"))
    finally:
        client.close()


def test_sigkilled_worker_restarted_processes_every_delivery_exactly_once(
        app, db, pg_url, whatsapp_org, post_webhook):
    from whatrack.tasks.maintenance import sweep_webhook_events
    from whatrack.tasks.webhooks import intake_handoff, process_webhook_events

    for n in range(DELIVERIES):
        assert post_webhook(body(n)).status_code == 200
    assert intake_handoff.flush(10)

    env = app_env()
    doomed = start_worker(env, "doomed-worker")
    try:
        # Killed once a quarter is done: mid-stream, with deliveries in its hands.
        wait_for(lambda: processed(pg_url) >= DELIVERIES // 4, timeout=90,
                 what="the worker to process a quarter of the deliveries")
    finally:
        doomed.kill()
    done_at_kill = processed(pg_url)
    log = doomed.output()
    doomed.stop()
    assert done_at_kill < DELIVERIES, "the worker finished before it could be killed"

    # Whatever the kill cut is rolled back: processed deliveries are whole, the others
    # have nothing written.
    messages = Counter(m.wamid.rsplit(".", 1)[0] for m in all_rows(Message))
    events = {e.id: e for e in all_rows(WebhookEvent)}
    assert set(messages.values()) == {PER_DELIVERY}, log[-3000:]
    assert len(messages) == done_at_kill

    db.session.execute(db.text("UPDATE webhook_events "
                               "SET received_at = received_at - interval '10 minutes'"))
    db.session.commit()
    restarted = start_worker(env, "restarted-worker")
    try:
        sweep_webhook_events.send()
        wait_for(lambda: processed(pg_url) == DELIVERIES, timeout=120,
                 what="every delivery processed after the restart")
        # Redis hands the dead worker's unacknowledged messages out again (and Meta may
        # retry): a second pass over every delivery is a no-op.
        ids = sorted(events)
        for start in range(0, len(ids), 20):
            process_webhook_events.send(ids[start:start + 20])
        sweep_webhook_events.send()
        # Not broker.join(): it also counts the dead worker's unacknowledged messages, which
        # Redis only hands out again after its 60 s heartbeat timeout.
        wait_for(lambda: queues_empty(app), timeout=120, what="the resent messages consumed")
    finally:
        restarted.stop()

    db.session.rollback()
    counts = Counter(m.wamid for m in all_rows(Message))
    assert len(counts) == DELIVERIES * PER_DELIVERY and set(counts.values()) == {1}
    assert len(all_rows(Contact)) == len(all_rows(Ticket)) == DELIVERIES * PER_DELIVERY
    rows = all_rows(WebhookEvent)
    assert {e.state for e in rows} == {"processed"}
    # The cut transaction counted no attempt: every delivery was applied by one attempt.
    assert {e.attempts for e in rows} == {1}
    assert {t.unread_count for t in all_rows(Ticket)} == {1}
