"""Server-side sessions: logout ends the session everywhere its cookie was copied to;
remember-me lasts REMEMBER_COOKIE_DAYS; "log out of all devices" ends every session."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import func, select, update

from tests.fixtures_app import PASSWORD, Login

ACCOUNT = "/account/password"


def _copy_of(app, client, *names: str):
    """Another browser holding a copy of ``client``'s cookies (a stolen cookie)."""
    thief = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, f"no {name} cookie to copy"
        thief.set_cookie(name, cookie.value)
    return thief


def _sessions_of(db, user_id: int) -> int:
    from whatrack.models import UserSession

    db.session.rollback()
    return db.session.scalar(
        select(func.count(UserSession.id)).where(UserSession.user_id == user_id))


def test_a_copied_session_cookie_stops_working_after_logout(app, client, db, make_org, login):
    _org, user_id, email = make_org()
    login(email)
    thief = _copy_of(app, client, "session")
    assert thief.get("/dashboard").status_code == 200  # the copy works while logged in

    client.post("/logout")

    assert thief.get("/dashboard").status_code == 302
    assert _sessions_of(db, user_id) == 0


def test_a_copied_remember_cookie_stops_working_after_logout(app, client, db, make_org, login):
    _org, _user, email = make_org()
    login(email, remember="y")
    thief = _copy_of(app, client, "remember_token")
    assert thief.get("/dashboard").status_code == 200

    client.post("/logout")

    response = thief.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_logout_ends_only_that_session(app, client, make_org, login, client_as):
    _org, _user, email = make_org()
    laptop = client_as(email)
    login(email)

    client.post("/logout")

    assert laptop.get("/dashboard").status_code == 200


def test_remember_me_lasts_thirty_days_on_the_cookie_and_the_server(
    app, client, db, make_org, login
):
    from whatrack.models import UserSession

    _org, user_id, email = make_org()

    response = login(email, remember="y")

    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("remember_token="))
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    db.session.rollback()
    row = db.session.scalars(select(UserSession).where(UserSession.user_id == user_id)).one()
    assert row.remember is True
    assert abs(row.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)


def test_remember_cookie_days_come_from_the_environment():
    env = {**os.environ, "REMEMBER_COOKIE_DAYS": "7"}
    out = subprocess.run(
        [sys.executable, "-c", "import config; print(config.Config.REMEMBER_COOKIE_DURATION.days)"],
        env=env, capture_output=True, text=True, check=True, cwd=os.getcwd(),
    )
    assert out.stdout.strip() == "7"


def test_an_expired_session_is_logged_out(app, client, db, make_org, login):
    from whatrack.models import UserSession

    _org, user_id, email = make_org()
    login(email, remember="y")
    db.session.execute(update(UserSession).where(UserSession.user_id == user_id)
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()

    assert client.get("/dashboard").status_code == 302


def test_a_cookie_from_before_server_side_sessions_logs_nobody_in(app, db, make_org):
    """The old "<id>:<session_version>" value names no session: it is refused, not trusted."""
    _org, user_id, _email = make_org()
    old_browser = app.test_client()
    with old_browser.session_transaction() as session:
        session["_user_id"] = f"{user_id}:1"
        session["_fresh"] = True

    assert old_browser.get("/dashboard").status_code == 302


@pytest.mark.endpoint("auth.logout_everywhere")
def test_log_out_of_all_devices_ends_every_session(app, client, db, make_org, login, client_as):
    _org, user_id, email = make_org()
    phone = client_as(email)
    remembered = app.test_client()
    Login(remembered)(email, remember="y")
    restarted = _copy_of(app, remembered, "remember_token")
    login(email)
    page = client.get(ACCOUNT).get_data(as_text=True)
    assert "Sair de todos os dispositivos" in page

    response = client.post("/account/logout-everywhere", follow_redirects=True)

    assert "Você saiu de 3 dispositivos." in response.get_data(as_text=True)
    for browser in (client, phone, remembered, restarted):
        assert browser.get("/dashboard").status_code == 302
    assert _sessions_of(db, user_id) == 0
    assert client.get("/account/logout-everywhere").status_code == 405  # a POST only


def test_password_change_ends_other_sessions_server_side(app, client, db, make_org, login,
                                                         client_as):
    _org, user_id, email = make_org()
    other = client_as(email)
    login(email)

    response = client.post(ACCOUNT, data={"current_password": PASSWORD,
                                          "new_password": "nova-senha-forte-1",
                                          "confirm": "nova-senha-forte-1"})

    assert response.status_code == 302
    assert other.get("/dashboard").status_code == 302
    assert client.get("/dashboard").status_code == 200
    assert _sessions_of(db, user_id) == 1
