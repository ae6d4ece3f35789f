"""``prune``: delete finished runs past an age now, as upkeep does under retention."""

from __future__ import annotations

import re
from datetime import timedelta

import click

from .context import cx, global_options
from .errors import UserError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def age_of(text: str | None) -> timedelta | None:
    """``30d``, ``12h``, ``90m``, ``3600s`` or plain seconds; absent: the engine's."""
    if text is None:
        return None
    match = _AGE.match(text.strip())
    if match is None:
        raise UserError(f"--older-than must look like 30d, 12h, 90m or 3600s, not {text!r}")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2] or "s"])


@click.command()
@click.option(
    "--older-than",
    metavar="AGE",
    help="Finished this long ago or more: 30d, 12h, 90m, 3600s (default: the app's retention).",
)
@click.option("--batch", type=click.IntRange(min=1), default=500, show_default=True,
              help="Runs deleted per transaction.")  # fmt: skip
@click.option("--all", "drain", is_flag=True, help="Repeat batches until none is left.")
@global_options
def prune(older_than: str | None, batch: int, drain: bool) -> None:
    """Delete finished runs past an age, with everything they own; prints the count."""
    engine, age = cx(), age_of(older_than)
    total = deleted = engine.prune(age, batch)
    while drain and deleted:
        deleted = engine.prune(age, batch)
        total += deleted
    click.echo(f"deleted {total} run{'' if total == 1 else 's'}")
