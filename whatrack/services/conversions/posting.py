"""CAPI requests on a small process-wide pool: many in flight, bookkeeping elsewhere.

A refused 1,000-event batch turns into ~32 parts, then their parts; posted one after the
other from the worker thread that holds the batch's row locks, they left the process idle
between answers while the other threads queued behind their own batches (bench/capi.py).
The pool lets a batch's parts go out together. It is shared by every worker thread of the
process and bounded (``META_CAPI_CONCURRENCY``), so the process never has more requests in
flight at Meta than that, however many batches are being split at once.

Only the HTTP request runs on the pool: it needs no Flask context and no database. What
the answer means for the events is decided by the caller, in its own thread.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from whatrack.integrations.meta import capi
from whatrack.integrations.meta.errors import MetaError
from whatrack.integrations.meta.graph import GraphClient
from whatrack.models import utcnow

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class Answer:
    """How one request went: Meta's response, or the error it raised."""

    started: datetime
    duration_ms: int
    response: capi.Response | None = None
    error: MetaError | None = None


def _post(client: GraphClient, dataset_id: str, body: bytes, app_secret: str | None) -> Answer:
    # Timed here, on the pool thread: time spent queued for a free thread is not Meta's.
    started, clock = utcnow(), time.monotonic()
    try:
        response = capi.post_events(client, dataset_id, body, app_secret)
    except MetaError as exc:
        return Answer(started, int((time.monotonic() - clock) * 1000), error=exc)
    return Answer(started, int((time.monotonic() - clock) * 1000), response=response)


def submit(size: int, client: GraphClient, dataset_id: str, body: bytes,
           app_secret: str | None) -> Future[Answer]:
    """Post ``body`` on the shared pool (``size`` threads, fixed by the first call)."""
    global _pool  # one pool per process, created on first use (after the fork)
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, size), thread_name_prefix="capi-post")
    return _pool.submit(_post, client, dataset_id, body, app_secret)
