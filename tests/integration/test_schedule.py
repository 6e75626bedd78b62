"""The scheduler enqueues sweepers; a delivery whose queue message was lost gets processed."""

import threading
from datetime import timedelta

from sqlalchemy import select

from tests.fixtures_capi import wait_for
from tests.fixtures_whatsapp import load_fixture


def test_scheduler_recovers_a_delivery_whose_queue_message_was_lost(
        app, whatsapp_org, worker, db):
    from whatrack.models import Message, WebhookEvent, utcnow
    from whatrack.services.webhooks.store import store_webhook
    from whatrack.tasks.schedule import run_scheduler
    from whatrack.tenancy import bind_org

    # Stored and committed, but never enqueued: as if Redis was down at the 200.
    event = db.session.get(WebhookEvent, store_webhook(db.engine, load_fixture("inbound_text")))
    event.received_at = utcnow() - timedelta(minutes=5)
    db.session.commit()

    def state() -> str:
        db.session.rollback()
        return db.session.get(WebhookEvent, event.id).state

    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, args=(stop,), kwargs={"tick": 0.05})
    thread.start()
    try:
        # The worker runs meanwhile: wait for the scheduler's first tick to reach it (the
        # sweeper re-enqueues the row, the processor handles it), however slow the box is.
        wait_for(lambda: state() == "processed", timeout=30)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    with bind_org(whatsapp_org["org_id"]):
        assert len(db.session.scalars(select(Message)).all()) == 1


def test_the_sweeper_recovers_a_long_outage_in_batches(app, whatsapp_org, worker, db):
    """An hour without Redis leaves many deliveries behind; all are processed once."""
    import json

    from tests.fixtures_whatsapp import profile, text_message, webhook_body
    from whatrack.models import Message, WebhookEvent, utcnow
    from whatrack.services.webhooks.store import store_webhook
    from whatrack.tasks.maintenance import sweep_webhook_events
    from whatrack.tenancy import bind_org

    ids = []
    for n in range(45):
        number = f"55119{n:08d}"
        body = webhook_body(contacts=[profile(number, f"Cliente {n}")],
                            messages=[text_message(number, f"wamid.OUTAGE.{n}", 1_781_000_000,
                                                   "Oi")])
        ids.append(store_webhook(db.engine, json.dumps(body).encode()))
    for event_id in ids:
        db.session.get(WebhookEvent, event_id).received_at = utcnow() - timedelta(minutes=30)
    db.session.commit()

    sweep_webhook_events.fn()
    worker.drain()
    db.session.expire_all()
    assert {db.session.get(WebhookEvent, i).state for i in ids} == {"processed"}
    with bind_org(whatsapp_org["org_id"]):
        assert len(db.session.scalars(select(Message)).all()) == 45
