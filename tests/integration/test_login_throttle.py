"""Login throttling per account+IP pair with a growing delay (D8), race-free on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

from sqlalchemy import text

from tests.fixtures_app import Login


def _from(app, ip: str):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = ip
    return Login(browser)


def _age_attempts(db, seconds: int) -> None:
    """Move every recorded try ``seconds`` into the past (instead of sleeping)."""
    db.session.execute(text("UPDATE login_attempts SET created_at = created_at - :age"),
                       {"age": timedelta(seconds=seconds)})
    db.session.commit()


def test_guessing_slows_the_guesser_but_never_locks_the_owner_out(app, make_org):
    _org, _user, email = make_org()
    attacker = _from(app, "203.0.113.7")
    for _ in range(5):
        assert attacker(email, "wrong-password").status_code == 401

    refused = attacker(email, "wrong-password")
    owner = _from(app, "198.51.100.9")(email)

    assert refused.status_code == 429
    assert 25 <= int(refused.headers["Retry-After"]) <= 30
    assert "Muitas tentativas" in refused.get_data(as_text=True)
    assert owner.status_code == 302


def test_each_further_failure_doubles_the_wait(app, db, make_org):
    _org, _user, email = make_org()
    attacker = _from(app, "203.0.113.8")
    for _ in range(5):
        attacker(email, "wrong-password")
    assert attacker(email, "wrong-password").status_code == 429  # wait 30 s

    _age_attempts(db, 31)
    assert attacker(email, "wrong-password").status_code == 401  # one more try...
    refused = attacker(email, "wrong-password")  # ...then 60 s
    _age_attempts(db, 45)
    still_refused = attacker(email, "wrong-password")

    assert refused.status_code == 429 and 55 <= int(refused.headers["Retry-After"]) <= 60
    assert still_refused.status_code == 429  # refused tries did not count, nor reset the wait
    assert 10 <= int(still_refused.headers["Retry-After"]) <= 15


def test_a_successful_login_clears_its_pair(app, make_org):
    _org, _user, email = make_org()
    person = _from(app, "198.51.100.10")
    for _ in range(4):
        assert person(email, "typo-password").status_code == 401
    assert person(email).status_code == 302
    person.client.post("/logout")

    for _ in range(4):
        assert person(email, "typo-password").status_code == 401
    assert person(email).status_code == 302


def test_parallel_wrong_passwords_get_no_more_tries_than_the_limit(app, make_org):
    """16 parallel guesses used to get 8 tries past a limit of 5 (check, then insert)."""
    _org, _user, email = make_org()
    guessers = 16
    browsers = [_from(app, "203.0.113.9") for _ in range(guessers)]
    start = Barrier(guessers)

    def guess(n: int) -> int:
        start.wait(timeout=30)
        return browsers[n](email, f"wrong-{n}").status_code

    with ThreadPoolExecutor(guessers) as pool:
        statuses = list(pool.map(guess, range(guessers)))

    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= app.config["LOGIN_MAX_FAILURES"], statuses


def test_an_overlong_email_is_a_plain_failure_not_a_500(app, make_org):
    response = _from(app, "203.0.113.10")("x" * 400 + "@example.com", "wrong-password")

    assert response.status_code == 401
