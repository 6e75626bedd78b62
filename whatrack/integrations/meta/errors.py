"""Typed Graph API errors: callers choose retry or give up by class, never by message text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Graph codes that mean "slow down / try later" (Meta's throttling and transient codes).
THROTTLING_CODES = frozenset({4, 17, 32, 613, 80004, 80007, 130429, 131056})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
TOKEN_CODES = frozenset({190, 102})


@dataclass
class MetaErrorInfo:
    http_status: int | None = None
    code: int | None = None
    subcode: int | None = None
    type: str | None = None
    message: str | None = None
    user_title: str | None = None
    user_msg: str | None = None
    fbtrace_id: str | None = None
    body: Any = None


class MetaError(Exception):
    def __init__(self, message: str, info: MetaErrorInfo | None = None) -> None:
        super().__init__(message)
        self.info = info or MetaErrorInfo(message=message)


class MetaTemporaryError(MetaError):
    """Network trouble, timeouts, 5xx: the same request may succeed later."""


class MetaOutcomeUnknown(MetaTemporaryError):
    """The request left, its answer did not arrive (read timeout, connection dropped).

    Meta may have acted on it: a send must not be repeated blindly after this.
    """


class MetaRateLimited(MetaTemporaryError):
    def __init__(self, message: str, info: MetaErrorInfo | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, info)
        self.retry_after = retry_after


class MetaPermanentError(MetaError):
    """Invalid parameters, permissions, blocked recipients: retrying changes nothing."""


class MetaTokenError(MetaPermanentError):
    """The token is invalid or expired (190): wait for the user to reconnect."""


def error_info(http_status: int, body: Any) -> MetaErrorInfo:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return MetaErrorInfo(http_status=http_status, body=body)
    return MetaErrorInfo(
        http_status=http_status,
        code=error.get("code"),
        subcode=error.get("error_subcode"),
        type=error.get("type"),
        message=error.get("message"),
        user_title=error.get("error_user_title"),
        user_msg=error.get("error_user_msg"),
        fbtrace_id=error.get("fbtrace_id"),
        body=body,
    )


def classify(http_status: int, body: Any, retry_after: float | None = None) -> MetaError:
    """Map one failed Graph response to the right exception class."""
    info = error_info(http_status, body)
    text = f"Graph API {http_status}: {info.message or 'no error message'}"
    if http_status == 429 or info.code in THROTTLING_CODES:
        return MetaRateLimited(text, info, retry_after)
    if http_status >= 500 or info.code in TRANSIENT_CODES:
        return MetaTemporaryError(text, info)
    if info.code in TOKEN_CODES:
        return MetaTokenError(text, info)
    return MetaPermanentError(text, info)
