"""Media: the message lands first, the bytes are fetched from the (fake) Graph API and
cached, transient errors retry, permanent ones are recorded, and /media/<id> serves them."""

from __future__ import annotations

import pytest

from tests.fakes.graph import meta_error
from tests.fixtures_whatsapp import (
    GRAPH_TOKEN,
    all_rows,
    assert_fields,
    load_fixture,
    profile,
    webhook_body,
)
from whatrack.models import MediaFile, Message

IMAGE_ID = "700000000000001"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
GRAPH_MEDIA = f"/v25.0/{IMAGE_ID}"


@pytest.fixture(autouse=True)
def _session(db):
    return db


@pytest.fixture
def fast_media_retries(monkeypatch):
    """Keep fetch_media's real retry policy but with millisecond backoffs."""
    from whatrack.tasks.messaging import fetch_media

    monkeypatch.setitem(fetch_media.options, "min_backoff", 20)
    monkeypatch.setitem(fetch_media.options, "max_backoff", 100)


def ingest_image(post_webhook, worker) -> Message:
    assert post_webhook(load_fixture("inbound_image")).status_code == 200
    worker.drain()
    [message] = all_rows(Message)
    return message


def test_message_lands_first_then_its_media_is_cached(app, whatsapp_org, post_webhook, worker,
                                                     fake_graph, fast_media_retries):
    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    fake_graph.fail(GRAPH_MEDIA, 500, meta_error("An unexpected error has occurred.", 2),
                    times=2)
    hub = app.extensions["realtime"]
    frames = hub.subscribe(whatsapp_org["org_id"])
    try:
        message = ingest_image(post_webhook, worker)
        created, media_done = frames.get(timeout=5), frames.get(timeout=5)
    finally:
        hub.unsubscribe(frames)

    # The message was committed (and announced) before its media was fetched.
    assert created["type"] == "message.created"
    assert media_done == {"type": "message.media", "org_id": whatsapp_org["org_id"],
                          "data": {"message_id": message.id, "ticket_id": message.ticket_id}}
    assert_fields(message, media_state="stored", media_error=None)
    [media] = all_rows(MediaFile)
    assert_fields(media, message_id=message.id, mime_type="image/jpeg", size=len(JPEG),
                  content=JPEG)
    assert media.created_at > message.created_at
    # Two Graph 500s, retried by the worker, then the lookup and the download succeed.
    assert len(fake_graph.requests_to(GRAPH_MEDIA)) == 3
    assert len(fake_graph.requests_to(f"/media-bin/{IMAGE_ID}")) == 1


def test_a_graph_outage_longer_than_the_retries_marks_media_failed(
        whatsapp_org, post_webhook, worker, fake_graph, fast_media_retries, login, client):
    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    fake_graph.fail(GRAPH_MEDIA, 500, meta_error("An unexpected error has occurred.", 2),
                    times=50)
    message = ingest_image(post_webhook, worker)

    # The first try and six retries, then a final state instead of "pending" forever.
    assert len(fake_graph.requests_to(GRAPH_MEDIA)) == 7
    assert_fields(message, media_state="failed",
                  media_error="Graph API unavailable after 7 attempts")
    assert all_rows(MediaFile) == []
    fake_graph.reset()
    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    login(whatsapp_org["email"])
    assert client.get(f"/media/{message.id}").data == JPEG  # still fetchable on demand


@pytest.mark.parametrize(("status", "error"), [
    (400, meta_error("Unsupported get request.", 100, 33, "GraphMethodException")),
    (401, meta_error("Error validating access token: Session has expired", 190, 463)),
], ids=["media-gone", "token-expired"])
def test_a_permanent_graph_error_marks_media_failed_and_keeps_the_message(
        whatsapp_org, post_webhook, worker, fake_graph, status, error):
    fake_graph.fail(GRAPH_MEDIA, status, error)
    message = ingest_image(post_webhook, worker)

    assert_fields(message, type="image", text="Foto do pedido médico", media_id=IMAGE_ID,
                  media_state="failed")
    assert message.media_error.startswith(f"Graph API {status}: ")
    assert all_rows(MediaFile) == []
    assert len(fake_graph.requests_to(GRAPH_MEDIA)) == 1  # not retried


@pytest.mark.endpoint("media.show")
def test_media_is_served_to_a_logged_in_member(whatsapp_org, post_webhook, worker, fake_graph,
                                              login, client):
    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    message = ingest_image(post_webhook, worker)
    assert client.get(f"/media/{message.id}").status_code == 302  # anonymous: to the login
    assert login(whatsapp_org["email"]).status_code == 302

    response = client.get(f"/media/{message.id}")
    assert response.status_code == 200
    assert response.data == JPEG
    assert response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "private, max-age=86400"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert client.get(f"/media/{message.id}").data == JPEG
    assert len(fake_graph.requests_to(GRAPH_MEDIA)) == 1  # served from our cache


def test_a_document_keeps_its_file_name(whatsapp_org, post_webhook, worker, fake_graph, login,
                                        client):
    pdf = b"%PDF-1.7 laudo"
    fake_graph.add_media("700000000000009", pdf, "application/pdf")
    document = {"from": "5511987654321", "id": "wamid.DOC", "timestamp": "1781262000",
                "type": "document",
                "document": {"id": "700000000000009", "mime_type": "application/pdf",
                             "sha256": "x", "filename": "laudo médico.pdf"}}
    post_webhook(webhook_body(messages=[document], contacts=[profile("5511987654321", "M")]))
    worker.drain()
    [message] = all_rows(Message)
    login(whatsapp_org["email"])

    response = client.get(f"/media/{message.id}")
    assert response.data == pdf
    assert response.headers["Content-Disposition"] == (
        "inline; filename*=UTF-8''laudo%20m%C3%A9dico.pdf")


@pytest.mark.endpoint("media.show")
def test_another_organizations_member_gets_404(whatsapp_org, make_org, post_webhook, worker,
                                              fake_graph, client_as):
    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    message = ingest_image(post_webhook, worker)
    _org, _user, stranger = make_org("Outra Clínica")

    assert client_as(stranger).get(f"/media/{message.id}").status_code == 404
    assert client_as(stranger).get("/media/999999").status_code == 404


def test_media_not_cached_yet_is_fetched_on_first_request(whatsapp_org, post_webhook, worker,
                                                         fake_graph, login, client):
    fake_graph.fail(GRAPH_MEDIA, 404, meta_error("not found", 100))  # not ready at Meta yet
    message = ingest_image(post_webhook, worker)
    assert message.media_state == "failed"
    assert all_rows(MediaFile) == []

    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    login(whatsapp_org["email"])
    response = client.get(f"/media/{message.id}")

    assert response.status_code == 200 and response.data == JPEG
    [media] = all_rows(MediaFile)
    assert media.message_id == message.id
    assert all_rows(Message)[0].media_state == "stored"
    assert [r.headers["Authorization"] for r in fake_graph.requests_to(GRAPH_MEDIA)] == [
        f"Bearer {GRAPH_TOKEN}"] * 2


def test_a_graph_outage_on_request_answers_503_and_caches_nothing(whatsapp_org, post_webhook,
                                                                 worker, fake_graph, login,
                                                                 client):
    fake_graph.fail(GRAPH_MEDIA, 400, meta_error("gone", 100))
    message = ingest_image(post_webhook, worker)
    fake_graph.fail(GRAPH_MEDIA, 503, meta_error("Service temporarily unavailable", 2))
    login(whatsapp_org["email"])

    assert client.get(f"/media/{message.id}").status_code == 503
    assert all_rows(MediaFile) == []
    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    assert client.get(f"/media/{message.id}").data == JPEG


def test_media_over_the_size_limit_is_refused(app, whatsapp_org, post_webhook, worker,
                                              fake_graph, login, client, monkeypatch):
    fake_graph.fail(GRAPH_MEDIA, 400, meta_error("gone", 100))
    message = ingest_image(post_webhook, worker)  # nothing cached
    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    monkeypatch.setitem(app.config, "MEDIA_MAX_BYTES", len(JPEG) - 1)
    login(whatsapp_org["email"])

    response = client.get(f"/media/{message.id}")
    assert response.status_code == 404
    assert JPEG not in response.data
    assert all_rows(MediaFile) == []
    assert_fields(all_rows(Message)[0], media_state="too_large")
    assert fake_graph.requests_to(f"/media-bin/{IMAGE_ID}") == []  # never downloaded


def test_the_background_fetch_also_refuses_media_over_the_limit(app, whatsapp_org,
                                                                post_webhook, worker,
                                                                fake_graph, monkeypatch):
    fake_graph.add_media(IMAGE_ID, JPEG, "image/jpeg")
    monkeypatch.setitem(app.config, "MEDIA_MAX_BYTES", 1024)
    message = ingest_image(post_webhook, worker)

    assert_fields(message, media_state="too_large")
    assert message.media_error == f"media of {len(JPEG)} bytes exceeds the 1024 byte limit"
    assert all_rows(MediaFile) == []
