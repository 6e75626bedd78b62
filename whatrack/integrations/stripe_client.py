"""Stripe's API and webhooks through the ``stripe`` library: plain data in and out.

Every call goes through one ``StripeClient`` whose API base comes from the caller
(``STRIPE_API_BASE``: tests point it at a fake Stripe on loopback). Nothing here knows
about organizations or the database; callers pass ids and get small dataclasses back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import stripe

DEFAULT_API_BASE = "https://api.stripe.com"
# pt-BR Checkout and Portal pages: the product's customers are Brazilian businesses.
LOCALE = "pt-BR"


class StripeFailure(Exception):
    """A Stripe call failed (network, Stripe down, refused request); safe to log."""


class InvalidStripeSignature(Exception):
    """The webhook's Stripe-Signature is missing, wrong or outside the tolerance window."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None
    status: str | None  # open | complete | expired


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str | None
    status: str | None
    amount: Decimal  # paid when paid, else due; in the currency's unit (reais)
    currency: str
    created: datetime
    hosted_invoice_url: str | None
    invoice_pdf: str | None


@dataclass(frozen=True)
class Price:
    id: str
    amount: Decimal | None
    currency: str
    interval: str | None  # month | year
    product_name: str | None


def from_minor_units(value: Any) -> Decimal:
    """Stripe counts money in the currency's smallest unit (centavos for BRL)."""
    return Decimal(int(value or 0)) / 100


def from_timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


class StripeGateway:
    """The calls WhaTrack makes to Stripe, with one client and its timeout."""

    def __init__(self, secret_key: str, api_base: str | None = None,
                 timeout: float = 20.0) -> None:
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base or DEFAULT_API_BASE},
            # A lost answer is retried once with the same idempotency key: Stripe replays
            # its first answer instead of acting twice.
            max_network_retries=1,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except stripe.StripeError as exc:
            raise StripeFailure(f"{what}: {type(exc).__name__}: {exc.user_message or exc}") \
                from exc

    def create_customer(self, *, name: str, email: str | None, organization_id: int,
                        idempotency_key: str) -> str:
        params: dict[str, Any] = {"name": name,
                                  "metadata": {"organization_id": str(organization_id)},
                                  "preferred_locales": [LOCALE]}
        if email:
            params["email"] = email
        customer = self._call("create customer", self._client.v1.customers.create,
                              params=params, options={"idempotency_key": idempotency_key})
        return customer.id

    def create_checkout_session(self, *, customer: str, price: str, organization_id: int,
                                success_url: str, cancel_url: str,
                                idempotency_key: str) -> CheckoutSession:
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": price, "quantity": 1}],
            "locale": LOCALE,
            "client_reference_id": str(organization_id),
            "metadata": {"organization_id": str(organization_id)},
            "subscription_data": {"metadata": {"organization_id": str(organization_id)}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        session = self._call("create checkout session",
                             self._client.v1.checkout.sessions.create, params=params,
                             options={"idempotency_key": idempotency_key})
        return CheckoutSession(session.id, session.url, session.status)

    def checkout_session(self, session_id: str) -> CheckoutSession:
        session = self._call("retrieve checkout session",
                             self._client.v1.checkout.sessions.retrieve, session_id)
        return CheckoutSession(session.id, session.url, session.status)

    def create_portal_session(self, *, customer: str, return_url: str) -> str:
        session = self._call("create billing portal session",
                             self._client.v1.billing_portal.sessions.create,
                             params={"customer": customer, "return_url": return_url,
                                     "locale": LOCALE})
        return session.url

    def invoices(self, customer: str, limit: int = 12) -> list[Invoice]:
        page = self._call("list invoices", self._client.v1.invoices.list,
                          params={"customer": customer, "limit": limit})
        rows = [i.to_dict() for i in page.data]
        return [
            Invoice(id=i["id"], number=i.get("number"), status=i.get("status"),
                    amount=from_minor_units(i.get("amount_paid") if i.get("status") == "paid"
                                            else i.get("amount_due")),
                    currency=(i.get("currency") or "brl").upper(),
                    created=from_timestamp(i.get("created")) or datetime.now(UTC),
                    hosted_invoice_url=i.get("hosted_invoice_url"),
                    invoice_pdf=i.get("invoice_pdf"))
            for i in rows
        ]

    def price(self, price_id: str) -> Price:
        price = self._call("retrieve price", self._client.v1.prices.retrieve, price_id,
                           params={"expand": ["product"]}).to_dict()
        product = price.get("product")
        recurring = price.get("recurring") or {}
        unit_amount = price.get("unit_amount")
        return Price(id=price["id"],
                     amount=None if unit_amount is None else from_minor_units(unit_amount),
                     currency=(price.get("currency") or "brl").upper(),
                     interval=recurring.get("interval"),
                     product_name=product.get("name") if isinstance(product, dict) else None)


def verify_webhook(payload: bytes, signature_header: str | None, secret: str,
                   tolerance: int) -> dict[str, Any]:
    """The event of a delivery whose signature Stripe's library accepts; raises otherwise.

    The library checks the HMAC of ``timestamp.payload`` against every v1 signature and
    refuses a timestamp older than ``tolerance`` seconds (a replayed delivery).
    """
    try:
        stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise InvalidStripeSignature(str(exc)) from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise InvalidStripeSignature("signed body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise InvalidStripeSignature("signed body is not a Stripe event")
    return event


def subscription_period_end(subscription: dict[str, Any]) -> datetime | None:
    """The end of the paid period: on the items since API 2025-03-31, on the object before."""
    ends = [item.get("current_period_end")
            for item in (subscription.get("items") or {}).get("data") or []]
    ends.append(subscription.get("current_period_end"))
    values = [int(v) for v in ends if v]
    return from_timestamp(max(values)) if values else None


def invoice_period_end(invoice: dict[str, Any]) -> datetime | None:
    """The end of the period an invoice pays for (its lines'; the invoice's own period is
    the one before for subscription renewals)."""
    ends = [(line.get("period") or {}).get("end")
            for line in (invoice.get("lines") or {}).get("data") or []]
    values = [int(v) for v in ends if v]
    return from_timestamp(max(values)) if values else None
