"""Celery tasks: the replay wakeup, upkeep, and one task per activity.

Each task decodes ids from the message, refuses anything malformed (logging a
warning and acking, so a forged message runs nothing), and hands over to the
runtime. Celery's own retries and result backend are never used: the journal
owns both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init, worker_ready

from ..journal.records import TaskMessage
from ..runids import is_run_id
from ..runtime.attempts import Delivery

log = logging.getLogger("continuum_celery.celery")

ADVANCE = "continuum.advance"
ADVANCE_MANY = "continuum.advance_many"
WAKE_BATCH = 100
"""Run ids one ``ADVANCE_MANY`` message carries at most."""
UPKEEP = "continuum.upkeep"
HARD_LIMIT_GRACE = 10.0
"""Seconds past an attempt's timeout before Celery kills the pool process outright."""

TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded,)

_TASK_OPTIONS: dict[str, Any] = {
    "ignore_result": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "serializer": "json",
    "max_retries": 0,
    "typing": False,  # malformed args reach our own validation instead of a crash
    "shared": False,  # each app gets its own engine's tasks, never another app's
}


def task_name(app: Celery, fn: Callable[..., Any]) -> str:
    """The name Celery itself would give this function, e.g. ``shop.charge``."""
    return str(app.gen_task_name(fn.__name__, fn.__module__))


def valid_uuid(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def valid_attempt(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


UNSAFE_CONTENT = frozenset({"pickle", "application/x-python-serialize", "yaml",
                            "application/x-yaml"})  # fmt: skip


def warn_unsafe_content(app: Celery) -> None:
    """Our messages are JSON; a worker that also accepts pickle runs code from the wire."""

    @worker_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def check(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        accepted = set(getattr(getattr(app, "conf", None), "accept_content", None) or ())
        unsafe = sorted(accepted & UNSAFE_CONTENT)
        if unsafe:
            log.warning(
                "accept_content includes %s: any message on the broker can run code in "
                "this worker; continuum_celery needs only 'json'",
                ", ".join(unsafe),
            )


def on_worker_ready(app: Celery, start: Callable[[], object]) -> None:
    """Run ``start`` once this app's worker is ready (in its main process)."""

    @worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        try:
            start()
        except Exception as error:  # a database blip must not stop the worker
            log.warning("worker start-up step failed: %s", error)


def register_advance(app: Celery, advance: Callable[[str], object], time_limit: float) -> None:
    """The wakeup task; its hard time limit ends a process whose inline activity body
    would not stop at its own timeout (see ``runtime/deadline``)."""

    @app.task(name=ADVANCE, time_limit=time_limit, **_TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def continuum_advance(*args: Any, **kwargs: Any) -> None:
        run_id = args[0] if len(args) == 1 and not kwargs and is_run_id(args[0]) else None
        if run_id is None:
            log.warning("ignored malformed %s message: args=%r kwargs=%r", ADVANCE, args, kwargs)
            return
        advance(run_id)


def register_advance_many(
    app: Celery, advance_many: Callable[[list[str]], object], time_limit: float
) -> None:
    """The wakeup of many runs at once (a schedule's tick starting thousands): one
    message instead of one per run. Malformed (not a list of 1 to ``WAKE_BATCH``
    run ids) is refused as a whole."""

    @app.task(name=ADVANCE_MANY, time_limit=time_limit, **_TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def continuum_advance_many(*args: Any, **kwargs: Any) -> None:
        run_ids = args[0] if len(args) == 1 and not kwargs else None
        if not _run_ids(run_ids):
            log.warning("ignored malformed %s message: args=%r kwargs=%r", ADVANCE_MANY,
                        args, kwargs)  # fmt: skip
            return
        advance_many(run_ids)


def _run_ids(value: object) -> TypeGuard[list[str]]:
    return (isinstance(value, list) and 0 < len(value) <= WAKE_BATCH
            and all(is_run_id(run_id) for run_id in value))  # fmt: skip


def register_upkeep(app: Celery, upkeep: Callable[[], object], interval: float) -> None:
    @app.task(name=UPKEEP, ignore_result=True, serializer="json", typing=False, shared=False)  # type: ignore[untyped-decorator]
    def continuum_upkeep(*args: Any, **kwargs: Any) -> None:
        upkeep()

    app.add_periodic_task(interval, continuum_upkeep.s(), name=UPKEEP)


Perform = Callable[[str, int, str, "float | None", bool], Delivery]
"""(task id, attempt, activity, seconds until the delivery's soft time limit,
whether the broker delivered this message before)."""


def register_activity(app: Celery, name: str, perform: Perform) -> None:
    """One Celery task per activity, named after it, so Flower groups by activity.

    The task ends as its attempt did, once the journal is settled: a failed attempt
    raises what the body raised (FAILURE, ``task_failure``; the journal, not Celery,
    retries it, and with ``acks_late`` the message is still acked), and a delivery
    that did nothing (a duplicate, a stale or fenced-out one) succeeds, saying so.
    """

    def run_activity(task: Any, *args: Any, **kwargs: Any) -> str | None:
        task_id = valid_uuid(args[0]) if len(args) == 2 and not kwargs else None
        attempt = valid_attempt(args[1]) if task_id is not None else None
        if task_id is None or attempt is None:
            log.warning("ignored malformed %s message: args=%r kwargs=%r", name, args, kwargs)
            return "ignored: malformed message"
        delivery = perform(task_id, attempt, name, soft_limit(task.request),
                           redelivered(task.request))  # fmt: skip
        failure = delivery.failure
        if failure is not None:
            raise failure
        return delivery.ignored

    run_activity.__name__ = name.rsplit(".", 1)[-1]
    app.task(name=name, bind=True, **_TASK_OPTIONS)(run_activity)


def redelivered(request: Any) -> bool:
    """Whether the broker delivered this message before (its worker died with it,
    or it was restored after the visibility timeout)."""
    info = getattr(request, "delivery_info", None) or {}
    return bool(info.get("redelivered")) if isinstance(info, dict) else False


def soft_limit(request: Any) -> float | None:
    """The soft time limit Celery enforces on this delivery, if any.

    Activities run inline after this one share it, so the runtime only takes on
    an activity whose whole timeout still fits in what is left.
    """
    limits = getattr(request, "timelimit", None) or (None, None)
    soft = limits[1] if len(limits) > 1 else None
    return float(soft) if isinstance(soft, int | float) and soft > 0 else None


class CeleryPublisher:
    """Publishes ids only, after commit, with ``argsrepr`` that makes Flower useful.

    An activity's soft time limit is its timeout plus ``inline_budget``: the
    delivery may go on to run the run's next activities inline for that long,
    each only if its own whole timeout still fits (see ``Performer``).
    """

    def __init__(self, app: Celery, inline_budget: float = 0.0) -> None:
        self.app = app
        self.inline_budget = inline_budget
        self._queues: dict[tuple[str, str | None], str | None] = {}

    def queue_of(self, activity: str, queue: str | None) -> str | None:
        """The queue Celery routes this activity's messages to (routes included)."""
        key = (activity, queue)
        if key not in self._queues:
            options = {"queue": queue} if queue is not None else {}
            routed = self.app.amqp.router.route(options, activity, (), {}).get("queue")
            self._queues[key] = getattr(routed, "name", routed)
        return self._queues[key]

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.app.send_task(
            ADVANCE,
            args=[run_id],
            countdown=countdown,
            root_id=run_id,
            argsrepr=f"run={run_id}",
            ignore_result=True,
        )

    def publish_advances(self, run_ids: Sequence[str]) -> None:
        """Wake many runs, ``WAKE_BATCH`` to a message, all in one broker round trip
        where the transport can (a Redis pipeline)."""
        chunks = [list(run_ids[i : i + WAKE_BATCH]) for i in range(0, len(run_ids), WAKE_BATCH)]
        with self.app.producer_or_acquire() as producer, producer.batch():
            for chunk in chunks:
                self.app.send_task(ADVANCE_MANY, args=[chunk], root_id=chunk[0],
                                   argsrepr=f"runs={len(chunk)} first={chunk[0]}",
                                   ignore_result=True, producer=producer)  # fmt: skip

    def publish_activities(self, messages: Sequence[TaskMessage]) -> None:
        """Many messages through one producer (a fan-out), pipelined where the
        transport can (Redis): a producer from the pool per message, and a round trip
        per message, cost most of a publish."""
        with self.app.producer_or_acquire() as producer, producer.batch():
            for message in messages:
                self.publish_activity(message, producer)

    def publish_activity(self, message: TaskMessage, producer: Any = None) -> None:
        options: dict[str, Any] = {}
        if message.queue is not None:
            options["queue"] = message.queue
        if message.priority is not None:
            options["priority"] = message.priority
        self.app.send_task(
            message.activity,
            args=[message.task_id, message.attempt],
            task_id=f"{message.task_id}-{message.attempt}",
            countdown=message.countdown or None,
            soft_time_limit=message.timeout + self.inline_budget,
            time_limit=message.timeout + self.inline_budget + HARD_LIMIT_GRACE,
            root_id=message.run_id,
            argsrepr=(
                f"run={message.run_id} activity={message.activity} attempt={message.attempt}"
            ),
            ignore_result=True,
            producer=producer,
            **options,
        )
