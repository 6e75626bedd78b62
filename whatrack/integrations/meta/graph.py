"""A small Graph API client: plain data in and out, no Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from whatrack.integrations.meta.errors import (
    MetaOutcomeUnknown,
    MetaPermanentError,
    MetaTemporaryError,
    classify,
)

DEFAULT_TIMEOUT = (3.05, 20)  # (connect, read) seconds


def timeout_for(read_seconds: float) -> tuple[float, float]:
    """(connect, read) timeouts for a configured read timeout; connecting never takes longer."""
    return (min(3.05, read_seconds), read_seconds)

_session = requests.Session()
_session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=32))
_session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))


class MediaTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"media of {size} bytes exceeds the {limit} byte limit")
        self.size, self.limit = size, limit


@dataclass(frozen=True)
class MediaInfo:
    url: str
    mime_type: str | None
    file_size: int | None
    sha256: str | None


@dataclass(frozen=True)
class Download:
    content: bytes
    mime_type: str


def network_error(exc: requests.RequestException) -> MetaTemporaryError:
    """Tell "never reached Meta" (safe to repeat) from "the answer was lost".

    With urllib3's default retries off, failures to connect (refused, connect timeout, TLS)
    arrive wrapped in MaxRetryError; read timeouts and dropped connections arrive bare.
    """
    name = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout):
        return MetaTemporaryError(f"Graph API unreachable: {name}")
    if isinstance(exc, requests.ConnectionError) and exc.args \
            and isinstance(exc.args[0], urllib3.exceptions.MaxRetryError):
        return MetaTemporaryError(f"Graph API unreachable: {name}")
    if isinstance(exc, (requests.Timeout, requests.ConnectionError,
                        requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):
        # Same prefix as a failed connection (callers log and match on it), plus the caveat.
        return MetaOutcomeUnknown(f"Graph API unreachable: {name} (the request may have "
                                  "been processed)")
    return MetaTemporaryError(f"Graph API unreachable: {name}")


@dataclass(frozen=True)
class SentMessage:
    wamid: str
    wa_id: str | None
    message_status: str | None


class GraphClient:
    def __init__(self, access_token: str, base_url: str, version: str,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self._token = access_token
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<GraphClient {self.base_url} {self.version} token=***>"

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{self.version}/{path.lstrip('/')}"

    def _headers(self) -> dict[str, str]:
        # No token: calls authenticated by their parameters (the signup code exchange).
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _request(self, method: str, url: str, headers_extra: dict[str, str] | None = None,
                 **kwargs: Any) -> requests.Response:
        headers = self._headers()
        if headers_extra:
            headers.update(headers_extra)
        try:
            response = _session.request(method, url, headers=headers,
                                        timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise network_error(exc) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text[:2000]
            retry_after = response.headers.get("Retry-After")
            raise classify(response.status_code, body,
                           float(retry_after) if retry_after and retry_after.isdigit() else None)
        return response

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request("GET", self._url(path), params=params).json()

    def post_json(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", self._url(path), json=payload).json()

    def post_bytes(self, path: str, body: bytes, params: dict[str, Any] | None = None,
                   content_type: str = "application/json") -> requests.Response:
        """POST a body serialised by the caller (CAPI writes exact decimals itself)."""
        return self._request("POST", self._url(path), data=body, params=params,
                             headers_extra={"Content-Type": content_type})

    @property
    def token(self) -> str:
        return self._token

    # --- Embedded Signup onboarding and number health (meta-platform.md 1.4, 1.5) --------

    def subscribe_app(self, waba_id: str) -> bool:
        return bool(self.post_json(f"{waba_id}/subscribed_apps", {}).get("success"))

    def unsubscribe_app(self, waba_id: str) -> bool:
        response = self._request("DELETE", self._url(f"{waba_id}/subscribed_apps"))
        return bool(response.json().get("success"))

    def register_number(self, phone_number_id: str, pin: str) -> bool:
        return bool(self.post_json(f"{phone_number_id}/register",
                                   {"messaging_product": "whatsapp", "pin": pin}).get("success"))

    def get_phone_number(self, phone_number_id: str) -> PhoneNumberInfo:
        data = self.get_json(phone_number_id, params={"fields": PHONE_NUMBER_FIELDS})
        return phone_number_info({"id": phone_number_id, **data})

    def get_messaging_limit(self, phone_number_id: str) -> str | None:
        data = self.get_json(phone_number_id, params={"fields": MESSAGING_LIMIT_FIELD})
        value = data.get(MESSAGING_LIMIT_FIELD)
        if isinstance(value, dict):  # shape not confirmed: accept {"current_limit": ...}
            value = value.get("current_limit") or value.get("tier")
        return _text(value, 32)

    def list_waba_phone_numbers(self, waba_id: str) -> list[PhoneNumberInfo]:
        data = self.get_json(f"{waba_id}/phone_numbers", params={
            "fields": "id,display_phone_number,verified_name,quality_rating,is_on_biz_app,"
                      "platform_type"})
        rows = data.get("data") if isinstance(data.get("data"), list) else []
        return [phone_number_info(row) for row in rows if isinstance(row, dict) and row.get("id")]

    def request_smb_sync(self, phone_number_id: str, sync_type: str) -> str | None:
        """Ask Meta to start a coexistence sync (``smb_app_state_sync`` or ``history``)."""
        data = self.post_json(f"{phone_number_id}/smb_app_data",
                              {"messaging_product": "whatsapp", "sync_type": sync_type})
        return _text(data.get("request_id"), 128)

    def get_media(self, media_id: str) -> MediaInfo:
        """Resolve a media id to its short-lived download URL."""
        data = self.get_json(media_id)
        return MediaInfo(url=data["url"], mime_type=data.get("mime_type"),
                         file_size=data.get("file_size"), sha256=data.get("sha256"))

    def download(self, url: str, max_bytes: int) -> Download:
        """Fetch media bytes with our token, refusing anything over ``max_bytes``."""
        response = self._request("GET", url, stream=True)
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > max_bytes:
            response.close()
            raise MediaTooLarge(declared, max_bytes)
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                response.close()
                raise MediaTooLarge(size, max_bytes)
            chunks.append(chunk)
        mime = response.headers.get("Content-Type", "application/octet-stream").split(";")[0]
        return Download(content=b"".join(chunks), mime_type=mime)


    # --- Cloud API: sending (meta-platform.md 4) ------------------------------------------

    def send_message(self, phone_number_id: str, payload: dict[str, Any]) -> SentMessage:
        """POST one message; Meta's 200 only means accepted (statuses follow by webhook)."""
        data = self.post_json(f"{phone_number_id}/messages", payload)
        messages = data.get("messages") if isinstance(data, dict) else None
        if not (isinstance(messages, list) and messages and isinstance(messages[0], dict)
                and messages[0].get("id")):
            # Accepted without an id would be a contract change: treat it like a lost answer,
            # the status webhook carrying our callback data still names the wamid.
            raise MetaOutcomeUnknown("Graph API accepted the message without an id")
        contacts = data.get("contacts") or [{}]
        wa_id = contacts[0].get("wa_id") if isinstance(contacts[0], dict) else None
        return SentMessage(wamid=str(messages[0]["id"]), wa_id=wa_id,
                           message_status=messages[0].get("message_status"))

    def upload_media(self, phone_number_id: str, content: bytes, mime_type: str,
                     filename: str) -> str:
        """Upload bytes for a later send; returns Meta's media id."""
        response = self._request(
            "POST", self._url(f"{phone_number_id}/media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)})
        media_id = response.json().get("id")
        if not media_id:
            raise MetaPermanentError("Graph API media upload returned no id")
        return str(media_id)

    def message_templates(self, waba_id: str, page_limit: int = 20) -> list[dict[str, Any]]:
        """Every template of the WABA (all statuses), following Graph paging."""
        params: dict[str, Any] | None = {
            "fields": "id,name,status,category,language,components", "limit": 100}
        url = self._url(f"{waba_id}/message_templates")
        templates: list[dict[str, Any]] = []
        for _page in range(page_limit):
            data = self._request("GET", url, params=params).json()
            templates.extend(t for t in data.get("data") or [] if isinstance(t, dict))
            next_url = (data.get("paging") or {}).get("next")
            if not next_url:
                break
            url, params = next_url, None
        return templates

    def mark_read(self, phone_number_id: str, wamid: str) -> None:
        """Blue ticks for ``wamid`` and the customer's earlier messages."""
        self.post_json(f"{phone_number_id}/messages", {
            "messaging_product": "whatsapp", "status": "read", "message_id": wamid})


# --- Embedded Signup onboarding and number health (meta-platform.md 1.4, 1.5) ------------

# Fields Meta documents on the phone number node; the messaging limit is asked separately
# because its field name changed (``messaging_limit_tier`` is deprecated) and an unknown
# field fails the whole read.
PHONE_NUMBER_FIELDS = ("display_phone_number,verified_name,quality_rating,name_status,status,"
                       "code_verification_status,platform_type,throughput,is_on_biz_app")
MESSAGING_LIMIT_FIELD = "whatsapp_business_manager_messaging_limit"


@dataclass(frozen=True)
class PhoneNumberInfo:
    id: str
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None
    name_status: str | None
    status: str | None
    platform_type: str | None
    throughput: str | None
    is_on_biz_app: bool | None


def _text(value: Any, limit: int = 200) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def phone_number_info(data: dict[str, Any]) -> PhoneNumberInfo:
    """Plain fields from a phone number object, tolerant of the undocumented shapes."""
    throughput = data.get("throughput")
    level = throughput.get("level") if isinstance(throughput, dict) else throughput
    on_app = data.get("is_on_biz_app")
    return PhoneNumberInfo(
        id=str(data.get("id") or ""),
        display_phone_number=_text(data.get("display_phone_number"), 32),
        verified_name=_text(data.get("verified_name")),
        quality_rating=_text(data.get("quality_rating"), 16),
        name_status=_text(data.get("name_status"), 32),
        status=_text(data.get("status"), 32),
        platform_type=_text(data.get("platform_type"), 32),
        throughput=_text(level, 32),
        is_on_biz_app=on_app if isinstance(on_app, bool) else None,
    )


def exchange_signup_code(base_url: str, version: str, app_id: str, app_secret: str, code: str,
                         timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Embedded Signup code -> business token; no redirect_uri for codes from the JS SDK."""
    client = GraphClient("", base_url, version, timeout)
    data = client._request("GET", client._url("oauth/access_token"), params={
        "client_id": app_id, "client_secret": app_secret, "code": code}).json()
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str) \
            or not data["access_token"]:
        raise MetaTemporaryError("the code exchange answered without an access_token")
    return data
