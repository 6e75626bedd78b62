"""The organization's Facebook connection: tokens, dataset, CAPI settings, data deletion."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from whatrack.errors import NotConfigured, ValidationError
from whatrack.extensions import db
from whatrack.integrations.meta import capi, facebook
from whatrack.integrations.meta.errors import MetaError
from whatrack.integrations.meta.graph import GraphClient, timeout_for
from whatrack.models import (
    DataDeletionRequest,
    MetaConnection,
    MetaConversionEvent,
    Organization,
    Stage,
    User,
    WhatsAppAccount,
    utcnow,
)
from whatrack.services.conversions import commands as conversions
from whatrack.tenancy import bind_org, unscoped

log = logging.getLogger(__name__)

EXPIRY_WARNING = timedelta(days=7)
LEAD_EVENT_CHOICES = tuple(n for n in capi.BUSINESS_MESSAGING_EVENTS if n != "Purchase")


def graph_timeout() -> tuple[float, float]:
    return timeout_for(current_app.config["META_HTTP_TIMEOUT"])


def get_or_create_connection(org: Organization) -> MetaConnection:
    conn = conversions.connection_of(org)
    if conn is None:
        conn = MetaConnection(organization_id=org.id, lead_event_enabled=True,
                              lead_event_name="LeadSubmitted")
        db.session.add(conn)
        db.session.flush()
    return conn


def _graph(token: str) -> GraphClient:
    cfg = current_app.config
    return GraphClient(token, cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"],
                       timeout=graph_timeout())


def _app_graph() -> GraphClient:
    cfg = current_app.config
    if not (cfg.get("META_APP_ID") and cfg.get("META_APP_SECRET")):
        raise NotConfigured(_("Facebook Login is not configured on this server "
                              "(META_APP_ID / META_APP_SECRET)."))
    return facebook.app_client(cfg["META_GRAPH_URL"], cfg["META_GRAPH_VERSION"],
                               cfg["META_APP_ID"], cfg["META_APP_SECRET"], graph_timeout())


def login_configured() -> bool:
    cfg = current_app.config
    return bool(cfg.get("META_APP_ID") and cfg.get("META_APP_SECRET"))


# --- connecting ---------------------------------------------------------------------------


def store_token(org: Organization, token: str, *, via: str, user: User | None = None,
                expires_at: datetime | None = None, fb_user_id: str | None = None,
                fb_user_name: str | None = None, scopes: list[str] | None = None,
                token_type: str | None = None) -> MetaConnection:
    """Keep the (long-lived) token encrypted; waiting events go out once a dataset is set."""
    if not token or not token.strip():
        raise ValidationError(_("The token is empty."), field="token")
    conn = get_or_create_connection(org)
    conn.token = token.strip()
    conn.token_expires_at = expires_at
    conn.token_invalid_at, conn.token_error = None, None
    conn.fb_user_id, conn.fb_user_name = fb_user_id, (fb_user_name or "")[:200] or None
    conn.scopes, conn.token_type = scopes, token_type
    conn.token_checked_at = utcnow() if scopes is not None else None
    conn.connected_at, conn.connected_via = utcnow(), via
    conn.connected_by_id = user.id if user else None
    db.session.flush()
    log.info("organization %s connected Facebook (%s)", org.id, via)
    return conn


def connect_cli(org: Organization, token: str, dataset_id: str,
                test_event_code: str | None = None) -> MetaConnection:
    """Operators and scripts: a token and a dataset, no OAuth screen, no call to Meta."""
    if not dataset_id or not dataset_id.strip().isdigit():
        raise ValidationError(_("The dataset id is a number."), field="dataset_id")
    conn = store_token(org, token, via="cli")
    conn.dataset_id, conn.dataset_source, conn.dataset_name = dataset_id.strip(), "manual", None
    conn.test_event_code = (test_event_code or "").strip()[:64] or None
    db.session.flush()
    conversions.release_waiting_events(org)
    return conn


def complete_oauth(org: Organization, user: User, short_token: str,
                   expires_in: Any) -> MetaConnection:
    """After Facebook Login: long-lived token, what Meta says about it, the WABA dataset."""
    cfg, now = current_app.config, utcnow()
    app = _app_graph()
    token = facebook.Token(short_token, facebook.expires_from(expires_in, now))
    if token.expires_at is None or facebook.is_short_lived(token, now):
        token = facebook.exchange_long_lived(app, cfg["META_APP_ID"], cfg["META_APP_SECRET"],
                                             short_token, now)
    info = facebook.debug_token(app, token.access_token)
    if not info.is_valid:
        raise ValidationError(_("Meta says this token is not valid. Try connecting again."))
    conn = store_token(org, token.access_token, via="oauth", user=user,
                       expires_at=info.expires_at or token.expires_at, fb_user_id=info.user_id,
                       scopes=info.scopes, token_type=info.type)
    try:
        conn.fb_user_name = (facebook.me(_graph(token.access_token)).get("name") or "")[:200] \
            or None
    except (MetaError, ValueError):
        log.info("could not read the Facebook user's name (organization %s)", org.id)
    if not conn.dataset_id:
        ensure_waba_dataset(org, conn)
    conversions.release_waiting_events(org)
    return conn


def _waba_ids(org: Organization) -> list[str]:
    stmt = select(WhatsAppAccount.waba_id).where(WhatsAppAccount.organization_id == org.id)
    return sorted(set(db.session.scalars(stmt)))


def ensure_waba_dataset(org: Organization, conn: MetaConnection) -> facebook.Dataset | None:
    """Use the dataset linked to the WABA, creating it when none exists (reference 5.2)."""
    wabas = _waba_ids(org)
    if not wabas:
        return None
    client = _graph(conn.token)
    try:
        found = facebook.waba_datasets(client, wabas[0])
        dataset = found[0] if found else facebook.create_waba_dataset(
            client, wabas[0], f"{org.name} - WhaTrack"[:100])
    except (MetaError, ValueError) as exc:
        log.warning("WABA dataset of organization %s not available: %s", org.id, exc)
        return None
    choose_dataset(org, dataset.id, dataset.name, dataset.source)
    return dataset


@dataclass(frozen=True)
class DatasetOptions:
    datasets: list[facebook.Dataset]
    errors: list[str]


def dataset_options(org: Organization, conn: MetaConnection) -> DatasetOptions:
    """Datasets this token can send to: the WABAs' and the ad accounts' (read live)."""
    client, found, errors = _graph(conn.token), [], []
    for waba in _waba_ids(org):
        try:
            found.extend(facebook.waba_datasets(client, waba))
        except (MetaError, ValueError) as exc:
            errors.append(f"WABA {waba}: {exc}")
    try:
        for account in facebook.ad_accounts(client):
            found.extend(facebook.ad_account_pixels(client, account.id))
    except (MetaError, ValueError) as exc:
        errors.append(_("Ad accounts: %(error)s", error=str(exc)))
    unique = {d.id: d for d in found}
    return DatasetOptions(list(unique.values()), errors)


def choose_dataset(org: Organization, dataset_id: str, name: str | None,
                   source: str) -> MetaConnection:
    dataset_id = (dataset_id or "").strip()
    if not dataset_id.isdigit() or len(dataset_id) > 32:
        raise ValidationError(_("Choose a dataset."), field="dataset_id")
    conn = get_or_create_connection(org)
    conn.dataset_id, conn.dataset_name, conn.dataset_source = dataset_id, (name or "")[:200] \
        or None, source
    db.session.flush()
    conversions.release_waiting_events(org)
    return conn


def create_dataset(org: Organization, conn: MetaConnection) -> facebook.Dataset:
    wabas = _waba_ids(org)
    if not wabas:
        raise ValidationError(_("Connect a WhatsApp number first."))
    dataset = facebook.create_waba_dataset(_graph(conn.token), wabas[0],
                                           f"{org.name} - WhaTrack"[:100])
    choose_dataset(org, dataset.id, dataset.name, "waba")
    return dataset


def refresh_token_info(org: Organization, conn: MetaConnection) -> facebook.TokenDebug:
    """Ask Meta about the stored token (validity, expiry, scopes) and keep the answer."""
    info = facebook.debug_token(_app_graph(), conn.token)
    conn.token_checked_at = utcnow()
    conn.scopes = info.scopes
    if info.expires_at:
        conn.token_expires_at = info.expires_at
    if not info.is_valid and conn.token_invalid_at is None:
        conn.token_invalid_at, conn.token_error = utcnow(), "debug_token: is_valid=false"
    db.session.flush()
    return info


# Meta's business tokens expire (60 days for the usual login configuration) or are revoked
# from Business Settings; asking once a day finds out before a sale's event has to wait.
TOKEN_CHECK_EVERY = timedelta(hours=20)


def organizations_due_for_token_check(limit: int = 200) -> list[int]:
    """Organizations whose working token nobody asked Meta about for a day (platform-wide)."""
    cutoff = utcnow() - TOKEN_CHECK_EVERY
    with unscoped():
        return list(db.session.scalars(
            select(MetaConnection.organization_id)
            .where(MetaConnection.token_encrypted.is_not(None),
                   MetaConnection.token_invalid_at.is_(None),
                   (MetaConnection.token_checked_at.is_(None))
                   | (MetaConnection.token_checked_at < cutoff))
            .order_by(MetaConnection.token_checked_at.nulls_first())
            .limit(limit)
        ))


def check_token(org_id: int) -> bool:
    """Refresh what Meta says about the organization's token; False if Meta refuses it."""
    org = db.session.get(Organization, org_id)
    with bind_org(org):
        conn = conversions.connection_of(org)
        if conn is None or conn.token is None:
            return True
        info = refresh_token_info(org, conn)
    if not info.is_valid:
        log.warning("Meta no longer accepts the token of organization %s: reconnect needed",
                    org_id)
    return info.is_valid


def disconnect(org: Organization) -> None:
    """Delete the token (settings and dataset choice stay); pending events wait."""
    conn = conversions.connection_of(org)
    if conn is None:
        return
    conn.token = None
    conn.token_expires_at = conn.token_checked_at = conn.token_invalid_at = None
    conn.fb_user_id = conn.fb_user_name = conn.token_type = conn.token_error = None
    conn.scopes = None
    db.session.flush()
    conversions.hold_pending_events(org, "not_connected")
    log.info("organization %s disconnected Facebook", org.id)


# --- settings -----------------------------------------------------------------------------


def update_settings(org: Organization, *, lead_event_enabled: bool, lead_event_name: str,
                    stage_events: dict[int, str | None],
                    test_event_code: str | None) -> MetaConnection:
    if lead_event_name not in LEAD_EVENT_CHOICES:
        raise ValidationError(_("Choose an event name from the list."), field="lead_event_name")
    stages = {s.id for s in db.session.scalars(select(Stage).where(
        Stage.organization_id == org.id))}
    mapping = {}
    for stage_id, name in stage_events.items():
        if not name:
            continue
        if stage_id not in stages or name not in LEAD_EVENT_CHOICES:
            raise ValidationError(_("Choose an event name from the list."))
        mapping[str(stage_id)] = name
    conn = get_or_create_connection(org)
    conn.lead_event_enabled, conn.lead_event_name = lead_event_enabled, lead_event_name
    conn.stage_events = mapping or None
    conn.test_event_code = (test_event_code or "").strip()[:64] or None
    db.session.flush()
    return conn


def expiry_warning(org: Organization) -> MetaConnection | None:
    """The connection if its token expires within 7 days or needs reconnecting."""
    conn = conversions.connection_of(org)
    if conn is None or not conn.connected:
        return None
    if conn.needs_reconnect:
        return conn
    if conn.token_expires_at and conn.token_expires_at - utcnow() <= EXPIRY_WARNING:
        return conn
    return None


def last_attempted_event(org: Organization) -> MetaConversionEvent | None:
    stmt = (select(MetaConversionEvent)
            .where(MetaConversionEvent.organization_id == org.id,
                   MetaConversionEvent.last_attempt_at.is_not(None))
            .order_by(MetaConversionEvent.last_attempt_at.desc(), MetaConversionEvent.id.desc())
            .limit(1))
    return db.session.scalars(stmt).first()


# --- Meta's data deletion callback (platform-wide) ----------------------------------------


def record_deletion_request(fb_user_id: str, issued_at: Any) -> DataDeletionRequest:
    """Delete every token linked to this Facebook user, and keep the request with a code."""
    request = DataDeletionRequest(confirmation_code="DEL-" + secrets.token_hex(5).upper(),
                                  fb_user_id=str(fb_user_id)[:64],
                                  issued_at=facebook.from_unix(issued_at), status="received")
    db.session.add(request)
    with unscoped():
        org_ids = list(db.session.scalars(select(MetaConnection.organization_id).where(
            MetaConnection.fb_user_id == request.fb_user_id)))
        if org_ids:
            db.session.execute(
                update(MetaConnection).where(MetaConnection.organization_id.in_(org_ids))
                .values(token_encrypted=None, token_expires_at=None, token_checked_at=None,
                        token_invalid_at=None, scopes=None, fb_user_id=None,
                        fb_user_name=None, token_type=None, token_error=None)
                .execution_options(synchronize_session=False))
            db.session.execute(
                update(MetaConversionEvent)
                .where(MetaConversionEvent.organization_id.in_(org_ids),
                       MetaConversionEvent.status == "pending")
                .values(reason_code="not_connected", next_attempt_at=None)
                .execution_options(synchronize_session=False))
        request.connections_cleared = len(org_ids)
        request.status, request.completed_at = "completed", utcnow()
        db.session.flush()
    log.info("data deletion %s: %d Facebook connections cleared", request.confirmation_code,
             len(org_ids))
    return request


def deletion_request(code: str) -> DataDeletionRequest | None:
    if not code or len(code) > 32:
        return None
    return db.session.scalars(select(DataDeletionRequest).where(
        DataDeletionRequest.confirmation_code == code)).first()
