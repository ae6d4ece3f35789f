"""The ``continuum-celery`` script (and ``python -m continuum_celery.cli``)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from .commands import add_all
from .context import Group, Settings, global_options


@click.group(cls=Group)
@global_options
def cli() -> None:
    """Operate continuum_celery runs: migrate, list, inspect, act on them, audit, health;
    lint workflow code."""


add_all(cli)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done, 1 needs attention (health) or a bug, 2 a refused request."""
    try:
        cli.main(list(argv) if argv is not None else None, "continuum-celery", obj=Settings())
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    return 0
