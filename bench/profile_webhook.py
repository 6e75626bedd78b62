"""Where one webhook request's time goes: SQL per request and a cProfile of the handler.

    .venv/bin/python bench/profile_webhook.py [--requests 500] [--top 25]

Runs the real app in-process (WHATRACK_ENV=production, PostgreSQL, Redis broker) in a
throwaway database and Redis namespace, posts signed single-message webhooks through the
Flask test client (no gunicorn, no worker), prints every SQL statement and Redis command
one request sends, the mean time per request, then the cProfile top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)

    with ingest.in_process_app("prof", args.redis_url) as secret:
        return profile(args, secret)


def profile(args: argparse.Namespace, secret: str) -> int:
    from sqlalchemy import event

    import wsgi
    from whatrack.extensions import db

    app = wsgi.app
    deliveries = ingest.build_deliveries(secret, args.requests + 21, 0, 5511930000000, "p")
    client = app.test_client()

    def post(delivery):
        response = client.post("/webhooks/whatsapp", data=delivery.body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": delivery.signature})
        assert response.status_code == 200, response.status_code

    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, stmt, *_a: statements.append(" ".join(stmt.split())[:110]))
    redis_commands: list[str] = []
    broker_client = app.extensions["dramatiq"].client
    original = broker_client.execute_command

    def traced(*cmd, **kw):
        redis_commands.append(" ".join(str(c) for c in cmd[:2]))
        return original(*cmd, **kw)

    for delivery in deliveries[:20]:  # warm: pool, prepared state, imports
        post(delivery)
    statements.clear()
    broker_client.execute_command = traced
    post(deliveries[20])
    broker_client.execute_command = original
    from whatrack.tasks.webhooks import intake_handoff

    intake_handoff.flush()  # its queue message is sent by the handoff thread, not the request
    print(f"one webhook request: {len(statements)} SQL statements, "
          f"{len(redis_commands)} Redis commands in the request thread")
    for stmt in statements:
        print(f"  SQL   {stmt}")
    for cmd in redis_commands:
        print(f"  REDIS {cmd}")

    measured = deliveries[21:]
    t0 = time.perf_counter()
    for delivery in measured:
        post(delivery)
    per_request = (time.perf_counter() - t0) / len(measured) * 1e3
    print(f"\n{len(measured)} requests, sequential: {per_request:.2f} ms each")

    import baseline_app  # same process, same DB: the bare handler, for scale

    with ingest._pg(os.environ["DATABASE_URL"]) as conn:
        conn.execute("CREATE TABLE bench_baseline_events (id bigserial PRIMARY KEY, "
                     "body bytea NOT NULL, body_sha256 varchar(64) NOT NULL, "
                     "received_at timestamptz NOT NULL DEFAULT now())")
    base_client = baseline_app.app.test_client()
    for delivery in measured[:20]:
        base_client.post("/webhooks/whatsapp", data=delivery.body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": delivery.signature})
    t0 = time.perf_counter()
    for delivery in measured:
        response = base_client.post("/webhooks/whatsapp", data=delivery.body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": delivery.signature})
        assert response.status_code == 200
    base_ms = (time.perf_counter() - t0) / len(measured) * 1e3
    print(f"baseline handler, same requests: {base_ms:.2f} ms each "
          f"(ours/baseline time {per_request / base_ms:.2f}x)\n")

    profiler = cProfile.Profile()
    more = ingest.build_deliveries(secret, args.requests, 0, 5511920000000, "q")
    profiler.enable()
    for delivery in more:
        post(delivery)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(args.top)
    for name in ("intake.py.*receive", "store_webhook", "handoff.py.*submit"):
        stats.print_callees(name)
    print(out.getvalue())
    waits = sum(stat[0] for (path, _line, name), stat in stats.stats.items()
                if name == "wait" and path.endswith("psycopg/connection.py"))
    base_profiler = cProfile.Profile()
    base_more = ingest.build_deliveries(secret, args.requests, 0, 5511910000000, "r")
    base_profiler.enable()
    for delivery in base_more:
        base_client.post("/webhooks/whatsapp", data=delivery.body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": delivery.signature})
    base_profiler.disable()
    base_calls = pstats.Stats(base_profiler).total_calls / len(base_more)
    print(f"Python function calls per request (deterministic, test client included): "
          f"ours {stats.total_calls / len(more):.0f}, baseline {base_calls:.0f}")
    print(f"psycopg Connection.wait calls per request (autocommit INSERT; a pool pre-ping "
          f"would add 3): {waits / len(more):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
