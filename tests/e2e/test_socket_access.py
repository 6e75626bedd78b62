"""An open /ws closes soon after its access ends, and forwards nothing more.

Access ends when the member is removed, when that session logs out, logs out of every
device, or when the password changes in another session. The socket re-checks on a
heartbeat (15 s in production, shortened here).
"""

from __future__ import annotations

import json
import time

import pytest
import requests
import simple_websocket

from tests.fixtures_app import PASSWORD, csrf_token_from

HEARTBEAT = 0.3


@pytest.fixture
def quick_heartbeat(live_server, monkeypatch):
    monkeypatch.setitem(live_server.app.config, "WS_ACCESS_CHECK_SECONDS", HEARTBEAT)


def _login(live_server, email: str) -> requests.Session:
    http = requests.Session()
    token = csrf_token_from(http.get(f"{live_server.url}/login", timeout=10).text)
    response = http.post(f"{live_server.url}/login", timeout=10, allow_redirects=False,
                         data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text[:300]
    return http


def _post(live_server, http: requests.Session, path: str, **data: str) -> requests.Response:
    token = csrf_token_from(http.get(f"{live_server.url}/account/password", timeout=10).text)
    return http.post(f"{live_server.url}{path}", timeout=10, allow_redirects=False,
                     data={"csrf_token": token, **data})


def _socket(live_server, http: requests.Session):
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    ws = simple_websocket.Client.connect(live_server.url.replace("http", "ws") + "/ws",
                                         headers={"Cookie": cookie})
    assert _next_frame(ws, 30)["type"] == "hello"
    return ws


def _next_frame(ws, seconds: float) -> dict | None:
    """The next frame within ``seconds``; None on timeout; "closed" when the server closed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            raw = ws.receive(timeout=0.1)
        except simple_websocket.ConnectionClosed:
            return {"type": "closed"}
        if raw:
            return json.loads(raw)
    return None


def _publish(live_server, org_id: int, ticket_id: int) -> None:
    from whatrack.realtime.events import envelope

    live_server.app.extensions["realtime"].publish(
        org_id, envelope("ticket.updated", org_id, {"ticket_id": ticket_id}))


def _assert_closed_and_deaf(live_server, ws, org_id: int) -> None:
    frames = []
    deadline = time.monotonic() + 10  # far below the 30 s promise, with room for a slow box
    while time.monotonic() < deadline:
        frame = _next_frame(ws, 0.5)
        if frame and frame["type"] == "closed":
            break
        if frame:
            frames.append(frame)
    else:
        pytest.fail(f"the socket stayed open; got {frames}")
    assert [f for f in frames if f["type"] == "ticket.updated"] == []
    _publish(live_server, org_id, 99)
    assert _next_frame(ws, 1) == {"type": "closed"}
    # The server let go of the subscription too: nothing is queued for this socket any more.
    hub = live_server.app.extensions["realtime"]
    deadline = time.monotonic() + 5
    while hub._subs.get(org_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not hub._subs.get(org_id)


def _remove_member(live_server, owner_http, member) -> None:
    response = _post(live_server, owner_http,
                     f"/dashboard/settings/team/members/{member.membership_id}/remove")
    assert response.status_code == 302


@pytest.mark.parametrize("ending", ["removed", "logout", "logout_everywhere", "password"])
def test_the_socket_closes_when_access_ends(live_server, quick_heartbeat, make_org, make_member,
                                            ending):
    org_id, _owner, owner_email = make_org()
    member = make_member(org_id, "agent")
    http = _login(live_server, member.email)
    other_browser = _login(live_server, member.email)
    ws = _socket(live_server, http)
    try:
        _publish(live_server, org_id, 1)
        assert _next_frame(ws, 10)["data"] == {"ticket_id": 1}  # live until access ends

        if ending == "removed":
            _remove_member(live_server, _login(live_server, owner_email), member)
        elif ending == "logout":
            assert _post(live_server, http, "/logout").status_code == 302
        elif ending == "logout_everywhere":
            response = _post(live_server, other_browser, "/account/logout-everywhere")
            assert response.status_code == 302
        else:
            response = _post(live_server, other_browser, "/account/password",
                             current_password=PASSWORD, new_password="outra-senha-forte-1",
                             confirm="outra-senha-forte-1")
            assert response.status_code == 302

        _assert_closed_and_deaf(live_server, ws, org_id)
    finally:
        _close(ws)


def test_logging_out_one_browser_keeps_the_other_browsers_socket(live_server, quick_heartbeat,
                                                                 make_org):
    org_id, _owner, email = make_org()
    laptop, phone = _login(live_server, email), _login(live_server, email)
    laptop_ws, phone_ws = _socket(live_server, laptop), _socket(live_server, phone)
    try:
        assert _post(live_server, laptop, "/logout").status_code == 302
        time.sleep(HEARTBEAT * 5)  # several re-checks

        _publish(live_server, org_id, 2)

        assert _next_frame(phone_ws, 10)["data"] == {"ticket_id": 2}
        frame = _next_frame(laptop_ws, 2)
        assert frame == {"type": "closed"}
    finally:
        _close(laptop_ws)
        _close(phone_ws)


def _close(ws) -> None:
    if ws.connected:
        ws.close()
