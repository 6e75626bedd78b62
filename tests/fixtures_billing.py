"""The fake Stripe, Stripe settings on the app, and moving an organization through time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.fakes.stripe import PRICE_ID, SECRET_KEY, WEBHOOK_SECRET, FakeStripe

STRIPE_SETTINGS = ("STRIPE_API_BASE", "STRIPE_SECRET_KEY", "STRIPE_PRICE_ID",
                   "STRIPE_WEBHOOK_SECRET")


@pytest.fixture(scope="session")
def _stripe_server() -> Iterator[FakeStripe]:
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def fake_stripe(app, _stripe_server) -> Iterator[FakeStripe]:
    """Stripe configured and pointed at the fake (TestingConfig points at a closed port)."""
    _stripe_server.reset()
    previous = {name: app.config.get(name) for name in STRIPE_SETTINGS}
    app.config.update(STRIPE_API_BASE=_stripe_server.url, STRIPE_SECRET_KEY=SECRET_KEY,
                      STRIPE_PRICE_ID=PRICE_ID, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    yield _stripe_server
    app.config.update(previous)


@pytest.fixture
def set_billing(app) -> Callable[..., None]:
    """Write an organization's billing columns directly (the test's "time travel")."""
    from whatrack.extensions import db
    from whatrack.models import Organization

    def _set(org_id: int, **values: Any) -> None:
        with app.app_context():
            org = db.session.get(Organization, org_id)
            for name, value in values.items():
                setattr(org, name, value)
            db.session.commit()

    return _set


@pytest.fixture
def expire_trial(set_billing) -> Callable[[int], None]:
    """The organization's trial ended a day ago (read-only from now on)."""
    from whatrack.models import utcnow

    def _expire(org_id: int) -> None:
        set_billing(org_id, billing_state="trialing", trial_ends_at=utcnow() - timedelta(days=1))

    return _expire


def load_org(app, org_id: int) -> Any:
    from whatrack.extensions import db
    from whatrack.models import Organization

    with app.app_context():
        org = db.session.get(Organization, org_id)
        db.session.expunge(org)
        return org


def ts(moment: datetime) -> int:
    return int(moment.timestamp())
