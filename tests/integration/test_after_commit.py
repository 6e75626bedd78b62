"""Side effects run only after a commit: Dramatiq sends on the real Redis broker, realtime
events through the real Redis hub, and the SAVEPOINT rules in between."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

QUEUE = f"test_after_commit_{uuid.uuid4().hex[:8]}"
_received: list[tuple[int, str]] = []
_received_lock = threading.Lock()


_actors: dict[str, dramatiq.Actor] = {}


def _record(org_id: int, label: str) -> None:
    """A throwaway actor: proves a message reached a real worker, and with what."""
    with _received_lock:
        _received.append((org_id, label))


@pytest.fixture
def broker(app):
    # Declared only now: an actor binds to the global broker when declared, and before
    # whatrack.tasks.broker runs Dramatiq would invent a default one (localhost, db 0).
    from whatrack.tasks.broker import broker

    if "record" not in _actors:
        _actors["record"] = dramatiq.actor(_record, queue_name=QUEUE, max_retries=0,
                                           actor_name=f"record_{QUEUE}")
    assert _actors["record"].broker is broker
    broker.flush(QUEUE)
    _received.clear()
    return broker


@pytest.fixture
def record(broker) -> dramatiq.Actor:
    return _actors["record"]


def _drain(broker) -> list[tuple[int, str]]:
    """Run a real worker on the test queue until it is empty; what the actor received."""
    worker = dramatiq.Worker(broker, queues={QUEUE}, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join(QUEUE, timeout=10_000)
        worker.join()
    finally:
        worker.stop()
    return sorted(_received)


# --- enqueue_after_commit --------------------------------------------------------------


def test_enqueue_sends_only_after_commit(db, broker, record, make_org):
    from whatrack.queue import enqueue_after_commit

    org_id = make_org()[0]

    enqueue_after_commit(record.actor_name, org_id, "committed")
    assert broker.do_qsize(QUEUE) == 0
    db.session.commit()

    assert broker.do_qsize(QUEUE) == 1
    assert _drain(broker) == [(org_id, "committed")]


def test_enqueue_is_dropped_on_rollback(db, broker, record, make_org):
    from whatrack.queue import enqueue_after_commit

    org_id = make_org()[0]

    enqueue_after_commit(record.actor_name, org_id, "rolled back")
    db.session.rollback()
    db.session.commit()  # a later commit of the same session does not resurrect it

    assert broker.do_qsize(QUEUE) == 0
    assert _drain(broker) == []


def test_worker_sees_the_row_the_task_was_enqueued_for(app, db, broker):
    from whatrack.models import User
    from whatrack.queue import enqueue_after_commit

    seen: list[str | None] = []

    @dramatiq.actor(queue_name=QUEUE, actor_name=f"lookup_{QUEUE}", max_retries=0)
    def lookup(user_id: int) -> None:
        from whatrack.extensions import db as worker_db

        user = worker_db.session.get(User, user_id)
        seen.append(user.email if user else None)

    user = User(email="worker@example.com", name="W", password_hash="x")
    db.session.add(user)
    db.session.flush()
    enqueue_after_commit(lookup.actor_name, user.id)
    db.session.commit()
    _drain(broker)

    assert seen == ["worker@example.com"]


# --- publish_after_commit --------------------------------------------------------------


@pytest.fixture
def hub(app) -> Iterator:
    from whatrack.realtime.hub import RedisHub

    hub = app.extensions["realtime"]
    assert isinstance(hub, RedisHub)  # REDIS_URL is set in tests: the real pub/sub
    subscriptions = []
    original = hub.subscribe

    def subscribe(org_id: int):
        sub = original(org_id)
        subscriptions.append(sub)
        return sub

    hub.subscribe = subscribe
    yield hub
    del hub.subscribe
    for sub in subscriptions:
        hub.unsubscribe(sub)


def test_publish_reaches_only_that_orgs_subscribers_after_commit(db, hub, make_org):
    from whatrack.realtime.events import publish_after_commit

    org_a, org_b = make_org()[0], make_org()[0]
    sub_a, sub_b = hub.subscribe(org_a), hub.subscribe(org_b)

    publish_after_commit(org_a, "ticket.updated", {"ticket_id": 7})
    assert sub_a.get(timeout=0.3) is None  # not before the commit
    db.session.commit()

    assert sub_a.get(timeout=5) == {"type": "ticket.updated", "org_id": org_a,
                                    "data": {"ticket_id": 7}}
    assert sub_b.get(timeout=0.5) is None


def test_publish_is_dropped_on_rollback(db, hub, make_org):
    from whatrack.realtime.events import publish_after_commit

    org_id = make_org()[0]
    sub = hub.subscribe(org_id)

    publish_after_commit(org_id, "ticket.updated", {"label": "rolled back"})
    db.session.rollback()
    publish_after_commit(org_id, "ticket.updated", {"label": "committed"})
    db.session.commit()

    # Redis delivers in order: had the first been published, it would arrive first.
    assert sub.get(timeout=5)["data"] == {"label": "committed"}
    assert sub.get(timeout=0.3) is None


# --- savepoints ------------------------------------------------------------------------


@pytest.fixture
def ran():
    return []


def _later(session, ran: list[str], label: str) -> None:
    from whatrack.after_commit import run_after_commit

    run_after_commit(session, lambda: ran.append(label))


def test_savepoint_rollback_keeps_outer_callbacks_and_drops_its_own(db, ran):
    session = db.session()
    _later(session, ran, "outer")
    savepoint = session.begin_nested()
    _later(session, ran, "inside the savepoint")
    savepoint.rollback()
    _later(session, ran, "after the savepoint")

    session.commit()

    assert ran == ["outer", "after the savepoint"]


def test_failed_flush_inside_a_savepoint_keeps_outer_callbacks(db, ran, make_org):
    from whatrack.models import User

    _org_id, _user_id, email = make_org()
    session = db.session()
    _later(session, ran, "outer")

    with pytest.raises(IntegrityError):  # the idempotent-insert pattern: duplicate = no-op
        with session.begin_nested():
            _later(session, ran, "duplicate")
            session.add(User(email=email, name="dup", password_hash="x"))
            session.flush()
    session.commit()

    assert ran == ["outer"]


def test_released_savepoint_callbacks_wait_for_the_outer_commit(db, ran):
    session = db.session()
    with session.begin_nested():
        _later(session, ran, "released")
    assert ran == []

    session.commit()

    assert ran == ["released"]


def test_outer_rollback_drops_callbacks_of_released_savepoints(db, ran):
    session = db.session()
    _later(session, ran, "outer")
    with session.begin_nested():
        _later(session, ran, "released")
    session.rollback()
    session.commit()

    assert ran == []


def test_rollback_of_an_outer_savepoint_drops_callbacks_of_inner_ones(db, ran):
    session = db.session()
    _later(session, ran, "outer")
    outer_savepoint = session.begin_nested()
    with session.begin_nested():
        _later(session, ran, "inner, released")
    outer_savepoint.rollback()
    session.commit()

    assert ran == ["outer"]


def test_a_failing_callback_does_not_stop_the_others(db, ran, caplog):
    from whatrack.after_commit import run_after_commit

    session = db.session()

    def broken() -> None:
        raise RuntimeError("redis down")

    run_after_commit(session, broken)
    _later(session, ran, "still runs")
    session.commit()

    assert ran == ["still runs"]
    # The failure is reported with its exception, not swallowed.
    [record] = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
    assert isinstance(record.exc_info[1], RuntimeError)


def test_callbacks_run_once(db, ran):
    from whatrack.models import User

    session = db.session()
    _later(session, ran, "once")
    session.commit()
    session.execute(select(User.id)).all()
    session.commit()

    assert ran == ["once"]


def test_send_by_an_unknown_actor_name_fails_loudly(app, broker):
    """A typo in a service's actor name must surface, not vanish into a default broker."""
    from dramatiq.errors import ActorNotFound

    from whatrack.queue import send_now

    with pytest.raises(ActorNotFound):
        send_now("no_such_actor", 1)
