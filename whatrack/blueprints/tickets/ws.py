"""The organization's websocket: live board and inbox updates for its members only."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

from flask import current_app, g, request
from flask_login import current_user
from simple_websocket import ConnectionClosed

from whatrack.blueprints.tickets import bp
from whatrack.extensions import db, sock
from whatrack.metrics.node import WEBSOCKETS
from whatrack.services.accounts.sessions import has_access

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


@sock.route("/ws", bp=bp)
def org_socket(ws):
    # Authenticated by the session cookie; the org is the one resolved for this request
    # (tenancy.resolve_request_org), so a socket can only ever join its own organization.
    org = g.get("current_org")
    if not current_user.is_authenticated or org is None or not _same_origin():
        ws.close(reason=1008, message="login required")
        return
    org_id = org.id
    user_id, token = current_user.id, current_user.session_token
    # Loading the user and the org opened a transaction on a pooled connection; the socket
    # needs neither again and may stay open for hours, so give the connection back now.
    db.session.remove()
    hub = current_app.extensions["realtime"]
    subscription = hub.subscribe(org_id)
    WEBSOCKETS.inc()
    try:
        ws.send(json.dumps({"type": "hello", "org_id": org_id, "server_time": time.time()}))
        _pump(ws, subscription, lambda: _still_allowed(user_id, token, org_id))
    except ConnectionClosed:
        pass
    finally:
        WEBSOCKETS.dec()
        hub.unsubscribe(subscription)


def _same_origin() -> bool:
    """Refuse sockets opened by other sites' pages (cross-site websocket hijacking)."""
    origin = request.headers.get("Origin")
    if not origin:
        return True  # non-browser clients send none; the session cookie still applies
    return urlsplit(origin).netloc == request.host


def _still_allowed(user_id: int, token: str | None, org_id: int) -> bool:
    """The session is not logged out and the user is still a member of the organization."""
    try:
        return has_access(user_id, token, org_id)
    finally:
        db.session.remove()  # the socket holds no connection between checks


def _pump(ws, subscription, allowed) -> None:
    # Access can end while the socket is open (logout, "log out everywhere", password
    # change, removal from the team): re-checked on this heartbeat, the socket closes
    # before it forwards anything more.
    interval = current_app.config["WS_ACCESS_CHECK_SECONDS"]
    next_check = time.monotonic() + interval
    while ws.connected:
        if time.monotonic() >= next_check:
            if not allowed():
                log.info("closing a websocket whose access ended")
                ws.close(reason=1008, message="access ended")
                return
            next_check = time.monotonic() + interval
        frame = subscription.get_frame(timeout=min(POLL_SECONDS, interval))
        if frame is not None:
            ws.send(frame)
        # Drain client frames (pings, focus hints) without blocking.
        message = ws.receive(timeout=0)
        if message == "ping":
            ws.send(json.dumps({"type": "pong"}))
