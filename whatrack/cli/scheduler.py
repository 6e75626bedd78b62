"""``flask --app wsgi scheduler``: the one process that triggers the periodic sweepers."""

from __future__ import annotations

import threading

import click

from whatrack.tasks.schedule import run_scheduler


@click.command("scheduler")
def scheduler_command() -> None:
    """Enqueue the periodic sweepers forever (run exactly one per deployment)."""
    click.echo("scheduler running (Ctrl-C to stop)")
    try:
        run_scheduler(threading.Event())
    except KeyboardInterrupt:
        pass
