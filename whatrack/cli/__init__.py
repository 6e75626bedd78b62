"""Operator commands (``flask --app wsgi ...``), one module per command group."""

from __future__ import annotations

from flask import Flask

from whatrack.cli.billing import billing_cli
from whatrack.cli.keys import keys_cli
from whatrack.cli.meta import capi_cli, meta_cli
from whatrack.cli.orgs import apikey_cli, demo_command, org_cli
from whatrack.cli.scheduler import scheduler_command
from whatrack.cli.whatsapp import whatsapp_cli


def register_cli(app: Flask) -> None:
    app.cli.add_command(org_cli)
    app.cli.add_command(apikey_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(whatsapp_cli)
    app.cli.add_command(meta_cli)
    app.cli.add_command(capi_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(billing_cli)
