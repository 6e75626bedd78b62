"""What a dispatch run carries between dispatch.py and writes.py (neither imports the other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whatrack.integrations.meta import capi
from whatrack.integrations.meta.errors import MetaErrorInfo


@dataclass
class DispatchResult:
    locked: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    requests: int = 0
    held: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)  # rows not written yet


@dataclass
class Outgoing:
    """One locked event, what it needs to become a payload, and its outcome so far."""

    id: int
    data: capi.EventData
    attempts: int
    failures: int
    sale_cancelled: bool = False
    payload: str | None = None
    status: str = "pending"
    reason_code: str | None = None
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    http_status: int | None = None
    response_body: str | None = None
    events_received: int | None = None
    fbtrace_id: str | None = None
    error: MetaErrorInfo | None = None
    written: bool = False  # its final state is already in the transaction
