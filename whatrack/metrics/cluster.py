"""The cluster-wide metrics, read from Redis and PostgreSQL when Prometheus scrapes.

Every web node reports the same values (aggregate them with ``max``, not ``sum``). A source
that cannot be read is left out of that scrape and ``whatrack_metrics_source_up`` says which:
a broken Redis must not make /metrics answer 500 (Prometheus would lose the node metrics too).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from whatrack.metrics.shared import SharedCounters

log = logging.getLogger(__name__)

# Names of the counters the workers keep in the shared hash (tasks/webhooks.py adds them).
PROCESSED = "webhooks_processed"
FAILED = "webhooks_failed"
LAG_SUM = "webhook_lag_seconds_sum"
LAG_COUNT = "webhook_lag_seconds_count"


class ClusterCollector(Collector):
    def __init__(self, counters: SharedCounters) -> None:
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("whatrack_metrics_source_up",
                               "1 if this scrape could read the source, else 0", labels=["source"])
        for source, read in (("counters", self._counters), ("broker", self._queues),
                             ("database", self._database)):
            try:
                metrics = list(read())
            except Exception as exc:  # any failure of a source only hides that source
                log.warning("metrics source %s unreadable: %s", source, type(exc).__name__)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from metrics
        yield up

    def _counters(self) -> Iterator[Metric]:
        values = self.counters.read()
        yield CounterMetricFamily(
            "whatrack_webhooks_processed",
            "Webhook deliveries the workers turned into messages and statuses",
            value=values.get(PROCESSED, 0))
        yield CounterMetricFamily(
            "whatrack_webhooks_failed",
            "Webhook processing attempts that raised (each is retried, then marked failed)",
            value=values.get(FAILED, 0))
        yield SummaryMetricFamily(
            "whatrack_webhook_processing_lag_seconds",
            "Time from a delivery's receipt to the commit of its processing",
            count_value=values.get(LAG_COUNT, 0), sum_value=values.get(LAG_SUM, 0))

    def _queues(self) -> Iterator[Metric]:
        from whatrack.tasks.broker import queue_depths

        depth = GaugeMetricFamily("whatrack_queue_depth",
                                  "Queue messages not yet acknowledged (waiting, delayed, running)",
                                  labels=["queue"])
        dead = GaugeMetricFamily("whatrack_queue_dead_letters",
                                 "Queue messages that exhausted their retries", labels=["queue"])
        for name, (pending, dead_letters) in sorted(queue_depths().items()):
            depth.add_metric([name], pending)
            dead.add_metric([name], dead_letters)
        yield depth
        yield dead

    def _database(self) -> Iterator[Metric]:
        from whatrack.services.operations.queries import operational_counts

        counts = operational_counts()
        yield GaugeMetricFamily("whatrack_webhooks_waiting",
                                "Webhook deliveries stored and not processed yet",
                                value=counts.backlog.waiting)
        yield GaugeMetricFamily("whatrack_webhook_oldest_waiting_seconds",
                                "Age of the oldest unprocessed webhook delivery (0 when none)",
                                value=counts.backlog.oldest_age_seconds)
        events = GaugeMetricFamily("whatrack_conversion_events",
                                   "Meta Conversions API events by status", labels=["status"])
        for status, count in sorted(counts.conversion_events.items()):
            events.add_metric([status], count)
        yield events
        sends = GaugeMetricFamily("whatrack_outbound_messages",
                                  "Messages sent from WhaTrack, by send state", labels=["state"])
        for state, count in sorted(counts.sends.items()):
            sends.add_metric([state], count)
        yield sends
