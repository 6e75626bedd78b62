"""Whether Stripe is configured, and the gateway built from the app's settings."""

from __future__ import annotations

from flask import current_app

from whatrack.integrations.stripe_client import StripeGateway


def stripe_configured() -> bool:
    """Checkout needs the secret key and the price; without them billing is arranged by hand."""
    cfg = current_app.config
    return bool(cfg.get("STRIPE_SECRET_KEY") and cfg.get("STRIPE_PRICE_ID"))


def stripe_gateway() -> StripeGateway:
    cfg = current_app.config
    return StripeGateway(cfg["STRIPE_SECRET_KEY"], cfg.get("STRIPE_API_BASE"))
