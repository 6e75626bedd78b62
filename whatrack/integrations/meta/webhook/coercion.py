"""Small coercions: every read of webhook payload data goes through one of these.

Meta's payloads are untrusted JSON; each helper returns the expected type or an empty/``None``
value instead of raising, so one odd field never costs the rest of a batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def text_id(value: Any) -> str | None:
    """Ids and phone numbers are strings, but tolerate an integer rendering of them."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        try:
            return int(value)
        except ValueError:  # absurdly long digit strings
            return None
    return None


def as_number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def as_datetime(value: Any) -> datetime | None:
    """Meta sends unix seconds as a string (messages, statuses) or a number (automatic_events)."""
    seconds: float | int | None = as_number(value)
    if isinstance(value, str):
        try:
            seconds = float(value) if "." in value else int(value)
        except ValueError:
            return None
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):  # out of range, inf, nan
        return None


def digits_of(value: str | None) -> str:
    return "".join(ch for ch in value if ch.isdigit()) if value else ""


def join_lines(*parts: str | None) -> str | None:
    return "\n".join(p for p in parts if p) or None


def join_words(*parts: str | None) -> str | None:
    return " ".join(p for p in parts if p) or None
