"""Inbox and Kanban first pages at 100,000 tickets / 1,000,000 messages (issues #11, #16).

    .venv/bin/python bench/pages.py [--tickets 100000] [--requests 200]

A throwaway PostgreSQL database gets the schema (``flask db upgrade``), two organizations
through the CLI, and then, in SQL (bench/pages_seed.py): the big one with ``--tickets``
conversations (10 messages each on average, so 1,000,000 messages by default) and a small
one with ``--small-tickets``, the baseline. Each page is requested in-process through the
Flask test client (production config, logged in as the organization's owner), for both
organizations in the same run: server time p50/p95 over ``--requests`` requests after a
warm-up, and SQL statements per request. The ratio ours/baseline is big org / small org:
same code, same machine, same minute, only the data differs.

Targets (exit status 1 if missed): the inbox page, its conversation list and the Kanban's
first page answer in p95 < 50 ms with at most 6 SQL statements. The database is dropped at
the end, also on errors and Ctrl-C, unless ``--keep-db NAME`` names it: then a first run
seeds NAME and leaves it, later runs only upgrade its schema (``flask db upgrade``) and
measure, so an index can be tried without seeding a million messages again. Drop it with
``psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE "NAME"'``. Results: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest
import pages_seed

TARGET_P95_MS = 50.0
TARGET_QUERIES = 6
PASSWORD = "bench-password-123"


@dataclass
class Sample:
    times: list[float] = field(default_factory=list)  # seconds
    queries: list[int] = field(default_factory=list)

    def ms(self, pct: float) -> float:
        return ingest.percentile(self.times, pct) * 1e3


@dataclass(frozen=True)
class Case:
    name: str
    url: Callable[[dict], str]  # from the organization's facts (ids, names) to a URL
    target: bool = False  # a first page: held to the p95 and query targets


def _facts(conn, org_id: int, owner_email: str) -> dict:
    """What the URLs need: the newest conversation, a stage, an old contact to search for."""
    newest = conn.execute(
        "SELECT t.id FROM tickets t WHERE t.organization_id = %s "
        "ORDER BY t.last_message_at DESC, t.id DESC LIMIT 1", (org_id,)).fetchone()[0]
    stage = conn.execute("SELECT id FROM stages WHERE organization_id = %s "
                         "ORDER BY position LIMIT 1 OFFSET 1", (org_id,)).fetchone()[0]
    # The search targets sit in the middle of the list: never on the first page.
    old = conn.execute(
        "SELECT t.id, c.profile_name, c.wa_id FROM tickets t JOIN contacts c "
        "ON c.id = t.contact_id WHERE t.organization_id = %s ORDER BY t.last_message_at "
        "OFFSET (SELECT count(*) / 2 FROM tickets WHERE organization_id = %s) LIMIT 1",
        (org_id, org_id)).fetchone()
    return {"newest": newest, "stage": stage, "old_ticket": old[0],
            "old_name": old[1].split()[0], "old_number": old[2][-8:], "email": owner_email}


INBOX = "/dashboard/whatsapp/inbox"
CASES = (
    Case("inbox page (first load)", lambda f: INBOX, target=True),
    Case("conversation list JSON", lambda f: f"{INBOX}/conversations", target=True),
    Case("kanban first page", lambda f: "/dashboard/tickets", target=True),
    Case("open newest: thread JSON", lambda f: f"{INBOX}/conversations/{f['newest']}?read=1"),
    Case("open newest: ticket panel",
         lambda f: f"/dashboard/tickets/{f['newest']}?partial=1&in=inbox"),
    Case("open newest: composer", lambda f: f"{INBOX}/conversations/{f['newest']}/composer"),
    Case("list: unread", lambda f: f"{INBOX}/conversations?unread=1"),
    Case("list: mine", lambda f: f"{INBOX}/conversations?mine=1"),
    Case("list: unassigned", lambda f: f"{INBOX}/conversations?unassigned=1"),
    Case("list: stage", lambda f: f"{INBOX}/conversations?stage={f['stage']}"),
    Case("list: source=ad", lambda f: f"{INBOX}/conversations?source=ad"),
    Case("list: source=ad_no_click", lambda f: f"{INBOX}/conversations?source=ad_no_click"),
    Case("list: source=link", lambda f: f"{INBOX}/conversations?source=link"),
    Case("list: source=organic", lambda f: f"{INBOX}/conversations?source=organic"),
    Case("list: window open", lambda f: f"{INBOX}/conversations?window=1"),
    Case("search: name", lambda f: f"{INBOX}/conversations?q={f['old_name']}"),
    Case("search: number", lambda f: f"{INBOX}/conversations?q={f['old_number']}"),
    Case("search: message text",
         lambda f: f"{INBOX}/conversations?q=P{f['old_ticket']}"),
    # A word in ~6% of messages ("próxima semana"): many hits, the page must still stop early.
    Case("search: common word", lambda f: f"{INBOX}/conversations?q=semana"),
    Case("kanban: search name", lambda f: f"/dashboard/tickets?q={f['old_name']}"),
)


def _login(client, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD,
                                           "csrf_token": token},
                           headers={"Referer": "https://localhost/login"})  # CSRF, https
    assert response.status_code == 302, (response.status_code, response.get_data()[:300])


def _measure(client, url: str, counter: list[int], requests: int, warmup: int,
             budget: float) -> Sample:
    sample = Sample()
    started = time.monotonic()
    for i in range(warmup + requests):
        counter.clear()
        t0 = time.perf_counter()
        response = client.get(url, headers={"Accept": "application/json"}
                              if "/conversations" in url else {})
        elapsed = time.perf_counter() - t0
        assert response.status_code == 200, (url, response.status_code)
        if i >= warmup:
            sample.times.append(elapsed)
            sample.queries.append(len(counter))
        elif time.monotonic() - started > 10:  # seconds per request: warm enough
            warmup = i + 1
        if time.monotonic() - started > budget and len(sample.times) >= 20:
            break  # a pathological page: 20 requests already tell the story
    return sample


RESULTS: list[dict] = []  # one row per request kind, for --json


def measure(args: argparse.Namespace, orgs: dict[str, dict]) -> bool:
    from sqlalchemy import event

    import wsgi
    from whatrack.extensions import db

    app = wsgi.app
    counter: list[int] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *_a: counter.append(1))
    clients = {}
    for name, facts in orgs.items():
        clients[name] = app.test_client()
        clients[name].environ_base["wsgi.url_scheme"] = "https"  # secure session cookie
        _login(clients[name], facts["email"])
    met = True
    header = (f"{'request':28} {'ours p50':>9} {'p95':>7} {'base p50':>9} {'p95':>7} "
              f"{'p95 x':>6} {'SQL':>5} {'base':>5} {'n':>5}  target")
    print(header)
    print("-" * len(header))
    for case in CASES:
        if args.only and args.only not in case.name:
            continue
        ours = _measure(clients["big"], case.url(orgs["big"]), counter, args.requests,
                        args.warmup, args.budget)
        base = _measure(clients["small"], case.url(orgs["small"]), counter, args.requests,
                        args.warmup, args.budget)
        queries = max(ours.queries)
        verdict = ""
        if case.target:
            ok = ours.ms(95) < TARGET_P95_MS and queries <= TARGET_QUERIES
            met &= ok
            verdict = "met" if ok else "MISSED"
        RESULTS.append({"request": case.name, "target": case.target, "met": verdict == "met",
                        "p50_ms": ours.ms(50), "p95_ms": ours.ms(95),
                        "baseline_p50_ms": base.ms(50), "baseline_p95_ms": base.ms(95),
                        "queries": queries, "baseline_queries": max(base.queries)})
        print(f"{case.name:28} {ours.ms(50):8.1f}  {ours.ms(95):6.1f} {base.ms(50):8.1f}  "
              f"{base.ms(95):6.1f} {ours.ms(95) / base.ms(95):5.2f}x {queries:5d} "
              f"{max(base.queries):5d} {len(ours.times):5d}  {verdict}", flush=True)
    return met


EMAILS = {"big": "big@example.com", "small": "small@example.com"}


def _kept_facts(env: dict[str, str]) -> dict[str, dict]:
    """A kept database: its schema brought up to date, its organizations found by owner."""
    ingest._run([str(ingest.VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env)
    facts = {}
    with ingest._pg(env["DATABASE_URL"]) as conn:
        for name, email in EMAILS.items():
            org_id = conn.execute(
                "SELECT m.organization_id FROM memberships m JOIN users u ON u.id = m.user_id "
                "WHERE u.email = %s", (email,)).fetchone()[0]
            facts[name] = _facts(conn, org_id, email)
        conn.execute("ANALYZE")  # new indexes (expression ones) need statistics too
    return facts


def _database_exists(name: str) -> bool:
    with ingest._pg(ingest.PG_ADMIN_URL) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


def _seed(env: dict[str, str], args: argparse.Namespace) -> dict[str, dict]:
    flask = [str(ingest.VENV_BIN / "flask"), "--app", "wsgi"]
    ingest._run([*flask, "db", "upgrade"], env)
    made = {}
    for name, number_id in (("big", "200000000000001"), ("small", "200000000000002")):
        email = EMAILS[name]
        out = ingest._run([*flask, "org", "create", "--name", f"Bench {name}",
                           "--owner-email", email, "--owner-password", PASSWORD], env)
        slug = out.strip().splitlines()[-1]
        ingest._run([*flask, "whatsapp", "attach", "--org", slug, "--waba-id",
                     f"1000{number_id}", "--phone-number-id", number_id,
                     "--display-phone-number", f"55119{number_id[-8:]}",
                     "--token", "bench-token"], env)
        made[name] = (slug, email)
    facts = {}
    with ingest._pg(env["DATABASE_URL"]) as conn:
        for name, prefix, count in (("big", "55119", args.tickets),
                                    ("small", "55218", args.small_tickets)):
            slug, email = made[name]
            org_id = conn.execute("SELECT id FROM organizations WHERE slug = %s",
                                  (slug,)).fetchone()[0]
            org = pages_seed.load_org(conn, org_id, prefix, 3, name)
            t0 = time.monotonic()
            counts = pages_seed.fill(conn, org, count)
            print(f"seeded {name}: {counts} in {time.monotonic() - t0:.1f} s", flush=True)
            facts[name] = _facts(conn, org_id, email)
        t0 = time.monotonic()
        conn.execute("ANALYZE")  # autovacuum is off here: the planner needs statistics
        print(f"ANALYZE: {time.monotonic() - t0:.1f} s", flush=True)
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--small-tickets", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds per request kind before it stops early (>= 20 samples)")
    parser.add_argument("--only", default="",
                        help="measure only the requests whose name contains this")
    parser.add_argument("--keep-db", default="", metavar="NAME",
                        help="seed database NAME once and keep it; later runs reuse it")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)

    token = secrets.token_hex(4)
    db_name = args.keep_db or f"whatrack_pages_{token}"
    namespace = f"whatrack-pages-{token}"
    env = ingest.app_env(db_name, args, namespace, secrets.token_hex(16))
    # SIGTERM ends the run like Ctrl-C does: through the finally below.
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(143))
    reuse = bool(args.keep_db) and _database_exists(db_name)
    if not reuse:
        ingest.create_database(db_name)
    seeded = reuse
    try:
        t0 = time.monotonic()
        orgs = _kept_facts(env) if reuse else _seed(env, args)
        seeded = True
        print(f"total seed time: {time.monotonic() - t0:.1f} s; "
              f"load average {os.getloadavg()[0]:.2f}\n", flush=True)
        os.environ.update(env)  # before whatrack is imported: config reads it at import
        met = measure(args, orgs)
        print(f"\nload average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("targets (first pages p95 < 50 ms, <= 6 SQL):", "met" if met else "MISSED")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "tickets": args.tickets, "small_tickets": args.small_tickets, "met": met,
                "loadavg": os.getloadavg(), "requests": RESULTS}, indent=2))
        return 0 if met else 1
    finally:
        if not (args.keep_db and seeded):  # a half-seeded kept database is no use
            ingest.drop_database(db_name)
        ingest.flush_redis_namespace(args.redis_url, namespace)


if __name__ == "__main__":
    sys.exit(main())
