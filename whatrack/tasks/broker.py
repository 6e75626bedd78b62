"""The Dramatiq broker, built at import time BEFORE any actor module is imported.

Dramatiq binds each actor to the global broker when its decorator runs, and silently
creates a localhost Redis broker if none is set, so this module must run first
(``whatrack/tasks/__init__.py`` imports it before the actors).

With REDIS_URL: a RedisBroker. Without it: a StubBroker drained by an in-process worker
thread, so a laptop needs nothing installed.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from config import config_from_env
from whatrack import queue
from whatrack.tasks.middleware import AppContextMiddleware

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

QUEUES = ("webhooks", "messaging", "capi", "default")


def _middleware() -> list[Any]:
    # The default stack minus Prometheus (it opens a port and writes to /tmp).
    return [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(), Retries()]


def build_broker() -> dramatiq.Broker:
    cfg = config_from_env()
    if cfg.REDIS_URL:
        # Not at the top: laptop mode (no REDIS_URL) never loads the Redis broker.
        from whatrack.tasks.doorbell import DoorbellRedisBroker

        return DoorbellRedisBroker(
            url=cfg.REDIS_URL,
            namespace=f"{cfg.REDIS_NAMESPACE}:dramatiq",
            middleware=_middleware(),
        )
    broker = StubBroker(middleware=_middleware())
    broker.emit_after("process_boot")
    return broker


broker = build_broker()
dramatiq.set_broker(broker)
for _queue in QUEUES:
    broker.declare_queue(_queue)

_app_middleware = AppContextMiddleware()
broker.add_middleware(_app_middleware)

_inprocess_lock = threading.Lock()
_inprocess_worker: dramatiq.Worker | None = None


def dramatiq_init_app(app: Flask) -> None:
    """Give actors an app context of ``app``; the last app initialised wins."""
    _app_middleware.app = app
    app.extensions["dramatiq"] = broker
    if is_inprocess() and app.config.get("INPROCESS_WORKER"):
        # Laptop mode: the worker thread and scheduler start with the first request, not
        # on import, so `flask db upgrade` never runs sweepers against a missing schema.
        app.before_request(ensure_inprocess_worker)


def is_inprocess() -> bool:
    return isinstance(broker, StubBroker)


def ensure_inprocess_worker() -> None:
    """Start the worker thread that drains the StubBroker (laptop mode), once per process."""
    global _inprocess_worker
    if not is_inprocess() or _inprocess_worker is not None:
        return
    with _inprocess_lock:
        if _inprocess_worker is None:
            worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
            worker.start()
            _inprocess_worker = worker
            # Not at the top: schedule imports the actors, which must bind to the broker
            # this module sets up first.
            from whatrack.tasks.schedule import start_scheduler_thread

            start_scheduler_thread()
            log.info("in-process worker and scheduler started (no REDIS_URL)")


def queue_depths() -> dict[str, tuple[int, int]]:
    """Per queue: (messages enqueued and not yet acknowledged, dead-lettered messages).

    The first number counts waiting, delayed (retries) and in-progress messages alike: what
    the workers still owe. Redis: one pipelined round trip of HLENs over the broker's hashes.
    """
    if isinstance(broker, StubBroker):
        return {name: (broker.queues[name].qsize() + broker.queues[dq_name(name)].qsize(),
                       len(broker.dead_letters_by_queue.get(name, ())))
                for name in QUEUES}
    client = broker.client
    pipe = client.pipeline(transaction=False)
    for name in QUEUES:
        base = f"{broker.namespace}:{name}"
        pipe.hlen(f"{base}.msgs")
        pipe.hlen(f"{base}.DQ.msgs")
        pipe.hlen(f"{base}.XQ.msgs")
    counts = pipe.execute()
    return {name: (counts[3 * i] + counts[3 * i + 1], counts[3 * i + 2])
            for i, name in enumerate(QUEUES)}


queue.bind_broker(broker, after_send=ensure_inprocess_worker)
