"""Conversions API for business messaging (WhatsApp): payloads, validation, batching, posting.

Pure: plain data in and out, no Flask, no database. The rules come from Meta's CAPI for
business messaging (meta-platform.md section 5):

* ``action_source`` is ``business_messaging`` and ``messaging_channel`` is ``whatsapp``;
* only the business-messaging event names are accepted (``Lead`` is refused with subcode
  2804066: the lead event is ``LeadSubmitted``);
* ``user_data`` carries the WABA id and the ad click id (``ctwa_clid``) as they are, and
  optional customer fields SHA-256 hashed after normalisation;
* ``event_time`` is Unix seconds and at most 7 days old, and one bad event makes Meta refuse
  the whole request, so events are validated before they are batched;
* at most 1,000 events per request.

Money goes out as a JSON number written from the Decimal itself (``1234.56``), never
through a float, so the body is serialised here rather than by ``json.dumps``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from whatrack.integrations.meta.errors import MetaError
from whatrack.integrations.meta.graph import GraphClient

ACTION_SOURCE = "business_messaging"
MESSAGING_CHANNEL = "whatsapp"
# Meta's list for action_source=business_messaging (meta-platform.md 5.4).
BUSINESS_MESSAGING_EVENTS = (
    "Purchase",
    "LeadSubmitted",
    "QualifiedLead",
    "InitiateCheckout",
    "AddToCart",
    "ViewContent",
    "OrderCreated",
    "OrderShipped",
    "OrderDelivered",
    "OrderCanceled",
    "OrderReturned",
    "CartAbandoned",
    "RatingProvided",
    "ReviewProvided",
)
MAX_BATCH = 1000
MAX_EVENT_AGE = timedelta(days=7)
# Our clock and Meta's differ a little, and a batch takes time to reach Meta: an event
# this close to the 7-day edge is treated as too old rather than risked (one old event
# fails every other event of its request).
AGE_MARGIN = timedelta(minutes=10)
MAX_FUTURE = timedelta(minutes=5)

# Graph errors that are about one event of the request: splitting the batch isolates it.
# Anything else (dataset not accessible, permissions...) concerns the whole request.
EVENT_LEVEL_SUBCODES = frozenset({2804066, 2804087})
REQUEST_LEVEL_SUBCODES = frozenset({33})
REQUEST_LEVEL_CODES = frozenset({0, 3, 10, 102, 190, 200, 270, 294})


class Invalid(Exception):
    """The event cannot be sent as it is; ``code`` says why (a reason code of ours)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


@dataclass(frozen=True)
class EventData:
    """What we know about one conversion, before it becomes Meta's JSON."""

    event_name: str
    event_id: str
    event_time: datetime
    waba_id: str | None
    ctwa_clid: str | None
    phone: str | None = None
    value: Decimal | None = None
    currency: str | None = None
    # "automatic_events" when re-reporting a conversion Meta detected itself (5.8).
    outcome_type: str | None = None


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    events_received: int | None
    fbtrace_id: str | None
    messages: list[Any]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalize_phone(raw: str | None) -> str | None:
    """Digits only, with the country code, no ``+`` or leading ``00`` (5.5); None if unusable."""
    if not raw:
        return None
    digits = re.sub(r"\D+", "", raw)
    if digits.startswith("00"):
        digits = digits[2:]
    return digits if 8 <= len(digits) <= 15 else None


def validate(data: EventData, now: datetime) -> None:
    """Refuse, before batching, anything Meta would refuse (and take the batch down with it)."""
    if data.event_name not in BUSINESS_MESSAGING_EVENTS:
        raise Invalid("event_name_not_allowed", data.event_name)
    if not data.ctwa_clid:
        raise Invalid("no_click")
    if not data.waba_id:
        raise Invalid("no_waba")
    if data.event_time < now - MAX_EVENT_AGE + AGE_MARGIN:
        raise Invalid("too_old")
    if data.event_time > now + MAX_FUTURE:
        raise Invalid("future_time")
    if data.event_name == "Purchase":
        if data.value is None or not data.value.is_finite() or data.value <= 0:
            raise Invalid("no_value")
        if not data.currency or not re.fullmatch(r"[A-Z]{3}", data.currency):
            raise Invalid("no_value")


def build_event(data: EventData) -> dict[str, Any]:
    """Meta's event object (5.3); the value stays a Decimal until ``dumps`` writes it."""
    user_data: dict[str, Any] = {
        "whatsapp_business_account_id": data.waba_id,
        "ctwa_clid": data.ctwa_clid,
    }
    phone = normalize_phone(data.phone)
    if phone:
        user_data["ph"] = [sha256_hex(phone)]
    event: dict[str, Any] = {
        "event_name": data.event_name,
        "event_time": int(data.event_time.timestamp()),
        "event_id": data.event_id,
        "action_source": ACTION_SOURCE,
        "messaging_channel": MESSAGING_CHANNEL,
        "user_data": user_data,
    }
    if data.value is not None:
        event["custom_data"] = {"currency": data.currency, "value": data.value}
    if data.outcome_type:
        event["messaging_outcome_data"] = {"outcome_type": data.outcome_type}
    return event


def _decimal_literal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError("a conversion value must be a finite number")
    return format(value, "f")  # exact digits, never an exponent or a float's rounding


def _swap_decimals(obj: Any, literals: list[str], marker: str) -> Any:
    if isinstance(obj, Decimal):
        literals.append(_decimal_literal(obj))
        return f"{marker}{len(literals) - 1}"
    if isinstance(obj, float):
        raise TypeError("floats cannot carry money exactly: use Decimal")
    if isinstance(obj, dict):
        return {key: _swap_decimals(value, literals, marker) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_swap_decimals(value, literals, marker) for value in obj]
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    """JSON text with Decimals written as exact numbers (``Decimal("1234.56")`` -> ``1234.56``).

    Compact by default (what goes to Meta); ``indent`` pretty-prints for the audit page.
    Decimals become unique placeholder strings for the (C-accelerated) encoder, then the
    quoted placeholders are replaced by the exact digits.
    """
    literals: list[str] = []
    marker = f"@@whatrack-decimal-{secrets.token_hex(8)}-"
    text = json.dumps(_swap_decimals(obj, literals, marker), ensure_ascii=False, indent=indent,
                      separators=None if indent else (",", ":"))
    for index, literal in enumerate(literals):
        text = text.replace(f'"{marker}{index}"', literal)
    return text


def request_body(events_json: Sequence[str], test_event_code: str | None = None) -> bytes:
    """The POST body for already serialised events (each one from ``dumps``)."""
    body = '{"data":[' + ",".join(events_json) + "]"
    if test_event_code:
        body += ',"test_event_code":' + json.dumps(test_event_code)
    return (body + "}").encode()


def chunks(items: Sequence[Any], size: int = MAX_BATCH) -> Iterator[Sequence[Any]]:
    if size < 1 or size > MAX_BATCH:
        raise ValueError(f"a batch holds 1 to {MAX_BATCH} events")
    for start in range(0, len(items), size):
        yield items[start:start + size]


def is_event_level(error: MetaError) -> bool:
    """Would sending the events one by one (splitting the batch) isolate the problem?"""
    info = error.info
    if info.subcode in EVENT_LEVEL_SUBCODES:
        return True
    if info.subcode in REQUEST_LEVEL_SUBCODES or info.code in REQUEST_LEVEL_CODES:
        return False
    if info.code is not None and 200 <= info.code <= 299:
        return False
    # Generic invalid parameter (100) or an unknown 4xx: one event may be the cause.
    return True


def appsecret_proof(app_secret: str, token: str) -> str:
    """HMAC-SHA256 of the token keyed with the app secret (meta-platform.md 6.7)."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def parse_response(status: int, text: str) -> Response:
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    received = body.get("events_received")
    return Response(status=status, body=text, events_received=received
                    if isinstance(received, int) else None,
                    fbtrace_id=body.get("fbtrace_id"), messages=body.get("messages") or [])


def redacted_request(url: str, batch_size: int, test_event_code: str | None) -> dict[str, Any]:
    """What the audit log keeps of a request: never the token or the proof."""
    return {"method": "POST", "url": url, "headers": {"Authorization": "Bearer [redacted]",
                                                      "Content-Type": "application/json"},
            "batch_size": batch_size, "test_event_code": test_event_code}


def post_events(client: GraphClient, dataset_id: str, body: bytes,
                app_secret: str | None = None) -> Response:
    """POST one batch to ``/{dataset_id}/events``; Graph errors raise typed MetaErrors."""
    params = {}
    if app_secret:
        params["appsecret_proof"] = appsecret_proof(app_secret, client.token)
    response = client.post_bytes(f"{dataset_id}/events", body, params=params)
    return parse_response(response.status_code, response.text)
