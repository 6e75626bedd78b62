"""CAPI fixtures: Facebook app settings on the fake Graph API, ad tickets, a connection."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fixtures_whatsapp import GRAPH_TOKEN

APP_ID = "1234567890123456"
DATASET_ID = "500000000000001"
CLICK_ID = "ARAkLkA8FAKEctwaClid_x9Q2mVhT3sYpWq7eN0bC5dZrUuJ1oLgKqHsE4vTnYwRi"
CUSTOMER = "5511987654321"


@pytest.fixture
def meta_app(app, fake_graph) -> Iterator[Any]:
    """Facebook Login configured against the fake; fast retries and short timeouts."""
    overrides = {"META_APP_ID": APP_ID, "META_DIALOG_URL": fake_graph.url,
                 "META_CAPI_RETRY_BASE": 0.05, "META_CAPI_TIMEOUT": 1.0,
                 "SERVER_NAME": None}
    previous = {key: app.config.get(key) for key in overrides}
    app.config.update(overrides)
    fake_graph.login.app_id = APP_ID
    fake_graph.login.app_secret = app.config["META_APP_SECRET"]
    yield fake_graph
    app.config.update(previous)


@pytest.fixture
def make_ticket(app) -> Callable[..., int]:
    """An open ticket of the organization's number (with an ad click unless ``clid=None``)."""
    from whatrack.extensions import db
    from whatrack.models import Contact, Organization, Ticket, WhatsAppAccount
    from whatrack.services.tickets.stages import entry_stage
    from whatrack.tenancy import bind_org

    counter = iter(range(1, 100_000))

    def _make(org_id: int, clid: str | None = CLICK_ID, wa_id: str | None = None) -> int:
        n = next(counter)
        with app.app_context(), bind_org(org_id):
            org = db.session.get(Organization, org_id)
            account = db.session.scalars(db.select(WhatsAppAccount)).first()
            contact = Contact(organization_id=org_id, wa_id=wa_id or str(5511900000000 + n),
                              profile_name=f"Cliente {n}")
            db.session.add(contact)
            db.session.flush()
            ticket = Ticket(organization_id=org_id, contact_id=contact.id,
                            whatsapp_account_id=account.id if account else None,
                            stage_id=entry_stage(org).id,
                            lead_source="ad" if clid else "organic", ctwa_clid=clid,
                            source_id="120200000000001" if clid else None)
            db.session.add(ticket)
            db.session.commit()
            return ticket.id

    return _make


@pytest.fixture
def connect_meta(app) -> Callable[..., None]:
    """Store a connection like `meta connect` does (token the fake accepts by default)."""
    from whatrack.extensions import db
    from whatrack.models import Organization
    from whatrack.services.meta import connection as meta_connection
    from whatrack.tenancy import bind_org

    def _connect(org_id: int, token: str = GRAPH_TOKEN, dataset_id: str = DATASET_ID,
                 test_event_code: str | None = None) -> None:
        with app.app_context(), bind_org(org_id):
            org = db.session.get(Organization, org_id)
            meta_connection.connect_cli(org, token, dataset_id, test_event_code)
            db.session.commit()

    return _connect


@pytest.fixture
def close_sale(app, client, make_api_key) -> Callable[..., Any]:
    """POST /api/v1/tickets/<id>/sales with a fresh key; returns the response."""
    keys: dict[int, str] = {}

    def _close(org_id: int, ticket_id: int, value: str = "1234.56", currency: str = "BRL"):
        if org_id not in keys:
            keys[org_id] = make_api_key(org_id)[1]
        return client.post(f"/api/v1/tickets/{ticket_id}/sales",
                           json={"value": value, "currency": currency},
                           headers={"Authorization": f"Bearer {keys[org_id]}"})

    return _close


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy (workers run in other threads)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def events_of(org_id: int | None = None) -> list[Any]:
    """Every conversion event (fresh from the database), oldest first."""
    from sqlalchemy import select

    from whatrack.extensions import db
    from whatrack.models import MetaConversionEvent
    from whatrack.tenancy import unscoped

    stmt = select(MetaConversionEvent).order_by(MetaConversionEvent.id)
    if org_id:
        stmt = stmt.where(MetaConversionEvent.organization_id == org_id)
    with unscoped():
        return list(db.session.scalars(stmt.execution_options(populate_existing=True)))


def settled(org_id: int) -> list[Any] | None:
    """The events once none is pending any more (None while some are)."""
    from whatrack.extensions import db

    db.session.rollback()
    rows = events_of(org_id)
    return rows if rows and all(e.status != "pending" for e in rows) else None
