"""Secrets: tokens are encrypted at rest, and no log line of a full flow carries a secret.

The flow is a realistic day: an owner signs up, connects WhatsApp and Facebook with tokens
of their own, creates an API key; a customer writes from an ad; the API replies; a sale is
recorded and its Purchase goes to Meta's Conversions API (the Graph fake on loopback).
Every log record of every thread (web, worker) is kept and searched for each secret and
for the customer's full phone number.
"""

from __future__ import annotations

import json
import logging
import secrets
import time

import pytest
from sqlalchemy import select, text

from tests.fixtures_app import bearer
from tests.fixtures_capi import DATASET_ID, settled, wait_for
from tests.fixtures_whatsapp import (
    FIXTURE_DISPLAY,
    FIXTURE_PHONE_ID,
    FIXTURE_WABA,
    all_rows,
    load_fixture,
)

CUSTOMER = "5521998765432"
CUSTOMER_NAME = "Carlos Pereira"
EMAIL = "paula@clinicapaula.com.br"
PASSWORD = "uma-senha-longa-" + secrets.token_hex(4)


class EveryRecord(logging.Handler):
    """Keeps the fully formatted text of every record, tracebacks included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def every_log_record():
    handler = EveryRecord()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def full_day(app, client, fake_graph, meta_app, connect_meta, post_webhook, worker,
             make_api_key, every_log_record):
    from whatrack.extensions import db
    from whatrack.models import Organization, Ticket, User, WhatsAppAccount
    from whatrack.services.whatsapp.accounts import attach_account
    from whatrack.tenancy import bind_org, unscoped

    wa_token = "EAAwhatsapp" + secrets.token_urlsafe(24)
    meta_token = "EAAmeta" + secrets.token_urlsafe(24)
    fake_graph.valid_tokens.update({wa_token, meta_token})

    signup = client.post("/signup", data={"name": "Dra. Paula", "email": EMAIL,
                                          "org_name": "Clínica Paula",
                                          "password": PASSWORD, "password_confirm": PASSWORD,
                                          "accept_terms": "y"})
    assert signup.status_code == 302, signup.get_data(as_text=True)[:500]
    with app.app_context(), unscoped():
        user = db.session.scalars(select(User).where(User.email == EMAIL)).one()
        org_id = user.memberships[0].organization_id
    with app.app_context(), bind_org(org_id):
        org = db.session.get(Organization, org_id)
        attach_account(org, waba_id=FIXTURE_WABA, phone_number_id=FIXTURE_PHONE_ID,
                       display_phone_number=FIXTURE_DISPLAY, token=wa_token)
        db.session.commit()
    connect_meta(org_id, token=meta_token, dataset_id=DATASET_ID)
    _key_id, api_key = make_api_key(org_id)

    delivery = json.loads(load_fixture("inbound_ctwa_referral"))
    delivery["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(
        int(time.time()) - 60)  # inside the 24 h window, so a free-text reply may go
    assert post_webhook(delivery).status_code == 200
    worker.drain()
    [ticket] = all_rows(Ticket)
    ticket_id = ticket.id
    reply = client.post(f"/api/v1/tickets/{ticket_id}/messages",
                        json={"text": "Olá Carlos! O clareamento custa R$ 450."},
                        headers=bearer(api_key))
    assert reply.status_code == 201, reply.get_data(as_text=True)
    sale = client.post(f"/api/v1/tickets/{ticket_id}/sales",
                       json={"value": "450.00", "currency": "BRL"}, headers=bearer(api_key))
    assert sale.status_code == 201, sale.get_data(as_text=True)
    worker.drain()
    events = wait_for(lambda: settled(org_id))
    assert {e.event_name: e.status for e in events}["Purchase"] == "sent"
    assert fake_graph.cloud.accepted, "the reply never reached the Graph fake"
    # Failures log more than successes: Meta stops accepting the token, a reply fails.
    fake_graph.valid_tokens.discard(wa_token)
    refused = client.post(f"/api/v1/tickets/{ticket_id}/messages",
                          json={"text": "Carlos, confirma amanhã?"}, headers=bearer(api_key))
    assert refused.status_code == 201
    worker.drain()
    with app.app_context(), unscoped():
        assert db.session.scalars(select(WhatsAppAccount)).one().token == wa_token
        assert any("token" in line.lower() or "190" in line
                   for line in every_log_record.lines[-20:]), "the failure was not logged"
    return {"org_id": org_id, "wa_token": wa_token, "meta_token": meta_token,
            "api_key": api_key, "logs": every_log_record.lines}


def test_tokens_are_encrypted_at_rest_and_nowhere_in_plain_text(app, full_day):
    from whatrack.crypto import decrypt_token
    from whatrack.extensions import db

    with app.app_context():
        wa = db.session.execute(text("SELECT token_encrypted FROM whatsapp_accounts")).scalar_one()
        meta = db.session.execute(text("SELECT token_encrypted FROM meta_connections"))\
            .scalar_one()
        assert full_day["wa_token"] not in wa and full_day["meta_token"] not in meta
        assert decrypt_token(wa) == full_day["wa_token"]
        assert decrypt_token(meta) == full_day["meta_token"]
        # Every column of every table, as text: no plain token, key or password anywhere.
        found = []
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).all()
            dump = "\n".join(repr(tuple(row)) for row in rows)
            for name in ("wa_token", "meta_token", "api_key"):
                if full_day[name] in dump:
                    found.append(f"{name} in {table.name}")
            if PASSWORD in dump:
                found.append(f"the password in {table.name}")
        db.session.rollback()
    assert not found, found


def test_no_log_line_of_a_full_day_carries_a_secret_or_a_full_phone_number(app, full_day):
    logs = full_day["logs"]
    assert len(logs) > 20, "the flow logged almost nothing: is the capture working?"
    secrets_seen = {
        "WhatsApp token": full_day["wa_token"],
        "Facebook token": full_day["meta_token"],
        "API key": full_day["api_key"],
        "password": PASSWORD,
        "app secret": app.config["META_APP_SECRET"],
        "secret key": app.config["SECRET_KEY"],
        "customer's phone number": CUSTOMER,
        "customer's name": CUSTOMER_NAME,
    }
    leaks = [f"{what}: {line[:300]}" for line in logs for what, value in secrets_seen.items()
             if value and value in line]
    assert not leaks, "\n".join(leaks)
