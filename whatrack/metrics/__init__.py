"""Prometheus metrics (decisions.md D37).

Two kinds, because WhaTrack runs as many processes on many machines:

* **node** metrics (``node.py``): what one web node's processes saw (webhook deliveries its
  intake answered, websockets it holds). prometheus_client objects; under gunicorn they are
  summed over the worker processes through ``PROMETHEUS_MULTIPROC_DIR`` (multiprocess mode).
  Prometheus scrapes every web node and sums them.
* **cluster** metrics (``cluster.py``): the same on every node, read when scraped: counters
  the Dramatiq workers keep in Redis (``shared.py``), queue depths from the broker, and
  backlog and outbox gauges from PostgreSQL. Workers need no scrape target of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from whatrack.metrics.shared import LocalCounters, RedisCounters, SharedCounters

if TYPE_CHECKING:
    from flask import Flask


def metrics_init_app(app: Flask) -> None:
    counters: SharedCounters
    if app.config.get("REDIS_URL"):
        counters = RedisCounters(app.config["REDIS_URL"], app.config["REDIS_NAMESPACE"])
    else:
        counters = LocalCounters()
    app.extensions["metrics"] = counters


def shared_counters() -> SharedCounters:
    """The current app's cluster-wide counters (workers add, /metrics reads)."""
    from flask import current_app

    return current_app.extensions["metrics"]
