"""What the billing page shows: the plan and the invoices, from Stripe when connected."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import current_app

from whatrack.integrations.stripe_client import Invoice, Price, StripeFailure
from whatrack.models import Organization
from whatrack.services.billing.gateway import stripe_configured, stripe_gateway
from whatrack.services.billing.state import BillingSummary, billing_summary

log = logging.getLogger(__name__)


@dataclass
class BillingOverview:
    summary: BillingSummary
    stripe: bool
    price: Price | None = None
    invoices: list[Invoice] = field(default_factory=list)
    # Stripe could not be read: the page still shows our own state, and says so.
    stripe_unavailable: bool = False
    can_subscribe: bool = False
    can_manage: bool = False


def billing_overview(org: Organization) -> BillingOverview:
    summary = billing_summary(org)
    if not stripe_configured():
        return BillingOverview(summary=summary, stripe=False)
    subscribed = bool(org.stripe_subscription_id) and summary.state in ("active", "past_due")
    overview = BillingOverview(summary=summary, stripe=True, can_subscribe=not subscribed,
                               can_manage=bool(org.stripe_customer_id))
    gateway = stripe_gateway()
    try:
        overview.price = gateway.price(current_app.config["STRIPE_PRICE_ID"])
        if org.stripe_customer_id:
            overview.invoices = gateway.invoices(org.stripe_customer_id)
    except StripeFailure as exc:
        log.warning("billing page of organization %s could not read Stripe: %s", org.id, exc)
        overview.stripe_unavailable = True
    return overview
