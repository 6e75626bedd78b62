"""Number health (quality, messaging limit, name status) and a token Meta stopped accepting."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from whatrack.extensions import db
from whatrack.integrations.meta.errors import MetaError, MetaTokenError
from whatrack.integrations.meta.graph import GraphClient
from whatrack.models import WhatsAppAccount, utcnow
from whatrack.services.whatsapp.graph import client
from whatrack.tenancy import bind_org, unscoped

log = logging.getLogger(__name__)

# Quality and limits move slowly and Meta also announces changes by webhook; once a day is
# enough to notice a dead token before someone tries to reply.
HEALTH_CHECK_EVERY = timedelta(hours=20)
HEALTH_FIELDS = ("quality_rating", "name_status", "messaging_limit", "throughput",
                 "meta_status", "verified_name")


def read_health(graph: GraphClient, phone_number_id: str) -> dict[str, Any]:
    """What Meta says about the number now; the messaging limit is best effort (its field
    name is not settled), a refused token is not."""
    info = graph.get_phone_number(phone_number_id)
    try:
        limit = graph.get_messaging_limit(phone_number_id)
    except MetaTokenError:
        raise
    except MetaError as exc:
        log.info("messaging limit of %s not readable: %s", phone_number_id, exc)
        limit = None
    return {"display_phone_number": info.display_phone_number,
            "verified_name": info.verified_name, "quality_rating": info.quality_rating,
            "name_status": info.name_status, "throughput": info.throughput,
            "meta_status": info.status, "platform_type": info.platform_type,
            "is_on_biz_app": info.is_on_biz_app, "messaging_limit": limit}


def apply_health(account: WhatsAppAccount, facts: dict[str, Any]) -> None:
    for name in HEALTH_FIELDS:
        value = facts.get(name)
        if value is None and name == "verified_name":
            continue  # a name, once approved, is not unknown just because Meta omitted it
        setattr(account, name, value)
    account.health_checked_at = utcnow()
    account.health_error = None


def mark_token_invalid(account: WhatsAppAccount, reason: str) -> None:
    """Meta refused the number's token: show "reconnect" until a new signup replaces it."""
    if account.token_invalid_at is None:
        account.token_invalid_at = utcnow()
        log.warning("Meta refused the token of whatsapp number %s: reconnect needed",
                    account.phone_number_id)
    account.health_error = reason[:255]
    db.session.flush()


def refresh_health(account: WhatsAppAccount) -> bool:
    """Read and store the number's health; False when Meta refuses its token.

    Other Meta errors (network, throttling) propagate: the next run asks again.
    """
    token = account.token
    if not token:
        return False
    try:
        facts = read_health(client(token), account.phone_number_id)
    except MetaTokenError as exc:
        account.health_checked_at = utcnow()
        mark_token_invalid(account, str(exc))
        return False
    apply_health(account, facts)
    db.session.flush()
    return True


def accounts_due_for_health_check(limit: int = 200) -> list[int]:
    """Connected numbers with a working token nobody checked for a day (platform-wide)."""
    cutoff = utcnow() - HEALTH_CHECK_EVERY
    with unscoped():
        return list(db.session.scalars(
            select(WhatsAppAccount.id)
            .where(WhatsAppAccount.token_encrypted.is_not(None),
                   WhatsAppAccount.status == "connected",
                   WhatsAppAccount.token_invalid_at.is_(None),
                   WhatsAppAccount.health_checked_at.is_(None)
                   | (WhatsAppAccount.health_checked_at < cutoff))
            .order_by(WhatsAppAccount.health_checked_at.nulls_first())
            .limit(limit)))


def check_account(account_id: int) -> bool:
    """The scheduled check of one number, bound to its organization."""
    with unscoped():
        account = db.session.get(WhatsAppAccount, account_id)
    if account is None:
        return True
    with bind_org(account.organization_id):
        try:
            return refresh_health(account)
        except MetaError as exc:
            account.health_error = str(exc)[:255]
            db.session.flush()
            raise
