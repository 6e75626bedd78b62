"""The billing state machine with time travel: trial expiry, grace after a failed payment or a
lapsed period, canceled; the banner on every page; the operators' CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures_billing import load_org

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _org(**values):
    from whatrack.models import Organization

    base = {"name": "X", "slug": "x", "timezone": "America/Sao_Paulo",
            "billing_state": "trialing", "trial_ends_at": T0 + timedelta(days=14)}
    return Organization(**{**base, **values})


def _walk(org, *days_after_t0: float) -> list[str]:
    from whatrack.services.billing.state import effective_state

    return [effective_state(org, T0 + timedelta(days=d)) for d in days_after_t0]


def test_a_trial_is_trialing_until_its_end_then_expired(app):
    org = _org()
    with app.app_context():
        assert _walk(org, 0, 13.9, 14, 30) == ["trialing", "trialing", "expired", "expired"]


def test_the_trial_length_follows_trial_days(app, db, make_org):
    from whatrack.models import utcnow

    previous = app.config["TRIAL_DAYS"]
    app.config["TRIAL_DAYS"] = 30
    try:
        org_id, _u, _e = make_org()
    finally:
        app.config["TRIAL_DAYS"] = previous
    ends = load_org(app, org_id).trial_ends_at
    assert abs(ends - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)


def test_days_left_count_like_a_person(app):
    from whatrack.services.billing.state import billing_summary

    org = _org()
    with app.app_context():
        assert billing_summary(org, T0).trial_days_left == 14
        assert billing_summary(org, T0 + timedelta(days=0, hours=5)).trial_days_left == 14
        assert billing_summary(org, T0 + timedelta(days=13, hours=1)).trial_days_left == 1
        expired = billing_summary(org, T0 + timedelta(days=15))
        assert (expired.state, expired.read_only, expired.trial_days_left) == (
            "expired", True, None)


def test_a_failed_payment_keeps_full_access_for_the_grace_period(app):
    from whatrack.services.billing.state import billing_summary

    org = _org(billing_state="past_due", past_due_since=T0, paid_until=T0 + timedelta(days=30))
    with app.app_context():
        assert _walk(org, 0, 6.9, 7, 20) == ["past_due", "past_due", "expired", "expired"]
        during = billing_summary(org, T0 + timedelta(days=2))
        assert (during.grace_ends_at, during.grace_days_left, during.read_only) == (
            T0 + timedelta(days=7), 5, False)


def test_the_grace_period_follows_billing_grace_days(app):
    org = _org(billing_state="past_due", past_due_since=T0)
    with app.app_context():
        previous = app.config["BILLING_GRACE_DAYS"]
        app.config["BILLING_GRACE_DAYS"] = 3
        try:
            assert _walk(org, 2.9, 3) == ["past_due", "expired"]
        finally:
            app.config["BILLING_GRACE_DAYS"] = previous


def test_a_paid_period_nobody_renewed_gets_the_grace_then_expires(app):
    org = _org(billing_state="active", paid_until=T0 + timedelta(days=30))
    with app.app_context():
        assert _walk(org, 29, 30, 36.9, 37) == ["active", "past_due", "past_due", "expired"]


def test_canceled_is_read_only_at_once_and_active_without_an_end_stays_active(app):
    from whatrack.services.billing.state import billing_summary

    with app.app_context():
        assert billing_summary(_org(billing_state="canceled"), T0).read_only
        assert _walk(_org(billing_state="active", paid_until=None), 0, 400) == ["active"] * 2


@pytest.mark.endpoint("dashboard.home")
@pytest.mark.parametrize(("values", "banner", "text"), [
    ({}, "trialing", ("Your free trial ends in %(num)d day (%(date)s).",
                      "Your free trial ends in %(num)d days (%(date)s).")),
    ({"billing_state": "past_due", "days_ago": 2}, "past_due",
     ("We could not charge your subscription. Update your payment within %(num)d day (until "
      "%(date)s) to keep full access.", "We could not charge your subscription. Update your "
      "payment within %(num)d days (until %(date)s) to keep full access.")),
    ({"trial_ends_at_days": -1}, "read_only",
     "The dashboard is read-only: you can see everything, but changes are paused. Incoming "
     "WhatsApp messages are still recorded."),
    ({"billing_state": "active", "paid_until_days": 20}, None, None),
])
def test_the_banner_shows_days_left_payment_problems_and_read_only(
        app, make_org, client_as, set_billing, values, banner, text):
    from whatrack.models import utcnow

    org_id, _u, email = make_org()
    now = utcnow()
    if "days_ago" in values:
        set_billing(org_id, billing_state="past_due",
                    past_due_since=now - timedelta(days=values["days_ago"]))
    if "trial_ends_at_days" in values:
        set_billing(org_id, trial_ends_at=now + timedelta(days=values["trial_ends_at_days"]))
    if "paid_until_days" in values:
        set_billing(org_id, billing_state="active",
                    paid_until=now + timedelta(days=values["paid_until_days"]))

    html = client_as(email).get("/dashboard").get_data(as_text=True)

    if banner is None:
        assert "data-billing-banner" not in html
        return
    assert f'data-billing-banner="{banner}"' in html
    from flask_babel import force_locale, gettext, ngettext

    with app.test_request_context(), force_locale("pt_BR"):
        translated = (ngettext(*text, 5, date="X") if isinstance(text, tuple)
                      else gettext(text))
    assert translated.split("5")[0] in html  # the sentence up to the number of days
    assert not translated.startswith(("Your", "We ", "The "))  # it is pt-BR


# --- CLI --------------------------------------------------------------------------------


def _cli(app, *args):
    result = app.test_cli_runner().invoke(args=["billing", *args])
    return result, result.output.strip().splitlines()


def test_extend_trial_adds_days_after_the_current_end_and_prints_state_and_date(
        app, make_org):
    from whatrack.services.billing.commands import last_day

    org_id, _u, _e = make_org()
    slug = load_org(app, org_id).slug
    before = load_org(app, org_id).trial_ends_at

    result, lines = _cli(app, "extend-trial", "--org", slug, "--days", "10")

    assert result.exit_code == 0, result.output
    org = load_org(app, org_id)
    assert org.trial_ends_at == before + timedelta(days=10)
    assert lines[-1] == f"trialing {last_day(org, org.trial_ends_at).isoformat()}"


def test_extend_trial_of_an_expired_organization_counts_from_now(app, make_org, expire_trial):
    from whatrack.models import utcnow

    org_id, _u, _e = make_org()
    expire_trial(org_id)

    result, lines = _cli(app, "extend-trial", "--org", load_org(app, org_id).slug,
                         "--days", "5")

    assert result.exit_code == 0, result.output
    ends = load_org(app, org_id).trial_ends_at
    assert abs(ends - (utcnow() + timedelta(days=5))) < timedelta(minutes=1)
    assert lines[-1].startswith("trialing ")


def test_activate_until_a_date_is_active_through_that_whole_day(app, make_org, expire_trial):
    org_id, _u, _e = make_org()
    expire_trial(org_id)

    result, lines = _cli(app, "activate", "--org", load_org(app, org_id).slug,
                         "--until", "2099-01-31")

    assert result.exit_code == 0, result.output
    assert lines[-1] == "active 2099-01-31"
    org = load_org(app, org_id)
    assert org.billing_state == "active"
    # Midnight after Jan 31 in São Paulo (UTC-3) is 03:00 UTC on Feb 1.
    assert org.paid_until == datetime(2099, 2, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("args", [
    ["extend-trial", "--org", "nobody", "--days", "5"],
    ["extend-trial", "--org", "{slug}", "--days", "0"],
    ["extend-trial", "--org", "{slug}", "--days", "cinco"],
    ["activate", "--org", "{slug}", "--until", "31/01/2099"],
    ["activate", "--org", "{slug}", "--until", "2001-01-01"],
])
def test_bad_cli_input_is_refused_and_changes_nothing(app, make_org, args):
    org_id, _u, _e = make_org()
    before = load_org(app, org_id)
    args = [a.format(slug=before.slug) for a in args]

    result, _lines = _cli(app, *args)

    assert result.exit_code != 0
    after = load_org(app, org_id)
    assert (after.billing_state, after.trial_ends_at, after.paid_until) == (
        before.billing_state, before.trial_ends_at, before.paid_until)


def test_extend_trial_refuses_to_replace_a_paid_plan(app, make_org, set_billing):
    org_id, _u, _e = make_org()
    set_billing(org_id, billing_state="active", paid_until=datetime(2099, 1, 1, tzinfo=UTC))

    result, _lines = _cli(app, "extend-trial", "--org", load_org(app, org_id).slug,
                          "--days", "5")

    assert result.exit_code != 0 and "billing activate" in result.output
    assert load_org(app, org_id).billing_state == "active"
