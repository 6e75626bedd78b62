"""``flask --app wsgi whatsapp attach | connect | simulate | unroutable | reprocess``."""

from __future__ import annotations

import json
import time
import uuid

import click
import requests
from flask import current_app
from flask.cli import AppGroup

from whatrack.cli.common import org_by_slug
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.integrations.meta.signatures import sign
from whatrack.models import WebhookEvent, WhatsAppAccount
from whatrack.services.webhooks import commands as webhooks
from whatrack.services.whatsapp import signup
from whatrack.services.whatsapp.accounts import attach_account, list_accounts
from whatrack.tenancy import bind_org

whatsapp_cli = AppGroup("whatsapp", help="WhatsApp numbers and webhooks.")


@whatsapp_cli.command("attach")
@click.option("--org", "slug", required=True)
@click.option("--waba-id", required=True)
@click.option("--phone-number-id", required=True)
@click.option("--display-phone-number", required=True)
@click.option("--token", required=True)
@click.option("--coexistence", is_flag=True, help="Number also used in the WhatsApp Business app.")
def attach_command(slug: str, waba_id: str, phone_number_id: str, display_phone_number: str,
                   token: str, coexistence: bool) -> None:
    """Connect a number to an organization without the signup screen."""
    org = org_by_slug(slug)
    with bind_org(org):
        try:
            account = attach_account(org, waba_id=waba_id, phone_number_id=phone_number_id,
                                     display_phone_number=display_phone_number, token=token,
                                     coexistence=coexistence)
        except WhaTrackError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        click.echo(f"attached {account.phone_number_id} (+{account.display_phone_number}) "
                   f"to {org.slug}")


@whatsapp_cli.command("connect")
@click.option("--org", "slug", required=True)
@click.option("--code", required=True, help="The code Facebook gave the signup window.")
@click.option("--waba-id", required=True)
@click.option("--phone-number-id", required=True)
@click.option("--business-id", default=None)
@click.option("--coexistence", is_flag=True, help="Number kept on the WhatsApp Business app.")
def connect_command(slug: str, code: str, waba_id: str, phone_number_id: str,
                    business_id: str | None, coexistence: bool) -> None:
    """Finish an Embedded Signup whose browser step broke (resumes a failed attempt)."""
    org = org_by_slug(slug)
    with bind_org(org):
        try:
            onboarding = signup.connect(org, code=code, waba_id=waba_id,
                                        phone_number_id=phone_number_id,
                                        business_id=business_id, coexistence=coexistence,
                                        via="cli", checkpoint=db.session.commit)
        except WhaTrackError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        state = signup.describe(onboarding)
        for step in state["steps"]:
            click.echo(f"{step['state']:8} {step['name']}")
        if onboarding.status != "connected":
            error = state["error"] or {}
            detail = " ".join(str(part) for part in (
                error.get("meta_message"), error.get("code") and f"(code {error['code']})",
                error.get("fbtrace_id") and f"fbtrace_id {error['fbtrace_id']}") if part)
            raise click.ClickException(f"failed at step {error.get('step')}: "
                                       f"{error.get('message')}" + (f" [{detail}]" if detail
                                                                    else ""))
        click.echo(f"connected {onboarding.phone_number_id}")


def simulated_body(account: WhatsAppAccount, sender: str, text: str, name: str,
                   ctwa_clid: str | None, ad_id: str | None,
                   headline: str | None = None) -> dict:
    message = {"from": sender, "id": f"wamid.SIM{uuid.uuid4().hex.upper()}",
               "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}
    if ctwa_clid or ad_id:
        message["referral"] = {
            "source_url": "https://fb.me/simulated", "source_id": ad_id or "0",
            "source_type": "ad", "headline": headline or "Anúncio simulado",
            "body": "Simulated ad",
            "media_type": "image", "ctwa_clid": ctwa_clid,
        }
    return {"object": "whatsapp_business_account", "entry": [{"id": account.waba_id, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": account.display_phone_number,
                         "phone_number_id": account.phone_number_id},
            "contacts": [{"profile": {"name": name}, "wa_id": sender}],
            "messages": [message]}}]}]}


@whatsapp_cli.command("simulate")
@click.option("--org", "slug", required=True)
@click.option("--from", "sender", required=True, help="Customer number, digits (5511988887777).")
@click.option("--text", required=True)
@click.option("--name", default=None,
              help="Profile name; by default a varied Brazilian name fixed per number.")
@click.option("--ctwa-clid", default=None)
@click.option("--ad-id", default=None)
@click.option("--url", default="http://127.0.0.1:5000", show_default=True,
              help="Base URL of the running app.")
def simulate_command(slug: str, sender: str, text: str, name: str | None,
                     ctwa_clid: str | None, ad_id: str | None, url: str) -> None:
    """Post a correctly signed inbound-message webhook to the running app."""
    from whatrack.cli.demo_data import simulated_name  # demo_data imports this module

    name = name or simulated_name(sender)
    secret = current_app.config.get("META_APP_SECRET")
    if not secret:
        raise click.ClickException("META_APP_SECRET is not configured")
    org = org_by_slug(slug)
    with bind_org(org):
        accounts = list_accounts(org)
    if not accounts:
        raise click.ClickException(f"{slug} has no WhatsApp number; run `whatsapp attach` first")
    body = json.dumps(simulated_body(accounts[0], sender, text, name, ctwa_clid, ad_id),
                      ensure_ascii=False).encode()
    try:
        response = requests.post(f"{url.rstrip('/')}/webhooks/whatsapp", data=body, timeout=10,
                                 headers={"Content-Type": "application/json",
                                          "X-Hub-Signature-256": sign(secret, body)})
    except requests.RequestException as exc:
        raise click.ClickException(f"could not reach {url}: {exc}") from exc
    click.echo(f"{response.status_code} {response.text.strip()}")
    if response.status_code != 200:
        raise click.ClickException("the app refused the webhook")


@whatsapp_cli.command("unroutable")
def unroutable_command() -> None:
    """List deliveries for numbers no organization has connected (platform-wide)."""
    events = webhooks.unroutable_events()
    for event in events:
        click.echo(f"{event.id}\t{event.received_at.isoformat(timespec='seconds')}\t"
                   f"{event.summary or ''}")
    click.echo(f"{len(events)} unroutable deliveries")


@whatsapp_cli.command("reprocess")
@click.argument("event_id", type=int)
def reprocess_command(event_id: int) -> None:
    """Run one stored delivery again (after connecting its number, or a fix)."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        raise click.ClickException(f"no webhook event {event_id}")
    webhooks.reprocess_event(event)
    db.session.commit()
    click.echo(f"webhook event {event_id} queued")
