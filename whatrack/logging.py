"""Logging setup: one line per record with request and organization ids attached."""

from __future__ import annotations

import logging
import logging.config
import uuid

from flask import g, has_request_context, request

from whatrack.tenancy import bound_org_id


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        record.org_id = bound_org_id() or "-"
        return True


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter}},
            "formatters": {
                "line": {
                    "format": "%(asctime)s %(levelname)s %(name)s "
                    "[req=%(request_id)s org=%(org_id)s] %(message)s"
                }
            },
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


def assign_request_id() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming[:64] if incoming.isalnum() else uuid.uuid4().hex[:16]
