"""``bulk``: one action over every run a query matches, as a durable job; and
``jobs list | show | abort`` to follow and stop such jobs.

``bulk`` always shows what the query matches first (count and a sample), asks
before acting unless ``--yes``, then follows the job with a progress bar until it
ends. Exit codes: 0 when every run took the action (or for a dry run), 1 when the
job ended with failed items or was aborted, 2 for a refused request.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..bulk import ACTIONS
from ..views import BulkPreview, Job
from .context import Group, cx, global_options
from .errors import UserError
from .listing import LIST_HEADERS, QUERY_HELP, run_row
from .output import cell, echo_json, echo_table, format_option

POLL = 0.5
JOB_HEADERS = ["job_id", "action", "state", "total", "done", "failed", "left", "created_at"]


def _payload(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as error:
        raise UserError(f"--payload is not valid JSON: {error}") from None


def _args(action: str, name: str | None, payload: str | None, at_seq: int | None) -> dict[str, Any]:
    """The action's own options; one given to an action that takes none is refused."""
    given = {"name": name, "payload": payload, "at_seq": at_seq}
    stray = [
        key for key, value in given.items() if value is not None and key not in ACTIONS[action]
    ]
    if stray:
        flags = ", ".join("--at" if key == "at_seq" else f"--{key}" for key in stray)
        raise UserError(f"bulk {action} takes no {flags}")
    args = {key: value for key, value in given.items() if value is not None}
    if "payload" in args:
        args["payload"] = _payload(payload)
    return args


@click.command()
@click.argument("action", type=click.Choice(list(ACTIONS)))
@click.option("--query", "-q", required=True, help=QUERY_HELP)
@click.option("--reason", help="Why, for the audit trail (required to act).")
@click.option("--dry-run", is_flag=True, help="Show the count and a sample; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before acting.")
@click.option("--name", help="signal: the signal's name.")
@click.option("--payload", metavar="JSON", help="signal: the payload, as JSON.")
@click.option("--at", "at_seq", type=int, help="fork: cut before this seq (default: the failure).")
@click.option("--sample", type=int, default=10, show_default=True, help="Runs to show.")
@click.option("--no-wait", is_flag=True, help="Print the job id and return at once.")
@global_options
def bulk(action: str, query: str, reason: str | None, dry_run: bool, yes: bool, name: str | None,
         payload: str | None, at_seq: int | None, sample: int, no_wait: bool) -> None:  # fmt: skip
    """ACTION (cancel, terminate, fork, signal) on every run matching --query."""
    args = _args(action, name, payload, at_seq)
    client = cx()
    found = cast(BulkPreview, client.bulk(action, query, reason=reason or "dry run",
                                          sample=sample, **args))  # fmt: skip
    _show_preview(found)
    if dry_run or found.count == 0:
        return
    if not reason:
        raise UserError("--reason is required to act: it goes into the audit trail")
    if not yes:
        click.confirm(f"{action} {found.count} run(s)?", abort=True, err=True)
    job = cast(Job, client.bulk(action, query, reason=reason, dry_run=False, sample=0, **args))
    click.echo(f"job {job.job_id}: {action} of {job.total} run(s)")
    if no_wait:
        return
    try:
        _finish(_follow(job))
    except KeyboardInterrupt:
        click.echo(f"job {job.job_id} goes on; follow it with: jobs show {job.job_id}", err=True)
        raise click.exceptions.Exit(130) from None


def _show_preview(preview: BulkPreview) -> None:
    click.echo(f"{preview.count} run(s) match")
    if preview.sample:
        echo_table(LIST_HEADERS, [run_row(run) for run in preview.sample])


def _follow(job: Job) -> Job:
    """Poll the job until it ends, with a progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True)) as progress:
        bar = progress.add_task(job.action, total=job.total, failed=0)
        while True:
            progress.update(bar, completed=job.done + job.failed, failed=job.failed)
            if job.state != "running":
                return job
            time.sleep(POLL)
            job = cx().get_job(job.job_id)


def _finish(job: Job) -> None:
    click.echo(f"job {job.job_id} {job.state}: {job.done} done, {job.failed} failed, "
               f"{job.left} left")  # fmt: skip
    if job.failed or job.state != "completed":
        raise click.exceptions.Exit(1)


@click.group(cls=Group)
@global_options
def jobs() -> None:
    """Follow and stop bulk jobs."""


@jobs.command("list")
@click.option("--state", type=click.Choice(["running", "completed", "aborted"]))
@click.option("--limit", type=int, default=50, show_default=True)
@format_option("table", "json")
@global_options
def list_jobs(state: str | None, limit: int, fmt: str) -> None:
    """The latest jobs, newest first."""
    found = cx().list_jobs(state=state, limit=limit)
    if fmt == "json":
        echo_json(found)
        return
    echo_table(JOB_HEADERS, [[cell(getattr(job, h)) for h in JOB_HEADERS] for job in found])


@jobs.command("show")
@click.argument("job_id")
@click.option("--failed", "show_failed", is_flag=True, help="Also list the failed runs.")
@global_options
def show_job(job_id: str, show_failed: bool) -> None:
    """A job as JSON, with its progress (and, if asked, its failed runs)."""
    client = cx()
    record: dict[str, Any] = {"job": client.get_job(job_id)}
    if show_failed:
        record["failed"] = client.job_items(job_id, state="failed")
    echo_json(record if show_failed else record["job"])


@jobs.command("abort")
@click.argument("job_id")
@click.option("--reason", help="Why, for the audit trail.")
@global_options
def abort_job(job_id: str, reason: str | None) -> None:
    """Stop a job: runs it has not reached yet are left as they are."""
    job = cx().abort_job(job_id, reason=reason)
    click.echo(f"job {job.job_id} {job.state}: {job.done} done, {job.failed} failed, "
               f"{job.left} left")  # fmt: skip
