"""``flask --app wsgi org create | apikey create | demo``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from whatrack.cli.common import fail, org_by_slug
from whatrack.cli.demo_data import seed_demo_conversations
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.models import Membership, Organization
from whatrack.services.accounts import apikeys, orgs
from whatrack.services.whatsapp.accounts import attach_account, list_accounts
from whatrack.tenancy import bind_org

org_cli = AppGroup("org", help="Organizations.")
apikey_cli = AppGroup("apikey", help="API keys.")

DEMO_ORG_NAME = "Clínica Demo"
# A made-up number, so `whatsapp simulate --org <demo slug>` works on a fresh laptop; no token,
# so nothing is ever sent to Meta in its name.
DEMO_WABA_ID = "100000000000900"
DEMO_PHONE_NUMBER_ID = "100000000000901"
DEMO_DISPLAY_NUMBER = "5511900000000"


@org_cli.command("create")
@click.option("--name", required=True)
@click.option("--owner-email", required=True)
@click.option("--owner-password", required=True)
def create_org_command(name: str, owner_email: str, owner_password: str) -> None:
    """Create an organization and its owner; prints the slug."""
    try:
        result = orgs.sign_up(name, "", owner_email, owner_password)
    except WhaTrackError as exc:
        fail(str(exc.message))
    db.session.commit()
    click.echo(result.org.slug)


@apikey_cli.command("create")
@click.option("--org", "slug", required=True)
@click.option("--name", default="CLI")
@click.option("--read-only", is_flag=True, help="The key may only make GET requests.")
def create_apikey_command(slug: str, name: str, read_only: bool) -> None:
    """Create an API key; prints the key alone on the last line (shown only once)."""
    org = org_by_slug(slug)
    with bind_org(org):
        issued = apikeys.create_api_key(org, name, read_only=read_only)
        prefix = issued.api_key.prefix  # read before the commit expires the row
        db.session.commit()
    access = "read-only" if read_only else "read-write"
    click.echo(f"API key {prefix}... ({access}) for {slug} (store it now, it is not kept):")
    click.echo(issued.key)


def ensure_demo() -> tuple[Organization, bool]:
    """The demo organization, its owner and a made-up number; safe to run on every start."""
    email = current_app.config["DEMO_EMAIL"]
    user = orgs.find_user_by_email(email)
    membership = None
    if user is not None:
        membership = db.session.scalars(
            select(Membership).where(Membership.user_id == user.id)
        ).first()
    if membership is not None:
        org, created = membership.organization, False
    elif user is not None:
        org, created = orgs.create_org(DEMO_ORG_NAME, user), True
    else:
        result = orgs.sign_up(DEMO_ORG_NAME, "Demo", email, current_app.config["DEMO_PASSWORD"])
        org, created = result.org, True
    with bind_org(org):
        if not list_accounts(org):
            attach_account(org, waba_id=DEMO_WABA_ID, phone_number_id=DEMO_PHONE_NUMBER_ID,
                           display_phone_number=DEMO_DISPLAY_NUMBER, token=None,
                           verified_name=DEMO_ORG_NAME)
    return org, created


@click.command("demo")
def demo_command() -> None:
    """Create (once) a demo organization and print its login."""
    org, created = ensure_demo()
    db.session.commit()
    owner = orgs.find_user_by_email(current_app.config["DEMO_EMAIL"])
    seeded = seed_demo_conversations(org, owner)
    db.session.commit()
    if seeded:
        click.echo(f"  {seeded} demo conversations added (one sale marked as demo data)")
    click.echo(("Created" if created else "Already present:") + f" demo organization {org.slug}")
    click.echo(f"  login:    {current_app.config['DEMO_EMAIL']}")
    click.echo(f"  password: {current_app.config['DEMO_PASSWORD']}")
    click.echo("  a customer message, while the app runs: flask --app wsgi whatsapp simulate "
               f"--org {org.slug} --from 5511988887777 --text 'Oi!' --ctwa-clid demo-click")
