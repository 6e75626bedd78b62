"""The Stripe fake answering 5xx and 429: Checkout still opens with one customer and one
session, retries reuse the same idempotency key so Stripe never acts twice, and a spell
longer than the library's one retry is a clear message, never a 500, with nothing charged.

Stripe calls are made while the owner waits (Subscribe, Manage payment), so the retry is
the library's (`max_network_retries=1`, the same Idempotency-Key) and then the person's.
"""

from __future__ import annotations

from tests.fixtures_billing import load_org
from tests.integration.test_billing_page import _pt, _subscribe


def test_checkout_rides_out_5xx_with_one_customer_and_one_session(
        app, make_org, client_as, fake_stripe):
    org_id, _user_id, email = make_org()
    fake_stripe.fail("/v1/customers", 500)
    fake_stripe.fail("/v1/checkout/sessions", 503)

    response = _subscribe(client_as(email))

    assert response.status_code == 303
    assert len(fake_stripe.customers) == 1 and len(fake_stripe.sessions) == 1
    posts = fake_stripe.requests_to("POST", "/v1/customers")
    assert len(posts) == 2  # the 500, then the retry with the same idempotency key
    assert len({p.headers.get("Idempotency-Key") for p in posts}) == 1
    sessions = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert len(sessions) == 2 and len({p.headers.get("Idempotency-Key") for p in sessions}) == 1
    assert load_org(app, org_id).stripe_checkout_session_id in fake_stripe.sessions


def test_a_longer_spell_is_a_clear_message_and_the_next_click_creates_nothing_twice(
        app, make_org, client_as, fake_stripe):
    org_id, _user_id, email = make_org()
    client = client_as(email)
    # Beyond the library's one retry; a 429 (rate limit) is not retried by the library at
    # all (Stripe's client only retries 429 when Stripe says so), so it ends the same way.
    for status in (500, 500, 429):
        fake_stripe.fail("/v1/checkout/sessions", status)

    refused = _subscribe(client)
    assert refused.status_code == 302 and refused.headers["Location"].endswith(
        "/dashboard/billing")
    page = client.get("/dashboard/billing").get_data(as_text=True)
    assert _pt(app, "Stripe did not answer. Nothing was charged; please try again in a "
                    "moment.") in page
    assert fake_stripe.sessions == {}
    assert load_org(app, org_id).stripe_checkout_session_id is None

    assert _subscribe(client).status_code == 302  # the 429
    # The person clicks again once Stripe is back: the customer made before is reused.
    again = _subscribe(client)
    assert again.status_code == 303
    assert len(fake_stripe.customers) == 1 and len(fake_stripe.sessions) == 1
