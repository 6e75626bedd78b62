"""Past one server: two web processes and two workers on one PostgreSQL and one Redis.

Real processes, as deployed (``gunicorn wsgi:app`` twice, ``dramatiq whatrack.tasks.worker``
twice), on the suite's database and Redis namespace. Deliveries go to both web processes
alternately, some of them twice (Meta's redeliveries); sockets are open on both. Every delivery
must be processed exactly once (one attempt, one message per wamid) by whichever worker took
it, and every socket must see every new message exactly once, whichever web process stored the
delivery and whichever worker processed it: events travel through Redis, not sticky sessions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import requests
import simple_websocket
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from tests.fixtures_app import PASSWORD, csrf_token_from
from tests.fixtures_whatsapp import FIXTURE_DISPLAY, FIXTURE_PHONE_ID, FIXTURE_WABA
from tests.gunicorn_server import ROOT, gunicorn_server
from whatrack.integrations.meta.signatures import sign

DELIVERIES = 30
REDELIVERED = 3
TOKEN = "scale-out-metrics-token"
# Four processes on a PostgreSQL other test runs share: each keeps only a few connections.
SMALL_POOL = {"DATABASE_POOL_SIZE": "4"}


@contextmanager
def dramatiq_worker() -> Iterator[None]:
    """``dramatiq whatrack.tasks.worker`` (one process, two threads), in its own process group."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "whatrack.tasks.worker", "--processes", "1",
         "--threads", "2"],
        cwd=ROOT, env={**os.environ, "WHATRACK_ENV": "testing", **SMALL_POOL}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        yield
        assert process.poll() is None, _tail(log)  # it must not have died on the way
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the group we created: master and its child
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _tail(log) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def _delivery(n: int) -> bytes:
    sender = str(5511970000000 + n)
    body = {"object": "whatsapp_business_account", "entry": [{"id": FIXTURE_WABA, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": FIXTURE_DISPLAY,
                         "phone_number_id": FIXTURE_PHONE_ID},
            "contacts": [{"profile": {"name": f"Cliente {n}"}, "wa_id": sender}],
            "messages": [{"from": sender, "id": f"wamid.SCALE{n}{uuid.uuid4().hex[:8]}",
                          "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": f"Olá, mensagem {n}"}}]}}]}]}
    return json.dumps(body).encode()


def _cookie(url: str, email: str) -> str:
    http = requests.Session()
    token = csrf_token_from(http.get(f"{url}/login", timeout=20).text)
    response = http.post(f"{url}/login", allow_redirects=False, timeout=30,
                         data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text[:300]
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def _open_socket(url: str, cookie: str):
    ws = simple_websocket.Client.connect(url.replace("http", "ws") + "/ws",
                                         headers={"Cookie": cookie})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        raw = ws.receive(timeout=0.5)
        if raw and json.loads(raw)["type"] == "hello":
            return ws
    raise AssertionError(f"no hello from {url}/ws")


def _metrics(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=20).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _created_ids(frames: list[dict]) -> Counter:
    return Counter(f["data"]["message_id"] for f in frames if f["type"] == "message.created")


def test_two_web_processes_and_two_workers_deliver_every_event_once(app, db, whatsapp_org):
    from whatrack.models import Message, WebhookEvent
    from whatrack.tenancy import unscoped

    secret = app.config["META_APP_SECRET"]
    with ExitStack() as stack:
        web = [stack.enter_context(gunicorn_server(METRICS_TOKEN=TOKEN, **SMALL_POOL))
               for _ in range(2)]
        for _ in range(2):
            stack.enter_context(dramatiq_worker())
        cookie = _cookie(web[0], whatsapp_org["email"])  # a session works on every process
        sockets = [(url, _open_socket(url, cookie)) for url in web for _ in range(2)]
        for _, ws in sockets:
            stack.callback(ws.close)

        bodies = [_delivery(n) for n in range(DELIVERIES)]
        posts = bodies + bodies[:REDELIVERED]
        http = [requests.Session() for _ in web]
        for i, body in enumerate(posts):
            response = http[i % 2].post(f"{web[i % 2]}/webhooks/whatsapp", data=body,
                                        timeout=20, headers={
                                            "Content-Type": "application/json",
                                            "X-Hub-Signature-256": sign(secret, body)})
            assert response.status_code == 200, response.text

        deadline = time.monotonic() + 90
        while True:
            db.session.rollback()
            waiting = db.session.scalar(select(func.count()).select_from(WebhookEvent)
                                        .where(WebhookEvent.state == "received"))
            if waiting == 0:
                break
            assert time.monotonic() < deadline, f"{waiting} deliveries still unprocessed"
            time.sleep(0.2)

        frames: dict[int, list[dict]] = {i: [] for i in range(len(sockets))}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                len(_created_ids(f)) < DELIVERIES for f in frames.values()):
            for i, (_, ws) in enumerate(sockets):
                raw = ws.receive(timeout=0.05)
                while raw:
                    frames[i].append(json.loads(raw))
                    raw = ws.receive(timeout=0)
        for i, (_, ws) in enumerate(sockets):  # a late duplicate would arrive now
            settle = time.monotonic() + 1
            while time.monotonic() < settle:
                raw = ws.receive(timeout=0.1)
                if raw:
                    frames[i].append(json.loads(raw))
        node_metrics = [_metrics(url) for url in web]

    db.session.rollback()
    events = db.session.execute(select(WebhookEvent.state, WebhookEvent.attempts)).all()
    assert len(events) == DELIVERIES + REDELIVERED
    assert all(state == "processed" and attempts == 1 for state, attempts in events), events
    with unscoped():
        messages = db.session.execute(select(Message.id, Message.wamid)).all()
    assert len(messages) == DELIVERIES
    assert len({wamid for _, wamid in messages}) == DELIVERIES

    every_message_once = Counter({message_id: 1 for message_id, _ in messages})
    for i, (url, _) in enumerate(sockets):
        assert _created_ids(frames[i]) == every_message_once, f"socket {i} on {url}"

    stored = [m[("whatrack_webhooks_received_total", (("result", "stored"),))]
              for m in node_metrics]
    assert sum(stored) == DELIVERIES + REDELIVERED and all(stored)  # both nodes took a share
    for m in node_metrics:  # cluster-wide: the same on every node
        assert m[("whatrack_webhooks_processed_total", ())] == DELIVERIES + REDELIVERED
        assert m[("whatrack_webhooks_waiting", ())] == 0
        assert m[("whatrack_websocket_connections", ())] == 2
