"""``flask --app wsgi keys rotate``: re-encrypt stored tokens with the first key."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from whatrack.services.keys import rotation as key_rotation

keys_cli = AppGroup("keys", help="Encryption keys of stored tokens (TOKEN_ENCRYPTION_KEYS).")


@keys_cli.command("rotate")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000))
def rotate_command(batch_size: int) -> None:
    """Re-encrypt every stored token with the first key; safe to stop and run again.

    The last line is the number of rows changed.
    """
    def progress(table: str, changed: int) -> None:
        if changed:
            click.echo(f"{table}: {changed} re-encrypted")

    result = key_rotation.rotate_tokens(batch_size, on_batch=progress)
    if result.skipped:
        click.echo(f"{result.skipped} already on the first key")
    for row in result.unreadable:
        click.echo(f"cannot decrypt {row} with any configured key (left as it is)", err=True)
    click.echo(f"{result.changed} rows re-encrypted")
    if result.unreadable:
        raise SystemExit(1)
