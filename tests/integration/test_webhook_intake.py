"""The endpoint: handshake, signature, store-before-ack, malformed bodies."""

from sqlalchemy import func, select

from tests.fixtures_whatsapp import load_fixture


def _count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_handshake_echoes_challenge_with_our_token(client):
    resp = client.get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=test-verify-token"
                      "&hub.challenge=1158201444")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "1158201444"


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
