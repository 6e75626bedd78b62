"""What a detector reads and what it answers, and the interface every detector implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

INBOUND = "inbound"
OUTBOUND = "outbound"


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation, oldest first; `direction` is inbound or outbound."""

    id: str
    direction: str
    text: str


@dataclass(frozen=True)
class Detection:
    """A sale the detector believes happened, with the messages that show it."""

    value: Decimal
    currency: str
    confidence: float
    reason: str
    evidence_message_ids: tuple[str, ...]
    detector: str = "builtin"
    notes: tuple[str, ...] = field(default_factory=tuple)


class SaleDetector(Protocol):
    name: str

    def detect(self, messages: Sequence[ChatMessage]) -> list[Detection]:
        """The sales in these messages (oldest first); an empty list when there is none."""
        ...
