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
    from whatrack.services.whatsapp_accounts import attach_account
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
    w.stop()
