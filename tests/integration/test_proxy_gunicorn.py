"""Behind a proxy, for real: gunicorn serving wsgi:app, requests carrying forwarding headers.

With TRUSTED_PROXIES=1 the login throttle counts the client named by X-Forwarded-For, and a
request the proxy received over https gets HSTS and https links. With the default (0) the same
headers are ignored, so a client cannot pick its own IP (and dodge the throttle) or scheme.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from tests.fixtures_app import PASSWORD, csrf_token_from
from tests.gunicorn_server import gunicorn_server


@pytest.fixture(scope="module")
def behind_proxy(app):
    # META_APP_ID turns Facebook Login on, so the OAuth redirect URI can be checked.
    with gunicorn_server(TRUSTED_PROXIES="1", META_APP_ID="1234567890") as url:
        yield url


@pytest.fixture(scope="module")
def exposed(app):
    with gunicorn_server(TRUSTED_PROXIES="0") as url:
        yield url


def _browser(url: str, headers: dict[str, str]) -> requests.Session:
    http = requests.Session()
    http.headers.update(headers)
    if headers.get("X-Forwarded-Proto") == "https":
        # Flask-WTF checks the Referer of https form posts, as a browser would send it.
        http.headers["Referer"] = url.replace("http://", "https://") + "/"
    return http


def _login(url: str, email: str, password: str, **headers: str) -> requests.Response:
    http = _browser(url, headers)
    token = csrf_token_from(http.get(f"{url}/login", timeout=10).text)
    response = http.post(f"{url}/login", allow_redirects=False, timeout=20,
                         data={"email": email, "password": password, "csrf_token": token})
    response.http = http  # type: ignore[attr-defined]
    return response


def _attempt_ips(db, email: str) -> set[str]:
    from whatrack.models import LoginAttempt

    db.session.rollback()
    return set(db.session.scalars(select(LoginAttempt.ip).where(LoginAttempt.email == email)))


def test_trusted_proxy_throttles_the_forwarded_client_not_the_whole_office(
    behind_proxy, make_org, db
):
    _org, _user, email = make_org()
    attacker = {"X-Forwarded-For": "203.0.113.5"}
    for _ in range(5):
        assert _login(behind_proxy, email, "wrong-password", **attacker).status_code == 401

    blocked = _login(behind_proxy, email, PASSWORD, **attacker)
    owner = _login(behind_proxy, email, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"})

    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert owner.status_code == 302  # the account is slowed for the guesser only
    assert _attempt_ips(db, email) == {"203.0.113.5", "198.51.100.7"}


def test_parallel_guesses_through_gunicorn_get_no_more_tries_than_the_limit(
    behind_proxy, make_org, db
):
    _org, _user, email = make_org()
    guessers = 16
    pages = [_browser(behind_proxy, {"X-Forwarded-For": "203.0.113.66"}) for _ in range(guessers)]
    tokens = [csrf_token_from(p.get(f"{behind_proxy}/login", timeout=10).text) for p in pages]
    start = Barrier(guessers)

    def guess(n: int) -> int:
        start.wait(timeout=30)
        return pages[n].post(f"{behind_proxy}/login", allow_redirects=False, timeout=60, data={
            "email": email, "password": f"wrong-{n}", "csrf_token": tokens[n]}).status_code

    with ThreadPoolExecutor(guessers) as pool:
        statuses = list(pool.map(guess, range(guessers)))

    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 5, statuses  # passwords actually checked
    assert statuses.count(429) >= guessers - 5


def test_untrusted_forwarding_headers_are_ignored(exposed, make_org, db):
    _org, _user, email = make_org()
    for n in range(5):
        spoofed = {"X-Forwarded-For": f"192.0.2.{n + 1}"}
        assert _login(exposed, email, "wrong-password", **spoofed).status_code == 401

    # A fresh made-up address does not buy fresh tries: every try came from 127.0.0.1.
    again = _login(exposed, email, "wrong-password", **{"X-Forwarded-For": "192.0.2.200"})
    plain = requests.get(f"{exposed}/login", timeout=10, headers={"X-Forwarded-Proto": "https"})

    assert again.status_code == 429
    assert _attempt_ips(db, email) == {"127.0.0.1"}
    assert "Strict-Transport-Security" not in plain.headers


def test_https_at_the_trusted_proxy_gives_hsts_and_https_links(behind_proxy, app, make_org):
    from whatrack.integrations.meta.facebook import sign_request

    _org, _user, email = make_org()
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20"}
    plain_http = requests.get(f"{behind_proxy}/login", timeout=10)
    login = _login(behind_proxy, email, PASSWORD, **tls)
    assert login.status_code == 302
    http = login.http
    token = csrf_token_from(http.get(f"{behind_proxy}/dashboard/settings/team", timeout=10).text)

    invite = http.post(f"{behind_proxy}/dashboard/settings/team/invites", timeout=10,
                       data={"role": "agent", "csrf_token": token})
    oauth = http.post(f"{behind_proxy}/dashboard/settings/meta/connect", timeout=10,
                      allow_redirects=False, data={"csrf_token": token})
    signed = sign_request({"algorithm": "HMAC-SHA256", "user_id": "10000000000000009",
                           "issued_at": 1781216000}, app.config["META_APP_SECRET"])
    deletion = requests.post(f"{behind_proxy}/meta/data-deletion", timeout=10, headers=tls,
                             data={"signed_request": signed})

    assert "Strict-Transport-Security" not in plain_http.headers
    assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    host = urlsplit(behind_proxy).netloc
    assert invite.status_code == 200
    assert f'id="invite-link">https://{host}/invite/' in invite.text.replace("\n", "").replace(
        " ", "")
    assert oauth.status_code == 302
    redirect_uri = parse_qs(urlsplit(oauth.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == f"https://{host}/dashboard/settings/meta/callback"
    assert deletion.status_code == 200
    assert deletion.json()["url"].startswith(f"https://{host}/data-deletion/status/DEL-")
