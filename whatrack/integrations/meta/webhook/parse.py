"""Entry points and walkers: envelope -> entries -> changes -> per-field handlers -> records.

The contract callers rely on (never raises for a dict, ``MalformedPayload`` only when nothing can
be salvaged) is written in the package docstring.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from whatrack.integrations.meta.webhook.coercion import (
    as_datetime,
    as_dict,
    as_int,
    as_list,
    as_number,
    as_str,
    digits_of,
    join_lines,
    join_words,
    text_id,
)
from whatrack.integrations.meta.webhook.types import (
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

log = logging.getLogger(__name__)


class MalformedPayload(ValueError):
    """The body is not a webhook envelope at all (bad JSON, not an object, no ``entry`` list)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    return out.build(text_id(payload.get("object")))


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
    src = _Source(None, text_id(entry.get("id")), None, None, as_datetime(entry.get("time")))
    changes = entry.get("changes")
    if not isinstance(changes, list):
        out.unsupported(None, "entry without a 'changes' list", entry, src)
        return
    for change in changes:
        try:
            _parse_change(change, src, out)
        except Exception as exc:  # last line of defence: keep the rest of the batch
            field_name = as_str(change.get("field")) if isinstance(change, dict) else None
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
            as_str(field_name), "change without field name or value object", change, entry_src
        )
        return
    metadata = as_dict(value.get("metadata"))
    src = _Source(
        field_name,
        entry_src.waba_id,
        text_id(metadata.get("phone_number_id")),
        text_id(metadata.get("display_phone_number")),
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
        item = as_dict(item)
        contact = as_dict(item.get("contact"))
        action = item.get("action")
        phone = text_id(contact.get("phone_number"))
        if item.get("type") != "contact" or action not in ("add", "remove") or not phone:
            out.unsupported(src.field, "state_sync item is not a contact add/remove", item, src)
            continue
        out.others.append(
            ContactBookChange(
                **_routing(src),
                action=action,
                phone_number=phone,
                full_name=as_str(contact.get("full_name")),
                first_name=as_str(contact.get("first_name")),
                timestamp=as_datetime(as_dict(item.get("metadata")).get("timestamp")),
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
        thread_id = text_id(thread.get("id"))
        for raw in _list_at(thread, "messages", src, out):
            count += _add_message(raw, "history", src, no_contacts, thread_id, out)
    metadata = as_dict(chunk.get("metadata"))
    errors = _errors(chunk.get("errors"))
    out.others.append(
        HistoryNotice(
            field=src.field or "history",
            waba_id=src.waba_id,
            phone_number_id=src.phone_number_id,
            display_phone_number=src.display_phone_number,
            phase=as_int(metadata.get("phase")),
            chunk_order=as_int(metadata.get("chunk_order")),
            progress=as_int(metadata.get("progress")),
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
        self._items = [c for c in as_list(raw) if isinstance(c, dict)]
        self._by_wa_id = {text_id(c.get("wa_id")): c for c in self._items}
        self._by_user_id = {text_id(c.get("user_id")): c for c in self._items}

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
    wamid = text_id(raw.get("id"))
    if not wamid:
        return "message without an 'id' (wamid)"
    warnings: list[str] = []
    msg_type = as_str(raw.get("type"))
    if not msg_type:
        warnings.append("missing message type")
        msg_type = "unknown"
    from_wa_id, to_wa_id = text_id(raw.get("from")), text_id(raw.get("to"))
    direction, customer = _route(origin, from_wa_id, to_wa_id, src, thread_id)
    user_key = "from_user_id" if direction == "inbound" else "to_user_id"
    contact = contacts.find(customer, text_id(raw.get(user_key)))
    profile = as_dict(contact.get("profile"))
    timestamp = as_datetime(raw.get("timestamp"))
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
        from_user_id=text_id(raw.get("from_user_id")),
        bsuid=text_id(contact.get("user_id")) or text_id(raw.get(user_key)),
        profile_name=as_str(profile.get("name")),
        username=as_str(profile.get("username")),
        timestamp=timestamp,
        text=_message_text(msg_type, content),
        media=_media(msg_type, content),
        details=_details(msg_type, content),
        context=_context(raw.get("context")),
        referral=_referral(raw.get("referral")),
        errors=_errors(raw.get("errors")),
        history_status=as_str(as_dict(raw.get("history_context")).get("status")),
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
    business = digits_of(src.display_phone_number)
    if business:
        outbound = digits_of(from_wa_id) == business
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
        id=text_id(content.get("id")),
        mime_type=as_str(content.get("mime_type")),
        sha256=as_str(content.get("sha256")),
        caption=as_str(content.get("caption")),
        filename=as_str(content.get("filename")),
        voice=content.get("voice") is True,
        animated=content.get("animated") is True,
        url=as_str(content.get("url")),
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
        replied_to_wamid=text_id(raw.get("id")),
        from_wa_id=text_id(raw.get("from")),
        forwarded=raw.get("forwarded") is True,
        frequently_forwarded=raw.get("frequently_forwarded") is True,
        referred_product=product if isinstance(product, dict) else None,
    )


def _referral(raw: Any) -> Referral | None:
    if not isinstance(raw, dict):
        return None
    return Referral(
        ctwa_clid=as_str(raw.get("ctwa_clid")),
        source_id=text_id(raw.get("source_id")),
        source_type=as_str(raw.get("source_type")),
        source_url=as_str(raw.get("source_url")),
        headline=as_str(raw.get("headline")),
        body=as_str(raw.get("body")),
        media_type=as_str(raw.get("media_type")),
        image_url=as_str(raw.get("image_url")),
        video_url=as_str(raw.get("video_url")),
        thumbnail_url=as_str(raw.get("thumbnail_url")),
        welcome_message_text=as_str(as_dict(raw.get("welcome_message")).get("text")),
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
    return as_str(as_dict(content).get("body"))


def _caption_text(content: Any) -> str | None:
    return as_str(as_dict(content).get("caption"))


def _button_text(content: Any) -> str | None:
    return as_str(as_dict(content).get("text"))


def _reaction_text(content: Any) -> str | None:
    return as_str(as_dict(content).get("emoji"))


def _interactive_text(content: Any) -> str | None:
    interactive = as_dict(content)
    kind = as_str(interactive.get("type"))
    reply = as_dict(interactive.get(kind)) if kind else {}
    if kind == "button_reply":
        return as_str(reply.get("title"))
    if kind == "list_reply":
        return join_lines(as_str(reply.get("title")), as_str(reply.get("description")))
    if kind == "nfm_reply":  # WhatsApp Flows: `body` is the human-readable summary
        return as_str(reply.get("body"))
    return None


def _location_text(content: Any) -> str | None:
    location = as_dict(content)
    lat, lng = as_number(location.get("latitude")), as_number(location.get("longitude"))
    coords = f"{lat},{lng}" if lat is not None and lng is not None else None
    return join_lines(as_str(location.get("name")), as_str(location.get("address")), coords)


def _contacts_text(content: Any) -> str | None:
    names = []
    for card in as_list(content):
        name = as_dict(as_dict(card).get("name"))
        formatted = as_str(name.get("formatted_name")) or join_words(
            as_str(name.get("first_name")), as_str(name.get("last_name"))
        )
        if formatted:
            names.append(formatted)
    return ", ".join(names) or None


def _order_text(content: Any) -> str | None:
    order = as_dict(content)
    items = []
    for item in as_list(order.get("product_items")):
        product = as_dict(item)
        sku = text_id(product.get("product_retailer_id"))
        quantity = as_number(product.get("quantity"))
        if sku:
            items.append(f"{quantity if quantity is not None else 1} x {sku}")
    summary = ", ".join(items) or None
    return join_lines(as_str(order.get("text")), summary)


def _edit_text(content: Any) -> str | None:
    # An edit wraps the new message; one level only, so a hostile nesting cannot recurse.
    message = as_dict(as_dict(content).get("message"))
    inner_type = as_str(message.get("type"))
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
    wamid, status = text_id(raw.get("id")), as_str(raw.get("status"))
    if not wamid or not status:
        return "status without 'id' or 'status'"
    timestamp = as_datetime(raw.get("timestamp"))
    conversation, pricing = raw.get("conversation"), raw.get("pricing")
    return StatusUpdate(
        waba_id=src.waba_id,
        phone_number_id=src.phone_number_id,
        display_phone_number=src.display_phone_number,
        wamid=wamid,
        status=status,
        timestamp=timestamp,
        recipient_wa_id=text_id(raw.get("recipient_id")),
        errors=_errors(raw.get("errors")),
        conversation=conversation if isinstance(conversation, dict) else None,
        pricing=pricing if isinstance(pricing, dict) else None,
        biz_opaque_callback_data=as_str(raw.get("biz_opaque_callback_data")),
        warnings=() if timestamp else ("missing or invalid timestamp",),
        raw=raw,
    )


def _errors(raw: Any) -> tuple[ReportedError, ...]:
    return tuple(_error(item) for item in as_list(raw) if isinstance(item, dict))


def _error(raw: dict[str, Any]) -> ReportedError:
    return ReportedError(
        code=as_int(raw.get("code")),
        title=as_str(raw.get("title")),
        message=as_str(raw.get("message")),
        details=as_str(as_dict(raw.get("error_data")).get("details")),
        href=as_str(raw.get("href")),
    )


