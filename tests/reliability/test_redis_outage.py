"""Redis stopped while webhooks arrive: every POST still answers 200 and is stored; once
Redis is back the sweeper hands the stored deliveries to the workers, all are processed,
and a realtime client gets live frames again and resyncs what it missed over the API.

Production processes on a Redis of the test's own (its own port, killed and restarted
empty: the queue's contents are lost with it, the worst case): ``gunicorn wsgi:app``,
``dramatiq whatrack.tasks.worker`` and, after the outage, ``flask --app wsgi scheduler``.
"""

from __future__ import annotations

import json
import sys
import time

import psycopg
import pytest
import requests
import simple_websocket

from tests.e2e.test_realtime_socket import _frames as frames
from tests.fixtures_app import PASSWORD, bearer
from tests.fixtures_whatsapp import profile, text_message, webhook_body
from tests.reliability.helpers import (
    PrivateRedis,
    Process,
    app_env,
    free_port,
    start_gunicorn,
    start_worker,
    wait_for,
)
from whatrack.integrations.meta.signatures import sign

CUSTOMER = "5511987650001"
DURING_OUTAGE = 20


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.close()


def post(url: str, secret: str, n: int) -> int:
    body = json.dumps(webhook_body(
        messages=[text_message(CUSTOMER, f"wamid.REDIS.{n}", int(time.time()), f"mensagem {n}")],
        contacts=[profile(CUSTOMER, "Mariana")])).encode()
    return requests.post(f"{url}/webhooks/whatsapp", data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)},
    ).status_code


def counts(pg_url: str) -> tuple[int, int]:
    """(deliveries stored, deliveries processed)."""
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT count(*), count(*) FILTER (WHERE state = 'processed') "
                            "FROM webhook_events").fetchone()


def session_cookie(url: str, email: str) -> str:
    http = requests.Session()
    page = http.get(f"{url}/login", timeout=10).text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = http.post(f"{url}/login", timeout=10, allow_redirects=False,
                         data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def test_webhooks_are_stored_while_redis_is_down_and_processed_when_it_returns(
        app, db, pg_url, whatsapp_org, make_api_key, private_redis):
    secret = app.config["META_APP_SECRET"]
    env = app_env(WHATRACK_TEST_REDIS_URL=private_redis.url,
                  WHATRACK_TEST_REDIS_NAMESPACE=f"{app.config['REDIS_NAMESPACE']}-own",
                  WS_ACCESS_CHECK_SECONDS="600")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    _, key = make_api_key(whatsapp_org["org_id"])
    web = start_gunicorn(env, port)
    worker = start_worker(env, threads=2)
    scheduler = None
    ws = None
    try:
        assert post(url, secret, 0) == 200
        wait_for(lambda: counts(pg_url) == (1, 1), timeout=60, what="the first delivery")
        [ticket] = requests.get(f"{url}/api/v1/tickets", headers=bearer(key),
                                timeout=10).json()["data"]
        seen = requests.get(f"{url}/api/v1/tickets/{ticket['id']}/messages",
                            headers=bearer(key), timeout=10).json()["data"]
        cursor = max(m["id"] for m in seen)
        ws = simple_websocket.Client.connect(
            f"ws://127.0.0.1:{port}/ws",
            headers={"Cookie": session_cookie(url, whatsapp_org["email"])})
        frames(ws, 0.5)

        private_redis.stop()
        answers = [post(url, secret, n) for n in range(1, DURING_OUTAGE + 1)]
        assert answers == [200] * DURING_OUTAGE
        assert counts(pg_url) == (DURING_OUTAGE + 1, 1)  # stored, waiting

        private_redis.start()  # back, empty: every queue message of the outage is gone
        with psycopg.connect(pg_url, autocommit=True) as conn:
            # The sweeper takes deliveries unprocessed for 2 minutes; age them.
            conn.execute("UPDATE webhook_events SET received_at = received_at - "
                         "interval '10 minutes' WHERE state = 'received'")
        scheduler = Process([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"], env,
                            "scheduler")
        wait_for(lambda: counts(pg_url) == (DURING_OUTAGE + 1,) * 2, timeout=120,
                 what="every delivery processed after Redis returned")

        # Live again: the web process's subscriber re-subscribed, so a new message reaches
        # the open socket...
        assert post(url, secret, DURING_OUTAGE + 1) == 200
        wait_for(lambda: counts(pg_url)[1] == DURING_OUTAGE + 2, timeout=60,
                 what="the delivery after the outage")
        live = [f for f in frames(ws, 5) if f.get("type") == "message.created"]
        assert live, "no live frame after Redis returned"
        # ...and what it missed, it asks the API for after its last seen message.
        missed = requests.get(f"{url}/api/v1/tickets/{ticket['id']}/messages",
                              params={"after": cursor, "limit": 100}, headers=bearer(key),
                              timeout=10).json()["data"]
        assert sorted(m["wamid"] for m in missed) == sorted(
            f"wamid.REDIS.{n}" for n in range(1, DURING_OUTAGE + 2))
    finally:
        if ws is not None:
            ws.close()
        for process in (scheduler, worker, web):
            if process is not None:
                process.stop()
