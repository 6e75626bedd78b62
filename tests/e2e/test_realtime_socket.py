"""/ws over a real socket: members get their organization's events, and only those."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import simple_websocket

PASSWORD = "password-123!"


def _session_cookie(live_server, email: str) -> str:
    http = requests.Session()
    page = http.get(f"{live_server.url}/login", timeout=5).text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    resp = http.post(f"{live_server.url}/login", timeout=5, allow_redirects=False,
                     data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302, resp.text[:300]
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def _connect(live_server, cookie: str | None, origin: str | None = None):
    headers = {}
    if cookie:
        headers["Cookie"] = cookie
    if origin:
        headers["Origin"] = origin
    return simple_websocket.Client.connect(live_server.url.replace("http", "ws") + "/ws",
                                           headers=headers)


def _until(ws, frame_type: str, seconds: float = 30) -> dict | None:
    """The first frame of ``frame_type`` within ``seconds``.

    Generous: in full runs the first frame has sometimes taken over 10 s to arrive (cause
    not pinned down yet); these tests check what arrives, not how fast.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            raw = ws.receive(timeout=0.2)
        except simple_websocket.ConnectionClosed:
            return None
        if raw and json.loads(raw).get("type") == frame_type:
            return json.loads(raw)
    return None


def _frames(ws, seconds: float) -> list[dict]:
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            raw = ws.receive(timeout=0.2)
        except simple_websocket.ConnectionClosed:
            break
        if raw:
            frames.append(json.loads(raw))
    return frames


@pytest.mark.endpoint("tickets.org_socket")
def test_socket_joins_only_the_members_org(live_server, make_org):
    from whatrack.realtime.events import envelope

    org_a, _, email_a = make_org("Clínica A")
    org_b, _, email_b = make_org("Clínica B")
    ws_a = _connect(live_server, _session_cookie(live_server, email_a))
    ws_b = _connect(live_server, _session_cookie(live_server, email_b))
    try:
        assert _until(ws_a, "hello")["org_id"] == org_a
        assert _until(ws_b, "hello")["org_id"] == org_b
        hub = live_server.app.extensions["realtime"]
        hub.publish(org_a, envelope("ticket.updated", org_a, {"ticket_id": 7}))
        assert _until(ws_a, "ticket.updated")["data"] == {"ticket_id": 7}
        assert [f for f in _frames(ws_b, 1) if f["type"] == "ticket.updated"] == []
    finally:
        ws_a.close()
        ws_b.close()


def _close(ws) -> None:
    """Close our side unless the server already did (closing twice raises)."""
    if ws.connected:
        ws.close()


def _closed_by_server(ws, seconds: float = 10) -> tuple[list[dict], Any]:
    """(frames received, the ConnectionClosed the server ended with, or None if it did not)."""
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            raw = ws.receive(timeout=0.2)
        except simple_websocket.ConnectionClosed as closed:
            return frames, closed
        if raw:
            frames.append(json.loads(raw))
    return frames, None


@pytest.mark.endpoint("tickets.org_socket")
def test_socket_refuses_anonymous_and_foreign_origins(live_server, make_org):
    _, _, email = make_org()
    cookie = _session_cookie(live_server, email)
    anonymous = _connect(live_server, None)
    foreign = _connect(live_server, cookie, origin="https://evil.example")
    try:
        for ws in (anonymous, foreign):
            frames, closed = _closed_by_server(ws)
            assert closed is not None, "the server kept a refused socket open"
            # 1008 (policy violation) as sent; 1005 when the TCP close outran the close frame.
            assert closed.reason in (1008, 1005), closed
            assert frames == []
    finally:
        for ws in (anonymous, foreign):
            _close(ws)
    # The control: the same session without the foreign Origin is let in.
    own = _connect(live_server, cookie)
    try:
        assert _until(own, "hello") is not None
    finally:
        own.close()


def test_an_open_socket_holds_no_database_connection(live_server, make_org):
    """A socket lives for hours; a pooled connection (and its open transaction) held that long
    would exhaust the pool after a few dozen open tabs and stall every other request."""
    from whatrack.extensions import db

    with live_server.app.app_context():
        pool = db.engine.pool
    _, _, email = make_org()
    cookie = _session_cookie(live_server, email)
    before = pool.checkedout()
    sockets = [_connect(live_server, cookie) for _ in range(3)]
    try:
        for ws in sockets:
            assert _until(ws, "hello") is not None
        assert pool.checkedout() == before
    finally:
        for ws in sockets:
            ws.close()
