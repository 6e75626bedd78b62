"""The immutable records :func:`~whatrack.integrations.meta.webhook.parse` returns.

Plain stdlib dataclasses, so services and tests can build and compare them without the parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

Origin = Literal["customer", "business_app_echo", "history"]
Direction = Literal["inbound", "outbound"]

MEDIA_TYPES: Final = frozenset({"image", "audio", "video", "document", "sticker"})
# Meta's "History sync is turned off by the business" code (history_declined.json).
HISTORY_DECLINED_CODE: Final = 2593109


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportedError:
    """An error object Meta reports inside a webhook (on a status, a message or a whole value).

    Data, not an exception: the exceptions raised by our Graph API calls live in ``meta.errors``.
    """

    code: int | None = None
    title: str | None = None
    message: str | None = None
    details: str | None = None
    href: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Media:
    id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    animated: bool = False
    # Newer payloads carry a lookaside URL; it still needs our token, so it is only a hint.
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageContext:
    replied_to_wamid: str | None = None
    from_wa_id: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Referral:
    ctwa_clid: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    source_url: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    welcome_message_text: str | None = None
    # The whole object is kept for lead reporting even when there is no ctwa_clid (Status ads).
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A message from any origin: live customer message, app echo or history back-fill."""

    waba_id: str | None
    phone_number_id: str | None
    display_phone_number: str | None
    wamid: str
    type: str
    origin: Origin
    direction: Direction
    # History is imported read-only: no automations, no "new lead" logic.
    is_history: bool = False
    from_wa_id: str | None = None
    to_wa_id: str | None = None
    # The customer's number whatever the direction (echoes and history swap from/to).
    customer_wa_id: str | None = None
    from_user_id: str | None = None
    bsuid: str | None = None
    profile_name: str | None = None
    username: str | None = None
    timestamp: datetime | None = None
    text: str | None = None
    media: Media | None = None
    details: dict[str, Any] = field(default_factory=dict)
    context: MessageContext | None = None
    referral: Referral | None = None
    errors: tuple[ReportedError, ...] = ()
    history_status: str | None = None
    warnings: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    waba_id: str | None
    phone_number_id: str | None
    display_phone_number: str | None
    wamid: str
    status: str
    timestamp: datetime | None = None
    recipient_wa_id: str | None = None
    errors: tuple[ReportedError, ...] = ()
    conversation: dict[str, Any] | None = None
    pricing: dict[str, Any] | None = None
    biz_opaque_callback_data: str | None = None
    warnings: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherChange:
    """Any field we do not model (account_update, automatic_events, smb_app_state_sync, ...)."""

    field: str
    waba_id: str | None
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    value: dict[str, Any] = field(default_factory=dict)
    errors: tuple[ReportedError, ...] = ()
    # WABA-level fields such as account_update carry entry.time (unix seconds).
    entry_time: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryNotice:
    """One history chunk: progress metadata, or only errors when the business declined sharing."""

    field: str
    waba_id: str | None
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    phase: int | None = None
    chunk_order: int | None = None
    progress: int | None = None
    message_count: int = 0
    errors: tuple[ReportedError, ...] = ()
    reason: str | None = None

    @property
    def declined(self) -> bool:
        return any(e.code == HISTORY_DECLINED_CODE for e in self.errors)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactBookChange:
    """One entry of the WhatsApp Business app's address book (``smb_app_state_sync``).

    ``add`` also covers edits; ``remove`` carries only the number (meta-platform.md 2.10).
    """

    field: str
    waba_id: str | None
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    action: Literal["add", "remove"]
    phone_number: str
    full_name: str | None = None
    first_name: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsupported:
    """Something we could not turn into a record; kept (and logged) instead of raising."""

    field: str | None
    reason: str
    raw: dict[str, Any] = field(default_factory=dict)
    waba_id: str | None = None
    phone_number_id: str | None = None
    display_phone_number: str | None = None


Other = OtherChange | HistoryNotice | ContactBookChange | Unsupported


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedWebhook:
    object: str | None
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)

    def phone_number_ids(self) -> set[str]:
        """Every phone_number_id seen, so the task can resolve each tenant once."""
        items: Iterable[Any] = (*self.messages, *self.statuses, *self.others)
        return {item.phone_number_id for item in items if item.phone_number_id}

    def unsupported(self) -> list[Unsupported]:
        return [item for item in self.others if isinstance(item, Unsupported)]
