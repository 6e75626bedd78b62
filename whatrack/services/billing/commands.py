"""Changing an organization's billing: operators' commands, Stripe Checkout and Portal."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from whatrack.errors import ConflictError, NotConfigured, ValidationError, WhaTrackError
from whatrack.extensions import db
from whatrack.integrations.stripe_client import StripeFailure
from whatrack.models import Organization, User, utcnow
from whatrack.services.billing.gateway import stripe_configured, stripe_gateway
from whatrack.services.billing.state import BillingSummary, billing_summary, effective_state

log = logging.getLogger(__name__)

MAX_TRIAL_EXTENSION_DAYS = 365


class PaymentProviderError(WhaTrackError):
    """Stripe did not answer or refused: nothing was changed here; try again."""

    status = 502
    code = "payment_provider_error"


def lock_organization(org_id: int) -> Organization:
    """The organization's row, locked until commit: billing changes of one org queue up."""
    stmt = (select(Organization).where(Organization.id == org_id).with_for_update()
            .execution_options(populate_existing=True))
    return db.session.scalars(stmt).one()


# --- without Stripe: the operators' commands ---------------------------------------------


def extend_trial(org: Organization, days: int) -> BillingSummary:
    """Give ``days`` more of trial: after the current end, or from now when it has lapsed."""
    if not 1 <= days <= MAX_TRIAL_EXTENSION_DAYS:
        raise ValidationError(f"--days must be between 1 and {MAX_TRIAL_EXTENSION_DAYS}")
    org = lock_organization(org.id)
    now = utcnow()
    state = effective_state(org, now)
    if state in ("active", "past_due"):
        raise ConflictError(f"{org.slug} is {state}: a trial would replace a paid plan "
                            "(use `billing activate` to move its end)")
    start = org.trial_ends_at if state == "trialing" and org.trial_ends_at else now
    org.billing_state, org.trial_ends_at = "trialing", start + timedelta(days=days)
    org.past_due_since = None
    db.session.flush()
    return billing_summary(org, now)


def end_of_day(org: Organization, day: date) -> datetime:
    """The first instant after ``day`` in the organization's time zone: access lasts all day."""
    local = datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZoneInfo(org.timezone))
    return local.astimezone(ZoneInfo("UTC"))


def activate_until(org: Organization, day: date) -> BillingSummary:
    """A plan paid outside Stripe (bank transfer, Pix): active through ``day``."""
    org = lock_organization(org.id)
    until = end_of_day(org, day)
    now = utcnow()
    if until <= now:
        raise ValidationError(f"--until {day.isoformat()} is already past")
    org.billing_state, org.paid_until, org.past_due_since = "active", until, None
    db.session.flush()
    return billing_summary(org, now)


def last_day(org: Organization, moment: datetime) -> date:
    """The last calendar day (organization's time zone) before ``moment``: what people read."""
    return (moment - timedelta(microseconds=1)).astimezone(ZoneInfo(org.timezone)).date()


# --- with Stripe: Checkout and the Billing Portal ----------------------------------------


def _require_stripe() -> None:
    if not stripe_configured():
        raise NotConfigured(_("Online payment is not configured. Payment is arranged with "
                              "our team."))


def start_checkout(org: Organization, owner: User, success_url: str, cancel_url: str) -> str:
    """The URL of a Stripe Checkout Session for the plan; the open one again if it exists.

    The organization's row is locked across the Stripe calls, so a double click waits for
    the first click and then reuses its customer and its still-open session. The customer
    creation also carries an idempotency key per organization, so even a lost answer from
    Stripe cannot create a second customer.
    """
    _require_stripe()
    org = lock_organization(org.id)
    if org.stripe_subscription_id and effective_state(org) in ("active", "past_due"):
        raise ConflictError(_("This organization already has a subscription. Use \"Manage "
                              "payment\" to change it."))
    gateway = stripe_gateway()
    try:
        if org.stripe_checkout_session_id:
            session = gateway.checkout_session(org.stripe_checkout_session_id)
            if session.status == "open" and session.url:
                return session.url
        if not org.stripe_customer_id:
            org.stripe_customer_id = gateway.create_customer(
                name=org.name, email=owner.email, organization_id=org.id,
                idempotency_key=f"whatrack-org-{org.id}-customer")
            db.session.flush()
        session = gateway.create_checkout_session(
            customer=org.stripe_customer_id, price=current_app.config["STRIPE_PRICE_ID"],
            organization_id=org.id, success_url=success_url, cancel_url=cancel_url,
            idempotency_key=f"whatrack-org-{org.id}-checkout-{uuid.uuid4().hex}")
    except StripeFailure as exc:
        log.warning("checkout for organization %s failed: %s", org.id, exc)
        raise PaymentProviderError(_("Stripe did not answer. Nothing was charged; please "
                                     "try again in a moment.")) from exc
    org.stripe_checkout_session_id = session.id
    db.session.flush()
    if not session.url:
        raise PaymentProviderError(_("Stripe did not return a payment page. Please try "
                                     "again in a moment."))
    return session.url


def open_portal(org: Organization, return_url: str) -> str:
    """The URL of a Stripe Billing Portal session for the organization's customer."""
    _require_stripe()
    if not org.stripe_customer_id:
        raise ValidationError(_("There is no payment method yet: subscribe first."))
    try:
        return stripe_gateway().create_portal_session(customer=org.stripe_customer_id,
                                                      return_url=return_url)
    except StripeFailure as exc:
        log.warning("billing portal for organization %s failed: %s", org.id, exc)
        raise PaymentProviderError(_("Stripe did not answer. Please try again in a "
                                     "moment.")) from exc
