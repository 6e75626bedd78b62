"""Facebook Login for the ads side: tokens, their inspection, datasets, data deletion requests.

Pure: plain data in and out, no Flask, no database (meta-platform.md section 6). The login
dialog and the code exchange run through Authlib's Flask client (blueprints); everything
after it is here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from whatrack.integrations.meta.errors import MetaPermanentError
from whatrack.integrations.meta.graph import GraphClient

# Everything WhaTrack does with Meta: ads reporting, datasets and CAPI events for WhatsApp
# (whatsapp_business_manage_events), the WABA itself (meta-platform.md 6.2).
LOGIN_SCOPES = (
    "ads_read",
    "ads_management",
    "business_management",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "whatsapp_business_manage_events",
)
# Without these, events cannot reach a dataset; the others degrade other features.
CAPI_SCOPES = ("whatsapp_business_manage_events", "ads_management")
# Tokens shorter-lived than this are exchanged for a long-lived (~60-day) one.
LONG_LIVED_THRESHOLD = timedelta(days=7)
MAX_PAGES = 5


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: datetime | None  # None: no expiry announced


@dataclass(frozen=True)
class TokenDebug:
    is_valid: bool
    type: str | None
    app_id: str | None
    user_id: str | None
    expires_at: datetime | None
    scopes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str | None
    source: str  # waba / ad_account
    owner: str | None = None  # WABA id or ad account id


@dataclass(frozen=True)
class AdAccount:
    id: str
    name: str | None


def app_client(base_url: str, version: str, app_id: str, app_secret: str,
               timeout: tuple[float, float] | None = None) -> GraphClient:
    """A client authenticated with the app token ``APP_ID|APP_SECRET``."""
    kwargs = {"timeout": timeout} if timeout else {}
    return GraphClient(f"{app_id}|{app_secret}", base_url, version, **kwargs)


def expires_from(expires_in: Any, now: datetime) -> datetime | None:
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        return None
    return now + timedelta(seconds=seconds) if seconds > 0 else None


def is_short_lived(token: Token, now: datetime) -> bool:
    return token.expires_at is not None and token.expires_at - now < LONG_LIVED_THRESHOLD


def exchange_long_lived(app: GraphClient, app_id: str, app_secret: str, short_token: str,
                        now: datetime) -> Token:
    """Short-lived user token -> long-lived one (meta-platform.md 6.3)."""
    data = app.get_json("oauth/access_token", params={
        "grant_type": "fb_exchange_token", "client_id": app_id, "client_secret": app_secret,
        "fb_exchange_token": short_token})
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise MetaPermanentError("token exchange answered without an access_token")
    return Token(token, expires_from(data.get("expires_in"), now))


def from_unix(value: Any) -> datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def debug_token(app: GraphClient, token: str) -> TokenDebug:
    """What Meta says about ``token``: valid, expiry, scopes, user (meta-platform.md 6.4)."""
    data = app.get_json("debug_token", params={"input_token": token}).get("data") or {}
    scopes = data.get("scopes")
    return TokenDebug(
        is_valid=bool(data.get("is_valid")),
        type=data.get("type"),
        app_id=str(data["app_id"]) if data.get("app_id") else None,
        user_id=str(data["user_id"]) if data.get("user_id") else None,
        expires_at=from_unix(data.get("expires_at")),
        scopes=[s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else [],
    )


def missing_scopes(granted: list[str] | None, wanted: tuple[str, ...] = LOGIN_SCOPES) -> list[str]:
    granted_set = set(granted or ())
    return [scope for scope in wanted if scope not in granted_set]


def _edge(client: GraphClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a Graph edge, following cursors for a few pages."""
    items: list[dict[str, Any]] = []
    params = dict(params)
    for _ in range(MAX_PAGES):
        data = client.get_json(path, params=params)
        page = data.get("data") if isinstance(data, dict) else None
        if not isinstance(page, list):
            break
        items.extend(item for item in page if isinstance(item, dict) and item.get("id"))
        after = (((data.get("paging") or {}).get("cursors") or {}).get("after")
                 if (data.get("paging") or {}).get("next") else None)
        if not after:
            break
        params["after"] = after
    return items


def waba_datasets(client: GraphClient, waba_id: str) -> list[Dataset]:
    """The CTWA dataset linked to a WABA, if any (meta-platform.md 5.2; parsed defensively)."""
    data = client.get_json(f"{waba_id}/dataset")
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        rows = [data] if isinstance(data, dict) and data.get("id") else []
    return [Dataset(str(r["id"]), r.get("name"), "waba", waba_id)
            for r in rows if isinstance(r, dict) and r.get("id")]


def create_waba_dataset(client: GraphClient, waba_id: str, name: str) -> Dataset:
    """Create (or get back) the WABA's one dataset."""
    data = client.post_json(f"{waba_id}/dataset", {"dataset_name": name})
    dataset_id = data.get("id") if isinstance(data, dict) else None
    if not dataset_id:
        raise MetaPermanentError("dataset creation answered without an id")
    return Dataset(str(dataset_id), data.get("name") or name, "waba", waba_id)


def ad_accounts(client: GraphClient) -> list[AdAccount]:
    rows = _edge(client, "me/adaccounts", {"fields": "id,account_id,name,account_status",
                                           "limit": 100})
    return [AdAccount(str(r["id"]), r.get("name")) for r in rows]


def ad_account_pixels(client: GraphClient, account_id: str) -> list[Dataset]:
    rows = _edge(client, f"{account_id}/adspixels", {"fields": "id,name", "limit": 100})
    return [Dataset(str(r["id"]), r.get("name"), "ad_account", account_id) for r in rows]


def me(client: GraphClient) -> dict[str, Any]:
    data = client.get_json("me", params={"fields": "id,name"})
    return data if isinstance(data, dict) else {}


# --- data deletion callback (meta-platform.md 6.8) ----------------------------------------


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_signed_request(signed_request: str | None, app_secret: str) -> dict[str, Any] | None:
    """The payload of a valid ``signed_request``; None for anything forged or malformed."""
    if not signed_request or len(signed_request) > 8192 or "." not in signed_request:
        return None
    encoded_sig, payload = signed_request.split(".", 1)
    try:
        signature = _b64url_decode(encoded_sig)
        data = json.loads(_b64url_decode(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or str(data.get("algorithm", "")).upper() != "HMAC-SHA256":
        return None
    expected = hmac.new(app_secret.encode(), payload.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return None
    if not data.get("user_id"):
        return None
    return data


def sign_request(payload: dict[str, Any], app_secret: str) -> str:
    """Build a signed_request as Meta does (tests, CLI tools)."""
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    sig = hmac.new(app_secret.encode(), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(sig).rstrip(b"=").decode() + "." + body
