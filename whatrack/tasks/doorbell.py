"""A Redis broker whose idle consumers wake when a message is enqueued, not on their next poll.

Dramatiq's Redis consumer polls an empty queue, sleeping a growing backoff capped by
``dramatiq_worker_timeout`` between polls: a message sent to an idle worker waits for the
end of that sleep (up to 1 s by default, about 10 ms on average at a 20 ms cap,
bench/realtime.py). That wait was most of the time a webhook took to reach the open
inboxes. Here every enqueue also pushes a token on the queue's "doorbell" list, and a
consumer that finds its queue empty blocks on that list (BLPOP) instead of sleeping, for
at most the same ``worker_timeout``: the first idle consumer wakes within a Redis round trip.

A missed or extra token changes nothing but latency: the messages themselves live in
Dramatiq's queue, and a consumer fetches whatever is there whenever it wakes. Delay queues
(retries, scheduled sends) keep Dramatiq's polling: their messages become due by time.
"""

from __future__ import annotations

from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import dq_name, q_name
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

TOKENS_KEPT = 16  # tokens beyond this would only wake consumers that are awake already


class DoorbellRedisBroker(RedisBroker):
    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _DoorbellConsumer

    def doorbell(self, queue_name: str) -> str:
        return f"{self.namespace}:{q_name(queue_name)}.doorbell"

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        message = super().enqueue(message, delay=delay)
        if delay is None:  # a delayed message is moved to its queue by time, not by a ring
            key = self.doorbell(message.queue_name)
            pipe = self.client.pipeline(transaction=False)
            pipe.lpush(key, 1)
            pipe.ltrim(key, 0, TOKENS_KEPT - 1)
            pipe.execute()
        return message

    def wait_for_ring(self, queue_name: str, seconds: float) -> None:
        try:
            self.client.blpop([self.doorbell(queue_name)], timeout=seconds)
        except redis.TimeoutError:
            pass  # a socket_timeout shorter than the wait (REDIS_URL option): just poll again


class _DoorbellConsumer(_RedisConsumer):
    def __next__(self) -> Any:
        waits_by_time = self.queue_name == dq_name(q_name(self.queue_name))
        if (self.message_cache or waits_by_time
                or self.outstanding_message_count >= self.prefetch):
            # A full prefetch keeps Dramatiq's short backoff: its miss count restarts with
            # every message taken, so it sleeps ~5-10 ms there, not up to worker_timeout.
            return super().__next__()
        try:
            self.message_cache = self.broker.do_fetch(
                self.queue_name, self.prefetch - self.outstanding_message_count)
            if not self.message_cache:
                # Returning None lets the consumer thread hand over its acks and check for
                # shutdown, at least once per worker_timeout, as after Dramatiq's own sleep.
                self.broker.wait_for_ring(self.queue_name, self.timeout / 1000)
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None
        return super().__next__()  # takes the first of the messages just fetched
