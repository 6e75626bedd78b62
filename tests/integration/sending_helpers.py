"""Shared set-up of the sending tests: a customer who wrote, and what Meta received."""

from __future__ import annotations

import time
from typing import Any

from tests.fixtures_whatsapp import (
    FIXTURE_PHONE_ID,
    all_rows,
    profile,
    status_item,
    text_message,
    webhook_body,
)
from whatrack.models import Message, Ticket

# Meta reports Brazilian mobiles without the 9th digit; replies must go to this exact id.
CUSTOMER_REPORTED = "551187654321"
MESSAGES_PATH = f"/v25.0/{FIXTURE_PHONE_ID}/messages"


def customer_writes(post_webhook, worker, *, hours_ago: float = 0.0, wamid: str = "wamid.IN1",
                    sender: str | None = CUSTOMER_REPORTED, bsuid: str | None = None) -> Ticket:
    """An inbound message through the real webhook path; returns its ticket."""
    sent_at = int(time.time() - hours_ago * 3600)
    extra = {"from_user_id": bsuid} if bsuid else {}
    body = webhook_body(messages=[text_message(sender, wamid, sent_at, "Oi, quero agendar",
                                               **extra)],
                        contacts=[profile(sender, "Mariana", user_id=bsuid)])
    assert post_webhook(body).status_code == 200
    worker.drain()
    [ticket] = all_rows(Ticket)
    return ticket


def post_status(post_webhook, worker, wamid: str, status: str, **extra: Any) -> None:
    body = webhook_body(statuses=[status_item(wamid, status, int(time.time()),
                                              recipient=CUSTOMER_REPORTED, **extra)])
    assert post_webhook(body).status_code == 200
    worker.drain()


def outbound() -> list[Message]:
    return all_rows(Message, Message.direction == "outbound")


def message_posts(fake_graph) -> list[Any]:
    """Sends that reached the fake (read receipts excluded)."""
    return [r for r in fake_graph.requests_to(MESSAGES_PATH) if "status" not in r.json()]
