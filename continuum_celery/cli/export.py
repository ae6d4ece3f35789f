"""``export``: runs with their whole histories as JSON Lines, for an archive taken
before retention (or ``prune``) deletes them.

Streams: one line per run as its page is read, so memory stays flat however many
runs match. With ``--output`` the lines go to a file beside the target that takes
its name only once everything is written: an interrupted export leaves no file
that looks complete.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import click

from ..export import DEFAULT_PAGE
from .context import cx, global_options
from .listing import QUERY_HELP
from .output import dumps


@click.command()
@click.option("--query", "-q", default="", help=QUERY_HELP)
@click.option("--output", "-o", metavar="FILE", help="Write here instead of stdout.")
@click.option("--limit", type=int, help="At most this many runs (default: all that match).")
@click.option("--page", type=int, default=DEFAULT_PAGE, show_default=True,
              help="Runs read per statement (1-1000).")  # fmt: skip
@global_options
def export(query: str, output: str | None, limit: int | None, page: int) -> None:
    """Write matching runs, oldest first, with their histories as JSON Lines (one run
    a line, its events under "events"); the count goes to stderr."""
    found = cx().export_runs(query, page=page, limit=limit)  # checks before writing
    count = _write(found, sys.stdout) if output is None else _write_file(found, output)
    click.echo(f"exported {count} run{'' if count == 1 else 's'}", err=True)


def _write(found: Iterator[dict[str, Any]], stream: IO[str]) -> int:
    count = 0
    for item in found:
        stream.write(dumps(item, indent=None) + "\n")
        count += 1
    stream.flush()
    return count


def _write_file(found: Iterator[dict[str, Any]], path: str) -> int:
    """Into a temporary file in the same directory, renamed over ``path`` at the end."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, partial = tempfile.mkstemp(prefix=".export-", suffix=".jsonl", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            count = _write(found, stream)
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise
    return count
