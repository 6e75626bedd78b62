"""Ads named and their spend: the Marketing API read through the org's Facebook token.

Names are cached per organization in ``meta_ads``: a new ad id is resolved on demand (an
actor, after the commit that first saw it), and every cached ad is refreshed once a day.
Spend comes from Insights, one row per ad per day in ``meta_ad_spend``, re-read for a
report period at most once an hour. Errors never break a page: the ids stay shown and the
reason is kept (``error`` codes below) for the report to explain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from whatrack.extensions import db
from whatrack.integrations.meta import marketing
from whatrack.integrations.meta.errors import MetaError
from whatrack.integrations.meta.graph import GraphClient, timeout_for
from whatrack.models import MetaAd, MetaAdSpend, MetaAdsSync, MetaConnection, Organization, utcnow
from whatrack.models.base import dialect_insert
from whatrack.queue import enqueue_after_commit
from whatrack.tenancy import bind_org, unscoped

log = logging.getLogger(__name__)

NAMES_MAX_AGE = timedelta(days=1)
SPEND_MAX_AGE = timedelta(hours=1)
MAX_ADS_PER_RUN = 100
RESOLVE_ACTOR = "resolve_meta_ads"

# Why names or spend are missing, as the report says it.
REASONS = {
    "not_connected": _l("Facebook is not connected: connect it in Settings > Meta to see ad "
                        "names and spend."),
    "no_ads_read": _l("Facebook was connected without the ads_read permission: reconnect it "
                      "and allow access to your ads."),
    "token": _l("The Facebook token expired or was revoked: reconnect Facebook."),
    "permission": _l("Meta refused access to the ad account (permission ads_read missing for "
                     "it)."),
    "missing": _l("Meta does not know this ad (deleted, or from another ad account)."),
    "unavailable": _l("Meta did not answer just now; we will try again."),
    "other": _l("Meta refused the request."),
}


def reason_text(code: str | None) -> str | None:
    return str(REASONS[code]) if code in REASONS else None


class AdsUnavailable(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code, self.message = code, message


def _sync_row(org: Organization) -> MetaAdsSync:
    row = db.session.scalars(select(MetaAdsSync).where(
        MetaAdsSync.organization_id == org.id)).first()
    if row is None:
        db.session.execute(dialect_insert(MetaAdsSync)
                           .values(organization_id=org.id, created_at=utcnow())
                           .on_conflict_do_nothing(index_elements=["organization_id"]))
        row = db.session.scalars(select(MetaAdsSync).where(
            MetaAdsSync.organization_id == org.id)).one()
    return row


def sync_state(org: Organization) -> MetaAdsSync | None:
    return db.session.scalars(select(MetaAdsSync).where(
        MetaAdsSync.organization_id == org.id)).first()


def _client(org: Organization) -> GraphClient:
    conn = db.session.scalars(select(MetaConnection).where(
        MetaConnection.organization_id == org.id)).first()
    if conn is None or not conn.connected:
        raise AdsUnavailable("not_connected")
    if conn.needs_reconnect:
        raise AdsUnavailable("token")
    if conn.scopes is not None and "ads_read" not in conn.scopes:
        raise AdsUnavailable("no_ads_read")
    cfg = current_app.config
    return GraphClient(conn.token, cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"],
                       timeout=timeout_for(cfg["META_HTTP_TIMEOUT"]))


def _unavailable(exc: MetaError) -> AdsUnavailable:
    return AdsUnavailable(marketing.error_kind(exc), (exc.info.message or str(exc))[:500])


# --- names -------------------------------------------------------------------------------


def resolve_when_new(org: Organization, ad_id: str) -> None:
    """Remember an ad id seen for the first time and resolve it after the commit."""
    inserted = db.session.execute(
        dialect_insert(MetaAd).values(organization_id=org.id, ad_id=ad_id[:64],
                                      created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["organization_id", "ad_id"])
        .returning(MetaAd.id)).scalar_one_or_none()
    if inserted is not None:
        enqueue_after_commit(RESOLVE_ACTOR, org.id)


def _apply(ad: MetaAd, info: marketing.AdInfo) -> None:
    ad.name, ad.adset_id, ad.adset_name = info.name, info.adset_id, info.adset_name
    ad.campaign_id, ad.campaign_name = info.campaign_id, info.campaign_name
    if info.thumbnail_url:
        ad.thumbnail_url = info.thumbnail_url
    ad.fetched_at, ad.error, ad.error_message = utcnow(), None, None


def resolve_names(org: Organization, *, stale_only: bool = True) -> int:
    """Read the names of new and stale ads; returns how many were named.

    A token or permission failure stops the run and is recorded for every waiting ad; an
    ad Meta no longer knows keeps its id with the reason.
    """
    due = utcnow() - NAMES_MAX_AGE
    stmt = select(MetaAd).where(MetaAd.organization_id == org.id)
    if stale_only:
        stmt = stmt.where(or_(MetaAd.fetched_at.is_(None), MetaAd.fetched_at < due))
    ads = list(db.session.scalars(stmt.order_by(MetaAd.fetched_at.nulls_first(), MetaAd.id)
                                  .limit(MAX_ADS_PER_RUN)))
    sync = _sync_row(org)
    if not ads:
        return 0
    try:
        client = _client(org)
    except AdsUnavailable as exc:
        _record_names_failure(sync, ads, exc)
        return 0
    named = 0
    for ad in ads:
        try:
            _apply(ad, marketing.ad_details(client, ad.ad_id))
            named += 1
        except MetaError as exc:
            failure = _unavailable(exc)
            if failure.code == "missing":
                ad.error, ad.error_message, ad.fetched_at = "missing", failure.message, utcnow()
                continue
            _record_names_failure(sync, [a for a in ads if a.fetched_at is None or a is ad],
                                  failure)
            db.session.flush()
            return named
    sync.names_synced_at, sync.names_error, sync.names_error_message = utcnow(), None, None
    db.session.flush()
    log.info("organization %s: %d ad names read from Meta", org.id, named)
    return named


def _record_names_failure(sync: MetaAdsSync, ads: list[MetaAd], exc: AdsUnavailable) -> None:
    sync.names_error, sync.names_error_message = exc.code, exc.message
    for ad in ads:
        ad.error, ad.error_message = exc.code, exc.message
    log.warning("ad names unavailable for organization %s: %s", sync.organization_id, exc.code)


def names_for(org: Organization, ad_ids: set[str]) -> dict[str, MetaAd]:
    if not ad_ids:
        return {}
    stmt = select(MetaAd).where(MetaAd.organization_id == org.id, MetaAd.ad_id.in_(ad_ids))
    return {ad.ad_id: ad for ad in db.session.scalars(stmt)}


def organizations_with_stale_ads(limit: int = 500) -> list[int]:
    """Organizations with at least one ad not read in the last day (the daily refresh)."""
    due = utcnow() - NAMES_MAX_AGE
    with unscoped():
        stmt = (select(MetaAd.organization_id)
                .where(or_(MetaAd.fetched_at.is_(None), MetaAd.fetched_at < due))
                .distinct().limit(limit))
        return list(db.session.scalars(stmt))


def refresh_org(org_id: int) -> int:
    """The actor's body: resolve one organization's new and stale ads."""
    with unscoped():
        org = db.session.get(Organization, org_id)
    if org is None:
        return 0
    with bind_org(org):
        named = resolve_names(org)
        db.session.commit()
        return named


# --- spend -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendStatus:
    available: bool
    error: str | None = None
    message: str | None = None

    @property
    def reason(self) -> str | None:
        return reason_text(self.error)


def _upsert_names(org: Organization, info: marketing.AdInfo) -> None:
    values: dict[str, Any] = {"name": info.name, "adset_id": info.adset_id,
                              "adset_name": info.adset_name, "campaign_id": info.campaign_id,
                              "campaign_name": info.campaign_name, "fetched_at": utcnow(),
                              "error": None, "error_message": None}
    stmt = dialect_insert(MetaAd).values(organization_id=org.id, ad_id=info.id[:64],
                                         created_at=utcnow(), **values)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["organization_id", "ad_id"],
                                                  set_=values))


def _store_spend(org: Organization, account_id: str, rows: list[marketing.SpendRow]) -> None:
    now = utcnow()
    for row in rows:
        values = {"spend": row.spend, "currency": row.currency or "", "account_id": account_id,
                  "fetched_at": now}
        stmt = dialect_insert(MetaAdSpend).values(organization_id=org.id, ad_id=row.ad.id[:64],
                                                  day=row.day, created_at=now, **values)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["organization_id", "ad_id", "day"], set_=values))
        if row.ad.name or row.ad.campaign_name:
            _upsert_names(org, row.ad)


def ensure_spend(org: Organization, since: date, until: date) -> SpendStatus:
    """Spend per ad and day for the period, read from Insights unless read within the hour."""
    sync = _sync_row(org)
    fresh = (sync.insights_synced_at is not None and sync.insights_error is None
             and sync.insights_synced_at > utcnow() - SPEND_MAX_AGE
             and sync.insights_from is not None and sync.insights_to is not None
             and sync.insights_from <= since and sync.insights_to >= until)
    if fresh:
        return SpendStatus(True)
    try:
        client = _client(org)
        for account in marketing.ad_accounts(client):
            rows = marketing.daily_spend(client, account.id, since, until, account.currency)
            _store_spend(org, account.id, rows)
    except AdsUnavailable as exc:
        return _spend_failed(sync, exc)
    except MetaError as exc:
        return _spend_failed(sync, _unavailable(exc))
    sync.insights_synced_at, sync.insights_from, sync.insights_to = utcnow(), since, until
    sync.insights_error = sync.insights_error_message = None
    db.session.flush()
    return SpendStatus(True)


def _spend_failed(sync: MetaAdsSync, exc: AdsUnavailable) -> SpendStatus:
    sync.insights_error, sync.insights_error_message = exc.code, exc.message
    db.session.flush()
    log.warning("ad spend unavailable for organization %s: %s", sync.organization_id, exc.code)
    return SpendStatus(False, exc.code, exc.message)


def spend_by_ad(org: Organization, since: date, until: date) -> dict[str, tuple[Decimal, str]]:
    """Cached spend per ad id over the days (ad id -> (total, currency))."""
    stmt = select(MetaAdSpend).where(MetaAdSpend.organization_id == org.id,
                                     MetaAdSpend.day >= since, MetaAdSpend.day <= until)
    totals: dict[str, tuple[Decimal, str]] = {}
    for row in db.session.scalars(stmt):
        total, _currency = totals.get(row.ad_id, (Decimal("0"), row.currency))
        totals[row.ad_id] = (total + row.spend, row.currency)
    return totals
