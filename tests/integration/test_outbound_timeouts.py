"""Every outbound HTTP client gives up on a server that accepts and never answers.

A loopback socket that listens but never reads stands in for a hung Meta: the kernel
completes the TCP handshake, so only a read timeout can end the call.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.fixtures_capi import APP_ID
from whatrack.tenancy import bind_org

TIMEOUT = 1.0
# Generous against a loaded 2-core machine, far below "forever" (Authlib's default).
DEADLINE = 8.0


@pytest.fixture
def silent_server() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def hung_meta(app, meta_app, silent_server) -> Iterator[str]:
    """Meta configured (app id, fast retries), every Graph URL pointing at the silent server."""
    overrides = {"META_HTTP_TIMEOUT": TIMEOUT, "META_CAPI_TIMEOUT": TIMEOUT}
    previous = {key: app.config.get(key) for key in overrides}
    app.config.update(overrides)
    yield silent_server
    app.config.update(previous)


def _timed(call) -> tuple[float, object]:
    started = time.monotonic()
    try:
        outcome = call()
    except Exception as exc:  # the outcome is asserted by the caller
        outcome = exc
    return time.monotonic() - started, outcome


def test_facebook_oauth_code_exchange_times_out(app, hung_meta, meta_app, whatsapp_org,
                                                client, login):
    login(whatsapp_org["email"])
    start = client.post("/dashboard/settings/meta/connect")
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    callback = urlsplit(answer.headers["Location"])
    app.config["META_GRAPH_URL"] = hung_meta  # the code exchange goes to a hung Graph API
    elapsed, response = _timed(lambda: client.get(f"{callback.path}?{callback.query}"))
    assert elapsed < DEADLINE
    assert response.status_code == 302  # a flash "Facebook did not connect", not a hang or 500
    assert response.headers["Location"].endswith("/dashboard/settings/meta")


def test_meta_connection_calls_time_out(app, db, hung_meta, whatsapp_org, connect_meta):
    from whatrack.integrations.meta.errors import MetaTemporaryError
    from whatrack.models import Organization, User
    from whatrack.services.conversions import commands as conversions
    from whatrack.services.meta import connection as meta_connection

    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    app.config["META_GRAPH_URL"] = hung_meta
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        user = db.session.get(User, whatsapp_org["user_id"])
        conn = conversions.connection_of(org)
        for call in (  # the app-token client, then the user-token client
            lambda: meta_connection.complete_oauth(org, user, "short-token", 3600),
            lambda: meta_connection.refresh_token_info(org, conn),
            lambda: meta_connection.dataset_options(org, conn),
        ):
            elapsed, outcome = _timed(call)
            assert elapsed < DEADLINE
            assert isinstance(outcome, MetaTemporaryError) or not isinstance(outcome,
                                                                              Exception), outcome
        db.session.rollback()


def test_media_download_times_out(app, db, hung_meta, whatsapp_org):
    from whatrack.integrations.meta.errors import MetaTemporaryError
    from whatrack.models import WhatsAppAccount
    from whatrack.services.inbox import media

    app.config["META_GRAPH_URL"] = hung_meta
    with bind_org(whatsapp_org["org_id"]):
        account = db.session.get(WhatsAppAccount, whatsapp_org["account_id"])
        elapsed, outcome = _timed(lambda: media.graph_client(account).get_media("999"))
    assert elapsed < DEADLINE
    assert isinstance(outcome, MetaTemporaryError)


def test_capi_batch_times_out_and_is_retried_later(app, db, hung_meta, whatsapp_org,
                                                   connect_meta, make_ticket, close_sale):
    from whatrack.models import MetaConversionEvent, Organization
    from whatrack.services.conversions.dispatch import dispatch_due

    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    assert close_sale(org_id, make_ticket(org_id)).status_code == 201
    app.config["META_GRAPH_URL"] = hung_meta
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        elapsed, outcome = _timed(lambda: dispatch_due(org))
        assert elapsed < DEADLINE
        assert not isinstance(outcome, Exception), outcome
        db.session.commit()
        purchase = db.session.scalars(db.select(MetaConversionEvent).where(
            MetaConversionEvent.event_name == "Purchase")).one()
        assert purchase.status == "pending" and purchase.attempts == 1
        assert purchase.next_attempt_at is not None


def test_graph_clients_are_never_built_without_a_timeout():
    from whatrack.integrations.meta import facebook
    from whatrack.integrations.meta.graph import GraphClient

    assert GraphClient("t", "http://x", "v1").timeout is not None
    assert facebook.app_client("http://x", "v1", APP_ID, "s").timeout is not None
