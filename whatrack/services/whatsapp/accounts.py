"""Connecting WhatsApp numbers and routing webhooks to them."""

from __future__ import annotations

import logging

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from whatrack.errors import ConflictError, ValidationError
from whatrack.extensions import db
from whatrack.integrations.meta.webhook import MalformedPayload, parse_bytes
from whatrack.models import Organization, WebhookEvent, WebhookEventRoute, WhatsAppAccount
from whatrack.models.base import dialect_insert
from whatrack.services.whatsapp.phones import digits
from whatrack.tenancy import bind_org, unscoped
from whatrack.transaction_memo import remembered

log = logging.getLogger(__name__)


def attach_account(
    org: Organization,
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    token: str | None,
    verified_name: str | None = None,
    business_id: str | None = None,
    coexistence: bool = False,
) -> WhatsAppAccount:
    """Connect a number to ``org`` (or refresh it); a number belongs to one tenant only."""
    if not (waba_id.strip() and phone_number_id.strip() and digits(display_phone_number)):
        raise ValidationError(_("WABA id, phone number id and display number are required."))
    with unscoped():
        account = db.session.scalars(
            select(WhatsAppAccount).where(WhatsAppAccount.phone_number_id == phone_number_id)
        ).first()
    if account is not None and account.organization_id != org.id:
        raise ConflictError(_("This number is already connected to another organization."))
    if account is None:
        account = WhatsAppAccount(organization_id=org.id, phone_number_id=phone_number_id)
        db.session.add(account)
    account.waba_id = waba_id
    account.display_phone_number = digits(display_phone_number)
    account.verified_name = verified_name
    account.business_id = business_id
    account.coexistence = coexistence
    account.status = "connected"
    if token:
        account.token = token
    db.session.flush()
    claimed = claim_unroutable_events(org, phone_number_id)
    log.info("whatsapp number %s attached to organization %s (%d waiting deliveries)",
             phone_number_id, org.id, claimed)
    return account


def claim_unroutable_events(org: Organization, phone_number_id: str) -> int:
    """Link deliveries that came for this number before it was connected to ``org``.

    They stay ``unroutable`` (nothing is applied behind the operators' back) but now show
    in the organization's webhook view, where "reprocess" turns them into rows.
    """
    candidates = db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.state == "unroutable",
                                   WebhookEvent.body.contains(phone_number_id.encode()))
    )
    claimed = 0
    for event in candidates:
        try:
            if phone_number_id not in parse_bytes(event.body).phone_number_ids():
                continue
        except MalformedPayload:
            continue
        db.session.execute(
            dialect_insert(WebhookEventRoute)
            .values(organization_id=org.id, webhook_event_id=event.id)
            .on_conflict_do_nothing(index_elements=["webhook_event_id", "organization_id"])
        )
        claimed += 1
    return claimed


def accounts_by_phone_number_id(phone_number_ids: set[str]) -> dict[str, WhatsAppAccount]:
    """Routing table for one delivery; runs before any tenant is known."""
    if not phone_number_ids:
        return {}
    return remembered(("phone_routes", frozenset(phone_number_ids)),
                      lambda: _accounts_by_phone_number_id(phone_number_ids))


def _accounts_by_phone_number_id(phone_number_ids: set[str]) -> dict[str, WhatsAppAccount]:
    with unscoped():
        rows = db.session.scalars(
            select(WhatsAppAccount).where(WhatsAppAccount.phone_number_id.in_(phone_number_ids))
            # The organizations come along: the delivery needs each account's next.
            .options(joinedload(WhatsAppAccount.organization))
        )
        return {row.phone_number_id: row for row in rows}


def accounts_by_waba_id(waba_ids: set[str]) -> dict[str, WhatsAppAccount]:
    if not waba_ids:
        return {}
    with unscoped():
        rows = db.session.scalars(
            select(WhatsAppAccount).where(WhatsAppAccount.waba_id.in_(waba_ids))
            .options(joinedload(WhatsAppAccount.organization))
        )
        return {row.waba_id: row for row in rows}


def has_connected_number(org: Organization) -> bool:
    """Whether the dashboard can stop pointing at the onboarding page."""
    return db.session.scalars(
        select(WhatsAppAccount.id).where(WhatsAppAccount.organization_id == org.id,
                                         WhatsAppAccount.status == "connected").limit(1)
    ).first() is not None


def list_accounts(org: Organization) -> list[WhatsAppAccount]:
    return list(db.session.scalars(select(WhatsAppAccount).order_by(WhatsAppAccount.id)))


# account_update events that change whether a number still reaches us (meta-platform.md 1.5).
DISCONNECTING_EVENTS = frozenset({"PARTNER_REMOVED", "ACCOUNT_OFFBOARDED"})
RECONNECTING_EVENTS = frozenset({"ACCOUNT_RECONNECTED"})


def apply_account_update(waba_id: str, value: dict) -> list[WhatsAppAccount]:
    """Mark a business's numbers disconnected or connected again; the accounts changed.

    Runs from the webhook worker before any tenant is known; each change is written while
    bound to the account's organization.
    """
    event = str(value.get("event") or "")
    if event not in DISCONNECTING_EVENTS | RECONNECTING_EVENTS:
        return []
    number = digits(str(value.get("phone_number") or ""))
    with unscoped():
        accounts = list(db.session.scalars(
            select(WhatsAppAccount).where(WhatsAppAccount.waba_id == waba_id)))
    changed = []
    for account in accounts:
        if number and account.display_phone_number != number:
            continue
        with bind_org(account.organization_id):
            account.status = "disconnected" if event in DISCONNECTING_EVENTS else "connected"
            db.session.flush()
        changed.append(account)
        log.warning("whatsapp number %s %s by Meta (%s)", account.phone_number_id,
                    account.status, event)
    return changed
