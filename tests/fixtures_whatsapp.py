"""WhatsApp fixtures: the fake Graph API, a connected number, signed webhooks, a worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from tests.fakes.graph import FakeGraph
from whatrack.integrations.meta.signatures import sign

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
# The numbers the recorded fixtures use (shared/fixtures/meta).
FIXTURE_WABA = "200000000000001"
FIXTURE_PHONE_ID = "300000000000001"
FIXTURE_DISPLAY = "5511940001234"
GRAPH_TOKEN = "test-token"


def load_fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


@pytest.fixture(scope="session")
def _graph_server() -> Iterator[FakeGraph]:
    server = FakeGraph(token=GRAPH_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def fake_graph(app, _graph_server) -> Iterator[FakeGraph]:
    _graph_server.reset()
    previous = app.config["META_GRAPH_URL"]
    app.config["META_GRAPH_URL"] = _graph_server.url
    yield _graph_server
    app.config["META_GRAPH_URL"] = previous


@pytest.fixture
def whatsapp_org(app, make_org, fake_graph) -> dict[str, Any]:
    """An organization with the fixtures' number connected (token accepted by the fake)."""
    from whatrack.extensions import db
    from whatrack.models import Organization
    from whatrack.services.whatsapp.accounts import attach_account
    from whatrack.tenancy import bind_org

    org_id, user_id, email = make_org("Clínica Sorriso")
    with app.app_context(), bind_org(org_id):
        org = db.session.get(Organization, org_id)
        account = attach_account(org, waba_id=FIXTURE_WABA, phone_number_id=FIXTURE_PHONE_ID,
                                 display_phone_number=FIXTURE_DISPLAY, token=GRAPH_TOKEN)
        db.session.commit()
        return {"org_id": org_id, "user_id": user_id, "email": email, "account_id": account.id}


class WebhookPoster:
    def __init__(self, client, secret: str) -> None:
        self.client = client
        self.secret = secret

    def __call__(self, body: bytes | dict | str, signature: str | None = "auto", **headers: Any):
        if isinstance(body, dict):
            body = json.dumps(body, ensure_ascii=False).encode()
        elif isinstance(body, str):
            body = body.encode()
        if signature == "auto":
            signature = sign(self.secret, body)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self.client.post("/webhooks/whatsapp", data=body,
                                content_type="application/json", headers=headers)


@pytest.fixture
def post_webhook(app, client) -> WebhookPoster:
    return WebhookPoster(client, app.config["META_APP_SECRET"])


class WorkerHandle:
    def __init__(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.broker = broker
        self.worker = worker

    def drain(self, timeout_ms: int = 20_000) -> None:
        """Wait until every queue is empty and the worker is idle."""
        from whatrack.tasks.webhooks import intake_handoff

        assert intake_handoff.flush(timeout_ms / 1000), "the intake never handed off its ids"
        for _ in range(3):  # actors may enqueue more work (media) while draining
            for queue in ("webhooks", "messaging", "capi", "default"):
                self.broker.join(queue, timeout=timeout_ms)
            self.worker.join()


@pytest.fixture
def worker(app) -> Iterator[WorkerHandle]:
    """A real Dramatiq worker on the test Redis broker, bound to the session app."""
    from whatrack.tasks.broker import broker, dramatiq_init_app

    dramatiq_init_app(app)
    for queue in ("webhooks", "messaging", "capi", "default"):
        broker.flush(queue)
    w = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    w.start()
    yield WorkerHandle(broker, w)
    stop_worker(broker, w)


def stop_worker(broker: dramatiq.Broker, w: dramatiq.Worker) -> None:
    """Stop ``w`` and unhook it: Dramatiq leaves every worker's middleware on the broker,
    and hundreds of dead ones would slow every later message of the suite."""
    w.stop()
    broker.middleware[:] = [m for m in broker.middleware
                            if getattr(m, "worker", None) is not w]


# --- building and checking deliveries (ingestion tests) ------------------------------------

SECOND_WABA = "200000000000002"
SECOND_PHONE_ID = "300000000000002"
SECOND_DISPLAY = "5521930005678"


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(load_fixture(name))


def text_message(sender: str | None, wamid: str, timestamp: int, body: str,
                 **extra: Any) -> dict[str, Any]:
    """One inbound `messages[]` item as Meta shapes it (``sender`` None: phone withheld)."""
    message: dict[str, Any] = {"id": wamid, "timestamp": str(timestamp), "type": "text",
                               "text": {"body": body}, **extra}
    if sender is not None:
        message["from"] = sender
    return message


def profile(wa_id: str | None, name: str | None, user_id: str | None = None) -> dict[str, Any]:
    """One `contacts[]` item."""
    item: dict[str, Any] = {"profile": {"name": name} if name is not None else {}}
    if wa_id is not None:
        item["wa_id"] = wa_id
    if user_id is not None:
        item["user_id"] = user_id
    return item


def webhook_body(*, messages: list | None = None, contacts: list | None = None,
                 statuses: list | None = None, echoes: list | None = None,
                 phone_number_id: str = FIXTURE_PHONE_ID, display: str = FIXTURE_DISPLAY,
                 waba_id: str = FIXTURE_WABA) -> dict[str, Any]:
    """A complete POST body with one change (``echoes``: an smb_message_echoes change)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display, "phone_number_id": phone_number_id},
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    if echoes is not None:
        value["message_echoes"] = echoes
    field = "smb_message_echoes" if echoes is not None else "messages"
    return {"object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "changes": [{"field": field, "value": value}]}]}


def status_item(wamid: str, status: str, timestamp: int, recipient: str = "5511987654321",
                **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": status, "timestamp": str(timestamp),
            "recipient_id": recipient, **extra}


def all_rows(model: Any, *where: Any) -> list[Any]:
    """Every row of ``model`` across organizations (tests look at the whole database)."""
    from sqlalchemy import select

    from whatrack.extensions import db
    from whatrack.tenancy import unscoped

    stmt = select(model).where(*where).order_by(model.id)
    with unscoped():
        # Fresh values without expiring other loaded rows (their refresh would need an org).
        return list(db.session.scalars(stmt.execution_options(populate_existing=True)))


def assert_fields(row: Any, **expected: Any) -> None:
    """Compare named columns and report every difference at once."""
    actual = {name: getattr(row, name) for name in expected}
    assert actual == expected


@pytest.fixture
def second_org(app, make_org) -> dict[str, Any]:
    """Another organization owning the fixtures' second number (batch_multi_message)."""
    from whatrack.extensions import db
    from whatrack.models import Organization
    from whatrack.services.whatsapp.accounts import attach_account
    from whatrack.tenancy import bind_org

    org_id, user_id, email = make_org("Clínica Rio")
    with app.app_context(), bind_org(org_id):
        org = db.session.get(Organization, org_id)
        account = attach_account(org, waba_id=SECOND_WABA, phone_number_id=SECOND_PHONE_ID,
                                 display_phone_number=SECOND_DISPLAY, token=GRAPH_TOKEN)
        db.session.commit()
        return {"org_id": org_id, "user_id": user_id, "email": email, "account_id": account.id}


@pytest.fixture
def outbound_message(app):
    """Store a message as the send path would (before any status arrives); returns its id."""
    from datetime import UTC, datetime

    from whatrack.extensions import db
    from whatrack.models import Contact, Message, Organization, Ticket
    from whatrack.services.tickets.stages import entry_stage
    from whatrack.services.whatsapp.phones import canonical_wa_id
    from whatrack.tenancy import bind_org

    def _make(org_id: int, account_id: int, wamid: str, to: str, status: str = "pending",
              sent_at: int = 1781262000) -> int:
        with app.app_context(), bind_org(org_id):
            org = db.session.get(Organization, org_id)
            wa_id = canonical_wa_id(to)
            contact = db.session.scalars(db.select(Contact).where(Contact.wa_id == wa_id)).first()
            if contact is None:
                contact = Contact(organization_id=org_id, wa_id=wa_id, wa_id_reported=to)
                db.session.add(contact)
                db.session.flush()
            ticket = db.session.scalars(db.select(Ticket).where(
                Ticket.contact_id == contact.id, Ticket.closed_at.is_(None))).first()
            if ticket is None:
                ticket = Ticket(organization_id=org_id, contact_id=contact.id,
                                whatsapp_account_id=account_id, stage_id=entry_stage(org).id)
                db.session.add(ticket)
                db.session.flush()
            when = datetime.fromtimestamp(sent_at, UTC)
            message = Message(organization_id=org_id, ticket_id=ticket.id, contact_id=contact.id,
                              whatsapp_account_id=account_id, wamid=wamid, direction="outbound",
                              origin="inbox", type="text", text="Olá!", status=status,
                              timestamp=when)
            db.session.add(message)
            db.session.commit()
            return message.id

    return _make


@pytest.fixture
def make_worker(app) -> Iterator[Any]:
    """Extra real workers (e.g. several threads racing on one contact); stopped after the test."""
    from whatrack.tasks.broker import broker, dramatiq_init_app

    started: list[dramatiq.Worker] = []

    def _make(threads: int = 4) -> WorkerHandle:
        dramatiq_init_app(app)
        w = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=50)
        w.start()
        started.append(w)
        return WorkerHandle(broker, w)

    yield _make
    for w in started:
        stop_worker(broker, w)
