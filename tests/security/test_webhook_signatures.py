"""Signed machine endpoints refuse anything not signed with our secret, and store nothing.

Meta's WhatsApp deliveries (X-Hub-Signature-256, HMAC-SHA256 of the raw body) and Meta's
data-deletion callback (signed_request). Stripe's webhook arrives with billing (issue 13).
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures_whatsapp import all_rows, load_fixture
from whatrack.integrations.meta.signatures import sign

BODY = load_fixture("inbound_text")


def _stored() -> int:
    from whatrack.models import WebhookEvent

    return len(all_rows(WebhookEvent))


def _tampered(body: bytes) -> bytes:
    data = json.loads(body)
    data["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "pix para mim"
    return json.dumps(data).encode()


@pytest.mark.parametrize("case", [
    "tampered body", "wrong secret", "missing header", "sha1 header", "empty digest",
    "truncated digest", "uppercase digest of another body", "non-ascii header",
    "signature of an empty body", "body with a trailing byte",
])
def test_a_delivery_not_signed_with_our_secret_is_401_and_not_stored(app, client, case):
    secret = app.config["META_APP_SECRET"]
    good = sign(secret, BODY)
    body, header = {
        "tampered body": (_tampered(BODY), good),
        "wrong secret": (BODY, sign("not-our-secret", BODY)),
        "missing header": (BODY, None),
        "sha1 header": (BODY, "sha1=" + good.split("=", 1)[1][:40]),
        "empty digest": (BODY, "sha256="),
        "truncated digest": (BODY, good[:-2]),
        "uppercase digest of another body": (BODY, sign(secret, b"{}").upper()),
        "non-ascii header": (BODY, "sha256=" + "é" * 64),
        "signature of an empty body": (BODY, sign(secret, b"")),
        "body with a trailing byte": (BODY + b" ", good),
    }[case]
    headers = {} if header is None else {"X-Hub-Signature-256": header}

    resp = client.post("/webhooks/whatsapp", data=body, content_type="application/json",
                       headers=headers)

    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert _stored() == 0
    # The control: the same bytes, signed with our secret, are accepted and stored.
    ok = client.post("/webhooks/whatsapp", data=BODY, content_type="application/json",
                     headers={"X-Hub-Signature-256": good})
    assert ok.status_code == 200 and _stored() == 1


@pytest.mark.endpoint("data_deletion.callback")
def test_a_forged_data_deletion_request_is_refused_and_nothing_is_stored(app, client):
    from whatrack.integrations.meta.facebook import sign_request
    from whatrack.models import DataDeletionRequest

    secret = app.config["META_APP_SECRET"]
    payload = {"algorithm": "HMAC-SHA256", "user_id": "10000000000000077",
               "issued_at": 1781216000}
    genuine = sign_request(payload, secret)
    signature, encoded = genuine.split(".", 1)
    other = sign_request({**payload, "user_id": "1"}, secret).split(".", 1)[1]
    forged = [
        sign_request(payload, "wrong-secret"),
        f"{signature}.{other}",  # a real signature over another payload
        f"{signature}.{encoded}x",
        sign_request({**payload, "algorithm": "none"}, secret),
        "." + encoded, signature + ".", "é.é", "",
    ]
    for value in forged:
        resp = client.post("/meta/data-deletion", data={"signed_request": value})
        assert resp.status_code == 400, (value, resp.status_code)
    assert all_rows(DataDeletionRequest) == []
    assert client.post("/meta/data-deletion",
                       data={"signed_request": genuine}).status_code == 200
    assert len(all_rows(DataDeletionRequest)) == 1
