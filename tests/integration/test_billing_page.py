"""``/dashboard/billing``: owner only, the plan and invoices from Stripe, Checkout (one
customer, one open session) and the Billing Portal against the fake Stripe; without
Stripe keys the page says payment is arranged with the team."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.stripe import PRICE_ID, invoice
from tests.fixtures_app import csrf_token_from
from tests.fixtures_billing import load_org


def _pt(app, text: str) -> str:
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale("pt_BR"):
        return gettext(text)


@pytest.mark.endpoint("billing.page")
def test_without_stripe_keys_the_page_says_payment_is_arranged_with_the_team(
        app, make_org, client_as):
    _org_id, _user_id, email = make_org("Clínica Sorriso")

    page = client_as(email).get("/dashboard/billing")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _pt(app, "Payment is arranged directly with our team (Pix, boleto or card). Talk to "
                    "us and we activate your plan on our side; your data stays exactly as it "
                    "is.") in html
    assert _pt(app, "Free trial") in html
    assert "data-subscribe-form" not in html  # no button that could only fail


@pytest.mark.endpoint("billing.page", "billing.checkout", "billing.portal", "billing.success",
                      "billing.canceled")
@pytest.mark.parametrize("role", ["admin", "agent"])
def test_billing_is_for_the_owner_only(app, db, make_org, make_member, client_as, fake_stripe,
                                       role):
    org_id, _user_id, _email = make_org()
    member = make_member(org_id, role)
    client = client_as(member.email)

    for path in ("/dashboard/billing", "/dashboard/billing/success",
                 "/dashboard/billing/canceled"):
        assert client.get(path).status_code == 403
    for path in ("/dashboard/billing/checkout", "/dashboard/billing/portal"):
        assert client.post(path).status_code == 403
    assert fake_stripe.requests == []
    assert load_org(app, org_id).stripe_customer_id is None


@pytest.mark.endpoint("billing.page")
def test_the_page_shows_plan_state_trial_end_and_invoices_from_stripe(
        app, make_org, client_as, set_billing, fake_stripe):
    org_id, _user_id, email = make_org()
    set_billing(org_id, stripe_customer_id="cus_test_9000")
    paid_at = int(datetime(2026, 11, 3, 12, tzinfo=UTC).timestamp())
    fake_stripe.customers["cus_test_9000"] = {"id": "cus_test_9000"}
    fake_stripe.add_invoice(invoice("in_paid", "cus_test_9000", "sub_1", paid_at), paid_at)

    html = client_as(email).get("/dashboard/billing").get_data(as_text=True)

    assert "WhaTrack Pro" in html and "R$\xa0297,00" in html  # the price, read from Stripe
    assert 'data-billing-state="trialing"' in html
    assert "WT-0001" in html and "https://invoice.stripe.com/i/in_paid" in html
    assert _pt(app, "Subscribe") in html and _pt(app, "Manage payment") in html
    asked = fake_stripe.requests_to("GET", "/v1/invoices")
    assert asked and asked[0].path == "/v1/invoices"


@pytest.mark.endpoint("billing.page")
def test_stripe_down_still_shows_our_own_state(app, make_org, client_as, fake_stripe):
    _org_id, _user_id, email = make_org()
    fake_stripe.fail("/v1/prices", 500)
    fake_stripe.fail("/v1/prices", 500)  # the library retries once

    page = client_as(email).get("/dashboard/billing")

    assert page.status_code == 200
    assert _pt(app, "Stripe could not be reached right now; plan price and invoices will show "
                    "again shortly.") in page.get_data(as_text=True)


def _subscribe(client):
    page = client.get("/dashboard/billing").get_data(as_text=True)
    return client.post("/dashboard/billing/checkout",
                       data={"csrf_token": csrf_token_from(page)} if "csrf_token" in page
                       else {})


@pytest.mark.endpoint("billing.checkout")
def test_subscribe_opens_a_pt_br_subscription_checkout_for_this_organization(
        app, make_org, client_as, fake_stripe):
    org_id, _user_id, email = make_org("Clínica Sorriso")

    resp = _subscribe(client_as(email))

    assert resp.status_code == 303
    (session_id, session), = fake_stripe.sessions.items()
    assert resp.headers["Location"] == session["url"]
    created = fake_stripe.requests_to("POST", "/v1/checkout/sessions")[0].form
    assert created["mode"] == "subscription"
    assert created["line_items[0][price]"] == PRICE_ID
    assert created["locale"] == "pt-BR"
    assert created["client_reference_id"] == str(org_id)
    assert created["metadata[organization_id]"] == str(org_id)
    assert created["success_url"].endswith("/dashboard/billing/success")
    assert created["cancel_url"].endswith("/dashboard/billing/canceled")
    org = load_org(app, org_id)
    (customer_id, customer), = fake_stripe.customers.items()
    assert org.stripe_customer_id == customer_id == created["customer"]
    assert customer["email"] == email and customer["name"] == "Clínica Sorriso"
    assert customer["metadata"] == {"organization_id": str(org_id)}
    assert org.stripe_checkout_session_id == session_id


@pytest.mark.endpoint("billing.checkout")
def test_subscribing_again_reuses_the_customer_and_the_open_session(
        app, make_org, client_as, fake_stripe):
    org_id, _user_id, email = make_org()
    client = client_as(email)

    first = _subscribe(client)
    second = _subscribe(client)

    assert first.headers["Location"] == second.headers["Location"]
    assert len(fake_stripe.customers) == 1 and len(fake_stripe.sessions) == 1
    # Once that session is no longer open (paid, or expired), a new one; same customer.
    fake_stripe.complete_session(load_org(app, org_id).stripe_checkout_session_id)
    third = _subscribe(client)
    assert third.headers["Location"] != first.headers["Location"]
    assert len(fake_stripe.customers) == 1 and len(fake_stripe.sessions) == 2


@pytest.mark.endpoint("billing.checkout")
def test_a_double_click_creates_one_customer_and_one_open_session(
        app, make_org, client_as, fake_stripe):
    _org_id, _user_id, email = make_org()
    clients = [client_as(email), client_as(email)]
    fake_stripe.delay = 0.3  # both clicks are in flight while Stripe answers the first
    answers: list = []

    threads = [threading.Thread(target=lambda c=c: answers.append(_subscribe(c)))
               for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert len(fake_stripe.customers) == 1
    assert len(fake_stripe.sessions) == 1


@pytest.mark.endpoint("billing.checkout")
def test_stripe_failing_at_checkout_says_so_and_charges_nothing(
        app, make_org, client_as, fake_stripe):
    org_id, _user_id, email = make_org()
    fake_stripe.fail("/v1/checkout/sessions", 400)
    client = client_as(email)

    resp = _subscribe(client)

    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard/billing")
    page = client.get("/dashboard/billing").get_data(as_text=True)
    assert _pt(app, "Stripe did not answer. Nothing was charged; please try again in a "
                    "moment.") in page
    assert load_org(app, org_id).stripe_checkout_session_id is None


@pytest.mark.endpoint("billing.checkout")
def test_an_active_subscriber_is_sent_to_manage_payment_instead(
        app, make_org, client_as, set_billing, fake_stripe):
    from whatrack.models import utcnow

    org_id, _user_id, email = make_org()
    set_billing(org_id, billing_state="active", stripe_customer_id="cus_x",
                stripe_subscription_id="sub_x", paid_until=utcnow() + timedelta(days=20))
    client = client_as(email)

    assert "data-subscribe-form" not in client.get("/dashboard/billing").get_data(as_text=True)
    resp = client.post("/dashboard/billing/checkout")
    assert resp.status_code == 302
    assert fake_stripe.requests_to("POST", "/v1/checkout/sessions") == []


@pytest.mark.endpoint("billing.checkout")
def test_without_stripe_keys_checkout_is_refused_clearly(app, make_org, client_as):
    _org_id, _user_id, email = make_org()
    client = client_as(email)

    resp = client.post("/dashboard/billing/checkout")

    assert resp.status_code == 302
    assert _pt(app, "Online payment is not configured. Payment is arranged with our team.") in \
        client.get("/dashboard/billing").get_data(as_text=True)


@pytest.mark.endpoint("billing.portal")
def test_manage_payment_opens_the_billing_portal_for_the_customer(
        app, make_org, client_as, fake_stripe):
    org_id, _user_id, email = make_org()
    client = client_as(email)
    _subscribe(client)  # creates the customer

    resp = client.post("/dashboard/billing/portal")

    assert resp.status_code == 303
    (portal,) = fake_stripe.portal_sessions
    assert resp.headers["Location"] == portal["url"]
    assert portal["customer"] == load_org(app, org_id).stripe_customer_id
    assert portal["return_url"].endswith("/dashboard/billing")
    assert portal["locale"] == "pt-BR"


@pytest.mark.endpoint("billing.portal")
def test_manage_payment_without_a_customer_explains_instead_of_calling_stripe(
        app, make_org, client_as, fake_stripe):
    _org_id, _user_id, email = make_org()
    client = client_as(email)

    resp = client.post("/dashboard/billing/portal")

    assert resp.status_code == 302
    assert fake_stripe.portal_sessions == []
    assert _pt(app, "There is no payment method yet: subscribe first.") in \
        client.get("/dashboard/billing").get_data(as_text=True)


@pytest.mark.endpoint("billing.success", "billing.canceled")
def test_return_pages_after_checkout(app, make_org, client_as, set_billing, fake_stripe):
    org_id, _user_id, email = make_org()
    client = client_as(email)

    waiting = client.get("/dashboard/billing/success").get_data(as_text=True)
    assert _pt(app, "Stripe is confirming your payment; your plan becomes active in a few "
                    "moments. You can keep working meanwhile.") in waiting
    set_billing(org_id, billing_state="active", paid_until=datetime.now(UTC) + timedelta(days=30))
    assert _pt(app, "Your subscription is active.") in \
        client.get("/dashboard/billing/success").get_data(as_text=True)
    assert _pt(app, "Nothing was charged. You can subscribe whenever you want.") in \
        client.get("/dashboard/billing/canceled").get_data(as_text=True)
    assert fake_stripe.requests_to("POST", "/v1/") == []  # return pages never call Stripe
