"""Cloud API send bodies and template metadata: plain data in and out (meta-platform.md 4).

No Flask and no database: the services decide *whether* to send, this module only knows how
Meta wants the request shaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TEXT_MAX_CHARS = 4096
CAPTION_MAX_CHARS = 1024
CALLBACK_PREFIX = "whatrack:message:"

# Media accepted for sending. The reference has no table of upload limits; these are Meta's
# published "supported media types" (images 5 MB, documents 100 MB) and are checked before
# upload so a person gets a form error instead of a failed message. UNCERTAIN: re-check them
# when Meta's media page changes.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
DOCUMENT_TYPES = frozenset({
    "text/plain", "application/pdf", "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
})
MEDIA_LIMITS = {"image": 5 * 1024 * 1024, "document": 100 * 1024 * 1024}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_URL = re.compile(r"https?://", re.IGNORECASE)


def media_kind(mime_type: str) -> str | None:
    """"image" or "document" for a type we may send, else None."""
    if mime_type in IMAGE_TYPES:
        return "image"
    if mime_type in DOCUMENT_TYPES:
        return "document"
    return None


def callback_data(message_id: int) -> str:
    """What we put in ``biz_opaque_callback_data``: Meta echoes it in every status."""
    return f"{CALLBACK_PREFIX}{message_id}"


def message_id_from_callback(data: str | None) -> int | None:
    if not data or not data.startswith(CALLBACK_PREFIX):
        return None
    rest = data.removeprefix(CALLBACK_PREFIX)
    return int(rest) if rest.isdigit() and len(rest) < 19 else None


def recipient(phone: str | None, bsuid: str | None) -> dict[str, str]:
    """Address by the phone Meta last reported (with ``+``), or by BSUID when none is known.

    Meta adjusts Brazilian numbers itself; sending the id it reported (not our 13-digit
    canonical form) is what the reference advises. A username-only customer has no phone:
    the business-scoped user id goes in ``recipient`` (meta-platform.md 4.1 and 8).
    """
    if phone:
        return {"to": "+" + phone.lstrip("+")}
    if bsuid:
        return {"recipient": bsuid}
    raise ValueError("a recipient needs a phone or a BSUID")


def _envelope(to: dict[str, str], message_id: int, kind: str,
              content: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", **to,
            "type": kind, kind: content, "biz_opaque_callback_data": callback_data(message_id)}


def text_body(to: dict[str, str], message_id: int, text: str) -> dict[str, Any]:
    return _envelope(to, message_id, "text",
                     {"body": text, "preview_url": bool(_URL.search(text))})


def media_body(to: dict[str, str], message_id: int, kind: str, media_id: str,
               caption: str | None, filename: str | None) -> dict[str, Any]:
    content: dict[str, Any] = {"id": media_id}
    if caption:
        content["caption"] = caption
    if kind == "document" and filename:
        content["filename"] = filename
    return _envelope(to, message_id, kind, content)


def template_body(to: dict[str, str], message_id: int, name: str, language: str,
                  placeholders: list[str], values: list[str]) -> dict[str, Any]:
    """A body-parameters-only template; named placeholders carry ``parameter_name``."""
    parameters = []
    for placeholder, value in zip(placeholders, values, strict=True):
        parameter: dict[str, Any] = {"type": "text", "text": value}
        if not placeholder.isdigit():
            parameter["parameter_name"] = placeholder
        parameters.append(parameter)
    content: dict[str, Any] = {"name": name, "language": {"code": language}}
    if parameters:
        content["components"] = [{"type": "body", "parameters": parameters}]
    return _envelope(to, message_id, "template", content)


@dataclass(frozen=True)
class TemplateInfo:
    meta_id: str | None
    name: str
    language: str
    category: str | None
    status: str
    body: str | None
    body_parameters: list[str]
    sendable: bool
    components: list[dict[str, Any]]


def _placeholders(text: str) -> list[str]:
    seen: list[str] = []
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def _needs_more_than_body(components: list[dict[str, Any]]) -> bool:
    """Media headers, header variables and dynamic buttons need inputs we do not collect."""
    for component in components:
        kind = str(component.get("type") or "").upper()
        if kind == "HEADER":
            if str(component.get("format") or "TEXT").upper() != "TEXT":
                return True
            if _placeholders(str(component.get("text") or "")):
                return True
        elif kind == "BUTTONS":
            for button in component.get("buttons") or []:
                button_type = str(button.get("type") or "").upper()
                if button_type in {"COPY_CODE", "OTP", "FLOW", "CATALOG", "MPM"}:
                    return True
                if button_type == "URL" and _placeholders(str(button.get("url") or "")):
                    return True
        elif kind in {"CAROUSEL", "LIMITED_TIME_OFFER"}:
            return True
    return False


def parse_template(raw: dict[str, Any]) -> TemplateInfo | None:
    """One entry of ``GET /{waba_id}/message_templates``; None when unusable."""
    name, language = raw.get("name"), raw.get("language")
    if not isinstance(name, str) or not isinstance(language, str) or not name or not language:
        return None
    components = [c for c in raw.get("components") or [] if isinstance(c, dict)]
    body = next((str(c.get("text") or "") for c in components
                 if str(c.get("type") or "").upper() == "BODY"), None)
    return TemplateInfo(
        meta_id=str(raw["id"]) if raw.get("id") else None,
        name=name[:512],
        language=language[:16],
        category=str(raw["category"]).upper()[:32] if raw.get("category") else None,
        status=str(raw.get("status") or "UNKNOWN").upper()[:32],
        body=body,
        body_parameters=_placeholders(body or ""),
        sendable=not _needs_more_than_body(components),
        components=components,
    )
