"""Every command, added to a group: the ``continuum-celery`` script's or Celery's."""

from __future__ import annotations

import click

from . import actions
from .audit import audit
from .bulk import bulk, jobs
from .describe import describe
from .export import export
from .health import health
from .lint import lint_command
from .listing import count_runs, list_runs
from .migrate import migrate
from .prune import prune
from .replay_check import replay_check
from .runs import history, runs, show
from .schedules import schedules
from .ui import ui

for reader in [list_runs, count_runs, describe]:
    runs.add_command(reader)


def add_all(group: click.Group) -> None:
    """The same commands under both entry points; ``show`` and ``history`` also at
    the top level, as they were before the ``runs`` group."""
    commands = [migrate, runs, *actions.COMMANDS, bulk, jobs, audit, health, prune, export]
    for command in [*commands, ui, schedules, lint_command, replay_check]:
        group.add_command(command)
    group.add_command(show, "show")
    group.add_command(history, "history")
