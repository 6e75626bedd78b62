"""Logging setup: one line per record with request, organization and queue-message ids attached.

``LOG_FORMAT=text`` (default) is for people reading a terminal; ``LOG_FORMAT=json`` writes one
JSON object per line for a log pipeline (Loki, CloudWatch, ELK) with the same fields as keys.
Both formats pass every message through ``redact`` first: a token that slips into an exception
text (a URL with ``access_token=``, an ``Authorization`` header echoed by a library) never
reaches the log store.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import threading
import uuid
from datetime import UTC, datetime

from flask import g, has_request_context, request

from whatrack.tenancy import bound_org_id

LOG_FORMATS = ("text", "json")

# Credentials we or our providers use, by shape. The key/value forms keep the name so the line
# still says what was there; the bare forms (Meta user tokens, Stripe keys, our API keys) are
# recognisable by their prefixes.
_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(access_token|client_secret|appsecret_proof|fb_exchange_token"
                r"|password|api_key|token)=([^&\s\"']+)"), r"\1=[redacted]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"(?i)(\"(?:access_token|token|password|secret|api_key|client_secret)\"\s*:\s*)"
                r"\"[^\"]*\""), r'\1"[redacted]"'),
    (re.compile(r"\bEAA[A-Za-z0-9]{20,}"), "[redacted]"),
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}"), "[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9]{8,}"), "[redacted]"),
    (re.compile(r"\bwt_[A-Za-z0-9_-]{16,}"), "[redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_queue_message = threading.local()


def bind_queue_message(message_id: str | None) -> None:
    """The Dramatiq message the current worker thread is running (None when it is done)."""
    _queue_message.id = message_id


def current_queue_message() -> str | None:
    return getattr(_queue_message, "id", None)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        record.org_id = bound_org_id() or "-"
        record.message_id = current_queue_message() or "-"
        return True


class RedactingFormatter(logging.Formatter):
    """The usual one-line format, with credentials masked in the message and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp (UTC, ISO 8601), level, logger, message, ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": _id_or_none(getattr(record, "request_id", None)),
            "org_id": _org_or_none(getattr(record, "org_id", None)),
        }
        message_id = _id_or_none(getattr(record, "message_id", None))
        if message_id is not None:
            entry["message_id"] = message_id
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _id_or_none(value: object) -> object:
    return None if value in (None, "-") else value


def _org_or_none(value: object) -> object:
    value = _id_or_none(value)
    return int(value) if isinstance(value, str) and value.isdigit() else value


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Set up the ``whatrack`` loggers; an unknown format is text, with a warning saying so."""
    unknown = log_format not in LOG_FORMATS
    formatter = ({"()": JsonFormatter} if log_format == "json" else {
        "()": RedactingFormatter,
        "format": "%(asctime)s %(levelname)s %(name)s "
                  "[req=%(request_id)s org=%(org_id)s] %(message)s",
    })
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter}},
            "formatters": {"line": formatter},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "line",
                    "filters": ["context"],
                }
            },
            "loggers": {"whatrack": {"level": level, "handlers": ["stderr"], "propagate": True}},
        }
    )
    if unknown:
        logging.getLogger("whatrack").warning(
            "LOG_FORMAT=%r is not one of %s; writing text logs", log_format, ", ".join(LOG_FORMATS))


def assign_request_id() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming[:64] if incoming.isalnum() else uuid.uuid4().hex[:16]
