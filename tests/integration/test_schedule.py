"""The scheduler enqueues sweepers; a delivery whose queue message was lost gets processed."""

import threading
from datetime import timedelta

from sqlalchemy import select

from tests.fixtures_whatsapp import load_fixture


def test_scheduler_recovers_a_delivery_whose_queue_message_was_lost(
        app, whatsapp_org, worker, db):
    from whatrack.models import Message, WebhookEvent, utcnow
    from whatrack.services.webhooks import store_webhook
    from whatrack.tasks.schedule import run_scheduler
    from whatrack.tenancy import bind_org

    # Stored and committed, but never enqueued: as if Redis was down at the 200.
    event = db.session.get(WebhookEvent, store_webhook(db.engine, load_fixture("inbound_text")))
    event.received_at = utcnow() - timedelta(minutes=5)
    db.session.commit()

    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, args=(stop,), kwargs={"tick": 0.05})
    thread.start()
    try:
        worker.drain()
    finally:
        stop.set()
        thread.join(timeout=5)
    worker.drain()
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event.id).state == "processed"
    with bind_org(whatsapp_org["org_id"]):
        assert len(db.session.scalars(select(Message)).all()) == 1
