"""Every command, added to a group: the ``continuum-celery`` script's or Celery's."""

from __future__ import annotations

import click

from . import actions
from .health import health
from .migrate import migrate
from .prune import prune
from .runs import history, runs, show


def add_all(group: click.Group) -> None:
    """The same commands under both entry points; ``show`` and ``history`` also at
    the top level, as they were before the ``runs`` group."""
    for command in [migrate, runs, *actions.COMMANDS, health, prune]:
        group.add_command(command)
    group.add_command(show, "show")
    group.add_command(history, "history")
