"""The ceiling of this stack: a bare Flask handler that checks Meta's HMAC and stores the body.

No app factory, no extensions, no hooks: verify ``X-Hub-Signature-256``, INSERT the raw
body into ``bench_baseline_events``, commit, 200. Served by the same gunicorn settings as
the real app against the same database (``bench/ingest.py`` creates the table).

Environment: ``BENCH_DATABASE_URL`` (``postgresql+psycopg://...``), ``META_APP_SECRET``.
The pool has the size WhaTrack's has (``DATABASE_POOL_SIZE``, both as pool size and as
overflow), so both apps get the same connections per gunicorn worker.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from flask import Flask, request
from sqlalchemy import create_engine, text

SECRET = os.environ["META_APP_SECRET"].encode()
POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "16"))
engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=POOL_SIZE,
                       max_overflow=POOL_SIZE)
INSERT = text("INSERT INTO bench_baseline_events (body, body_sha256) VALUES (:body, :sha)")
TEXT = {"Content-Type": "text/plain; charset=utf-8"}

app = Flask(__name__)


@app.post("/webhooks/whatsapp")
def receive():
    raw = request.get_data(cache=False)
    header = request.headers.get("X-Hub-Signature-256") or ""
    expected = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, header.strip()):
        return "invalid signature", 401, TEXT
    with engine.begin() as conn:
        conn.execute(INSERT, {"body": raw, "sha": hashlib.sha256(raw).hexdigest()})
    return "ok", 200, TEXT


@app.get("/healthz")
def healthz():
    return "ok", 200, TEXT
