"""Operating ingestion: the organization's webhook view (filter, reprocess) and the
`flask whatsapp attach | unroutable | reprocess` commands."""

from __future__ import annotations

import re

import pytest

from tests.fixtures_whatsapp import (
    FIXTURE_DISPLAY,
    FIXTURE_PHONE_ID,
    FIXTURE_WABA,
    GRAPH_TOKEN,
    all_rows,
    assert_fields,
    load_fixture,
    profile,
    text_message,
    webhook_body,
)
from whatrack.models import (
    Message,
    Organization,
    Ticket,
    WebhookEvent,
    WebhookEventRoute,
    WhatsAppAccount,
)

VIEW = "/dashboard/settings/webhooks"


@pytest.fixture(autouse=True)
def _session(db):
    return db


def listed(html: str) -> list[int]:
    """Delivery ids in the view's table, in display order."""
    return [int(n) for n in re.findall(r"<tr>\s*<td>(\d+)</td>", html)]


def slug_of(org_id: int) -> str:
    [org] = [o for o in all_rows(Organization) if o.id == org_id]
    return org.slug


def attach_args(slug: str, phone_number_id: str = FIXTURE_PHONE_ID) -> list[str]:
    return ["whatsapp", "attach", "--org", slug, "--waba-id", FIXTURE_WABA,
            "--phone-number-id", phone_number_id, "--display-phone-number",
            f"+{FIXTURE_DISPLAY}", "--token", GRAPH_TOKEN]


def stranger_body() -> dict:
    return webhook_body(messages=[text_message("5511987654321", "wamid.NOBODY", 1781262000,
                                               "oi")],
                        contacts=[profile("5511987654321", "M")],
                        phone_number_id="399999999999999", waba_id="299999999999999")


# --- the operators' view ------------------------------------------------------------------


@pytest.mark.endpoint("settings.webhook_events")
def test_the_view_lists_the_organizations_deliveries_by_state(
        whatsapp_org, second_org, post_webhook, worker, client_as, make_member):
    post_webhook(load_fixture("inbound_text"))           # ours
    post_webhook(load_fixture("batch_multi_message"))    # ours and the second org's
    post_webhook(load_fixture("account_update_partner_removed"))  # ours, by WABA
    post_webhook(stranger_body())                        # nobody's
    post_webhook(b"{not json")                           # nobody's, failed
    worker.drain()
    ours_text, batch, account_update, stranger, malformed = all_rows(WebhookEvent)
    owner = client_as(whatsapp_org["email"])

    page = owner.get(VIEW)
    assert page.status_code == 200
    assert listed(page.get_data(as_text=True)) == [account_update.id, batch.id, ours_text.id]
    assert listed(owner.get(f"{VIEW}?state=processed").get_data(as_text=True)) == [
        account_update.id, batch.id, ours_text.id]
    for state in ("failed", "unroutable", "received"):
        assert listed(owner.get(f"{VIEW}?state={state}").get_data(as_text=True)) == []
    # Its own entries of the shared batch only (2 of the 3 messages are ours).
    assert "<td>2 mensagens, 0 duplicadas, 2 status, 0 outros</td>" in page.get_data(
        as_text=True)

    other = client_as(second_org["email"])
    assert listed(other.get(VIEW).get_data(as_text=True)) == [batch.id]
    assert stranger.state == "unroutable" and malformed.state == "failed"

    agent = make_member(whatsapp_org["org_id"], "agent")
    assert client_as(agent.email).get(VIEW).status_code == 403


@pytest.mark.endpoint("settings.reprocess_webhook")
def test_reprocess_runs_an_unroutable_delivery_once_the_number_is_attached(
        app, make_org, post_webhook, worker, client_as):
    from whatrack.extensions import db
    from whatrack.services.whatsapp.accounts import attach_account
    from whatrack.tenancy import bind_org

    org_id, _user, email = make_org("Clínica Nova")
    _other, _u, other_email = make_org("Outra")
    post_webhook(load_fixture("inbound_text"))
    worker.drain()
    [event] = all_rows(WebhookEvent)
    assert event.state == "unroutable"
    owner = client_as(email)
    assert listed(owner.get(VIEW).get_data(as_text=True)) == []  # not theirs (yet)

    with bind_org(org_id):
        attach_account(db.session.get(Organization, org_id), waba_id=FIXTURE_WABA,
                       phone_number_id=FIXTURE_PHONE_ID, display_phone_number=FIXTURE_DISPLAY,
                       token=GRAPH_TOKEN)
        db.session.commit()
    assert listed(owner.get(f"{VIEW}?state=unroutable").get_data(as_text=True)) == [event.id]
    assert all_rows(Message) == []  # attaching alone applies nothing

    stranger = client_as(other_email)
    assert stranger.post(f"{VIEW}/{event.id}/reprocess").status_code == 404
    response = owner.post(f"{VIEW}/{event.id}/reprocess")
    assert response.status_code == 302 and response.headers["Location"].endswith(VIEW)
    worker.drain()

    [event] = all_rows(WebhookEvent)
    assert_fields(event, state="processed", error=None)
    [route] = all_rows(WebhookEventRoute)
    assert_fields(route, state="processed", summary="1 messages, 0 duplicates, 0 statuses, 0 other")
    [message] = all_rows(Message)
    assert message.organization_id == org_id
    assert [t.organization_id for t in all_rows(Ticket)] == [org_id]
    assert [(r.organization_id, r.webhook_event_id) for r in all_rows(WebhookEventRoute)] == [
        (org_id, event.id)]
    assert listed(owner.get(f"{VIEW}?state=processed").get_data(as_text=True)) == [event.id]

    # Reprocessing a processed delivery again changes nothing.
    owner.post(f"{VIEW}/{event.id}/reprocess")
    worker.drain()
    assert len(all_rows(Message)) == 1
    assert all_rows(WebhookEventRoute)[0].summary == (
        "0 messages, 1 duplicates, 0 statuses, 0 other")


# --- the command line ------------------------------------------------------------------------


def test_cli_attach_connects_a_number_and_refuses_one_of_another_org(app, make_org):
    first, _u, _e = make_org("Clínica Um")
    second, _u2, _e2 = make_org("Clínica Dois")
    runner = app.test_cli_runner()

    result = runner.invoke(args=attach_args(slug_of(first)))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"attached {FIXTURE_PHONE_ID} (+{FIXTURE_DISPLAY}) "
                                     f"to {slug_of(first)}")
    again = runner.invoke(args=attach_args(slug_of(first)))  # refreshing is fine
    assert again.exit_code == 0, again.output

    taken = runner.invoke(args=attach_args(slug_of(second)))
    assert taken.exit_code == 1
    # The pt-BR message of ConflictError, not a traceback.
    assert taken.output == "Error: Este número já está conectado a outra organização.\n"
    [account] = all_rows(WhatsAppAccount)
    assert_fields(account, organization_id=first, waba_id=FIXTURE_WABA,
                  phone_number_id=FIXTURE_PHONE_ID, display_phone_number=FIXTURE_DISPLAY,
                  status="connected")
    assert account.token == GRAPH_TOKEN and GRAPH_TOKEN not in account.token_encrypted

    missing = runner.invoke(args=attach_args("no-such-org"))
    assert missing.exit_code != 0 and "no-such-org" in missing.output


def test_cli_unroutable_lists_them_until_attach_and_reprocess_apply_them(
        app, make_org, post_webhook, worker):
    org_id, _u, _e = make_org("Clínica Três")
    post_webhook(load_fixture("inbound_text"))
    post_webhook(load_fixture("status_read"))
    worker.drain()
    text_event, status_event = all_rows(WebhookEvent)
    runner = app.test_cli_runner()

    listing = runner.invoke(args=["whatsapp", "unroutable"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.strip().splitlines()
    assert lines[-1] == "2 unroutable deliveries"
    assert [line.split("\t")[0] for line in lines[:-1]] == [str(status_event.id),
                                                            str(text_event.id)]
    assert all(line.endswith(f"unroutable numbers: {FIXTURE_PHONE_ID}") for line in lines[:-1])

    assert runner.invoke(args=attach_args(slug_of(org_id))).exit_code == 0
    for event in (text_event, status_event):
        result = runner.invoke(args=["whatsapp", "reprocess", str(event.id)])
        assert result.output.strip() == f"webhook event {event.id} queued"
    worker.drain()

    assert {e.state for e in all_rows(WebhookEvent)} == {"processed"}
    assert [m.organization_id for m in all_rows(Message)] == [org_id]
    assert runner.invoke(args=["whatsapp", "unroutable"]).output.strip() == (
        "0 unroutable deliveries")
    assert runner.invoke(args=["whatsapp", "reprocess", "999999"]).exit_code != 0


def test_a_shared_delivery_shows_and_reprocesses_each_organizations_entries_only(
        whatsapp_org, second_org, post_webhook, worker, client_as):
    post_webhook(load_fixture("batch_multi_message"))
    post_webhook(stranger_body())  # nobody's: must not show in either view
    worker.drain()
    batch, _stranger = all_rows(WebhookEvent)
    ours, theirs = client_as(whatsapp_org["email"]), client_as(second_org["email"])
    combined = "3 messages"

    our_page = ours.get(VIEW).get_data(as_text=True)
    their_page = theirs.get(VIEW).get_data(as_text=True)
    assert listed(our_page) == listed(their_page) == [batch.id]
    assert "<td>2 mensagens, 0 duplicadas, 2 status, 0 outros</td>" in our_page
    assert "<td>1 mensagem, 0 duplicadas, 0 status, 0 outros</td>" in their_page
    assert combined not in our_page and combined not in their_page
    assert "399999999999999" not in our_page + their_page  # nobody's number stays private

    response = theirs.post(f"{VIEW}/{batch.id}/reprocess")
    assert response.status_code == 302
    assert listed(theirs.get(f"{VIEW}?state=received").get_data(as_text=True)) == [batch.id]
    assert listed(ours.get(f"{VIEW}?state=received").get_data(as_text=True)) == []
    worker.drain()

    routes = {r.organization_id: r for r in all_rows(WebhookEventRoute)}
    # Their one message ran again (a duplicate now); ours were not touched.
    assert_fields(routes[second_org["org_id"]], state="processed",
                  summary="0 messages, 1 duplicates, 0 statuses, 0 other")
    assert_fields(routes[whatsapp_org["org_id"]], state="processed",
                  summary="2 messages, 0 duplicates, 2 statuses, 0 other")
    assert len(all_rows(Message)) == 3
    [event] = [e for e in all_rows(WebhookEvent) if e.id == batch.id]
    assert event.summary == batch.summary and event.attempts == batch.attempts

    ours.post(f"{VIEW}/{batch.id}/reprocess")
    worker.drain()
    routes = {r.organization_id: r for r in all_rows(WebhookEventRoute)}
    assert routes[whatsapp_org["org_id"]].summary == (
        "0 messages, 2 duplicates, 2 statuses, 0 other")
    assert routes[second_org["org_id"]].summary == (
        "0 messages, 1 duplicates, 0 statuses, 0 other")
    assert ours.post(f"{VIEW}/{_stranger.id}/reprocess").status_code == 404
