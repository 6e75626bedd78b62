"""The endpoint: handshake, signature, store-before-ack, malformed bodies."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.fixtures_whatsapp import load_fixture


def _count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.endpoint("webhooks.verify")
def test_handshake_echoes_challenge_with_our_token(client):
    resp = client.get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=test-verify-token"
                      "&hub.challenge=1158201444")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "1158201444"


@pytest.mark.endpoint("webhooks.verify")
def test_handshake_with_wrong_token_is_forbidden(client):
    resp = client.get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope"
                      "&hub.challenge=1")
    assert resp.status_code == 403


def test_bad_signature_is_refused_and_nothing_stored(post_webhook, db):
    from whatrack.models import WebhookEvent

    resp = post_webhook(load_fixture("inbound_text"), signature="sha256=" + "0" * 64)
    assert resp.status_code == 401
    assert _count(db, WebhookEvent) == 0


def test_missing_signature_is_refused_and_nothing_stored(post_webhook, db):
    from whatrack.models import WebhookEvent

    resp = post_webhook(load_fixture("inbound_text"), signature=None)
    assert resp.status_code == 401
    assert _count(db, WebhookEvent) == 0


def test_valid_post_is_stored_byte_for_byte_before_the_200(post_webhook, db):
    from whatrack.models import WebhookEvent

    raw = load_fixture("inbound_text")
    resp = post_webhook(raw)
    assert resp.status_code == 200
    event = db.session.scalars(select(WebhookEvent)).one()
    assert event.body == raw
    assert event.state == "received"


def test_malformed_json_with_valid_signature_is_stored_and_marked_failed(post_webhook, db, worker):
    from whatrack.models import WebhookEvent

    resp = post_webhook(b'{"object": "whatsapp_business_account", "entry": [')
    assert resp.status_code == 200
    worker.drain()
    db.session.expire_all()
    event = db.session.scalars(select(WebhookEvent)).one()
    assert event.state == "failed"
    assert event.error.startswith("malformed")


def test_database_down_answers_503_so_meta_retries(app, make_app):
    from tests.fixtures_whatsapp import WebhookPoster
    from tests.integration.test_platform import DatabaseDownConfig

    down = make_app(DatabaseDownConfig)
    poster = WebhookPoster(down.test_client(), down.config["META_APP_SECRET"])
    resp = poster(load_fixture("inbound_text"))
    assert resp.status_code == 503
    assert resp.get_data(as_text=True) == "temporarily unavailable"


def test_queue_down_still_answers_200_and_the_sweeper_delivers_later(
        post_webhook, db, worker, whatsapp_org, monkeypatch, caplog):
    from dramatiq.brokers.redis import RedisBroker

    from tests.integration.test_platform import CLOSED_PORT_REDIS
    from whatrack.models import Message, WebhookEvent, utcnow
    from whatrack.tasks.maintenance import sweep_webhook_events
    from whatrack.tasks.webhooks import intake_handoff, process_webhook_events
    from whatrack.tenancy import bind_org

    monkeypatch.setattr(process_webhook_events, "broker", RedisBroker(url=CLOSED_PORT_REDIS))
    assert post_webhook(load_fixture("inbound_text")).status_code == 200
    assert intake_handoff.flush(10)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info], \
        "a failed hand-off to the queue must be logged with its error"
    monkeypatch.undo()  # Redis is back
    worker.drain()
    event = db.session.scalars(select(WebhookEvent)).one()
    assert event.state == "received"  # stored, waiting: nothing lost

    event.received_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    sweep_webhook_events.fn()
    worker.drain()
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event.id).state == "processed"
    with bind_org(whatsapp_org["org_id"]):
        assert _count(db, Message) == 1


def test_a_body_over_the_size_limit_is_413_and_not_stored(app, post_webhook, db, monkeypatch):
    from whatrack.models import WebhookEvent

    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64)
    resp = post_webhook(load_fixture("inbound_text"))
    assert resp.status_code == 413
    assert _count(db, WebhookEvent) == 0


def test_without_an_app_secret_deliveries_are_refused_with_503(app, post_webhook, db,
                                                              monkeypatch):
    from whatrack.models import WebhookEvent

    monkeypatch.setitem(app.config, "META_APP_SECRET", None)
    resp = post_webhook(load_fixture("inbound_text"), signature="sha256=" + "0" * 64)
    assert resp.status_code == 503
    assert _count(db, WebhookEvent) == 0


def test_other_methods_and_paths_go_to_flask(client):
    assert client.put("/webhooks/whatsapp").status_code == 405
    assert client.post("/webhooks/whatsapp/").status_code == 404


def test_a_connection_that_died_in_the_pool_costs_one_503_then_heals(post_webhook, db, pg_url):
    import psycopg

    from whatrack.models import WebhookEvent

    assert post_webhook(load_fixture("inbound_text")).status_code == 200
    db.session.commit()
    with psycopg.connect(pg_url, autocommit=True) as admin:  # e.g. PostgreSQL restarted
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    # Used again at once, so not pinged: the delivery fails, Meta retries it later.
    assert post_webhook(load_fixture("inbound_text")).status_code == 503
    # The failure marks every older pooled connection suspect: each is pinged and replaced.
    for _ in range(5):
        assert post_webhook(load_fixture("inbound_text")).status_code == 200
    db.session.rollback()
    assert _count(db, WebhookEvent) == 6
