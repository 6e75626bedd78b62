"""Counters every worker process adds to and every web node reports, kept in one Redis hash.

A worker adds to a local buffer (a dict update, no I/O) and ``flush()`` sends the buffer in one
pipelined round trip after each queue message, so a message costs at most one extra Redis call
and a counter survives the process that counted it. If Redis is away the buffer is kept and sent
with the next flush: the numbers are late, never lost while the process lives.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Protocol

import redis

log = logging.getLogger(__name__)


class SharedCounters(Protocol):
    def add(self, name: str, amount: float = 1) -> None: ...

    def flush(self) -> None: ...

    def read(self) -> dict[str, float]: ...


class LocalCounters:
    """A laptop has one process: the counters are a dict in it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def flush(self) -> None:
        pass

    def read(self) -> dict[str, float]:
        with self._lock:
            return dict(self._values)


class RedisCounters:
    def __init__(self, redis_url: str, namespace: str) -> None:
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.key = f"{namespace}:metrics"
        self._lock = threading.Lock()
        self._pending: Counter[str] = Counter()

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._pending[name] += amount

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            for name, amount in pending.items():
                pipe.hincrbyfloat(self.key, name, amount)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("metrics counters not sent to Redis (%s); kept for the next flush",
                        type(exc).__name__)
            with self._lock:
                self._pending.update(pending)

    def read(self) -> dict[str, float]:
        raw = self._redis.hgetall(self.key)
        return {name.decode(): float(value) for name, value in raw.items()}
