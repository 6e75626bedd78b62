"""Hand ids of committed rows to the queue from a background thread, in batches.

The webhook intake must answer Meta as fast as the database commit allows. Sending one
queue message per delivery from the request thread cost a Redis round trip and Dramatiq's
message building on every POST: about a third of the intake's time. Here the request only
appends the id to an in-process buffer; one thread per process sends whatever has piled
up as a single message. Under load a send carries many ids, and the request never waits
for Redis.

Nothing is lost if the process dies with ids still buffered: the rows are committed
before the ids get here, and the sweeper re-enqueues rows left unprocessed.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

BURST_GAP = 0.01  # seconds: ids closer than this (100/s and more) are a burst worth batching


class BatchHandoff:
    """``submit(id)`` returns at once; a daemon thread calls ``send(ids)`` with batches."""

    def __init__(self, send: Callable[[list[int]], None], *, max_batch: int = 20,
                 linger: float = 0.005, name: str = "handoff") -> None:
        self._send = send
        self._max_batch = max_batch
        self._linger = linger
        self._name = name
        self._pid: int | None = None
        self._reset()

    def _reset(self) -> None:
        # Also after a fork: a child must not inherit the parent's lock state or thread.
        self._buffer: deque[int] = deque()
        self._pending = 0  # submitted and not yet handed to ``send`` (or given up on)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_send = 0.0

    def submit(self, item: int) -> None:
        if self._pid != os.getpid():
            self._start()
        with self._cond:
            self._buffer.append(item)
            self._pending += 1
            if len(self._buffer) in (1, self._max_batch):  # the sender waits for these
                self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far has been sent; False on timeout."""
        if self._pid != os.getpid():
            return True
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def _start(self) -> None:
        with _start_lock:
            if self._pid == os.getpid():
                return
            self._reset()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
            if self._pid is None:
                atexit.register(self.flush, 5.0)  # a clean shutdown sends what is left
            self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._buffer)
                # In a burst (the previous send was moments ago), give it a few milliseconds
                # to fill the batch: one queue message then carries many ids, applied in one
                # transaction. After a quiet spell the id goes at once: an open inbox waits
                # for the worker, and the worker for this send.
                if time.monotonic() - self._last_send < BURST_GAP:
                    self._cond.wait_for(lambda: len(self._buffer) >= self._max_batch,
                                        timeout=self._linger)
                self._last_send = time.monotonic()
                batch = [self._buffer.popleft()
                         for _ in range(min(self._max_batch, len(self._buffer)))]
            try:
                self._send(batch)
            except Exception:
                # The rows are stored; the sweeper enqueues them once they look stale.
                log.exception("could not enqueue %d ids (%s); the sweeper will", len(batch),
                              self._name)
            finally:
                with self._cond:
                    self._pending -= len(batch)
                    self._cond.notify_all()


_start_lock = threading.Lock()


def _reinit_start_lock() -> None:
    global _start_lock
    _start_lock = threading.Lock()  # a fork can copy it mid-acquire, locked forever


os.register_at_fork(after_in_child=_reinit_start_lock)
