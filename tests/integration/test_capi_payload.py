"""What reaches Meta: the exact Purchase and LeadSubmitted payloads, over HTTP to the fake."""

from __future__ import annotations

import hashlib
import json
import time

from tests.fixtures_capi import CLICK_ID, CUSTOMER, DATASET_ID, events_of, settled, wait_for
from tests.fixtures_whatsapp import FIXTURE_WABA, GRAPH_TOKEN, load_fixture


def _events_request(fake):
    [request] = fake.requests_to(f"/v25.0/{DATASET_ID}/events")
    return request


def test_purchase_payload_is_exact(meta_app, whatsapp_org, make_ticket, connect_meta,
                                   close_sale, worker, db):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    ticket_id = make_ticket(org_id, wa_id=CUSTOMER)

    response = close_sale(org_id, ticket_id, "1234.56")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    sale_id = body["sale"]["id"]
    expected_event_id = f"whatrack:{org_id}:sale:{sale_id}:Purchase"
    assert body["conversion_event"]["event_name"] == "Purchase"
    assert body["conversion_event"]["event_id"] == expected_event_id
    assert body["conversion_event"]["status"] in ("pending", "sent")

    worker.drain()
    [event] = wait_for(lambda: settled(org_id))
    assert event.status == "sent", (event.reason_code, event.error_message)

    request = _events_request(meta_app)
    assert request.headers["Authorization"] == f"Bearer {GRAPH_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert "appsecret_proof" in request.args
    # The value is written from the Decimal: the exact digits, never a float's rounding.
    assert b'"value":1234.56' in request.body
    sent = request.json()
    decided = event.event_time
    assert sent == {"data": [{
        "event_name": "Purchase",
        "event_time": int(decided.timestamp()),
        "event_id": expected_event_id,
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {
            "whatsapp_business_account_id": FIXTURE_WABA,
            "ctwa_clid": CLICK_ID,
            "ph": [hashlib.sha256(CUSTOMER.encode()).hexdigest()],
        },
        "custom_data": {"currency": "BRL", "value": 1234.56},
    }]}
    # The known phone's hash, computed independently of our code.
    assert sent["data"][0]["user_data"]["ph"] == [
        "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66"]
    assert event.payload == json.dumps(sent["data"][0], separators=(",", ":"))
    assert event.events_received == 1 and event.fbtrace_id.startswith("AfakeCapi")
    assert event.attempts == 1 and event.sent_at is not None
    assert meta_app.capi.accepted[expected_event_id] == 1


def test_value_keeps_every_cent(meta_app, whatsapp_org, make_ticket, connect_meta, close_sale,
                                worker, db):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    for value in ("0.10", "1200.00", "9999999.99"):
        close_sale(org_id, make_ticket(org_id), value)
    worker.drain()
    wait_for(lambda: settled(org_id))
    bodies = b" ".join(r.body for r in meta_app.requests_to(f"/v25.0/{DATASET_ID}/events"))
    for literal in (b'"value":0.10', b'"value":1200.00', b'"value":9999999.99'):
        assert literal in bodies


def test_test_event_code_goes_top_level(meta_app, whatsapp_org, make_ticket, connect_meta,
                                        close_sale, worker, db):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id, test_event_code="TEST12345")
    close_sale(org_id, make_ticket(org_id))
    worker.drain()
    wait_for(lambda: settled(org_id))
    assert _events_request(meta_app).json()["test_event_code"] == "TEST12345"


def test_ctwa_lead_sends_leadsubmitted(meta_app, whatsapp_org, connect_meta, post_webhook,
                                       worker, db):
    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    # The lead happened when the ad was tapped (the message's time): make it recent.
    raw = load_fixture("inbound_ctwa_referral").replace(
        b'"1781262345"', f'"{int(time.time()) - 60}"'.encode())
    message = json.loads(raw)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert post_webhook(raw).status_code == 200
    worker.drain()
    [event] = wait_for(lambda: settled(org_id))
    assert event.status == "sent", event.reason_code

    sent = _events_request(meta_app).json()["data"][0]
    phone = message["from"]
    assert sent == {
        "event_name": "LeadSubmitted",
        "event_time": int(event.event_time.timestamp()),
        "event_id": f"whatrack:{org_id}:ticket:{event.ticket_id}:LeadSubmitted",
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {
            "whatsapp_business_account_id": FIXTURE_WABA,
            "ctwa_clid": message["referral"]["ctwa_clid"],
            "ph": [hashlib.sha256(_canonical(phone).encode()).hexdigest()],
        },
    }
    assert "custom_data" not in sent


def _canonical(phone: str) -> str:
    from whatrack.services.whatsapp.phones import canonical_wa_id

    return canonical_wa_id(phone)


def test_lead_event_switched_off_records_nothing(meta_app, whatsapp_org, connect_meta,
                                                 post_webhook, worker, app, db):
    from whatrack.models import Organization
    from whatrack.services.meta import connection as meta_connection
    from whatrack.tenancy import bind_org

    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        meta_connection.update_settings(org, lead_event_enabled=False,
                                        lead_event_name="LeadSubmitted", stage_events={},
                                        test_event_code=None)
        db.session.commit()
    post_webhook(load_fixture("inbound_ctwa_referral"))
    worker.drain()
    assert events_of(org_id) == []


def test_stage_mapping_sends_the_chosen_event_once(meta_app, whatsapp_org, make_ticket,
                                                   connect_meta, worker, app, db):
    from whatrack.models import Organization, Stage, Ticket
    from whatrack.services.meta import connection as meta_connection
    from whatrack.services.tickets import commands as tickets
    from whatrack.tenancy import bind_org

    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    ticket_id = make_ticket(org_id)
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        scheduled = db.session.scalars(db.select(Stage).where(Stage.name == "Agendado")).one()
        first = db.session.scalars(db.select(Stage).where(Stage.name == "Novo")).one()
        meta_connection.update_settings(org, lead_event_enabled=True,
                                        lead_event_name="LeadSubmitted",
                                        stage_events={scheduled.id: "QualifiedLead"},
                                        test_event_code=None)
        db.session.commit()
        ticket = db.session.get(Ticket, ticket_id)
        for stage in (scheduled, first, scheduled):  # back and forth: still one event
            tickets.move_ticket(org, ticket, stage, None)
            db.session.commit()
    worker.drain()
    [event] = wait_for(lambda: settled(org_id))
    assert event.event_name == "QualifiedLead" and event.status == "sent"
    assert event.event_id == f"whatrack:{org_id}:ticket:{ticket_id}:QualifiedLead"
    assert meta_app.capi.accepted[event.event_id] == 1
