"""Bulk actions: one operator action (cancel, terminate, fork, signal) over every run
a query matches, previewed by a dry run and carried out as a durable job.

A real run freezes the selection (the matching run ids, copied in the transaction
that creates the job and its audit row), so runs that start later are never swept
in and the job's ``total`` never moves. Upkeep then applies the action to the
items a bounded batch at a time (``UpkeepSettings.bulk_batch`` per sweep), each
through the same path as ``cx.cancel`` / ``terminate`` / ``fork`` / ``signal``, so
each writes its own audit row, naming the job. A job outlives the worker that
was carrying it out; ``cx.abort_job`` stops it.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import ops
from .client import public_run
from .errors import ContinuumError
from .journal import jobs, listing
from .journal.audit import Actor
from .journal.db import Database, unavailable
from .journal.history import HistoryCache
from .journal.store import RunStore
from .journal.tasks import TaskStore
from .payloads import check_text, encode
from .query import And, Compare, Field, Node
from .query import parse as parse_query
from .runids import check_run_id
from .views import BulkPreview, Job, JobItem

if TYPE_CHECKING:
    from .core import Continuum
    from .runtime.transport import AfterCommit

log = logging.getLogger("continuum_celery.bulk")

ACTIONS: dict[str, frozenset[str]] = {
    "cancel": frozenset(),
    "terminate": frozenset(),
    "fork": frozenset({"at_seq"}),
    "signal": frozenset({"name", "payload"}),
}
"""Each action and the keyword arguments it takes."""
BATCH_SECONDS = 0.5
"""A batch stops taking items after this long: upkeep's timers wait while it works."""
MAX_SAMPLE = 1000
MAX_LIST = 1000
JOB_STATES = ("running", "completed", "aborted")
ITEM_STATES = ("pending", "done", "failed")


@dataclass(frozen=True)
class Request:
    """A bulk request, checked whole before anything is read or written."""

    action: str
    query: str
    node: Node
    args: dict[str, Any]
    by: Actor


def check(cx: Continuum, action: object, query: object, reason: str | None, actor: str | None,
          args: dict[str, Any]) -> Request:  # fmt: skip
    """Refuse a bad action, argument or query with a typed error, up front."""
    if not isinstance(action, str):
        raise TypeError(f"action must be a str, not {type(action).__name__}")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    unknown = set(args) - ACTIONS[action]
    if unknown:
        raise TypeError(f"bulk {action} takes no argument {', '.join(sorted(unknown))}")
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, not {type(query).__name__}")
    node = parse_query(query)
    if node is None:
        raise ValueError("bulk needs a query: an empty one would select every run")
    by = ops.acting(cx, actor, reason, required=True)
    return Request(action, query, node, _args(cx, action, args), by)


def _args(cx: Continuum, action: str, args: dict[str, Any]) -> dict[str, Any]:
    if action == "signal":
        name = args.get("name")
        if not isinstance(name, str) or not name:
            raise TypeError(f"bulk signal needs name=, a non-empty str, not {name!r}")
        check_text(name, "signal name")
        payload = args.get("payload")
        encode(payload, f"payload of signal {name!r}", cx.max_payload_bytes)
        return {"name": name, "payload": payload}
    if action == "fork":
        at_seq = args.get("at_seq")
        if at_seq is not None and (not isinstance(at_seq, int) or isinstance(at_seq, bool)):
            raise TypeError(f"at_seq must be an int or None, not {at_seq!r}")
        if at_seq is not None and at_seq < 1:
            raise ValueError(f"at_seq must be at least 1, not {at_seq}")
        return {"at_seq": at_seq}
    return {}


def _count(name: str, value: object, most: int, least: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if not least <= value <= most:
        raise ValueError(f"{name} must be from {least} to {most}, not {value}")
    return value


def bulk(cx: Continuum, request: Request, dry_run: object, sample: object) -> BulkPreview | Job:
    """A preview (dry run), or the job created for real."""
    if not isinstance(dry_run, bool):
        raise TypeError(f"dry_run must be True or False, not {dry_run!r}")
    size = _count("sample", sample, MAX_SAMPLE)
    cx.schema.check()
    if dry_run:
        return preview(cx, request, size)
    job_id = str(uuid.uuid4())
    jobs.create(cx.db, job_id, request.action, request.query, in_scope(cx, request.node),
                request.args, request.by, cx.scope)  # fmt: skip
    created = jobs.get(cx.db, job_id)
    log.warning("job %s: %s of %d run(s) matching %r, by %s: %s", job_id, request.action,
                created.total, request.query, request.by.actor, request.by.reason)  # fmt: skip
    return created


def in_scope(cx: Continuum, node: Node) -> Node:
    """A job acts only on runs of the app that made it: two apps may share a database."""
    return And((Compare(Field("scope"), "=", cx.scope), node))


def preview(cx: Continuum, request: Request, size: int) -> BulkPreview:
    """How many runs match now, and the newest ``size`` of them; nothing written."""
    node = in_scope(cx, request.node)
    with cx.db.engine.connect() as conn:
        count = sum(listing.count_runs(conn, node, ()).values())
        found = listing.list_runs(conn, node, "-created_at", size, None) if size else None
    runs = [public_run(record) for record in found.records] if found else []
    return BulkPreview(request.action, request.query, count, runs)


def get_job(cx: Continuum, job_id: str) -> Job:
    cx.schema.check()
    return jobs.get(cx.db, _job_id(job_id))


def list_jobs(cx: Continuum, state: str | None, limit: object) -> list[Job]:
    """The latest jobs, newest first."""
    if state is not None and state not in JOB_STATES:
        raise ValueError(f"state must be one of {', '.join(JOB_STATES)}, not {state!r}")
    size = _count("limit", limit, MAX_LIST, 1)
    cx.schema.check()
    return jobs.latest(cx.db, state, size)


def job_items(cx: Continuum, job_id: str, state: str | None, limit: object) -> list[JobItem]:
    """A job's runs and what became of each (failed ones with the refusal's text)."""
    if state is not None and state not in ITEM_STATES:
        raise ValueError(f"state must be one of {', '.join(ITEM_STATES)}, not {state!r}")
    size = _count("limit", limit, 100_000, 1)
    job = get_job(cx, job_id)
    return jobs.items(cx.db, job.job_id, state, size)


def abort_job(cx: Continuum, job_id: str, reason: str | None, actor: str | None) -> Job:
    """Stop a running job: items not yet done stay undone. Aborting a job that has
    ended changes nothing (and writes no audit row)."""
    by = ops.acting(cx, actor, reason)
    job = get_job(cx, job_id)
    if jobs.abort(cx.db, job.job_id, by):
        log.warning("job %s aborted by %s", job.job_id, by.actor)
    return jobs.get(cx.db, job.job_id)


def _job_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not job_id:
        raise TypeError(f"job id must be a non-empty str, not {job_id!r}")
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        raise ValueError(f"job id must be a UUID, not {job_id!r}") from None


# --- carried out by upkeep -----------------------------------------------------------


def worker(cx: Continuum, db: Database | None = None, outbox: AfterCommit | None = None,
           batch: int = 100) -> Callable[[], int]:  # fmt: skip
    """One batch of job items a call, for upkeep. With ``db`` (upkeep's own
    connections in a worker's main process) the actions run over that database."""
    engine = cx if db is None else _over(cx, db, outbox)

    def apply(action: str, run_id: str, args: dict[str, Any], by: Actor) -> str | None:
        try:
            act(engine, action, run_id, args, by)
        except Exception as error:
            if unavailable(error):
                raise  # the batch rolls back and is tried again
            if not isinstance(error, ContinuumError | ValueError):
                # A bug, not a refusal; failing the item keeps it from blocking jobs.
                log.error("job %s: %s of run %s failed", by.job, action, run_id, exc_info=True)
            return f"{type(error).__name__}: {error}"
        return None

    return lambda: jobs.work(engine.db, batch, apply, BATCH_SECONDS, cx.scope)


def act(cx: Continuum, action: str, run_id: str, args: dict[str, Any], by: Actor) -> None:
    """The single-run operation, exactly as ``cx.<action>`` does it."""
    run_id = check_run_id(run_id)
    if action == "cancel":
        ops.cancel_by(cx, run_id, by)
    elif action == "terminate":
        ops.terminate_by(cx, run_id, by)
    elif action == "fork":
        ops.fork_by(cx, run_id, args.get("at_seq"), by)
    elif action == "signal":
        ops.signal(cx, run_id, args["name"], args.get("payload"), by)
    else:
        raise ValueError(f"unknown bulk action {action!r}")


def _over(cx: Continuum, db: Database, outbox: AfterCommit | None) -> Continuum:
    """The same engine over another database handle: a worker's main process must
    not open connections in the engine the pool processes are forked from."""
    twin = copy.copy(cx)
    twin.db = db
    twin.runs = RunStore(db, cx.runs.lease_ttl, HistoryCache(), cx.scope)
    twin.tasks = TaskStore(db, cx.tasks.claim_ttl, HistoryCache(), cx.scope)
    if outbox is not None:
        twin.outbox = outbox
    return twin
