"""Structured logs (LOG_FORMAT=json) and Prometheus metrics at /metrics (issue 16)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from whatrack.logging import configure_logging

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The app's log handler switched to JSON, writing into a buffer; text again afterwards."""
    configure_logging("INFO", "json")
    buffer = io.StringIO()
    logging.getLogger("whatrack").handlers[0].setStream(buffer)
    try:
        yield buffer
    finally:
        configure_logging("INFO", "text")


def _records(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_request_and_organization_and_hide_secrets(app, json_logs):
    from flask import g

    from whatrack.tenancy import bind_org

    with app.test_request_context("/dashboard"), bind_org(42):
        g.request_id = "req123"
        logging.getLogger("whatrack.graph").warning(
            "GET https://graph.example/v25.0/me?access_token=EAAB1234567890abcdefghij&x=1 "
            "with Authorization: Bearer wt_abcdefghijklmnopqrstuvwx failed")
        try:
            raise ValueError("Stripe said no to sk_live_abcdefghijkl")
        except ValueError:
            logging.getLogger("whatrack.billing").exception("charge failed")

    first, second = _records(json_logs)
    assert set(first) == {"timestamp", "level", "logger", "message", "request_id", "org_id"}
    assert first["level"] == "WARNING" and first["logger"] == "whatrack.graph"
    assert first["request_id"] == "req123" and first["org_id"] == 42
    assert first["timestamp"].endswith("+00:00")
    assert "EAAB1234567890" not in first["message"] and "wt_abcdefghij" not in first["message"]
    assert "access_token=[redacted]" in first["message"] and "x=1" in first["message"]
    assert second["message"] == "charge failed"
    assert "ValueError" in second["exception"] and "sk_live_" not in second["exception"]


def test_json_lines_from_a_worker_carry_the_queue_message_id(app, post_webhook, worker,
                                                             json_logs):
    assert post_webhook(b"{not json").status_code == 200
    worker.drain()

    malformed = [r for r in _records(json_logs) if "malformed" in r["message"]]
    assert len(malformed) == 1, _records(json_logs)
    assert malformed[0]["logger"].startswith("whatrack.")
    assert len(malformed[0]["message_id"]) == 36  # a Dramatiq message id (uuid4)
    assert malformed[0]["request_id"] is None  # no HTTP request in a worker


def test_text_logs_stay_one_line_and_redact_too(app):
    configure_logging("INFO", "text")
    buffer = io.StringIO()
    logging.getLogger("whatrack").handlers[0].setStream(buffer)
    try:
        logging.getLogger("whatrack.x").warning("token=abcdef123456 leaked")
    finally:
        configure_logging("INFO", "text")
    line = buffer.getvalue().strip()
    assert "[req=- org=-]" in line and "token=[redacted] leaked" in line


def test_an_unknown_log_format_falls_back_to_text_with_a_warning(app, capsys):
    from tests.fixtures_app import AppTestConfig
    from whatrack import create_app

    class Weird(AppTestConfig):
        LOG_FORMAT = "xml"

    create_app(Weird)
    err = capsys.readouterr().err
    configure_logging("INFO", "text")
    assert "LOG_FORMAT='xml' is not one of text, json" in err


def _scrape(client, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/metrics", headers=headers)


def _samples(response) -> dict[tuple[str, tuple], float]:
    text = response.get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def metrics_token(app) -> Iterator[str]:
    app.config["METRICS_TOKEN"] = TOKEN
    yield TOKEN
    app.config["METRICS_TOKEN"] = None


@pytest.mark.endpoint("health.metrics")
def test_metrics_do_not_exist_without_a_token_configured(app, client):
    assert app.config.get("METRICS_TOKEN") is None
    assert client.get("/metrics").status_code == 404
    assert _scrape(client, "anything").status_code == 404


@pytest.mark.endpoint("health.metrics")
def test_metrics_refuse_a_missing_or_wrong_token(client, metrics_token):
    for response in (_scrape(client, None), _scrape(client, "wrong"),
                     client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"whatrack_" not in response.data


@pytest.mark.endpoint("health.metrics")
def test_metrics_count_webhooks_queues_sales_and_sends(
    app, client, metrics_token, whatsapp_org, post_webhook, worker, make_ticket, close_sale, db
):
    from tests.fixtures_whatsapp import fixture_json
    from whatrack.models import MetaConversionEvent
    from whatrack.tenancy import unscoped

    before = _samples(_scrape(client))
    body = fixture_json("inbound_text")
    assert post_webhook(body).status_code == 200
    assert post_webhook(body).status_code == 200  # Meta's redelivery: stored, processed, no-op
    assert post_webhook(body, signature="sha256=" + "0" * 64).status_code == 401
    ticket_id = make_ticket(whatsapp_org["org_id"])
    assert close_sale(whatsapp_org["org_id"], ticket_id).status_code == 201
    worker.drain()

    response = _scrape(client)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = _samples(response)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert delta("whatrack_webhooks_received_total", result="stored") == 2
    assert delta("whatrack_webhooks_received_total", result="bad_signature") == 1
    assert delta("whatrack_webhooks_processed_total") == 2
    assert delta("whatrack_webhooks_failed_total") == 0
    assert delta("whatrack_webhook_processing_lag_seconds_count") == 2
    assert delta("whatrack_webhook_processing_lag_seconds_sum") > 0
    assert after[("whatrack_webhooks_waiting", ())] == 0
    assert after[("whatrack_webhook_oldest_waiting_seconds", ())] == 0
    for queue in ("webhooks", "messaging", "capi", "default"):
        assert after[("whatrack_queue_depth", (("queue", queue),))] == 0
        assert ("whatrack_queue_dead_letters", (("queue", queue),)) in after
    with unscoped():
        status = db.session.scalars(db.select(MetaConversionEvent.status)).one()
    assert after[("whatrack_conversion_events", (("status", status),))] == 1
    assert sum(v for (name, _), v in after.items() if name == "whatrack_conversion_events") == 1
    assert after[("whatrack_outbound_messages", (("state", "accepted"),))] == 0
    assert after[("whatrack_websocket_connections", ())] == 0
    for source in ("counters", "broker", "database"):
        assert after[("whatrack_metrics_source_up", (("source", source),))] == 1


@pytest.mark.endpoint("health.metrics")
def test_a_waiting_delivery_shows_as_backlog_and_lag(app, client, metrics_token, post_webhook,
                                                     whatsapp_org):
    from tests.fixtures_whatsapp import fixture_json
    from whatrack.tasks.webhooks import intake_handoff

    assert post_webhook(fixture_json("inbound_text")).status_code == 200
    assert intake_handoff.flush(10)
    after = _samples(_scrape(client))  # no worker runs: the delivery waits in the queue
    assert after[("whatrack_webhooks_waiting", ())] == 1
    assert after[("whatrack_webhook_oldest_waiting_seconds", ())] >= 0
    assert after[("whatrack_queue_depth", (("queue", "webhooks"),))] == 1


def test_an_unreachable_redis_is_reported_not_a_500(app):
    from whatrack.metrics.exposition import render
    from whatrack.metrics.shared import RedisCounters

    # Nothing listens on the discard port: the counters' Redis is really unreachable.
    gone = RedisCounters("redis://127.0.0.1:9/0", "whatrack-test-gone")
    with app.app_context():
        body, _ = render(gone)
    after = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(body.decode()) for s in family.samples}
    assert after[("whatrack_metrics_source_up", (("source", "counters"),))] == 0
    assert after[("whatrack_metrics_source_up", (("source", "database"),))] == 1
    assert ("whatrack_webhooks_processed_total", ()) not in after
    assert ("whatrack_webhooks_waiting", ()) in after


@pytest.mark.endpoint("health.metrics")
def test_gunicorn_workers_are_summed_whichever_answers_the_scrape(app, tmp_path):
    import requests

    from tests.gunicorn_server import gunicorn_server
    from whatrack.integrations.meta.signatures import sign

    body = b'{"object": "whatsapp_business_account", "entry": []}'
    signature = sign(app.config["META_APP_SECRET"], body)
    with gunicorn_server(workers=2, METRICS_TOKEN=TOKEN,
                         PROMETHEUS_MULTIPROC_DIR=str(tmp_path)) as url:
        for _ in range(20):  # a new connection each: both processes take some
            response = requests.post(f"{url}/webhooks/whatsapp", data=body, timeout=20,
                                     headers={"X-Hub-Signature-256": signature,
                                              "Connection": "close"})
            assert response.status_code == 200
        stored = set()
        for _ in range(10):
            text = requests.get(f"{url}/metrics", timeout=20, headers={
                "Authorization": f"Bearer {TOKEN}", "Connection": "close"}).text
            stored |= {s.value for f in text_string_to_metric_families(text)
                       for s in f.samples if s.name == "whatrack_webhooks_received_total"
                       and s.labels == {"result": "stored"}}
        counting = {p.name.rsplit("_", 1)[-1] for p in tmp_path.glob("counter_*.db")}
    assert stored == {20.0}  # every answer, from either process, is the total of both
    assert len(counting) == 2  # two processes wrote their own values
