"""Where one worker's time goes: SQL per delivery and a cProfile of the webhook actor.

    .venv/bin/python bench/profile_worker.py [--messages 2000] [--batch 20] [--top 30]

Runs the real app in-process (WHATRACK_ENV=production, PostgreSQL) in a throwaway database,
stores signed single-message deliveries (each a new contact, the costly case) with the
intake's own INSERT, then calls the actor the hand-off queues (``process_webhook_events``)
directly on batches of ``--batch`` ids: no broker, no threads. Prints statements per
delivery, CPU and wall time per message, then the cProfile top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)

    with ingest.in_process_app("profw", args.redis_url) as secret:
        return profile(args, secret)


def _store(engine, deliveries) -> list[int]:
    from whatrack.services.webhooks.store import store_webhook

    return [store_webhook(engine, d.body) for d in deliveries]


def profile(args: argparse.Namespace, secret: str) -> int:
    from sqlalchemy import event

    import wsgi
    from whatrack.extensions import db
    from whatrack.tasks.webhooks import process_webhook_events

    app = wsgi.app
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
        warm = _store(engine, ingest.build_deliveries(secret, 40, 0, 5511940000000, "w"))
        for start in range(0, len(warm), args.batch):
            process_webhook_events.fn(warm[start:start + args.batch])
        db.session.remove()

        one = _store(engine, ingest.build_deliveries(secret, 1, 0, 5511941000000, "o"))
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, stmt, *_a: statements.append(" ".join(stmt.split())[:110]))
        process_webhook_events.fn(one)
        db.session.remove()
        print(f"one new-contact delivery: {len(statements)} SQL statements")
        for stmt in statements:
            print(f"  SQL   {stmt}")
        statements.clear()

        ids = _store(engine, ingest.build_deliveries(secret, args.messages, 0, 5511950000000, "m"))
        batches = [ids[i:i + args.batch] for i in range(0, len(ids), args.batch)]
        half = len(batches) // 2
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for batch in batches[:half]:
            process_webhook_events.fn(batch)
            db.session.remove()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        done = sum(len(b) for b in batches[:half])
        print(f"\n{done} messages in batches of {args.batch}: {len(statements) / done:.1f} "
              f"statements, {cpu / done * 1e3:.2f} ms CPU, {wall / done * 1e3:.2f} ms wall "
              f"each ({done / wall:.0f} msg/s on one thread)")
        if args.no_profile:
            return 0
        profiler = cProfile.Profile()
        profiler.enable()
        for batch in batches[half:]:
            process_webhook_events.fn(batch)
            db.session.remove()
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
