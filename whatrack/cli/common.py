"""What every command group needs: the organization named on the command line."""

from __future__ import annotations

from typing import NoReturn

import click
from sqlalchemy import select

from whatrack.extensions import db
from whatrack.models import Organization


def fail(message: str) -> NoReturn:
    db.session.rollback()
    raise click.ClickException(message)


def org_by_slug(slug: str) -> Organization:
    org = db.session.scalars(select(Organization).where(Organization.slug == slug)).first()
    if org is None:
        fail(f"no organization with slug {slug!r}")
    return org
