"""PostgreSQL unreachable: webhook POSTs answer 503 (Meta retries them), nothing is half
written, and the app heals by itself when the database is back (no restart).

The app under test reaches the suite's database through a TCP proxy on loopback; stopping
the proxy closes its port and cuts every open connection, as a database crash or a network
partition would. The suite's own connections go around it, to check what was written.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.fixtures_app import AppTestConfig, bearer
from tests.fixtures_whatsapp import WebhookPoster, all_rows, profile, text_message, webhook_body
from tests.integration.test_ingestion_reliability import (
    blocked_backends,
    messages_sequence,
    seed_contact,
)
from tests.reliability.helpers import TcpProxy, wait_for
from whatrack.models import Message, WebhookEvent

T0 = 1781262000


@pytest.fixture(autouse=True)
def _session(db):
    return db


@pytest.fixture
def proxied(app, pg_url, make_app):
    """An app whose database connections all go through a proxy the test can cut."""
    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))

    class ProxiedConfig(AppTestConfig):
        SQLALCHEMY_DATABASE_URI = url.replace("postgresql://", "postgresql+psycopg://", 1)
        # Fail fast while the database is away instead of waiting on the OS's timeout.
        SQLALCHEMY_ENGINE_OPTIONS = {"connect_args": {"connect_timeout": 2}}

    proxied_app = make_app(ProxiedConfig)
    yield proxied_app, proxy
    proxy.stop()
    from whatrack.extensions import db

    with proxied_app.app_context():
        db.engine.dispose()


def delivery(n: int, size: int = 1) -> dict:
    senders = [f"55119{40000000 + n * 100 + k:08d}" for k in range(size)]
    return webhook_body(
        messages=[text_message(s, f"wamid.PG.{n}.{k}", T0 + n, f"oi {k}")
                  for k, s in enumerate(senders)],
        contacts=[profile(s, f"Cliente {k}") for k, s in enumerate(senders)])


def stored(pg_url: str) -> int:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT count(*) FROM webhook_events").fetchone()[0]


def test_webhooks_answer_503_while_the_database_is_away_and_200_once_it_is_back(
        app, pg_url, whatsapp_org, proxied, make_api_key):
    proxied_app, proxy = proxied
    _, key = make_api_key(whatsapp_org["org_id"])
    post = WebhookPoster(proxied_app.test_client(), app.config["META_APP_SECRET"])
    assert post(delivery(0)).status_code == 200
    assert proxied_app.test_client().get("/readyz").status_code == 200

    proxy.stop()
    answers = [post(delivery(n)).status_code for n in range(1, 6)]
    assert answers == [503] * 5  # Meta retries them
    assert proxied_app.test_client().get("/readyz").status_code == 503
    assert stored(pg_url) == 1  # nothing half written
    # Everything else says "try again" too, never "our bug": the API and the pages.
    api = proxied_app.test_client().get("/api/v1/me", headers=bearer(key))
    assert api.status_code == 503 and api.headers["Retry-After"] == "5"
    assert api.json["error"]["code"] == "unavailable"
    assert proxied_app.test_client().get("/login").status_code in (200, 503)
    page = proxied_app.test_client().post("/login", data={"email": "a@b.c", "password": "x"})
    assert page.status_code == 503

    proxy.start()
    # Healed without a restart: the dead pooled connections are replaced, every POST lands.
    answers = [post(delivery(n)).status_code for n in range(1, 6)]
    assert answers == [200] * 5
    assert stored(pg_url) == 6
    assert proxied_app.test_client().get("/readyz").status_code == 200


def test_processing_cut_by_the_outage_rolls_back_and_completes_once_when_it_returns(
        app, db, pg_url, whatsapp_org, proxied):
    """The database goes away while a worker is inside a 30-message delivery: nothing of it
    stays, the failure cannot even be recorded, and the retry after the return applies it
    exactly once."""
    from whatrack.tasks.webhooks import process_webhook_event

    proxied_app, proxy = proxied
    post = WebhookPoster(proxied_app.test_client(), app.config["META_APP_SECRET"])
    assert post(delivery(1, size=30)).status_code == 200
    [event] = all_rows(WebhookEvent)
    blocker = "55119" + f"{40000000 + 100 + 15:08d}"
    seed_contact(app, whatsapp_org["org_id"], blocker)

    outcome: list[BaseException | None] = []

    def work() -> None:
        with proxied_app.app_context():
            try:
                process_webhook_event.fn(event.id)
                outcome.append(None)
            except Exception as exc:  # what Dramatiq would retry
                outcome.append(exc)

    with psycopg.connect(pg_url) as holder, psycopg.connect(pg_url, autocommit=True) as watch:
        # The contact of the 16th message is locked: the worker stops half-way, inside the
        # delivery's transaction, having written the first 15 messages.
        holder.execute("SELECT id FROM contacts WHERE wa_id = %s FOR UPDATE", (blocker,))
        worker = threading.Thread(target=work)
        worker.start()
        wait_for(lambda: blocked_backends(watch), timeout=60, what="the worker mid-batch")
        assert messages_sequence(watch) == 15  # written, not committed
        proxy.stop()  # the database "goes away" under it
        worker.join(timeout=60)
        holder.rollback()
    assert outcome and outcome[0] is not None  # it failed, and says so to the queue
    db.session.rollback()
    assert all_rows(Message) == []  # the 15 written messages were rolled back
    assert all_rows(WebhookEvent)[0].state == "received"

    proxy.start()
    with proxied_app.app_context():
        process_webhook_event.fn(event.id)  # Dramatiq's retry
        process_webhook_event.fn(event.id)  # and a redelivered duplicate of it
    db.session.rollback()
    assert sorted(m.wamid for m in all_rows(Message)) == sorted(
        f"wamid.PG.1.{k}" for k in range(30))
    [event] = all_rows(WebhookEvent)
    assert event.state == "processed"
