"""An idle worker picks a message up when it is enqueued, not at its next poll (doorbell.py)."""

from __future__ import annotations

import threading
import time

import dramatiq

from tests.fixtures_whatsapp import stop_worker

QUEUE = "doorbell_test"
_waits: list[float] = []
_arrived = threading.Event()


def _ring(sent_at: float) -> None:
    _waits.append(time.monotonic() - sent_at)
    _arrived.set()


def test_an_idle_worker_wakes_on_enqueue_not_on_its_next_poll(app):
    from whatrack.tasks.broker import broker
    from whatrack.tasks.doorbell import DoorbellRedisBroker

    assert isinstance(broker, DoorbellRedisBroker)  # the tests' broker is the Redis one
    ring = dramatiq.actor(_ring, queue_name=QUEUE, max_retries=0, actor_name="doorbell_ring")
    # A 2 s poll cap: without the doorbell, an idle consumer sleeps up to that long.
    worker = dramatiq.Worker(broker, queues={QUEUE}, worker_threads=1, worker_timeout=2000)
    worker.start()
    try:
        for _ in range(3):
            time.sleep(0.7)  # long enough for Dramatiq's backoff to reach ~0.3-0.6 s
            _arrived.clear()
            ring.send(time.monotonic())
            assert _arrived.wait(5), "the message never arrived"
        assert max(_waits) < 0.25, _waits
    finally:
        stop_worker(broker, worker)
        broker.flush(QUEUE)

