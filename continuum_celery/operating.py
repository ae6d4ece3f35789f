"""The operator API on ``Continuum``: cancel, terminate, fork, retry now, list,
count, export, describe, audit, bulk jobs and prune.

A mixin so that ``core.py`` keeps to wiring and the client calls; each method is a
thin, documented entry point that checks its arguments and hands over to ``ops``,
``bulk``, ``export`` or the journal's listing, the one path the CLI and the UI take.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from . import bulk, export, listing, ops
from .client import RunHandle, public_run
from .export import DEFAULT_PAGE
from .journal import listing as journal_listing
from .listing import RunPage
from .opsaudit import AuditFilters
from .query import parse as parse_query
from .runids import check_run_id
from .views import AuditEntry, BulkPreview, Description, Job, JobItem

if TYPE_CHECKING:
    from .core import Continuum


class Operations:
    """Mixed into ``Continuum``; every method runs on a ``Continuum``."""

    @property
    def _cx(self) -> Continuum:
        return cast("Continuum", self)

    def cancel(self, run_id: str, reason: str | None = None, *, actor: str | None = None) -> None:
        """Ask a run (the newest of its chain) and its child workflows to cancel.

        Cooperative: the workflow gets ``workflow.Cancelled`` at its current wait and
        may clean up (compensate) before it ends. Asking twice is a no-op. ``actor``
        defaults to the engine's ``actor``; who and why are journaled and audited.
        """
        self._cx.schema.check()
        ops.cancel(self._cx, check_run_id(run_id), reason, actor)

    def terminate(self, run_id: str, reason: str, *, actor: str | None = None) -> None:
        """Stop a run (and its child workflows) now, running no workflow code."""
        self._cx.schema.check()
        ops.terminate(self._cx, check_run_id(run_id), reason, actor)

    def fork(
        self,
        run_id: str,
        at_seq: int | None = None,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> RunHandle:
        """Restart a run elsewhere: a new run of the same workflow and input, with
        the history before ``at_seq`` (default: from the failure), on today's code."""
        self._cx.schema.check()
        return ops.fork(self._cx, check_run_id(run_id), at_seq, reason, actor)

    def retry_activity(
        self, run_id: str, *, reason: str | None = None, actor: str | None = None
    ) -> int:
        """The run's activity waiting out a retry backoff is due now; how many were."""
        run_id = check_run_id(run_id)
        self._cx.schema.check()
        return ops.retry_activity(self._cx, run_id, reason, actor)

    def list_runs(
        self,
        query: str = "",
        *,
        limit: int = 50,
        cursor: str | None = None,
        order: str = "-created_at",
    ) -> RunPage:
        """Runs matching ``query`` (see docs/queries.md), one keyset page at a time."""
        limit, order = listing.check_limit(limit), listing.check_order(order)
        node = parse_query(query)
        after = listing.decode_cursor(cursor, query, order)
        self._cx.schema.check()
        with self._cx.db.engine.connect() as conn:
            found = journal_listing.list_runs(conn, node, order, limit, after)
        runs = [public_run(record) for record in found.records]
        key = found.last_key
        return RunPage(runs, listing.encode_cursor(key, query, order) if key else None)

    def count_runs(
        self, query: str = "", group_by: Sequence[str] = ()
    ) -> dict[tuple[Any, ...], int]:
        """How many runs match ``query``, per value of the ``group_by`` fields."""
        groups, node = listing.check_group_by(group_by), parse_query(query)
        self._cx.schema.check()
        with self._cx.db.engine.connect() as conn:
            return journal_listing.count_runs(conn, node, groups)

    def export_runs(
        self, query: str = "", *, page: int = DEFAULT_PAGE, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Matching runs with their full histories, oldest first, streamed a page of
        ``page`` runs at a time (constant memory): archive them before pruning."""
        return export.export_runs(self._cx, query, page, limit)

    def describe(self, run_id: str) -> Description:
        """The run with its pending activities, timers, signals, children and lineage."""
        self._cx.schema.check()
        return ops.describe(self._cx, check_run_id(run_id), public_run)

    def audit(self, run_id: str) -> list[AuditEntry]:
        """Operator actions on the run, oldest first: who, what, why, when."""
        self._cx.schema.check()
        return ops.audit(self._cx, check_run_id(run_id))

    def audit_log(
        self,
        query: str = "",
        *,
        since: datetime | None = None,
        action: str | None = None,
        actor: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The latest operator actions across runs, newest first. ``query`` selects
        the runs they are about and may name the entries' own ``action``, ``actor``,
        ``reason`` and ``at``: ``'workflow = "shop.order" AND action = "terminate"'``."""
        return ops.audit_log(self._cx, query, AuditFilters(since, action, actor), limit)

    def bulk(
        self,
        action: str,
        query: str,
        *,
        reason: str,
        dry_run: bool = True,
        actor: str | None = None,
        sample: int = 10,
        **action_args: Any,
    ) -> BulkPreview | Job:
        """``action`` ("cancel", "terminate", "fork" [``at_seq=``, default: from the
        failure], "signal" [``name=``, ``payload=``]) on every run ``query`` matches.

        A dry run (the default) returns the count and a sample; otherwise a Job that
        upkeep carries out in batches (see docs/operations.md, "Bulk actions")."""
        request = bulk.check(self._cx, action, query, reason, actor, action_args)
        return bulk.bulk(self._cx, request, dry_run, sample)

    def get_job(self, job_id: str) -> Job:
        """A bulk job with its progress (done, failed, left); JobNotFound if none."""
        return bulk.get_job(self._cx, job_id)

    def list_jobs(self, *, state: str | None = None, limit: int = 50) -> list[Job]:
        """The latest bulk jobs, newest first."""
        return bulk.list_jobs(self._cx, state, limit)

    def job_items(
        self, job_id: str, *, state: str | None = None, limit: int = 1000
    ) -> list[JobItem]:
        """A job's runs and what became of each."""
        return bulk.job_items(self._cx, job_id, state, limit)

    def abort_job(self, job_id: str, *, reason: str | None = None, actor: str | None = None) -> Job:
        """Stop a bulk job: runs not yet acted on stay as they are (audited)."""
        return bulk.abort_job(self._cx, job_id, reason, actor)

    def prune(self, older_than: timedelta | float | None = None, batch: int = 500) -> int:
        """Delete one batch of finished runs now; returns how many went.

        Uses the engine's retention unless ``older_than`` is given, and refuses to
        guess when neither is: deleting history is never a default. Call it again
        until it returns 0 to drain a backlog.
        """
        self._cx.schema.check()
        return ops.prune(self._cx, older_than, batch)
