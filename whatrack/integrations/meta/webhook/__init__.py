"""Turn a Meta WhatsApp Cloud API webhook body into typed, immutable records.

``types`` holds the records, ``parse`` the entry points and walkers, ``coercion`` the helpers
every read of payload data goes through; import the public names from this package.

This package is deliberately pure (stdlib only, no I/O besides a warning log line):
the webhook task stores the raw body first and calls :func:`parse` later, so the parser
can be tested against recorded fixtures alone and re-run on old rows after a bug fix.

Contract with the caller:

* :func:`parse` never raises for a ``dict`` input. Anything it cannot understand becomes an
  :class:`Unsupported` item in ``ParsedWebhook.others``; one bad message must not lose the
  other updates of a batched POST (Meta never re-sends a webhook we acknowledged).
* :func:`parse_bytes` raises :class:`MalformedPayload` only when the body is not a JSON object
  with an ``entry`` list, i.e. when there is nothing at all to salvage.

Shapes follow ``shared/reference/meta-platform.md`` section 2 (envelope, messages, statuses,
coexistence echoes and history), 5.8 (automatic_events) and 8 (BSUID).
"""

from whatrack.integrations.meta.webhook.parse import MalformedPayload, parse, parse_bytes
from whatrack.integrations.meta.webhook.types import (
    HISTORY_DECLINED_CODE,
    MEDIA_TYPES,
    ContactBookChange,
    Direction,
    HistoryNotice,
    InboundMessage,
    Media,
    MessageContext,
    Origin,
    Other,
    OtherChange,
    ParsedWebhook,
    Referral,
    ReportedError,
    StatusUpdate,
    Unsupported,
)

__all__ = [
    "HISTORY_DECLINED_CODE",
    "MEDIA_TYPES",
    "ContactBookChange",
    "Direction",
    "HistoryNotice",
    "InboundMessage",
    "MalformedPayload",
    "Media",
    "MessageContext",
    "Origin",
    "Other",
    "OtherChange",
    "ParsedWebhook",
    "Referral",
    "ReportedError",
    "StatusUpdate",
    "Unsupported",
    "parse",
    "parse_bytes",
]
