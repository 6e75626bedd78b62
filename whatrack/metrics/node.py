"""What this web node's processes count themselves (summed over gunicorn's workers).

The children are bound once here: the webhook intake pays one counter increment per delivery
(a few microseconds, an mmap write in multiprocess mode), no label lookup.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WEBHOOKS_RECEIVED = Counter(
    "whatrack_webhooks_received",
    "WhatsApp webhook deliveries answered by this node's intake, by result",
    ["result"],
)
RECEIVED_STORED = WEBHOOKS_RECEIVED.labels("stored")
RECEIVED_BAD_SIGNATURE = WEBHOOKS_RECEIVED.labels("bad_signature")
RECEIVED_TOO_LARGE = WEBHOOKS_RECEIVED.labels("too_large")
RECEIVED_UNAVAILABLE = WEBHOOKS_RECEIVED.labels("unavailable")

# livesum: a process that died no longer holds its sockets (gunicorn.conf.py removes its file).
WEBSOCKETS = Gauge(
    "whatrack_websocket_connections",
    "Open /ws connections on this node",
    multiprocess_mode="livesum",
)
