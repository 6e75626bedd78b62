"""Applying a stored Stripe delivery to the organization it is about, once per event id.

Stripe delivers at least once and in no particular order. Each event id is recorded in
``stripe_events`` in the same transaction that applies it (a second delivery of the id
conflicts and is a no-op); each organization remembers Stripe's ``created`` of the newest
event applied to its state (``billing_synced_at``), and an older one that comes late is
recorded as stale instead of overwriting a newer state.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from whatrack.extensions import db
from whatrack.integrations.stripe_client import (
    from_timestamp,
    invoice_period_end,
    subscription_period_end,
)
from whatrack.models import Organization, StripeEvent, WebhookEvent, utcnow
from whatrack.models.base import dialect_insert
from whatrack.services.billing.commands import lock_organization

log = logging.getLogger(__name__)

HANDLED_TYPES = frozenset({
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
})

# Stripe subscription status -> our state; statuses not listed leave the state alone
# ("incomplete": the first payment has not gone through yet).
SUBSCRIPTION_STATES = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "paused": "canceled",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}


@dataclass(frozen=True)
class Outcome:
    outcome: str  # applied | stale | unknown_customer | ignored | duplicate
    summary: str


def process_stripe_delivery(event: WebhookEvent) -> Outcome:
    """Apply one stored Stripe delivery and mark it; the caller commits once."""
    try:
        payload = json.loads(event.body)
        stripe_id, kind = payload["id"], payload["type"]
        created = from_timestamp(payload["created"])
        obj = payload["data"]["object"]
        if not isinstance(obj, dict) or created is None:
            raise TypeError("data.object is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        # Signed by Stripe, so stored; but unreadable: kept for a person, never retried.
        event.attempts += 1
        event.state, event.processed_at = "failed", utcnow()
        event.error = f"malformed Stripe event: {type(exc).__name__}: {exc}"[:2000]
        return Outcome("failed", event.error)
    result = _apply_once(event, stripe_id, kind, created, obj)
    event.attempts += 1
    event.processed_at, event.error = utcnow(), None
    event.state = "unroutable" if result.outcome == "unknown_customer" else "processed"
    event.summary = result.summary[:255]
    if result.outcome == "unknown_customer":
        log.warning("stripe event %s (%s) names no known customer", stripe_id, kind)
    return result


def _apply_once(event: WebhookEvent, stripe_id: str, kind: str, created: datetime,
                obj: dict[str, Any]) -> Outcome:
    claimed = db.session.execute(
        dialect_insert(StripeEvent)
        .values(stripe_event_id=stripe_id, type=kind[:64], stripe_created_at=created,
                webhook_event_id=event.id, outcome="ignored", processed_at=utcnow())
        .on_conflict_do_nothing(index_elements=["stripe_event_id"])
        .returning(StripeEvent.id)
    ).scalar()
    if claimed is None:
        return Outcome("duplicate", f"{kind} {stripe_id}: already processed")
    record = db.session.get(StripeEvent, claimed)
    if kind not in HANDLED_TYPES:
        return Outcome("ignored", f"{kind} {stripe_id}: not used")
    org = _organization_for(kind, obj)
    if org is None:
        record.outcome = "unknown_customer"
        return Outcome("unknown_customer",
                       f"{kind} {stripe_id}: unknown Stripe customer {obj.get('customer')}")
    org = lock_organization(org.id)
    record.organization_id = org.id
    if org.billing_synced_at and created < org.billing_synced_at:
        record.outcome = "stale"
        _keep_facts(org, kind, obj)
        return Outcome("stale", f"{kind} {stripe_id}: older than the state of {org.slug}")
    HANDLERS[kind](org, obj, created)
    org.billing_synced_at = created
    record.outcome = "applied"
    db.session.flush()
    return Outcome("applied", f"{kind} {stripe_id}: {org.slug} is {org.billing_state}")


def _organization_for(kind: str, obj: dict[str, Any]) -> Organization | None:
    customer = obj.get("customer")
    if customer:
        org = db.session.scalars(
            select(Organization).where(Organization.stripe_customer_id == customer)).first()
        if org is not None:
            return org
    if kind == "checkout.session.completed":
        # Our own session names the organization; it is trusted only when the customer is
        # new to us (Checkout created it) or is that organization's.
        ref = obj.get("client_reference_id") or (obj.get("metadata") or {}).get(
            "organization_id")
        if ref and str(ref).isdigit():
            org = db.session.get(Organization, int(ref))
            if org is not None and org.stripe_customer_id in (None, customer):
                return org
    return None


def _keep_facts(org: Organization, kind: str, obj: dict[str, Any]) -> None:
    """What a late event still tells us without touching the state: a paid period."""
    if kind == "invoice.paid":
        _extend_paid_until(org, invoice_period_end(obj))


def _extend_paid_until(org: Organization, until: datetime | None) -> None:
    if until and (org.paid_until is None or until > org.paid_until):
        org.paid_until = until


def _become(org: Organization, state: str, created: datetime) -> None:
    if state == "past_due":
        if org.billing_state != "past_due" or org.past_due_since is None:
            org.past_due_since = created
    else:
        org.past_due_since = None
    org.billing_state = state


def _checkout_completed(org: Organization, obj: dict[str, Any], created: datetime) -> None:
    if obj.get("customer") and not org.stripe_customer_id:
        org.stripe_customer_id = obj["customer"]
    if obj.get("subscription"):
        org.stripe_subscription_id = obj["subscription"]
    org.stripe_checkout_session_id = None
    if obj.get("payment_status") in ("paid", "no_payment_required"):
        _become(org, "active", created)


def _subscription_changed(org: Organization, obj: dict[str, Any], created: datetime) -> None:
    org.stripe_subscription_id = obj.get("id") or org.stripe_subscription_id
    state = SUBSCRIPTION_STATES.get(obj.get("status") or "")
    if state is None:
        return
    if state == "active":
        end = subscription_period_end(obj)
        if end:
            org.paid_until = end
    _become(org, state, created)


def _subscription_deleted(org: Organization, obj: dict[str, Any], created: datetime) -> None:
    if org.stripe_subscription_id in (None, obj.get("id")):
        _become(org, "canceled", created)


def _invoice_paid(org: Organization, obj: dict[str, Any], created: datetime) -> None:
    _extend_paid_until(org, invoice_period_end(obj))
    if org.billing_state in ("trialing", "active", "past_due", "expired"):
        _become(org, "active", created)


def _invoice_payment_failed(org: Organization, obj: dict[str, Any], created: datetime) -> None:
    if org.billing_state in ("active", "past_due"):
        _become(org, "past_due", created)


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_deleted,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_payment_failed,
}
