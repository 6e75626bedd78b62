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

import itertools
import os
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from whatrack.integrations.meta import capi
from whatrack.integrations.meta.errors import MetaError
from whatrack.integrations.meta.graph import GraphClient
from whatrack.models import utcnow

_pool: OldestFirstPool | None = None
_pool_lock = threading.Lock()
_batches = itertools.count()  # ranks batches in the order they were locked


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


class OldestFirstPool:
    """A fixed set of threads that take the request of the oldest batch first.

    First in, first out, every batch being split advanced a round at a time and they all
    finished together at the end, holding their row locks and their results (nothing is
    committed before the batch is done) while the batches still queued behind them waited
    for a thread. Oldest first, batches finish one after another and the next one starts
    while the others are still sending. A batch has a bounded number of requests, so a
    younger one waits at most that long.
    """

    def __init__(self, size: int) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Future[Answer], Any]] = \
            queue.PriorityQueue()
        self._order = itertools.count()  # first come first served within a batch
        for number in range(size):
            threading.Thread(target=self._run, name=f"capi-post-{number}", daemon=True).start()

    def submit(self, rank: int, task: Any) -> Future[Answer]:
        future: Future[Answer] = Future()
        self._queue.put((rank, next(self._order), future, task))
        return future

    def _run(self) -> None:
        while True:
            _, _, future, task = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(task())
            except BaseException as exc:  # handed to the waiting thread, which re-raises
                future.set_exception(exc)


def _forget_pool_in_child() -> None:
    # A forked child inherits the pool object but none of its threads: it would wait forever.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def batch_rank() -> int:
    """A new batch's place in the queue: after every batch locked before it."""
    return next(_batches)


def submit(size: int, rank: int, client: GraphClient, dataset_id: str, body: bytes,
           app_secret: str | None) -> Future[Answer]:
    """Post ``body`` on the shared pool (``size`` threads, fixed by the first call)."""
    global _pool  # one pool per process, created on first use (after the fork)
    with _pool_lock:
        if _pool is None:
            _pool = OldestFirstPool(max(1, size))
    return _pool.submit(rank, partial(_post, client, dataset_id, body, app_secret))
