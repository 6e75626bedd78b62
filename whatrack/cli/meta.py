"""``flask --app wsgi meta connect`` and ``flask --app wsgi capi resend``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from whatrack.cli.common import org_by_slug
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.models import MetaConversionEvent, Organization
from whatrack.services.conversions import commands as conversions
from whatrack.services.conversions.queries import reason_text
from whatrack.services.meta import connection as meta_connection
from whatrack.tenancy import bind_org, unscoped

meta_cli = AppGroup("meta", help="Meta (Facebook) connection for the Conversions API.")
capi_cli = AppGroup("capi", help="Conversions API events.")


@meta_cli.command("connect")
@click.option("--org", "slug", required=True)
@click.option("--token", required=True, help="A token with access to the dataset.")
@click.option("--dataset-id", required=True)
@click.option("--test-event-code", default=None, help="Route events to Events Manager tests.")
def connect_command(slug: str, token: str, dataset_id: str, test_event_code: str | None) -> None:
    """Store a Meta connection without the Facebook Login screen; waiting events go out."""
    org = org_by_slug(slug)
    with bind_org(org):
        try:
            conn = meta_connection.connect_cli(org, token, dataset_id, test_event_code)
        except WhaTrackError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        dataset_id, test_code = conn.dataset_id, conn.test_event_code
        db.session.commit()
    suffix = f" (test event code {test_code})" if test_code else ""
    click.echo(f"{slug}: Meta connected, events go to dataset {dataset_id}{suffix}")


@capi_cli.command("resend")
@click.option("--event", "event_id", required=True, type=int, help="Conversion event id.")
def resend_command(event_id: int) -> None:
    """Queue one conversion event again (same event_id, so Meta deduplicates it)."""
    with unscoped():
        org_id = db.session.scalar(db.select(MetaConversionEvent.organization_id)
                                   .where(MetaConversionEvent.id == event_id))
    if org_id is None:
        raise click.ClickException(f"no conversion event {event_id}")
    with bind_org(org_id):
        org = db.session.get(Organization, org_id)
        event = conversions.lock_event(org, event_id)
        try:
            conversions.resend_event(org, event)
        except WhaTrackError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        click.echo(f"conversion event {event_id} ({event.event_name}) queued: "
                   f"{reason_text(event)}")
