"""The Marketing API, read-only: what an ad id is called, and what each ad spent per day.

Pure: plain data in and out (meta-platform.md 6.2: ``ads_read``). Ads, ad sets and
campaigns are Graph objects read by id; spend comes from the ad account's Insights with
one row per ad per day (``level=ad``, ``time_increment=1``), in the account's currency
and its own time zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from whatrack.integrations.meta.errors import (
    MetaError,
    MetaPermanentError,
    MetaTemporaryError,
    MetaTokenError,
)
from whatrack.integrations.meta.graph import GraphClient

AD_FIELDS = "id,name,adset{id,name},campaign{id,name},creative{thumbnail_url}"
INSIGHT_FIELDS = "ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,spend," \
                 "account_currency"
MAX_INSIGHT_PAGES = 20
# Permission refusals: 10 and the 200-299 family (the token lacks ads_read for the asset).
PERMISSION_CODES = frozenset({10, *range(200, 300)})


@dataclass(frozen=True)
class AdInfo:
    id: str
    name: str | None
    adset_id: str | None
    adset_name: str | None
    campaign_id: str | None
    campaign_name: str | None
    thumbnail_url: str | None = None


@dataclass(frozen=True)
class AdAccountCurrency:
    id: str
    currency: str | None


@dataclass(frozen=True)
class SpendRow:
    ad: AdInfo
    day: date
    spend: Decimal
    currency: str | None


def _text(value: Any, limit: int = 400) -> str | None:
    return str(value)[:limit] if isinstance(value, (str, int)) and str(value) else None


def _nested(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def ad_details(client: GraphClient, ad_id: str) -> AdInfo:
    data = client.get_json(ad_id, params={"fields": AD_FIELDS})
    if not isinstance(data, dict) or not data.get("id"):
        raise MetaPermanentError(f"ad {ad_id} answered without an id")
    adset, campaign = _nested(data, "adset"), _nested(data, "campaign")
    return AdInfo(id=str(data["id"]), name=_text(data.get("name")),
                  adset_id=_text(adset.get("id"), 64), adset_name=_text(adset.get("name")),
                  campaign_id=_text(campaign.get("id"), 64),
                  campaign_name=_text(campaign.get("name")),
                  thumbnail_url=_text(_nested(data, "creative").get("thumbnail_url"), 2000))


def ad_accounts(client: GraphClient) -> list[AdAccountCurrency]:
    data = client.get_json("me/adaccounts", params={"fields": "id,currency", "limit": 100})
    rows = data.get("data") if isinstance(data, dict) else None
    return [AdAccountCurrency(str(r["id"]), _text(r.get("currency"), 3))
            for r in rows or [] if isinstance(r, dict) and r.get("id")]


def _amount(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def daily_spend(client: GraphClient, account_id: str, since: date, until: date,
                currency: str | None = None) -> list[SpendRow]:
    """Every ad's spend per day between ``since`` and ``until`` (inclusive)."""
    params: dict[str, Any] = {
        "level": "ad", "time_increment": 1, "fields": INSIGHT_FIELDS, "limit": 500,
        "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
    }
    rows: list[SpendRow] = []
    for _page in range(MAX_INSIGHT_PAGES):
        data = client.get_json(f"{account_id}/insights", params=params)
        for item in data.get("data") or [] if isinstance(data, dict) else []:
            row = _spend_row(item, currency)
            if row is not None:
                rows.append(row)
        paging = data.get("paging") if isinstance(data, dict) else None
        after = ((paging or {}).get("cursors") or {}).get("after") if (paging or {}).get(
            "next") else None
        if not after:
            break
        params["after"] = after
    return rows


def _spend_row(item: Any, currency: str | None) -> SpendRow | None:
    if not isinstance(item, dict) or not item.get("ad_id"):
        return None
    try:
        day = date.fromisoformat(str(item.get("date_start")))
    except ValueError:
        return None
    spend = _amount(item.get("spend", "0"))
    if spend is None:
        return None
    ad = AdInfo(id=str(item["ad_id"]), name=_text(item.get("ad_name")),
                adset_id=_text(item.get("adset_id"), 64), adset_name=_text(item.get("adset_name")),
                campaign_id=_text(item.get("campaign_id"), 64),
                campaign_name=_text(item.get("campaign_name")))
    return SpendRow(ad, day, spend, _text(item.get("account_currency"), 3) or currency)


def error_kind(exc: MetaError) -> str:
    """One word for what went wrong: token, permission, missing, unavailable, other."""
    if isinstance(exc, MetaTokenError):
        return "token"
    if isinstance(exc, MetaTemporaryError):
        return "unavailable"
    code, subcode = exc.info.code, exc.info.subcode
    if code in PERMISSION_CODES:
        return "permission"
    if code == 100 and subcode == 33:
        return "missing"
    return "other"
