"""``audit``: who did what to runs, and why, from the audit trail.

With a run id it reads that run's entries (``cx.audit``, oldest first); without,
the latest across runs (``cx.audit_log``, newest first). The same filters apply
to both, so a question asked of one run can be widened by dropping the id.
``--query`` selects the runs (and entries) in the query language, across runs only.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import click

from ..errors import InvalidQuery
from ..query.nodes import RelativeTime
from ..query.times import parse_time
from ..views import AuditEntry
from .context import cx, global_options
from .errors import UserError
from .output import cell, echo_records, echo_table, format_option

HEADERS = ["created_at", "run_id", "action", "actor", "reason", "details"]
LOG_LIMIT = 100
QUERY_HELP = (
    "Across runs: a query on the runs (workflow, state, attributes.<key>, ...) and the"
    " entries (action, actor, reason, at), such as 'attributes.customer = \"c-42\"'."
)


@click.command("audit")
@click.argument("run_id", required=False)
@click.option("--query", "-q", default="", help=QUERY_HELP)
@click.option("--action", help="Only this action: signal, cancel, terminate, fork, ...")
@click.option("--actor", help="Only this actor (user@host unless set otherwise).")
@click.option("--since", metavar="TIME", help="ISO-8601, or relative to now: -15m, -1h, -7d.")
@click.option("--limit", type=int, help=f"At most this many (default {LOG_LIMIT} across runs).")
@format_option("table", "json", "jsonl")
@global_options
def audit(
    run_id: str | None,
    query: str,
    action: str | None,
    actor: str | None,
    since: str | None,
    limit: int | None,
    fmt: str,
) -> None:
    """Operator actions: on one run (oldest first), or across runs (newest first)."""
    after = since_time(since)
    if run_id is not None and query:
        raise UserError("--query selects runs across the log: drop RUN_ID, or query run_id")
    if run_id is None:
        found = cx().audit_log(query, since=after, action=action, actor=actor,
                               limit=LOG_LIMIT if limit is None else limit)  # fmt: skip
    else:
        found = _of_run(run_id, action, actor, after, limit)
    if fmt == "table":
        echo_table(HEADERS, [_row(entry) for entry in found])
    else:
        echo_records([asdict(entry) for entry in found], fmt)


def _row(entry: AuditEntry) -> list[str]:
    """Time first, so the table reads as a log."""
    values = [entry.created_at, entry.run_id, entry.action, entry.actor, entry.reason,
              entry.details]  # fmt: skip
    return [cell(value) for value in values]


def _of_run(
    run_id: str, action: str | None, actor: str | None, after: datetime | None, limit: int | None
) -> list[AuditEntry]:
    """A run's entries, filtered here (a run has few); ``limit`` keeps the latest."""
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, not {limit}")
    found = [entry for entry in cx().audit(run_id)
             if (action is None or entry.action == action)
             and (actor is None or entry.actor == actor)
             and (after is None or entry.created_at >= after)]  # fmt: skip
    return found[-limit:] if limit is not None else found


def since_time(text: str | None) -> datetime | None:
    """``--since`` as an instant; a relative time counts back from this machine's clock."""
    if text is None:
        return None
    try:
        value = parse_time(text, 0)
    except InvalidQuery as error:
        raise UserError(f"--since {text!r}: {error.reason}") from None
    if isinstance(value, RelativeTime):
        return datetime.now(UTC) + timedelta(seconds=value.offset)
    return value
