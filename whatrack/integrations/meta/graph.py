"""A small Graph API client: plain data in and out, no Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from whatrack.integrations.meta.errors import MetaTemporaryError, classify

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
        return {"Authorization": f"Bearer {self._token}"}

    def _request(self, method: str, url: str, headers_extra: dict[str, str] | None = None,
                 **kwargs: Any) -> requests.Response:
        headers = self._headers()
        if headers_extra:
            headers.update(headers_extra)
        try:
            response = _session.request(method, url, headers=headers,
                                        timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise MetaTemporaryError(f"Graph API unreachable: {type(exc).__name__}") from exc
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
