"""``flask --app wsgi billing ...``: trials and plans arranged by hand (no Stripe needed).

Both commands print the new state and its last day (organization's time zone) on their
last line, e.g. ``active 2027-01-31``.
"""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

from whatrack.cli.common import fail, org_by_slug
from whatrack.errors import WhaTrackError
from whatrack.extensions import db
from whatrack.services.billing import commands as billing
from whatrack.services.billing.state import BillingSummary

billing_cli = AppGroup("billing", help="Trials and manually arranged plans.")


def _report(org, summary: BillingSummary) -> None:
    ends = summary.ends_at
    click.echo(f"{summary.state} {billing.last_day(org, ends).isoformat() if ends else '-'}")


@billing_cli.command("extend-trial")
@click.option("--org", "slug", required=True, help="Organization slug.")
@click.option("--days", required=True, type=int, help="Days to add to the trial.")
def extend_trial_command(slug: str, days: int) -> None:
    """Add DAYS of trial after its current end (from today if it has ended)."""
    org = org_by_slug(slug)
    try:
        summary = billing.extend_trial(org, days)
    except WhaTrackError as exc:
        fail(exc.message)
    db.session.commit()
    _report(org, summary)


@billing_cli.command("activate")
@click.option("--org", "slug", required=True, help="Organization slug.")
@click.option("--until", "until", required=True, help="Last paid day, YYYY-MM-DD.")
def activate_command(slug: str, until: str) -> None:
    """Mark the plan paid through UNTIL (inclusive, organization's time zone)."""
    try:
        day = date.fromisoformat(until) if len(until) == 10 else None
    except ValueError:
        day = None
    if day is None:
        fail(f"--until must be a date YYYY-MM-DD, not {until!r}")
    org = org_by_slug(slug)
    try:
        summary = billing.activate_until(org, day)
    except WhaTrackError as exc:
        fail(exc.message)
    db.session.commit()
    _report(org, summary)



