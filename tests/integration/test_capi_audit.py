"""The audit trail people read: /dashboard/capi, its filters, resend, CSV, the API, the panel."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from tests.fixtures_capi import DATASET_ID, events_of, settled, wait_for
from whatrack.tenancy import bind_org, unscoped


def _sent_and_failed(meta_app, org_id, make_ticket, connect_meta, close_sale, worker):
    """One sale Meta accepts, one it refuses (bad click), one organic (skipped)."""
    connect_meta(org_id)
    meta_app.capi.poison_clids.add("bad-click")
    good = make_ticket(org_id)
    bad = make_ticket(org_id, clid="bad-click")
    organic = make_ticket(org_id, clid=None)
    # One at a time: a batch holding both would be refused, split and retried, and the
    # accepted event would then show two attempts instead of one.
    for ticket_id, value in ((good, "100.00"), (bad, "200.00"), (organic, "300.00")):
        assert close_sale(org_id, ticket_id, value).status_code == 201
        worker.drain()
    events = wait_for(lambda: settled(org_id))
    by_ticket = {e.ticket_id: e for e in events}
    return by_ticket[good], by_ticket[bad], by_ticket[organic]


@pytest.mark.endpoint("capi.index")
def test_audit_page_lists_counts_and_filters(meta_app, whatsapp_org, make_ticket, connect_meta,
                                             close_sale, worker, client, login, db):
    org_id = whatsapp_org["org_id"]
    sent, failed, skipped = _sent_and_failed(meta_app, org_id, make_ticket, connect_meta,
                                             close_sale, worker)
    login(whatsapp_org["email"])
    page = client.get("/dashboard/capi").get_data(as_text=True)
    for event in (sent, failed, skipped):
        assert f'data-capi-event="{event.id}"' in page
    assert 'data-capi-count="sent"' in page
    for status in ("sent", "failed", "skipped", "pending"):
        count = {"sent": 1, "failed": 1, "skipped": 1, "pending": 0}[status]
        marker = f'data-capi-count="{status}"'
        block = page[page.index(marker):page.index("</a>", page.index(marker))]
        assert str(count) in re.sub(r"<[^>]+>", " ", block).split(), (status, block)
    assert "lead sem clique de anúncio (ctwa_clid)" in page
    assert "Meta recebeu em" in page and sent.fbtrace_id in page

    only_failed = client.get("/dashboard/capi?status=failed").get_data(as_text=True)
    assert f'data-capi-event="{failed.id}"' in only_failed
    assert f'data-capi-event="{sent.id}"' not in only_failed
    by_ticket = client.get(f"/dashboard/capi?ticket={sent.ticket_id}").get_data(as_text=True)
    assert f'data-capi-event="{sent.id}"' in by_ticket
    assert f'data-capi-event="{failed.id}"' not in by_ticket
    by_name = client.get("/dashboard/capi?event_name=LeadSubmitted").get_data(as_text=True)
    assert "data-capi-event=" not in by_name
    tomorrow = (sent.created_at + timedelta(days=2)).date().isoformat()
    later = client.get(f"/dashboard/capi?from={tomorrow}").get_data(as_text=True)
    assert "data-capi-event=" not in later


def test_bad_filters_never_500(meta_app, whatsapp_org, client, login, make_api_key):
    login(whatsapp_org["email"])
    for query in ("status=nope", "from=31/12/2026", "to=2026-02-30", "ticket=abc", "cursor=x;1",
                  "from=2026-01-01&to=2025-01-01", "event_name=Lead", "ticket=" + "9" * 40):
        response = client.get(f"/dashboard/capi?{query}")
        assert response.status_code == 200, query
    key = make_api_key(whatsapp_org["org_id"])[1]
    for query in ("status=nope", "from=yesterday", "limit=0", "cursor=abc", "limit=x"):
        response = client.get(f"/api/v1/conversion-events?{query}",
                              headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 400, query
        assert response.get_json()["error"]["code"] == "validation_error"
    assert client.get("/dashboard/capi/999999").status_code == 404
    assert client.post("/dashboard/capi/999999/resend").status_code == 404


@pytest.mark.endpoint("capi.detail")
def test_event_detail_shows_payload_answer_and_attempts(meta_app, whatsapp_org, make_ticket,
                                                        connect_meta, close_sale, worker,
                                                        client, login, db):
    org_id = whatsapp_org["org_id"]
    sent, failed, _skipped = _sent_and_failed(meta_app, org_id, make_ticket, connect_meta,
                                              close_sale, worker)
    login(whatsapp_org["email"])
    page = client.get(f"/dashboard/capi/{sent.id}").get_data(as_text=True)
    assert sent.event_id in page and "business_messaging" in page
    assert "&#34;value&#34;: 100.00" in page or '"value": 100.0' in page
    assert sent.fbtrace_id in page and "events_received" in page
    assert "test-token" not in page and "[redacted]" in page
    assert 'data-capi-attempts' in page and page.count("<td>1</td>") >= 1
    failed_page = client.get(f"/dashboard/capi/{failed.id}").get_data(as_text=True)
    assert "2804087" in failed_page and "Messaging Event Invalid Ctwa Clid" in failed_page
    assert "Reenviar" in failed_page


@pytest.mark.endpoint("capi.resend")
def test_resend_button_requeues_with_the_same_event_id(meta_app, whatsapp_org, make_ticket,
                                                       connect_meta, close_sale, worker, client,
                                                       login, db):
    org_id = whatsapp_org["org_id"]
    sent, failed, _skipped = _sent_and_failed(meta_app, org_id, make_ticket, connect_meta,
                                              close_sale, worker)
    login(whatsapp_org["email"])
    page = client.get("/dashboard/capi").get_data(as_text=True)
    assert f"/dashboard/capi/{failed.id}/resend" in page
    assert f"/dashboard/capi/{sent.id}/resend" not in page  # Meta already has it

    meta_app.capi.poison_clids.clear()
    attempts_before = failed.attempts
    response = client.post(f"/dashboard/capi/{failed.id}/resend", data={"next": "list"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard/capi")
    worker.drain()
    wait_for(lambda: settled(org_id))
    again = next(e for e in events_of(org_id) if e.id == failed.id)
    assert again.status == "sent" and again.event_id == failed.event_id
    # One more attempt than before: 1 or 2 earlier ones, depending on whether the refused
    # event shared a batch with the accepted one (a refused batch is split and retried).
    assert again.attempts == attempts_before + 1
    assert meta_app.capi.accepted[failed.event_id] == 1
    refused = client.post(f"/dashboard/capi/{sent.id}/resend")
    assert refused.status_code == 302
    assert meta_app.capi.accepted[sent.event_id] == 1


@pytest.mark.endpoint("capi.index", "capi.resend", "capi.export")
def test_agents_read_the_log_but_cannot_resend_or_export(meta_app, whatsapp_org, make_ticket,
                                                         connect_meta, close_sale, worker,
                                                         make_member, client_as, db):
    org_id = whatsapp_org["org_id"]
    _sent, failed, _skipped = _sent_and_failed(meta_app, org_id, make_ticket, connect_meta,
                                               close_sale, worker)
    agent = client_as(make_member(org_id, "agent").email)
    page = agent.get("/dashboard/capi").get_data(as_text=True)
    assert f'data-capi-event="{failed.id}"' in page and "/resend" not in page
    assert agent.post(f"/dashboard/capi/{failed.id}/resend").status_code == 403
    assert agent.get("/dashboard/capi/export.csv").status_code == 403


def test_another_organizations_events_are_invisible(meta_app, whatsapp_org, make_ticket,
                                                    connect_meta, close_sale, worker, make_org,
                                                    client_as, make_api_key, db):
    org_id = whatsapp_org["org_id"]
    sent, _failed, _skipped = _sent_and_failed(meta_app, org_id, make_ticket, connect_meta,
                                               close_sale, worker)
    other_id, _user, other_email = make_org("Outra Clínica")
    other = client_as(other_email)
    assert other.get(f"/dashboard/capi/{sent.id}").status_code == 404
    assert other.post(f"/dashboard/capi/{sent.id}/resend").status_code == 404
    assert "data-capi-event=" not in other.get("/dashboard/capi").get_data(as_text=True)
    assert sent.event_id not in other.get("/dashboard/capi/export.csv").get_data(as_text=True)
    key = make_api_key(other_id)[1]
    listed = other.get("/api/v1/conversion-events", headers={"Authorization": f"Bearer {key}"})
    assert listed.get_json() == {"data": [], "next_cursor": None}


@pytest.mark.endpoint("capi.export")
def test_csv_export_has_every_filtered_event(meta_app, whatsapp_org, make_ticket, connect_meta,
                                             close_sale, worker, client, login, db):
    org_id = whatsapp_org["org_id"]
    sent, failed, skipped = _sent_and_failed(meta_app, org_id, make_ticket, connect_meta,
                                             close_sale, worker)
    login(whatsapp_org["email"])
    response = client.get("/dashboard/capi/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(r["id"]) for r in rows] == [sent.id, failed.id, skipped.id]
    assert rows[0]["status"] == "sent" and rows[0]["value"] == "100.00"
    assert rows[0]["fbtrace_id"] == sent.fbtrace_id and rows[0]["dataset_id"] == DATASET_ID
    assert rows[1]["error_subcode"] == "2804087"
    assert rows[2]["reason"] == "lead sem clique de anúncio (ctwa_clid)"
    failed_only = client.get("/dashboard/capi/export.csv?status=failed").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(failed_only)))) == 1


@pytest.mark.endpoint("api.list_conversion_events")
def test_api_lists_events_with_every_field_and_pages(meta_app, whatsapp_org, make_ticket,
                                                     connect_meta, close_sale, worker, client,
                                                     make_api_key, db):
    org_id = whatsapp_org["org_id"]
    sent, failed, skipped = _sent_and_failed(meta_app, org_id, make_ticket, connect_meta,
                                             close_sale, worker)
    headers = {"Authorization": f"Bearer {make_api_key(org_id)[1]}"}
    body = client.get("/api/v1/conversion-events", headers=headers).get_json()
    assert [e["id"] for e in body["data"]] == [skipped.id, failed.id, sent.id]  # newest first
    shown = body["data"][2]
    assert shown == {
        "id": sent.id, "event_name": "Purchase", "event_id": sent.event_id, "status": "sent",
        "attempts": 1, "fbtrace_id": sent.fbtrace_id, "events_received": 1, "error": None,
        "reason": None, "ticket_id": sent.ticket_id, "sale_id": sent.sale_id,
        "event_time": sent.event_time.isoformat(timespec="seconds"), "value": "100.00",
        "currency": "BRL", "next_attempt_at": None,
        "sent_at": sent.sent_at.isoformat(timespec="seconds"),
        "created_at": sent.created_at.isoformat(timespec="seconds")}
    assert shown["event_time"].endswith("+00:00")
    page1 = client.get("/api/v1/conversion-events?limit=2", headers=headers).get_json()
    page2 = client.get(f"/api/v1/conversion-events?limit=2&cursor={page1['next_cursor']}",
                       headers=headers).get_json()
    assert [e["id"] for e in page1["data"] + page2["data"]] == [skipped.id, failed.id, sent.id]
    assert page2["next_cursor"] is None
    today = sent.created_at.date().isoformat()
    ranged = client.get(f"/api/v1/conversion-events?status=failed&from={today}&to={today}",
                        headers=headers).get_json()
    assert [e["id"] for e in ranged["data"]] == [failed.id]


def test_ticket_panel_partial_says_when_meta_received(meta_app, whatsapp_org, make_ticket,
                                                      connect_meta, close_sale, worker, app, db):
    from flask import render_template

    from whatrack.models import Organization, Ticket
    from whatrack.services.conversions import queries as conversions
    from whatrack.tenancy import bind_org_for_request

    org_id = whatsapp_org["org_id"]
    sent, _failed, skipped = _sent_and_failed(meta_app, org_id, make_ticket, connect_meta,
                                              close_sale, worker)
    with app.test_request_context("/"):
        from flask import g

        org = db.session.get(Organization, org_id)
        g.current_org = org
        bind_org_for_request(org)
        ticket = db.session.get(Ticket, sent.ticket_id)
        html = render_template("capi/_ticket_events.html",
                               events=conversions.ticket_events(org, ticket))
        local = sent.sent_at.astimezone(__import__("zoneinfo").ZoneInfo("America/Sao_Paulo"))
        assert f"Meta recebeu em {local:%d/%m %H:%M}" in html
        organic = db.session.get(Ticket, skipped.ticket_id)
        html = render_template("capi/_ticket_events.html",
                               events=conversions.ticket_events(org, organic))
        assert "lead sem clique de anúncio (ctwa_clid)" in html


@pytest.mark.endpoint("data_deletion.callback", "data_deletion.status")
def test_data_deletion_callback_clears_tokens_and_gives_a_status_page(
        meta_app, whatsapp_org, connect_meta, client, app, db):
    from whatrack.integrations.meta.facebook import sign_request
    from whatrack.models import MetaConnection

    org_id = whatsapp_org["org_id"]
    connect_meta(org_id)
    with bind_org(org_id):
        conn = db.session.scalars(db.select(MetaConnection)).one()
        conn.fb_user_id = "10000000000000001"
        db.session.commit()
    signed = sign_request({"algorithm": "HMAC-SHA256", "user_id": "10000000000000001",
                           "issued_at": 1781216000}, app.config["META_APP_SECRET"])
    response = client.post("/meta/data-deletion", data={"signed_request": signed})
    assert response.status_code == 200
    body = response.get_json()
    code = body["confirmation_code"]
    assert code.startswith("DEL-") and body["url"].endswith(f"/data-deletion/status/{code}")
    db.session.rollback()
    with unscoped():
        conn = db.session.scalars(db.select(MetaConnection)).one()
        assert conn.token_encrypted is None and conn.fb_user_id is None
    status = client.get(f"/data-deletion/status/{code}")
    assert status.status_code == 200 and code in status.get_data(as_text=True)
    assert client.get("/data-deletion/status/DEL-NOPE").status_code == 404

    forged = sign_request({"algorithm": "HMAC-SHA256", "user_id": "1"}, "wrong-secret")
    for data in ({"signed_request": forged}, {"signed_request": "garbage"}, {},
                 {"signed_request": "a.b.c"}, {"signed_request": "x" * 10000}):
        refused = client.post("/meta/data-deletion", data=data)
        assert refused.status_code == 400
