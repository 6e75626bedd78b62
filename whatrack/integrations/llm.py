"""Client for any OpenAI-compatible chat-completions endpoint (plain data in and out).

Used by the copilot to ask whether a conversation contains a sale. Every failure the caller
may want to fall back from (network, timeout, HTTP error, an answer that is not a JSON object)
is one exception type, `LLMError`, so the caller never has to know the transport.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_TIMEOUT = 20.0


class LLMError(Exception):
    """The endpoint could not give a usable answer; `kind` says why (for logs)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


def chat_json(settings: LLMSettings, messages: list[dict[str, str]],
              session: requests.Session | None = None) -> dict[str, Any]:
    """Post a chat-completions request asking for a JSON object and return that object.

    The base URL is the API root as providers document it (".../v1"); temperature 0
    keeps answers repeatable for the same conversation.
    """
    url = settings.base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    body = {"model": settings.model, "messages": messages, "temperature": 0,
            "response_format": {"type": "json_object"}}
    http = session or requests
    try:
        # (connect, read): a dead host fails fast, a slow model gets the whole budget.
        response = http.post(url, json=body, headers=headers,
                             timeout=(min(5.0, settings.timeout), settings.timeout))
    except requests.Timeout as exc:
        raise LLMError("timeout", str(exc)) from exc
    except requests.RequestException as exc:
        raise LLMError("network", str(exc)) from exc
    if response.status_code != 200:
        raise LLMError("http", f"status {response.status_code}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError("envelope", "not a chat-completions answer") from exc
    return parse_json_object(content)


def parse_json_object(content: Any) -> dict[str, Any]:
    """The model's text as a JSON object; a fenced ```json block is accepted."""
    if not isinstance(content, str):
        raise LLMError("content", "message content is not text")
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").strip()
        if text.lower().startswith("json"):
            text = text[4:]
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise LLMError("json", "answer is not JSON") from exc
    if not isinstance(value, dict):
        raise LLMError("json", "answer is not a JSON object")
    return value
