"""``lint MODULE...``: the calls the determinism guard refuses, found in the source.

No database and no broker: it imports the modules (to find the workflows they
register) and reads their source. Exit 0 when clean, 1 with findings, 2 when a
target cannot be found or parsed.
"""

from __future__ import annotations

import click

from ..lint import LintTargetError, SourceError, lint
from .errors import UserError


@click.command(name="lint")
@click.argument("targets", nargs=-1, required=True, metavar="MODULE_OR_FILE...")
def lint_command(targets: tuple[str, ...]) -> None:
    """Report clock, randomness, sleep and I/O calls in workflow functions.

    Each target is a module name (imported, as a worker would) or a .py file (only
    read). Prints path:line:col, the call and its deterministic replacement.
    """
    try:
        report = lint(list(targets))
    except (LintTargetError, SourceError) as error:
        raise UserError(str(error)) from None
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for finding in report.findings:
        click.echo(str(finding))
    found, checked = len(report.findings), report.workflows
    click.echo(f"{found} finding(s) in {checked} workflow function(s)", err=True)
    click.get_current_context().exit(1 if found else 0)
