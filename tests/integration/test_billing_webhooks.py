"""``POST /webhooks/stripe``: signature and tolerance, stored before the 200, once per event
id, order-tolerant, every handled type, and customers nobody has."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.fakes.stripe import event, invoice, sign, subscription
from tests.fixtures_billing import load_org, ts

pytestmark = pytest.mark.endpoint("webhooks.stripe")

CUSTOMER = "cus_test_known"
SUB = "sub_test_known"


def _post(client, body: bytes, signature: str | None = "auto"):
    headers = {"Content-Type": "application/json"}
    if signature == "auto":
        signature = sign(body)
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/webhooks/stripe", data=body, headers=headers)


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def customer_org(make_org, set_billing, fake_stripe):
    org_id, _user_id, _email = make_org("Clínica Paga")
    set_billing(org_id, stripe_customer_id=CUSTOMER)
    return org_id


def test_a_bad_signature_is_400_and_nothing_is_stored(client, db, fake_stripe):
    from whatrack.models import StripeEvent, WebhookEvent

    body = event("invoice.paid", invoice("in_1", CUSTOMER, SUB, ts(datetime.now(UTC))))
    forged = sign(body, secret="whsec_someone_else")
    assert _post(client, body, forged).status_code == 400
    assert _post(client, body, None).status_code == 400
    assert _post(client, body, "t=1,v1=nothex").status_code == 400
    # Signed, then changed on the way: the HMAC no longer matches.
    assert _post(client, body.replace(b"in_1", b"in_2"), sign(body)).status_code == 400
    assert _count(db, WebhookEvent) == 0 and _count(db, StripeEvent) == 0


def test_a_signature_outside_the_tolerance_window_is_400_and_nothing_is_stored(
        client, db, fake_stripe):
    from whatrack.models import WebhookEvent

    body = event("invoice.paid", invoice("in_1", CUSTOMER, SUB, ts(datetime.now(UTC))))
    replayed = sign(body, timestamp=int(time.time()) - 301)  # the library's 300 s window

    assert _post(client, body, replayed).status_code == 400
    assert _count(db, WebhookEvent) == 0
    assert _post(client, body, sign(body, timestamp=int(time.time()) - 250)).status_code == 200


def test_without_a_webhook_secret_deliveries_are_refused_with_503(app, client, db):
    from whatrack.models import WebhookEvent

    assert not app.config.get("STRIPE_WEBHOOK_SECRET")
    body = event("invoice.paid", {"id": "in_1", "customer": CUSTOMER})
    assert _post(client, body).status_code == 503
    assert _count(db, WebhookEvent) == 0


def test_a_valid_delivery_is_stored_byte_for_byte_before_the_200(client, db, customer_org):
    from whatrack.models import WebhookEvent

    body = event("invoice.paid", invoice("in_1", CUSTOMER, SUB, ts(datetime.now(UTC))))
    resp = _post(client, body)

    assert resp.status_code == 200
    stored = db.session.scalars(select(WebhookEvent)).one()
    assert (stored.source, stored.body, stored.state) == ("stripe", body, "received")


def _sync(app, client, worker, body: bytes) -> None:
    assert _post(client, body).status_code == 200
    worker.drain()


def test_checkout_then_subscription_then_invoice_make_the_organization_active(
        app, client, db, worker, make_org, fake_stripe):
    org_id, _user_id, _email = make_org()
    period_end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    start = int(time.time()) - 10

    _sync(app, client, worker, event("checkout.session.completed", {
        "id": "cs_1", "object": "checkout.session", "customer": "cus_new",
        "subscription": SUB, "client_reference_id": str(org_id),
        "metadata": {"organization_id": str(org_id)}, "payment_status": "paid",
        "status": "complete"}, created=start))
    org = load_org(app, org_id)
    assert (org.billing_state, org.stripe_customer_id, org.stripe_subscription_id) == (
        "active", "cus_new", SUB)

    _sync(app, client, worker, event("customer.subscription.created",
                                     subscription(SUB, "cus_new", "active", ts(period_end)),
                                     created=start + 1))
    _sync(app, client, worker, event("invoice.paid",
                                     invoice("in_1", "cus_new", SUB, ts(period_end)),
                                     created=start + 2))
    org = load_org(app, org_id)
    assert org.billing_state == "active"
    assert org.paid_until == period_end
    resp = client.get("/api/v1/me", headers=_bearer_for(app, org_id))
    assert resp.json["organization"]["billing"] == {
        "state": "active", "trial_ends_at": org.trial_ends_at.isoformat(timespec="seconds"),
        "paid_until": period_end.isoformat(timespec="seconds")}


def _bearer_for(app, org_id: int) -> dict[str, str]:
    from whatrack.extensions import db
    from whatrack.models import Organization
    from whatrack.services.accounts import apikeys
    from whatrack.tenancy import bind_org

    with app.app_context(), bind_org(org_id):
        issued = apikeys.create_api_key(db.session.get(Organization, org_id), "test")
        db.session.commit()
        return {"Authorization": f"Bearer {issued.key}"}


def test_payment_failed_is_past_due_then_paid_is_active_again(
        app, client, worker, customer_org, set_billing):
    from whatrack.models import utcnow

    set_billing(customer_org, billing_state="active", stripe_subscription_id=SUB,
                paid_until=utcnow() + timedelta(days=20))
    start = int(time.time()) - 10

    _sync(app, client, worker, event("invoice.payment_failed",
                                     invoice("in_2", CUSTOMER, SUB, start, status="open"),
                                     created=start))
    org = load_org(app, customer_org)
    assert org.billing_state == "past_due"
    assert org.past_due_since == datetime.fromtimestamp(start, UTC)

    renewed = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    _sync(app, client, worker, event("invoice.paid", invoice("in_2", CUSTOMER, SUB, ts(renewed)),
                                     created=start + 5))
    org = load_org(app, customer_org)
    assert (org.billing_state, org.past_due_since, org.paid_until) == ("active", None, renewed)


def test_subscription_deleted_cancels_and_the_dashboard_turns_read_only(
        app, client, worker, customer_org, set_billing):
    from whatrack.services.billing.state import effective_state

    set_billing(customer_org, billing_state="active", stripe_subscription_id=SUB)
    _sync(app, client, worker, event("customer.subscription.deleted",
                                     subscription(SUB, CUSTOMER, "canceled", int(time.time()))))

    org = load_org(app, customer_org)
    assert org.billing_state == "canceled"
    with app.app_context():
        assert effective_state(org) == "canceled"


def test_a_redelivered_event_id_is_stored_again_but_applied_once(
        app, client, db, worker, customer_org, set_billing):
    from whatrack.models import StripeEvent, WebhookEvent

    set_billing(customer_org, billing_state="active", stripe_subscription_id=SUB)
    start = int(time.time()) - 10
    failed = event("invoice.payment_failed", invoice("in_3", CUSTOMER, SUB, start, "open"),
                   created=start, event_id="evt_dup")
    _sync(app, client, worker, failed)
    first_since = load_org(app, customer_org).past_due_since
    # The customer pays; then Stripe delivers the old failure again (same event id).
    set_billing(customer_org, billing_state="active", past_due_since=None,
                billing_synced_at=None)
    _sync(app, client, worker, failed)

    org = load_org(app, customer_org)
    assert org.billing_state == "active"  # the duplicate did not apply a second time
    assert first_since is not None
    rows = db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).all()
    assert [r.state for r in rows] == ["processed", "processed"]
    assert "already processed" in rows[1].summary
    assert _count(db, StripeEvent) == 1


def test_an_older_subscription_update_arriving_late_never_overwrites_a_newer_one(
        app, client, db, worker, customer_org, set_billing):
    from whatrack.models import StripeEvent

    set_billing(customer_org, billing_state="active", stripe_subscription_id=SUB)
    now = int(time.time())
    period_end = now + 30 * 86400
    newer = event("customer.subscription.updated",
                  subscription(SUB, CUSTOMER, "active", period_end), created=now - 5)
    older = event("customer.subscription.updated",
                  subscription(SUB, CUSTOMER, "past_due", now - 86400), created=now - 60)

    _sync(app, client, worker, newer)
    _sync(app, client, worker, older)  # Stripe delivered them out of order

    org = load_org(app, customer_org)
    assert org.billing_state == "active"
    assert org.paid_until == datetime.fromtimestamp(period_end, UTC)
    outcomes = db.session.scalars(select(StripeEvent.outcome).order_by(StripeEvent.id)).all()
    assert outcomes == ["applied", "stale"]

    # A late "deleted" older than the newest update cannot cancel a live subscription either.
    _sync(app, client, worker, event("customer.subscription.deleted",
                                     subscription(SUB, CUSTOMER, "canceled", now - 120),
                                     created=now - 120))
    assert load_org(app, customer_org).billing_state == "active"


def test_an_event_for_an_unknown_customer_is_stored_marked_and_harmless(
        app, client, db, worker, customer_org):
    from whatrack.models import StripeEvent, WebhookEvent

    _sync(app, client, worker, event("invoice.payment_failed",
                                     invoice("in_x", "cus_nobody", "sub_x", int(time.time()),
                                             "open")))

    stored = db.session.scalars(select(WebhookEvent)).one()
    assert stored.state == "unroutable"
    assert "cus_nobody" in stored.summary
    record = db.session.scalars(select(StripeEvent)).one()
    assert (record.outcome, record.organization_id) == ("unknown_customer", None)
    assert load_org(app, customer_org).billing_state == "trialing"


def test_a_checkout_naming_another_organizations_customer_is_not_trusted(
        app, client, db, worker, customer_org, make_org):
    other_id, _u, _e = make_org("Outra")
    # Our session would never say this: the customer belongs to customer_org, the reference
    # to another organization. The customer wins; the other organization is untouched.
    _sync(app, client, worker, event("checkout.session.completed", {
        "id": "cs_9", "customer": CUSTOMER, "subscription": "sub_9",
        "client_reference_id": str(other_id), "payment_status": "paid"}))
    assert load_org(app, other_id).billing_state == "trialing"
    assert load_org(app, customer_org).stripe_subscription_id == "sub_9"


def test_types_we_do_not_use_are_recorded_as_ignored(app, client, db, worker, customer_org):
    from whatrack.models import StripeEvent, WebhookEvent

    _sync(app, client, worker, event("customer.updated", {"id": CUSTOMER, "customer": None}))
    assert db.session.scalars(select(WebhookEvent.state)).one() == "processed"
    assert db.session.scalars(select(StripeEvent.outcome)).one() == "ignored"


def test_a_signed_body_that_is_not_an_event_is_refused(client, db, fake_stripe):
    from whatrack.models import WebhookEvent

    body = b'{"hello": "world"}'
    assert _post(client, body).status_code == 400
    assert _count(db, WebhookEvent) == 0


def test_a_signed_event_without_an_object_is_stored_and_marked_failed(
        app, client, db, worker, fake_stripe):
    from whatrack.models import WebhookEvent

    _sync(app, client, worker, b'{"id": "evt_broken", "type": "invoice.paid", "created": 1}')
    stored = db.session.scalars(select(WebhookEvent)).one()
    assert stored.state == "failed" and "malformed" in stored.error
