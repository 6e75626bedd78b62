"""A worker dying (or its database connection dropping) in the middle of a batch loses
nothing and applies nothing twice: every delivery is processed exactly once after recovery.

The worker is stopped at a known point, not after a sleep: the test holds the row lock of
one contact of the batch, so the worker blocks inside the batch's transaction right after
writing the messages before that contact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from tests.fixtures_whatsapp import all_rows, profile, text_message, webhook_body
from whatrack.models import Contact, Message, Ticket, WebhookEvent

T0 = 1781262000
BATCH = 50
BLOCKER = 25  # the batch's 26th message is from the contact the test locks
REPO = Path(__file__).resolve().parents[2]
DOOMED = "whatrack-doomed-worker"

# A worker in its own process, as in production (`dramatiq whatrack.tasks.worker`), but on
# the test app configuration; PGAPPNAME names its database sessions.
WORKER_PROCESS = """
import threading
import dramatiq
from tests.fixtures_app import AppTestConfig
from whatrack import create_app
from whatrack.tasks import load_actors
from whatrack.tasks.broker import broker, dramatiq_init_app

app = create_app(AppTestConfig)
load_actors()
dramatiq_init_app(app)
dramatiq.Worker(broker, worker_threads=1, worker_timeout=50).start()
threading.Event().wait()
"""


@pytest.fixture(autouse=True)
def _session(db):
    return db


def sender(n: int) -> str:
    return f"55119{70000000 + n:08d}"


def batch_body(prefix: str = "wamid.BATCH") -> dict:
    messages = [text_message(sender(n), f"{prefix}.{n:02d}", T0 + n, f"mensagem {n}")
                for n in range(BATCH)]
    return webhook_body(messages=messages,
                        contacts=[profile(sender(n), f"Cliente {n}") for n in range(BATCH)])


def single_body(n: int) -> dict:
    wa_id = sender(100 + n)
    return webhook_body(messages=[text_message(wa_id, f"wamid.SINGLE.{n}", T0 + 100 + n, "oi")],
                        contacts=[profile(wa_id, f"Avulso {n}")])


def seed_contact(app, org_id: int, wa_id: str) -> int:
    from whatrack.extensions import db
    from whatrack.tenancy import bind_org

    with app.app_context(), bind_org(org_id):
        contact = Contact(organization_id=org_id, wa_id=wa_id, wa_id_reported=wa_id)
        db.session.add(contact)
        db.session.commit()
        return contact.id


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll a database condition (a bounded wait for another process, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def blocked_backends(conn: psycopg.Connection, application_name: str | None = None) -> list:
    sql = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
           "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
    params: tuple = ()
    if application_name:
        sql += " AND application_name = %s"
        params = (application_name,)
    return [row[0] for row in conn.execute(sql, params).fetchall()]


def messages_sequence(conn: psycopg.Connection) -> int:
    """Ids handed out so far: sequences ignore rollbacks, so this sees uncommitted work."""
    last, called = conn.execute("SELECT last_value, is_called FROM messages_id_seq").fetchone()
    return last if called else 0


def make_everything_due(db) -> None:
    """The sweeper picks deliveries still unprocessed after 2 minutes; age them."""
    db.session.execute(text("UPDATE webhook_events "
                            "SET received_at = received_at - interval '10 minutes'"))
    db.session.commit()


def assert_exactly_once(expected_wamids: list[str], contacts: int) -> None:
    events = all_rows(WebhookEvent)
    assert {e.state for e in events} == {"processed"}, [(e.id, e.state, e.error) for e in events]
    counts = Counter(m.wamid for m in all_rows(Message))
    assert sorted(counts) == sorted(expected_wamids)
    assert set(counts.values()) == {1}
    assert len(all_rows(Contact)) == contacts
    tickets = all_rows(Ticket)
    assert len(tickets) == contacts
    assert {t.unread_count for t in tickets} == {1}


def test_worker_killed_mid_batch_then_sweeper_recovers_exactly_once(
        app, db, pg_url, whatsapp_org, post_webhook, request):
    org_id = whatsapp_org["org_id"]
    seed_contact(app, org_id, sender(BLOCKER))
    expected = [f"wamid.BATCH.{n:02d}" for n in range(BATCH)] + [f"wamid.SINGLE.{n}"
                                                                 for n in range(3)]
    with psycopg.connect(pg_url, autocommit=True) as watcher, psycopg.connect(pg_url) as holder:
        holder.execute("SELECT id FROM contacts WHERE wa_id = %s FOR UPDATE", (sender(BLOCKER),))
        assert post_webhook(batch_body()).status_code == 200
        doomed = subprocess.Popen([sys.executable, "-c", WORKER_PROCESS], cwd=REPO,
                                  env={**os.environ, "PGAPPNAME": DOOMED},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: blocked_backends(watcher, DOOMED), what="the worker mid-batch")
            # It wrote the batch's first messages, then stopped on the locked contact.
            assert messages_sequence(watcher) == BLOCKER
            # More deliveries queue up behind it (some already prefetched by it).
            for n in range(3):
                assert post_webhook(single_body(n)).status_code == 200
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
        # The database notices the dead client: its transaction is rolled back.
        watcher.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s", (DOOMED,))
        wait_for(lambda: not watcher.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = %s", (DOOMED,)).fetchall(),
            what="the dead worker's sessions to end")
        holder.rollback()

    # Nothing of the interrupted batch was committed; the deliveries wait, stored.
    assert all_rows(Message) == []
    assert {e.state for e in all_rows(WebhookEvent)} == {"received"}

    # Its queue messages died with it (unacknowledged in Redis): a fresh worker plus the
    # sweeper recover every delivery.
    from whatrack.tasks.maintenance import sweep_webhook_events
    from whatrack.tasks.webhooks import process_webhook_event

    worker = request.getfixturevalue("worker")
    make_everything_due(db)
    sweep_webhook_events.fn()
    worker.drain()
    assert_exactly_once(expected, contacts=BATCH + 3)
    batch_event = all_rows(WebhookEvent)[0]
    assert batch_event.summary == f"{BATCH} messages, 0 duplicates, 0 statuses, 0 other"

    # Redis later redelivers the dead worker's messages, the sweeper runs again, and Meta
    # retries the batch it never saw acknowledged fast enough: still exactly once.
    for event in all_rows(WebhookEvent):
        process_webhook_event.send(event.id)
    make_everything_due(db)
    sweep_webhook_events.fn()
    assert post_webhook(batch_body()).status_code == 200
    worker.drain()
    assert_exactly_once(expected, contacts=BATCH + 3)
    retry = all_rows(WebhookEvent)[-1]
    assert retry.summary == f"0 messages, {BATCH} duplicates, 0 statuses, 0 other"
    assert {e.attempts for e in all_rows(WebhookEvent)} == {1}


def test_connection_lost_mid_batch_rolls_back_and_the_retry_applies_it_once(
        app, db, pg_url, whatsapp_org, post_webhook, worker):
    """Processing raises half-way (the database drops the worker's session): the whole batch
    rolls back, the failure is recorded, and Dramatiq's retry applies it exactly once."""
    seed_contact(app, whatsapp_org["org_id"], sender(BLOCKER))
    with psycopg.connect(pg_url, autocommit=True) as watcher, psycopg.connect(pg_url) as holder:
        holder.execute("SELECT id FROM contacts WHERE wa_id = %s FOR UPDATE", (sender(BLOCKER),))
        assert post_webhook(batch_body()).status_code == 200
        [pid] = wait_for(lambda: blocked_backends(watcher), what="the worker mid-batch")
        assert messages_sequence(watcher) == BLOCKER
        watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
        holder.rollback()
    worker.drain()

    assert_exactly_once([f"wamid.BATCH.{n:02d}" for n in range(BATCH)], contacts=BATCH)
    [event] = all_rows(WebhookEvent)
    # One failed attempt recorded, one that applied the batch; the error is cleared.
    assert (event.attempts, event.error) == (2, None)
