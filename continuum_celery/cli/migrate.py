"""``migrate``: create or update the schema (idempotent, safe to run concurrently)."""

from __future__ import annotations

import click

from .context import cx, global_options


@click.command()
@global_options
def migrate() -> None:
    """Create or update the schema; run once per deploy."""
    applied = cx().migrate()
    click.echo(f"applied {applied}" if applied else "schema is up to date")
