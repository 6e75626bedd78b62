"""``flask whatsapp connect``: the same completion as the page, for support."""

from __future__ import annotations

from tests.fakes.graph import meta_error
from tests.fixtures_signup import PHONE_ID, WABA


def _slug(db, org_id):
    from whatrack.models import Organization

    return db.session.get(Organization, org_id).slug


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["whatsapp", "connect", *args])


def test_connect_prints_connected_on_the_last_line(app, db, make_org, signup_app):
    org_id, _u, _e = make_org("Clínica CLI")
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    result = _run(app, "--org", _slug(db, org_id), "--code", code, "--waba-id", WABA,
                  "--phone-number-id", PHONE_ID, "--business-id", "400000000000001")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"connected {PHONE_ID}"
    assert len(signup_app.requests_to(f"/v25.0/{PHONE_ID}/register")) == 1


def test_coexistence_connect_never_registers(app, db, make_org, signup_app):
    org_id, _u, _e = make_org("Clínica App")
    signup_app.signup.numbers[PHONE_ID].on_biz_app = True
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    result = _run(app, "--org", _slug(db, org_id), "--code", code, "--waba-id", WABA,
                  "--phone-number-id", PHONE_ID, "--coexistence")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"connected {PHONE_ID}"
    assert signup_app.requests_to(f"/v25.0/{PHONE_ID}/register") == []


def test_a_failure_exits_non_zero_with_the_step_and_metas_message_and_resumes(
        app, db, make_org, signup_app):
    org_id, _u, _e = make_org("Clínica Falha")
    slug = _slug(db, org_id)
    signup_app.fail(f"/v25.0/{WABA}/subscribed_apps", 400,
                    meta_error("(#100) Invalid WABA state", 100))
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    args = ["--org", slug, "--code", code, "--waba-id", WABA, "--phone-number-id", PHONE_ID]
    result = _run(app, *args)
    assert result.exit_code != 0
    assert "subscribe_app" in result.output and "(#100) Invalid WABA state" in result.output
    assert "AfakeTrace100" in result.output
    # Run again with the same (now spent) code: the exchange is not repeated.
    again = _run(app, *args)
    assert again.exit_code == 0, again.output
    assert again.output.strip().splitlines()[-1] == f"connected {PHONE_ID}"
    assert len(signup_app.requests_to("/v25.0/oauth/access_token")) == 1


def test_an_expired_code_fails_clearly(app, db, make_org, signup_app):
    org_id, _u, _e = make_org("Clínica Expirou")
    code = signup_app.signup.issue_code(WABA, PHONE_ID)
    signup_app.signup.expired_codes.add(code)
    result = _run(app, "--org", _slug(db, org_id), "--code", code, "--waba-id", WABA,
                  "--phone-number-id", PHONE_ID)
    assert result.exit_code != 0
    assert "exchange_code" in result.output and "expired" in result.output


def test_bad_ids_and_unknown_orgs_fail_without_calling_meta(app, db, make_org, signup_app):
    org_id, _u, _e = make_org("Clínica Ids")
    result = _run(app, "--org", _slug(db, org_id), "--code", "x", "--waba-id", "abc",
                  "--phone-number-id", PHONE_ID)
    assert result.exit_code != 0 and "WABA id" in result.output
    result = _run(app, "--org", "nope", "--code", "x", "--waba-id", WABA,
                  "--phone-number-id", PHONE_ID)
    assert result.exit_code != 0
    assert signup_app.requests == []
