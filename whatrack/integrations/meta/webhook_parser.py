"""Turn a Meta WhatsApp Cloud API webhook body into typed, immutable records.

This module is deliberately pure (stdlib only, no I/O besides a warning log line):
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

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

log = logging.getLogger(__name__)

Origin = Literal["customer", "business_app_echo", "history"]
Direction = Literal["inbound", "outbound"]

MEDIA_TYPES: Final = frozenset({"image", "audio", "video", "document", "sticker"})
# Meta's "History sync is turned off by the business" code (history_declined.json).
HISTORY_DECLINED_CODE: Final = 2593109


class MalformedPayload(ValueError):
    """The body is not a webhook envelope at all (bad JSON, not an object, no ``entry`` list)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaError:
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
    errors: tuple[MetaError, ...] = ()
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
    errors: tuple[MetaError, ...] = ()
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
    errors: tuple[MetaError, ...] = ()
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
    errors: tuple[MetaError, ...] = ()
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


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def parse_bytes(raw: bytes | str) -> ParsedWebhook:
    """Decode the raw body stored by the intake view and parse it."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise MalformedPayload(f"invalid JSON: {type(exc).__name__}") from exc
    if not isinstance(payload, dict):
        raise MalformedPayload(f"expected a JSON object, got {type(payload).__name__}")
    if not isinstance(payload.get("entry"), list):
        raise MalformedPayload("missing 'entry' list")
    return parse(payload)


def parse(payload: dict[str, Any]) -> ParsedWebhook:
    """Walk every entry and every change of a webhook body. Never raises for a dict."""
    out = _Collector()
    if not isinstance(payload, dict):
        out.unsupported(None, "payload is not a JSON object", payload, _NO_SOURCE)
        return out.build(None)
    entries = payload.get("entry")
    if not isinstance(entries, list):
        out.unsupported(None, "missing 'entry' list", payload, _NO_SOURCE)
    else:
        for entry in entries:
            _parse_entry(entry, out)
    return out.build(_text_id(payload.get("object")))


# --------------------------------------------------------------------------------------------
# Envelope
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    field: str | None
    waba_id: str | None
    phone_number_id: str | None
    display_phone_number: str | None
    entry_time: datetime | None = None


_NO_SOURCE: Final = _Source(None, None, None, None)


def _routing(src: _Source) -> dict[str, Any]:
    """The fields every non-message item carries so processing can route it to a tenant."""
    return {"field": src.field or "", "waba_id": src.waba_id,
            "phone_number_id": src.phone_number_id,
            "display_phone_number": src.display_phone_number}


class _Collector:
    """Mutable accumulator; the public result is frozen once built."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.statuses: list[StatusUpdate] = []
        self.others: list[Other] = []

    def unsupported(self, field_name: str | None, reason: str, raw: Any, src: _Source) -> None:
        # Log only the reason and routing ids: raw bodies hold customer PII.
        log.warning(
            "meta webhook: unsupported %s item (waba=%s phone=%s): %s",
            field_name,
            src.waba_id,
            src.phone_number_id,
            reason,
        )
        self.others.append(
            Unsupported(
                field=field_name,
                reason=reason,
                raw=raw if isinstance(raw, dict) else {"value": raw},
                waba_id=src.waba_id,
                phone_number_id=src.phone_number_id,
                display_phone_number=src.display_phone_number,
            )
        )

    def build(self, obj: str | None) -> ParsedWebhook:
        return ParsedWebhook(
            object=obj, messages=self.messages, statuses=self.statuses, others=self.others
        )


def _parse_entry(entry: Any, out: _Collector) -> None:
    if not isinstance(entry, dict):
        out.unsupported(None, "entry is not an object", entry, _NO_SOURCE)
        return
    src = _Source(None, _text_id(entry.get("id")), None, None, _timestamp(entry.get("time")))
    changes = entry.get("changes")
    if not isinstance(changes, list):
        out.unsupported(None, "entry without a 'changes' list", entry, src)
        return
    for change in changes:
        try:
            _parse_change(change, src, out)
        except Exception as exc:  # last line of defence: keep the rest of the batch
            field_name = _str(change.get("field")) if isinstance(change, dict) else None
            reason = f"parser error {type(exc).__name__} in change"
            out.unsupported(field_name, reason, change, src)


def _parse_change(change: Any, entry_src: _Source, out: _Collector) -> None:
    if not isinstance(change, dict):
        out.unsupported(None, "change is not an object", change, entry_src)
        return
    field_name = change.get("field")
    value = change.get("value")
    if not isinstance(field_name, str) or not isinstance(value, dict):
        out.unsupported(
            _str(field_name), "change without field name or value object", change, entry_src
        )
        return
    metadata = _dict(value.get("metadata"))
    src = _Source(
        field_name,
        entry_src.waba_id,
        _text_id(metadata.get("phone_number_id")),
        _text_id(metadata.get("display_phone_number")),
        entry_src.entry_time,
    )
    handler = _FIELD_HANDLERS.get(field_name, _parse_other_field)
    handler(value, src, out)


def _list_at(container: dict[str, Any], key: str, src: _Source, out: _Collector) -> list[Any]:
    """The list under ``key``; a present-but-wrong type is reported, not silently skipped."""
    items = container.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        out.unsupported(src.field, f"'{key}' is not a list", container, src)
        return []
    return items


# --------------------------------------------------------------------------------------------
# Field handlers
# --------------------------------------------------------------------------------------------


def _parse_messages_field(value: dict[str, Any], src: _Source, out: _Collector) -> None:
    found = _parse_message_list(value, "messages", "customer", src, out)
    found |= _parse_statuses(value, src, out)
    found |= _emit_value_errors(value, src, out)
    if not found:
        out.unsupported(src.field, "no messages, statuses or errors in value", value, src)


def _parse_echoes_field(value: dict[str, Any], src: _Source, out: _Collector) -> None:
    found = _parse_message_list(value, "message_echoes", "business_app_echo", src, out)
    found |= _parse_statuses(value, src, out)
    found |= _emit_value_errors(value, src, out)
    if not found:
        out.unsupported(src.field, "no message_echoes in value", value, src)


def _parse_history_field(value: dict[str, Any], src: _Source, out: _Collector) -> None:
    found = False
    for chunk in _list_at(value, "history", src, out):
        found = True
        _parse_history_chunk(chunk, src, out)
    # The media back-fill arrives on the same field but shaped like a `messages` value.
    found |= _parse_message_list(value, "messages", "history", src, out)
    found |= _emit_value_errors(value, src, out)
    if not found:
        out.unsupported(src.field, "no history chunks or messages in value", value, src)


def _parse_other_field(value: dict[str, Any], src: _Source, out: _Collector) -> None:
    out.others.append(
        OtherChange(
            **_routing(src),
            value=value,
            errors=_errors(value.get("errors")),
            entry_time=src.entry_time,
        )
    )


def _parse_state_sync_field(value: dict[str, Any], src: _Source, out: _Collector) -> None:
    found = _emit_value_errors(value, src, out)
    for item in _list_at(value, "state_sync", src, out):
        found = True
        item = _dict(item)
        contact = _dict(item.get("contact"))
        action = item.get("action")
        phone = _text_id(contact.get("phone_number"))
        if item.get("type") != "contact" or action not in ("add", "remove") or not phone:
            out.unsupported(src.field, "state_sync item is not a contact add/remove", item, src)
            continue
        out.others.append(
            ContactBookChange(
                **_routing(src),
                action=action,
                phone_number=phone,
                full_name=_str(contact.get("full_name")),
                first_name=_str(contact.get("first_name")),
                timestamp=_timestamp(_dict(item.get("metadata")).get("timestamp")),
            )
        )
    if not found:
        out.unsupported(src.field, "no state_sync items in value", value, src)


_FIELD_HANDLERS: Final[dict[str, Callable[[dict[str, Any], _Source, _Collector], None]]] = {
    "messages": _parse_messages_field,
    "smb_message_echoes": _parse_echoes_field,
    "history": _parse_history_field,
    "smb_app_state_sync": _parse_state_sync_field,
}


def _emit_value_errors(value: dict[str, Any], src: _Source, out: _Collector) -> bool:
    """Value-level errors (system/app/account problems) on a message field become an item."""
    errors = _errors(value.get("errors"))
    if not errors:
        return False
    out.others.append(
        OtherChange(
            **_routing(src),
            value=value,
            errors=errors,
            entry_time=src.entry_time,
        )
    )
    return True


def _parse_history_chunk(chunk: Any, src: _Source, out: _Collector) -> None:
    if not isinstance(chunk, dict):
        out.unsupported(src.field, "history chunk is not an object", chunk, src)
        return
    count = 0
    no_contacts = _Contacts(None)  # history threads carry no contacts array
    for thread in _list_at(chunk, "threads", src, out):
        if not isinstance(thread, dict):
            out.unsupported(src.field, "history thread is not an object", thread, src)
            continue
        thread_id = _text_id(thread.get("id"))
        for raw in _list_at(thread, "messages", src, out):
            count += _add_message(raw, "history", src, no_contacts, thread_id, out)
    metadata = _dict(chunk.get("metadata"))
    errors = _errors(chunk.get("errors"))
    out.others.append(
        HistoryNotice(
            field=src.field or "history",
            waba_id=src.waba_id,
            phone_number_id=src.phone_number_id,
            display_phone_number=src.display_phone_number,
            phase=_int(metadata.get("phase")),
            chunk_order=_int(metadata.get("chunk_order")),
            progress=_int(metadata.get("progress")),
            message_count=count,
            errors=errors,
            reason="; ".join(e.title or e.message or str(e.code) for e in errors) or None,
        )
    )


def _parse_message_list(
    value: dict[str, Any], key: str, origin: Origin, src: _Source, out: _Collector
) -> bool:
    if key not in value:
        return False
    contacts = _Contacts(value.get("contacts"))
    for raw in _list_at(value, key, src, out):
        _add_message(raw, origin, src, contacts, None, out)
    return True


def _add_message(
    raw: Any,
    origin: Origin,
    src: _Source,
    contacts: _Contacts,
    thread_id: str | None,
    out: _Collector,
) -> int:
    """Append one message (or an Unsupported); returns 1 when a message was kept."""
    try:
        result = _build_message(raw, origin, src, contacts, thread_id)
    except Exception as exc:  # keep the batch alive whatever one message looks like
        result = f"parser error {type(exc).__name__} in message"
    if isinstance(result, str):
        out.unsupported(src.field, result, raw, src)
        return 0
    out.messages.append(result)
    return 1


def _parse_statuses(value: dict[str, Any], src: _Source, out: _Collector) -> bool:
    if "statuses" not in value:
        return False
    for raw in _list_at(value, "statuses", src, out):
        try:
            result = _build_status(raw, src)
        except Exception as exc:  # same reasoning as _add_message
            result = f"parser error {type(exc).__name__} in status"
        if isinstance(result, str):
            out.unsupported(src.field, result, raw, src)
        else:
            out.statuses.append(result)
    return True


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


class _Contacts:
    """Index of ``value.contacts[]`` by wa_id and by BSUID (wa_id can be absent since 2026)."""

    def __init__(self, raw: Any) -> None:
        self._items = [c for c in _list(raw) if isinstance(c, dict)]
        self._by_wa_id = {_text_id(c.get("wa_id")): c for c in self._items}
        self._by_user_id = {_text_id(c.get("user_id")): c for c in self._items}

    def find(self, wa_id: str | None, user_id: str | None) -> dict[str, Any]:
        if wa_id and wa_id in self._by_wa_id:
            return self._by_wa_id[wa_id]
        if user_id and user_id in self._by_user_id:
            return self._by_user_id[user_id]
        # Single-message webhooks carry exactly one contact; in a multi-contact batch an
        # unmatched message must not inherit someone else's name.
        return self._items[0] if len(self._items) == 1 else {}


def _build_message(
    raw: Any, origin: Origin, src: _Source, contacts: _Contacts, thread_id: str | None
) -> InboundMessage | str:
    """The message, or a reason string when it cannot be kept (no usable wamid)."""
    if not isinstance(raw, dict):
        return "message is not an object"
    wamid = _text_id(raw.get("id"))
    if not wamid:
        return "message without an 'id' (wamid)"
    warnings: list[str] = []
    msg_type = _str(raw.get("type"))
    if not msg_type:
        warnings.append("missing message type")
        msg_type = "unknown"
    from_wa_id, to_wa_id = _text_id(raw.get("from")), _text_id(raw.get("to"))
    direction, customer = _route(origin, from_wa_id, to_wa_id, src, thread_id)
    user_key = "from_user_id" if direction == "inbound" else "to_user_id"
    contact = contacts.find(customer, _text_id(raw.get(user_key)))
    profile = _dict(contact.get("profile"))
    timestamp = _timestamp(raw.get("timestamp"))
    if timestamp is None:
        warnings.append("missing or invalid timestamp")
    content = raw.get(msg_type)
    return InboundMessage(
        waba_id=src.waba_id,
        phone_number_id=src.phone_number_id,
        display_phone_number=src.display_phone_number,
        wamid=wamid,
        type=msg_type,
        origin=origin,
        direction=direction,
        is_history=origin == "history",
        from_wa_id=from_wa_id,
        to_wa_id=to_wa_id,
        customer_wa_id=customer,
        from_user_id=_text_id(raw.get("from_user_id")),
        bsuid=_text_id(contact.get("user_id")) or _text_id(raw.get(user_key)),
        profile_name=_str(profile.get("name")),
        username=_str(profile.get("username")),
        timestamp=timestamp,
        text=_message_text(msg_type, content),
        media=_media(msg_type, content),
        details=_details(msg_type, content),
        context=_context(raw.get("context")),
        referral=_referral(raw.get("referral")),
        errors=_errors(raw.get("errors")),
        history_status=_str(_dict(raw.get("history_context")).get("status")),
        warnings=tuple(warnings),
        raw=raw,
    )


def _route(
    origin: Origin,
    from_wa_id: str | None,
    to_wa_id: str | None,
    src: _Source,
    thread_id: str | None,
) -> tuple[Direction, str | None]:
    """Direction and customer number: echoes and business-sent history swap from and to."""
    if origin == "customer":
        return "inbound", from_wa_id
    if origin == "business_app_echo":
        return "outbound", to_wa_id
    business = _digits(src.display_phone_number)
    if business:
        outbound = _digits(from_wa_id) == business
    else:
        # Without metadata, only business-sent history items carry `to`.
        outbound = to_wa_id is not None and from_wa_id != thread_id
    if outbound:
        return "outbound", to_wa_id or thread_id
    return "inbound", from_wa_id or thread_id


def _media(msg_type: str, content: Any) -> Media | None:
    if msg_type not in MEDIA_TYPES or not isinstance(content, dict):
        return None
    return Media(
        id=_text_id(content.get("id")),
        mime_type=_str(content.get("mime_type")),
        sha256=_str(content.get("sha256")),
        caption=_str(content.get("caption")),
        filename=_str(content.get("filename")),
        voice=content.get("voice") is True,
        animated=content.get("animated") is True,
        url=_str(content.get("url")),
    )


def _details(msg_type: str, content: Any) -> dict[str, Any]:
    """Raw sub-object keyed by type (button payload, reaction target, system wa_id, ...)."""
    if msg_type in MEDIA_TYPES or msg_type == "text" or content is None:
        return {}
    return {msg_type: content}


def _context(raw: Any) -> MessageContext | None:
    if not isinstance(raw, dict):
        return None
    product = raw.get("referred_product")
    return MessageContext(
        replied_to_wamid=_text_id(raw.get("id")),
        from_wa_id=_text_id(raw.get("from")),
        forwarded=raw.get("forwarded") is True,
        frequently_forwarded=raw.get("frequently_forwarded") is True,
        referred_product=product if isinstance(product, dict) else None,
    )


def _referral(raw: Any) -> Referral | None:
    if not isinstance(raw, dict):
        return None
    return Referral(
        ctwa_clid=_str(raw.get("ctwa_clid")),
        source_id=_text_id(raw.get("source_id")),
        source_type=_str(raw.get("source_type")),
        source_url=_str(raw.get("source_url")),
        headline=_str(raw.get("headline")),
        body=_str(raw.get("body")),
        media_type=_str(raw.get("media_type")),
        image_url=_str(raw.get("image_url")),
        video_url=_str(raw.get("video_url")),
        thumbnail_url=_str(raw.get("thumbnail_url")),
        welcome_message_text=_str(_dict(raw.get("welcome_message")).get("text")),
        raw=raw,
    )


# --------------------------------------------------------------------------------------------
# Inbox text per message type
# --------------------------------------------------------------------------------------------


def _message_text(msg_type: str, content: Any) -> str | None:
    extractor = _TEXT_EXTRACTORS.get(msg_type)
    if extractor is None:
        return None
    return extractor(content) or None  # "" (e.g. a removed reaction) means no text


def _body_text(content: Any) -> str | None:
    return _str(_dict(content).get("body"))


def _caption_text(content: Any) -> str | None:
    return _str(_dict(content).get("caption"))


def _button_text(content: Any) -> str | None:
    return _str(_dict(content).get("text"))


def _reaction_text(content: Any) -> str | None:
    return _str(_dict(content).get("emoji"))


def _interactive_text(content: Any) -> str | None:
    interactive = _dict(content)
    kind = _str(interactive.get("type"))
    reply = _dict(interactive.get(kind)) if kind else {}
    if kind == "button_reply":
        return _str(reply.get("title"))
    if kind == "list_reply":
        return _join_lines(_str(reply.get("title")), _str(reply.get("description")))
    if kind == "nfm_reply":  # WhatsApp Flows: `body` is the human-readable summary
        return _str(reply.get("body"))
    return None


def _location_text(content: Any) -> str | None:
    location = _dict(content)
    lat, lng = _number(location.get("latitude")), _number(location.get("longitude"))
    coords = f"{lat},{lng}" if lat is not None and lng is not None else None
    return _join_lines(_str(location.get("name")), _str(location.get("address")), coords)


def _contacts_text(content: Any) -> str | None:
    names = []
    for card in _list(content):
        name = _dict(_dict(card).get("name"))
        formatted = _str(name.get("formatted_name")) or _join_words(
            _str(name.get("first_name")), _str(name.get("last_name"))
        )
        if formatted:
            names.append(formatted)
    return ", ".join(names) or None


def _order_text(content: Any) -> str | None:
    order = _dict(content)
    items = []
    for item in _list(order.get("product_items")):
        product = _dict(item)
        sku = _text_id(product.get("product_retailer_id"))
        quantity = _number(product.get("quantity"))
        if sku:
            items.append(f"{quantity if quantity is not None else 1} x {sku}")
    summary = ", ".join(items) or None
    return _join_lines(_str(order.get("text")), summary)


def _edit_text(content: Any) -> str | None:
    # An edit wraps the new message; one level only, so a hostile nesting cannot recurse.
    message = _dict(_dict(content).get("message"))
    inner_type = _str(message.get("type"))
    if not inner_type or inner_type == "edit":
        return None
    return _message_text(inner_type, message.get(inner_type))


_TEXT_EXTRACTORS: Final[dict[str, Callable[[Any], str | None]]] = {
    "text": _body_text,
    "image": _caption_text,
    "video": _caption_text,
    "document": _caption_text,
    "audio": _caption_text,
    "sticker": _caption_text,
    "interactive": _interactive_text,
    "button": _button_text,
    "reaction": _reaction_text,
    "location": _location_text,
    "contacts": _contacts_text,
    "order": _order_text,
    "system": _body_text,
    "edit": _edit_text,
}


# --------------------------------------------------------------------------------------------
# Statuses and errors
# --------------------------------------------------------------------------------------------


def _build_status(raw: Any, src: _Source) -> StatusUpdate | str:
    if not isinstance(raw, dict):
        return "status is not an object"
    wamid, status = _text_id(raw.get("id")), _str(raw.get("status"))
    if not wamid or not status:
        return "status without 'id' or 'status'"
    timestamp = _timestamp(raw.get("timestamp"))
    conversation, pricing = raw.get("conversation"), raw.get("pricing")
    return StatusUpdate(
        waba_id=src.waba_id,
        phone_number_id=src.phone_number_id,
        display_phone_number=src.display_phone_number,
        wamid=wamid,
        status=status,
        timestamp=timestamp,
        recipient_wa_id=_text_id(raw.get("recipient_id")),
        errors=_errors(raw.get("errors")),
        conversation=conversation if isinstance(conversation, dict) else None,
        pricing=pricing if isinstance(pricing, dict) else None,
        biz_opaque_callback_data=_str(raw.get("biz_opaque_callback_data")),
        warnings=() if timestamp else ("missing or invalid timestamp",),
        raw=raw,
    )


def _errors(raw: Any) -> tuple[MetaError, ...]:
    return tuple(_error(item) for item in _list(raw) if isinstance(item, dict))


def _error(raw: dict[str, Any]) -> MetaError:
    return MetaError(
        code=_int(raw.get("code")),
        title=_str(raw.get("title")),
        message=_str(raw.get("message")),
        details=_str(_dict(raw.get("error_data")).get("details")),
        href=_str(raw.get("href")),
    )


# --------------------------------------------------------------------------------------------
# Small coercions: every read of payload data goes through one of these
# --------------------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _text_id(value: Any) -> str | None:
    """Ids and phone numbers are strings, but tolerate an integer rendering of them."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
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


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _timestamp(value: Any) -> datetime | None:
    """Meta sends unix seconds as a string (messages, statuses) or a number (automatic_events)."""
    seconds: float | int | None = _number(value)
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


def _digits(value: str | None) -> str:
    return "".join(ch for ch in value if ch.isdigit()) if value else ""


def _join_lines(*parts: str | None) -> str | None:
    return "\n".join(p for p in parts if p) or None


def _join_words(*parts: str | None) -> str | None:
    return " ".join(p for p in parts if p) or None
