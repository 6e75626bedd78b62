"""A bounded soak: mixed traffic against the production processes for a while, then every
count reconciled, and the memory of every process flat after warm-up.

``gunicorn wsgi:app``, ``dramatiq whatrack.tasks.worker`` and ``flask --app wsgi scheduler``
run as in production, on the suite's database and Redis namespace, with the Graph API fake
and the Stripe fake on loopback. Traffic: inbound messages (new and returning customers,
some from ads), echoes from the WhatsApp Business app, replies through the API, the statuses
Meta sends for them, sales, and Stripe's subscription and invoice events for the
organization. ``RELIABILITY_SOAK_SECONDS`` sets the length (60 s in CI; 300 s is the issue's
five minutes, docs/reliability.md has a run).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from typing import Any

import psycopg
import pytest
import requests

from tests.fakes import stripe as stripe_fake
from tests.fixtures_app import bearer
from tests.fixtures_whatsapp import (
    FIXTURE_DISPLAY,
    profile,
    status_item,
    text_message,
    webhook_body,
)
from tests.reliability.helpers import (
    Process,
    app_env,
    free_port,
    rss_kib,
    start_gunicorn,
    start_worker,
    wait_for,
)
from whatrack.integrations.meta.signatures import sign

SECONDS = float(os.environ.get("RELIABILITY_SOAK_SECONDS", "60"))
# Growth allowed to a process between the end of warm-up (a third of the run) and the end.
RSS_GROWTH_LIMIT_KIB = int(os.environ.get("RELIABILITY_RSS_GROWTH_KIB", str(24 * 1024)))
SEED = 1616
STRIPE_CUSTOMER, STRIPE_SUBSCRIPTION = "cus_soak", "sub_soak"


class Traffic:
    """What the soak sent, and what the app answered (shared by the generator threads)."""

    def __init__(self, url: str, secret: str, key: str, graph) -> None:
        self.url, self.secret, self.key, self.graph = url, secret, key, graph
        self.http = threading.local()
        self.lock = threading.Lock()
        self.rng = random.Random(SEED)
        self.stop = threading.Event()
        self.answers: Counter = Counter()  # (kind, status code) -> count
        self.wamids: set[str] = set()  # inbound and echoes posted
        self.read: set[str] = set()  # outbound wamids Meta said were read
        self.replies: list[int] = []  # message ids the API accepted
        self.sales: list[int] = []
        self.contacts: list[str] = []
        self.tickets: list[int] = []
        self.sold: set[int] = set()
        self.statused: dict[str, int] = {}  # accepted wamid -> statuses posted
        self.stripe_events: list[str] = []  # Stripe event ids answered 200
        self.errors: list[str] = []
        self.n = 0

    def session(self) -> requests.Session:
        if not hasattr(self.http, "session"):
            # A fresh connection per request: reusing one that gunicorn is closing after its
            # keep-alive delay races (a reset the client should retry, which is not what the
            # soak measures; Meta retries such a POST anyway).
            self.http.session = requests.Session()
            self.http.session.headers["Connection"] = "close"
        return self.http.session

    def next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n

    def post_webhook(self, body: dict) -> None:
        raw = json.dumps(body).encode()
        response = self.session().post(f"{self.url}/webhooks/whatsapp", data=raw, timeout=30,
                                       headers={"Content-Type": "application/json",
                                                "X-Hub-Signature-256": sign(self.secret, raw)})
        with self.lock:
            self.answers[("webhook", response.status_code)] += 1

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session().request(method, f"{self.url}/api/v1{path}", timeout=30,
                                          headers=bearer(self.key), **kwargs)
        if response.status_code >= 500:
            self.errors.append(f"{method} {path}: {response.status_code}")
        return response

    # --- the kinds of traffic --------------------------------------------------------------
    def inbound(self) -> None:
        with self.lock:
            new = not self.contacts or self.rng.random() < 0.3
            if new:
                self.contacts.append(f"55119{30000000 + len(self.contacts):08d}")
                wa_id = self.contacts[-1]
            else:
                wa_id = self.rng.choice(self.contacts)
            from_ad = new and self.rng.random() < 0.5
        n = self.next()
        extra = {"referral": {"source_type": "ad", "source_id": "120200000000001",
                              "source_url": "https://fb.me/ad", "ctwa_clid": f"SOAK-CLID-{n}"}
                 } if from_ad else {}
        wamid = f"wamid.SOAK.IN.{n}"
        self.post_webhook(webhook_body(
            messages=[text_message(wa_id, wamid, int(time.time()), f"oi {n}", **extra)],
            contacts=[profile(wa_id, f"Cliente {wa_id[-4:]}")]))
        with self.lock:
            self.wamids.add(wamid)

    def echo(self) -> None:
        with self.lock:
            if not self.contacts:
                return
            wa_id = self.rng.choice(self.contacts)
        wamid = f"wamid.SOAK.ECHO.{self.next()}"
        self.post_webhook(webhook_body(echoes=[{
            "from": FIXTURE_DISPLAY, "to": wa_id, "id": wamid, "timestamp": str(int(time.time())),
            "type": "text", "text": {"body": "respondido pelo celular"}}]))
        with self.lock:
            self.wamids.add(wamid)

    def refresh_tickets(self) -> None:
        response = self.api("GET", "/tickets")
        if response.ok:
            with self.lock:
                self.tickets = [t["id"] for t in response.json()["data"]]

    def reply(self) -> None:
        with self.lock:
            open_tickets = [t for t in self.tickets if t not in self.sold]
            ticket = self.rng.choice(open_tickets) if open_tickets else None
        if ticket is None:
            return
        response = self.api("POST", f"/tickets/{ticket}/messages",
                            json={"text": f"Resposta {self.next()}"})
        with self.lock:
            self.answers[("reply", response.status_code)] += 1
            if response.status_code == 201:
                self.replies.append(response.json()["message"]["id"])

    def statuses(self) -> None:
        """Meta's statuses for what it accepted: sent, delivered, read, in that order."""
        for accepted in list(self.graph.cloud.accepted):
            wamid = accepted["wamid"]
            done = self.statused.get(wamid, 0)
            if done == 3:
                continue
            status = ("sent", "delivered", "read")[done]
            self.post_webhook(webhook_body(statuses=[status_item(
                wamid, status, int(time.time()), recipient=accepted["to"].lstrip("+"))]))
            self.statused[wamid] = done + 1
            if status == "read":
                with self.lock:
                    self.read.add(wamid)
            return

    def sale(self) -> None:
        with self.lock:
            candidates = [t for t in self.tickets if t not in self.sold]
            ticket = self.rng.choice(candidates) if candidates else None
            if ticket is not None:
                self.sold.add(ticket)
        if ticket is None:
            return
        value = f"{self.rng.randint(100, 5000)}.{self.rng.randint(0, 99):02d}"
        response = self.api("POST", f"/tickets/{ticket}/sales",
                            json={"value": value, "currency": "BRL"})
        with self.lock:
            self.answers[("sale", response.status_code)] += 1
            if response.status_code == 201:
                self.sales.append(response.json()["sale"]["id"])

    def stripe(self) -> None:
        """The subscription renewing: its update, then the paid invoice, a month further."""
        n = self.next()
        period_end = int(time.time()) + 30 * 86400 + n
        if n % 2:
            kind, obj = "customer.subscription.updated", stripe_fake.subscription(
                STRIPE_SUBSCRIPTION, STRIPE_CUSTOMER, "active", period_end)
        else:
            kind, obj = "invoice.paid", stripe_fake.invoice(
                f"in_soak_{n}", STRIPE_CUSTOMER, STRIPE_SUBSCRIPTION, period_end)
        event_id = f"evt_soak_{n}"
        body = stripe_fake.event(kind, obj, event_id=event_id)
        response = self.session().post(f"{self.url}/webhooks/stripe", data=body, timeout=30,
                                       headers={"Content-Type": "application/json",
                                                "Stripe-Signature": stripe_fake.sign(body)})
        with self.lock:
            self.answers[("stripe", response.status_code)] += 1
            if response.status_code == 200:
                self.stripe_events.append(event_id)

    def run(self, kind: Any, every: float) -> None:
        while not self.stop.is_set():
            try:
                kind()
            except requests.RequestException as exc:  # counted: the reconciliation fails
                self.errors.append(f"{kind.__name__}: {exc!r}")
            self.stop.wait(every)


def process_tree(processes: list[Process]) -> dict[str, int]:
    from tests.reliability.helpers import children_of

    pids = {}
    for process in processes:
        pids[f"{process.name}"] = process.pid
        for n, child in enumerate(children_of(process.pid)):
            pids[f"{process.name}.child{n}"] = child
            for m, grandchild in enumerate(children_of(child)):
                pids[f"{process.name}.child{n}.{m}"] = grandchild
    return pids


def drained(pg_url: str) -> dict[str, int] | None:
    """What is still in flight; None once nothing is."""
    with psycopg.connect(pg_url) as conn:
        left = conn.execute("""
            SELECT (SELECT count(*) FROM webhook_events WHERE state = 'received'),
                   (SELECT count(*) FROM messages WHERE send_state IN ('queued', 'sending')),
                   (SELECT count(*) FROM meta_conversion_events WHERE status = 'pending')
        """).fetchone()
    return None if not any(left) else dict(zip(("webhooks", "sends", "events"), left,
                                               strict=True))


@pytest.fixture
def soak_org(whatsapp_org, connect_meta, set_billing):
    connect_meta(whatsapp_org["org_id"])
    set_billing(whatsapp_org["org_id"], stripe_customer_id=STRIPE_CUSTOMER)
    return whatsapp_org


def test_soak_mixed_traffic_reconciles_and_memory_stays_flat(
        app, pg_url, soak_org, make_api_key, fake_graph, fake_stripe):
    _, key = make_api_key(soak_org["org_id"])
    env = app_env(WHATRACK_TEST_META_GRAPH_URL=fake_graph.url, META_CAPI_RETRY_BASE="0.2",
                  STRIPE_API_BASE=fake_stripe.url, STRIPE_SECRET_KEY=stripe_fake.SECRET_KEY,
                  STRIPE_PRICE_ID=stripe_fake.PRICE_ID,
                  STRIPE_WEBHOOK_SECRET=stripe_fake.WEBHOOK_SECRET)
    port = free_port()
    processes: list[Process] = []
    try:
        processes.append(start_gunicorn(env, port))
        processes.append(start_worker(env, threads=4))
        processes.append(Process([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
                                 env, "scheduler"))
        traffic = Traffic(f"http://127.0.0.1:{port}", app.config["META_APP_SECRET"], key,
                          fake_graph)
        kinds = [(traffic.inbound, 0.25), (traffic.echo, 2.0), (traffic.refresh_tickets, 2.0),
                 (traffic.reply, 1.0), (traffic.statuses, 0.4), (traffic.sale, 3.0),
                 (traffic.stripe, 1.5)]
        threads = [threading.Thread(target=traffic.run, args=kind, daemon=True)
                   for kind in kinds]
        samples: dict[str, list[tuple[float, int]]] = defaultdict(list)
        began = time.monotonic()
        for thread in threads:
            thread.start()
        while (elapsed := time.monotonic() - began) < SECONDS:
            for name, pid in process_tree(processes).items():
                try:
                    samples[name].append((elapsed, rss_kib(pid)))
                except (FileNotFoundError, ProcessLookupError):
                    pass
            time.sleep(2)
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=60)

        left = wait_for(lambda: drained(pg_url) is None, timeout=max(120, SECONDS),
                        what=f"the backlog to drain ({drained(pg_url)})")
        assert left
        # The statuses of replies accepted at the very end.
        while any(traffic.statused.get(a["wamid"], 0) < 3 for a in fake_graph.cloud.accepted):
            traffic.statuses()
        wait_for(lambda: drained(pg_url) is None, timeout=120, what="the last statuses")
        memory, grown = measure_memory(samples)
        print("\nRSS per process:\n" + "\n".join(memory))
        reconcile(pg_url, traffic, fake_graph, soak_org["org_id"])
        assert memory, "no memory samples"
        assert not grown, f"memory grew after warm-up: {grown}"
    except BaseException:
        for process in processes:  # what the app logged about it, before the logs go
            print(f"--- {process.name} errors ---\n{errors_logged(process.output())}")
        raise
    finally:
        for process in reversed(processes):
            process.stop()


def errors_logged(log: str, context: int = 25) -> str:
    lines = log.splitlines()
    shown: list[str] = []
    for n, line in enumerate(lines):
        if " ERROR " in line or line.startswith("Traceback"):
            shown += lines[n:n + context]
    return "\n".join(shown[-400:])


def reconcile(pg_url: str, traffic: Traffic, graph, org_id: int) -> None:
    assert traffic.errors == [], traffic.errors
    posted = sum(n for (kind, _), n in traffic.answers.items() if kind in ("webhook", "stripe"))
    # every POST, Meta's and Stripe's, answered 200
    assert traffic.answers[("webhook", 200)] + traffic.answers[("stripe", 200)] == posted
    with psycopg.connect(pg_url) as conn:
        stored, processed = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'processed') FROM webhook_events"
        ).fetchone()
        # sent = stored = processed
        assert posted == stored == processed, (posted, stored, processed)

        # Each Stripe event applied once, to the organization, which ends paying.
        applied = Counter(e for (e,) in conn.execute(
            "SELECT stripe_event_id FROM stripe_events WHERE organization_id = %s", (org_id,)))
        assert set(applied) == set(traffic.stripe_events) and set(applied.values()) <= {1}
        state = conn.execute("SELECT billing_state FROM organizations WHERE id = %s",
                             (org_id,)).fetchone()[0]
        assert not traffic.stripe_events or state == "active", state

        wamids = Counter(w for (w,) in conn.execute(
            "SELECT wamid FROM messages WHERE wamid LIKE 'wamid.SOAK.%'"))
        assert set(wamids) == traffic.wamids and set(wamids.values()) == {1}

        replies = conn.execute("SELECT id, send_state, wamid, status FROM messages "
                               "WHERE origin = 'api' ORDER BY id").fetchall()
        assert [r[0] for r in replies] == sorted(traffic.replies)
        assert {r[1] for r in replies} <= {"accepted"}, Counter(r[1] for r in replies)
        accepted = Counter(a["text"]["body"] for a in graph.cloud.accepted)
        assert len(accepted) == len(replies) and set(accepted.values()) <= {1}  # none twice
        read = {r[2] for r in replies if r[3] == "read"}
        assert read == traffic.read

        sales = conn.execute("""
            SELECT s.id, count(e.id), min(e.status), max(e.status), min(e.event_id)
            FROM sales s LEFT JOIN meta_conversion_events e
              ON e.sale_id = s.id AND e.event_name = 'Purchase'
            GROUP BY s.id ORDER BY s.id""").fetchall()
        assert [s[0] for s in sales] == sorted(traffic.sales)
        assert all(s[1] == 1 for s in sales), "a sale without exactly one Purchase event"
        final = {"sent", "skipped", "failed"}
        assert all(s[2] in final and s[3] in final for s in sales), sales
        statuses = Counter(s[2] for s in sales)
        sent_ids = [s[4] for s in sales if s[2] == "sent"]
        assert all(graph.capi.accepted[event_id] == 1 for event_id in sent_ids)
        pending = conn.execute("SELECT count(*) FROM meta_conversion_events "
                               "WHERE status NOT IN ('sent', 'skipped', 'failed')").fetchone()[0]
        assert pending == 0
    print(f"\nsoak {SECONDS:.0f} s: {posted} webhooks (all 200, stored, processed), "
          f"({len(traffic.stripe_events)} from Stripe), "
          f"{len(traffic.wamids)} messages and echoes, {len(replies)} replies "
          f"({len(traffic.read)} read), {len(sales)} sales (Purchase {dict(statuses)})")


def measure_memory(samples: dict[str, list[tuple[float, int]]]) -> tuple[list[str], list[str]]:
    """RSS after warm-up (the first third) per process, and those that grew more than
    RSS_GROWTH_LIMIT_KIB by the end (medians of three samples, so one spike does not count)."""
    lines, grown = [], []
    for name, points in sorted(samples.items()):
        warm = [rss for t, rss in points if t >= SECONDS / 3]
        if len(warm) < 3:
            continue
        start = statistics.median(warm[:3])
        end = statistics.median(warm[-3:])
        lines.append(f"  {name}: {start / 1024:.1f} MiB after warm-up, "
                     f"{end / 1024:.1f} MiB at the end, peak {max(warm) / 1024:.1f} MiB")
        if end - start > RSS_GROWTH_LIMIT_KIB:
            grown.append(name)
    return lines, grown
