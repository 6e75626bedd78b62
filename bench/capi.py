"""CAPI dispatch benchmark: drain 10,000 pending events through a hostile fake Graph API.

    .venv/bin/python bench/capi.py [--events 10000] [--poison 50] [--error-rate 0.01]
                                   [--processes 1] [--threads 8] [--messages 10]

Setup (everything on 127.0.0.1, a throwaway PostgreSQL database and Redis namespace,
removed at the end): one organization connected to one dataset, ``--events`` pending
Purchase events on as many ad tickets, ``--poison`` of them carrying a click id the fake
refuses. The fake Graph API (tests/fakes/graph.py, in this process) answers 500 to
``--error-rate`` of the requests at random and 400 (100 / 2804087) to any request holding
a poison event, exactly as Meta refuses a whole batch for one bad event.

Ours: ``dramatiq whatrack.tasks.worker --queues capi`` worker processes (production
config: retry base 2 s, 10 s timeout) and ``--messages`` ``send_conversion_events``
messages; the clock runs from the enqueue until no event is pending.

Baseline, same run: the very request bodies our workers sent (same count, same payloads,
in the same order), POSTed bare over keep-alive connections by as many client threads as
the workers have, with no database work and no retry wait.

Checks (exit status 1 if any fails): duplicates == 0, failed == exactly the poison events,
every other event sent, drained in under 20 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
TARGET_SECONDS = 20.0
WABA_ID = "200000000000001"
DATASET_ID = "500000000000001"
TOKEN = "bench-token"  # a token only the fake accepts
APP_SECRET = "bench-app-secret"


def _pg(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def _environment(db_name: str, namespace: str, graph_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update({
        "WHATRACK_ENV": "production",
        "DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db_name,
        "REDIS_URL": REDIS_URL,
        "REDIS_NAMESPACE": namespace,
        "SECRET_KEY": secrets.token_hex(16),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "META_GRAPH_URL": graph_url,
        "META_APP_SECRET": APP_SECRET,
        "PYTHONPATH": str(ROOT),
    })
    return env


def _seed(app, events: int, poison: int, seed: int) -> tuple[int, set[str]]:
    """Organization, number, connection, and ``events`` pending events (bulk inserts)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from whatrack.extensions import db
    from whatrack.models import Contact, MetaConversionEvent, Ticket, utcnow
    from whatrack.services.accounts import orgs
    from whatrack.services.meta import connection as meta_connection
    from whatrack.services.tickets.stages import entry_stage
    from whatrack.services.whatsapp.accounts import attach_account
    from whatrack.tenancy import bind_org

    with app.app_context():
        upgrade()
        org = orgs.sign_up("Clínica Bench", "Bench", "bench@example.com", "bench-password-1").org
        db.session.commit()
        with bind_org(org):
            account = attach_account(org, waba_id=WABA_ID, phone_number_id="300000000000001",
                                     display_phone_number="5511940001234", token=TOKEN)
            stage_id = entry_stage(org).id
            meta_connection.connect_cli(org, TOKEN, DATASET_ID)
            db.session.commit()
            now = utcnow()
            poisoned = set(random.Random(seed).sample(range(events), poison))
            db.session.execute(insert(Contact), [
                {"organization_id": org.id, "wa_id": str(5511970000000 + i), "created_at": now}
                for i in range(events)])
            contact_ids = list(db.session.scalars(select(Contact.id).order_by(Contact.id)))
            db.session.execute(insert(Ticket), [
                {"organization_id": org.id, "contact_id": contact_id,
                 "whatsapp_account_id": account.id, "stage_id": stage_id, "lead_source": "ad",
                 "ctwa_clid": (f"POISON-{i}" if i in poisoned else f"ARAk-bench-{i:05d}"),
                 "created_at": now, "version": 1, "unread_count": 0, "imported": False}
                for i, contact_id in enumerate(contact_ids)])
            ticket_ids = list(db.session.scalars(select(Ticket.id).order_by(Ticket.id)))
            db.session.execute(insert(MetaConversionEvent), [
                {"organization_id": org.id, "event_name": "Purchase",
                 "event_id": f"whatrack:{org.id}:bench:{i}:Purchase", "event_time": now,
                 "ticket_id": ticket_id, "trigger": "sale", "currency": "BRL",
                 "value": Decimal(f"{100 + i % 900}.{i % 100:02d}"), "status": "pending",
                 "reason_code": "queued",
                 "next_attempt_at": now, "attempts": 0, "failures": 0, "created_at": now}
                for i, ticket_id in enumerate(ticket_ids)])
            db.session.commit()
            poison_ids = {f"whatrack:{org.id}:bench:{i}:Purchase" for i in poisoned}
            return org.id, poison_ids


def _counts(app, org_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from whatrack.extensions import db
    from whatrack.models import MetaConversionEvent
    from whatrack.tenancy import bind_org

    with app.app_context(), bind_org(org_id):
        rows = db.session.execute(select(MetaConversionEvent.status, func.count())
                                  .group_by(MetaConversionEvent.status)).all()
        db.session.remove()
    return dict(rows)


def _failed_ids(app, org_id: int) -> set[str]:
    from sqlalchemy import select

    from whatrack.extensions import db
    from whatrack.models import MetaConversionEvent
    from whatrack.tenancy import bind_org

    with app.app_context(), bind_org(org_id):
        ids = set(db.session.scalars(select(MetaConversionEvent.event_id)
                                     .where(MetaConversionEvent.status == "failed")))
        db.session.remove()
    return ids


def _start_workers(env: dict[str, str], processes: int, threads: int, log: Path):
    argv = [str(VENV_BIN / "dramatiq"), "whatrack.tasks.worker", "--queues", "capi",
            "--processes", str(processes), "--threads", str(threads)]
    handle = log.open("ab")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    handle.close()
    deadline = time.monotonic() + 60
    while log.read_text(errors="replace").count("ready for action") < processes:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("workers did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.1)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            continue


def baseline(url: str, bodies: list[bytes], threads: int) -> float:
    """Bare POSTs of the same bodies: keep-alive connections, no database, no waiting."""
    import requests

    queue = iter(range(len(bodies)))
    lock = threading.Lock()
    path = f"{url}/v25.0/{DATASET_ID}/events"

    def client() -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        while True:
            with lock:
                index = next(queue, None)
            if index is None:
                break
            session.post(path, data=bodies[index], headers=headers, timeout=30)
        session.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    start = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.monotonic() - start


def run(args: argparse.Namespace) -> dict:
    import logging

    from tests.fakes.graph import FakeGraph
    from tests.fakes.graph_meta_ads import FakeCapi

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    fake = FakeGraph(token=TOKEN).start()
    fake.login.app_secret = APP_SECRET  # appsecret_proof is checked on every request
    tag = secrets.token_hex(4)
    db_name, namespace = f"whatrack_bench_capi_{tag}", f"whatrack-bench-capi-{tag}"
    env = _environment(db_name, namespace, fake.url)
    os.environ.update(env)  # the broker is built from the environment when whatrack loads
    with _pg(PG_ADMIN_URL) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    workers = None
    logdir = Path(tempfile.mkdtemp(prefix="bench-capi-"))
    try:
        from whatrack import create_app
        from whatrack.tasks import load_actors

        app = create_app()
        load_actors()
        org_id, poison_ids = _seed(app, args.events, args.poison, args.seed)
        fake.capi = FakeCapi(poison_clids={f"POISON-{i}" for i in range(args.events)},
                             error_rate=args.error_rate, seed=args.seed)
        workers = _start_workers(env, args.processes, args.threads, logdir / "worker.log")

        from whatrack.tasks.conversions import send_conversion_events

        start = time.monotonic()
        for _ in range(args.messages):
            send_conversion_events.send(org_id)
        while _counts(app, org_id).get("pending", 0):
            if time.monotonic() - start > args.timeout:
                raise RuntimeError("not drained in time; worker log:\n"
                                   + (logdir / "worker.log").read_text(errors="replace")[-3000:])
            time.sleep(0.05)
        drained = time.monotonic() - start

        counts = _counts(app, org_id)
        failed_ids = _failed_ids(app, org_id)
        accepted = Counter(fake.capi.accepted)
        bodies = list(fake.capi.bodies)
        our = {
            "events": args.events, "poison": args.poison, "error_rate": args.error_rate,
            "drain_seconds": round(drained, 2), "requests": len(bodies),
            "sent": counts.get("sent", 0), "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0), "pending": counts.get("pending", 0),
            "duplicated": sum(n - 1 for n in accepted.values() if n > 1),
            "accepted_by_meta": len(accepted),
            "failed_are_exactly_poison": failed_ids == poison_ids,
            "workers": f"{args.processes} process x {args.threads} threads",
            "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
            "messages": args.messages,
        }
        fake.capi.error_rate = 0.0
        threads = args.processes * args.threads
        base = baseline(fake.url, bodies, threads)
        our["baseline_seconds"] = round(base, 2)
        our["baseline_threads"] = threads
        our["ratio"] = round(drained / base, 2) if base else None
        return our
    finally:
        if workers is not None:
            _stop(workers)
        fake.stop()
        with _pg(PG_ADMIN_URL) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        _flush_namespace(namespace)


def _flush_namespace(namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--poison", type=int, default=50)
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    result = run(args)
    checks = {
        "duplicates == 0": result["duplicated"] == 0,
        "failed == the poison events": result["failed_are_exactly_poison"]
        and result["failed"] == args.poison,
        "every other event sent": result["sent"] == args.events - args.poison,
        f"drained in < {TARGET_SECONDS:.0f} s": result["drain_seconds"] < TARGET_SECONDS,
    }
    print(json.dumps(result, indent=2))
    print(f"\nours: {result['drain_seconds']} s for {result['requests']} requests; "
          f"baseline (same bodies, bare POSTs): {result['baseline_seconds']} s; "
          f"ratio {result['ratio']}x")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / f"capi-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "checks": checks}, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
