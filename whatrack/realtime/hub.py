"""Fan-out of organization events to the websockets of this process.

``RedisHub``: one pattern subscription per process (a single daemon thread) receives every
organization's events from Redis and hands each to the local sockets of that organization,
so web nodes scale out without sticky sessions. ``LocalHub`` is its in-process twin for a
laptop without Redis. Both deliver at most once; clients resync over HTTP after a gap.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

import redis

log = logging.getLogger(__name__)

SOCKET_QUEUE_SIZE = 500


class Subscription:
    """One socket's inbox of frames; full queues drop the oldest (the client will resync).

    Frames are kept as the JSON text that goes on the wire: the hub decodes nothing and the
    socket encodes nothing, once per organization event rather than once per open socket.
    """

    def __init__(self, org_id: int) -> None:
        self.org_id = org_id
        self.queue: queue.Queue[str] = queue.Queue(maxsize=SOCKET_QUEUE_SIZE)

    def put(self, frame: str) -> None:
        while True:
            try:
                self.queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    pass

    def get_frame(self, timeout: float) -> str | None:
        """The next frame as JSON text, what the socket sends."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The next frame, decoded."""
        frame = self.get_frame(timeout)
        return None if frame is None else json.loads(frame)


class LocalHub:
    """Publish and deliver inside one process (no Redis configured)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[int, set[Subscription]] = {}

    def subscribe(self, org_id: int) -> Subscription:
        sub = Subscription(org_id)
        with self._lock:
            self._subs.setdefault(org_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.get(sub.org_id, set()).discard(sub)

    def deliver(self, org_id: int, frame: str) -> None:
        with self._lock:
            targets = list(self._subs.get(org_id, ()))
        for sub in targets:
            sub.put(frame)

    def publish(self, org_id: int, event: dict[str, Any]) -> None:
        # Encoded here as Redis would carry it: the laptop behaves like production.
        self.deliver(org_id, json.dumps(event))

    def close(self) -> None:
        pass


class RedisHub(LocalHub):
    """Publish through Redis; one subscriber thread per process feeds local sockets."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        super().__init__()
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self._prefix = f"{namespace}:org:"
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()

    def channel(self, org_id: int) -> str:
        return f"{self._prefix}{org_id}"

    def publish(self, org_id: int, event: dict[str, Any]) -> None:
        self._redis.publish(self.channel(org_id), json.dumps(event))

    def subscribe(self, org_id: int) -> Subscription:
        self._ensure_listener()
        return super().subscribe(org_id)

    def _ensure_listener(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen_forever, name="realtime-hub", daemon=True
                )
                self._thread.start()
        self._ready.wait(timeout=5)

    def _listen_forever(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            try:
                self._listen_once()
                delay = 0.5
            except Exception:
                log.warning("realtime subscriber lost Redis; retrying in %.1fs", delay)
                self._ready.clear()
                time.sleep(delay)
                delay = min(delay * 2, 30)

    def _listen_once(self) -> None:
        pubsub = self._redis.pubsub()
        pubsub.psubscribe(f"{self._prefix}*")
        try:
            # Ready only once Redis confirms the subscription: a frame published before
            # that would be lost for sockets that were told the hub is listening.
            while not self._stopping.is_set():
                reply = pubsub.get_message(timeout=1)
                if reply and reply.get("type") == "psubscribe":
                    break
            self._ready.set()
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=1)
                if message and message.get("type") == "pmessage":
                    self._dispatch(message)
        finally:
            pubsub.close()

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        try:
            org_id = int(channel[len(self._prefix):])
            frame = message["data"].decode()
        except (ValueError, TypeError, AttributeError):
            log.warning("ignoring malformed realtime frame on %s", channel)
            return
        # Only our publish() writes these channels: the JSON goes to the sockets as it came.
        self.deliver(org_id, frame)

    def close(self) -> None:
        self._stopping.set()
