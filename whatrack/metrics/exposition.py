"""The body of ``/metrics``: this node's metrics plus the cluster's, in Prometheus' text format."""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from whatrack.metrics.cluster import ClusterCollector
from whatrack.metrics.shared import SharedCounters


def render(counters: SharedCounters) -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # gunicorn: every worker process writes its values to files in this directory; the
        # process answering the scrape sums them (prometheus_client's multiprocess mode).
        node = CollectorRegistry()
        multiprocess.MultiProcessCollector(node)
    else:
        # One process (flask run, tests, a one-worker gunicorn): its own default registry.
        node = REGISTRY
    cluster = CollectorRegistry(auto_describe=False)
    cluster.register(ClusterCollector(counters))
    # The text format is a list of families: two registries' outputs concatenate.
    return generate_latest(node) + generate_latest(cluster), CONTENT_TYPE_LATEST
