"""Celery tasks: the replay wakeup, upkeep, and one task per activity.

Each task decodes ids from the message, refuses anything malformed (logging a
warning and acking, so a forged message runs nothing), and hands over to the
runtime. Celery's own retries and result backend are never used: the journal
owns both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init

from ..journal.records import TaskMessage

log = logging.getLogger("continuum_celery.celery")

ADVANCE = "continuum.advance"
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


def register_advance(app: Celery, advance: Callable[[str], object]) -> None:
    @app.task(name=ADVANCE, **_TASK_OPTIONS)  # type: ignore[untyped-decorator]
    def continuum_advance(*args: Any, **kwargs: Any) -> None:
        run_id = valid_uuid(args[0]) if len(args) == 1 and not kwargs else None
        if run_id is None:
            log.warning("ignored malformed %s message: args=%r kwargs=%r", ADVANCE, args, kwargs)
            return
        advance(run_id)


def register_upkeep(app: Celery, upkeep: Callable[[], object], interval: float) -> None:
    @app.task(name=UPKEEP, ignore_result=True, serializer="json", typing=False, shared=False)  # type: ignore[untyped-decorator]
    def continuum_upkeep(*args: Any, **kwargs: Any) -> None:
        upkeep()

    app.add_periodic_task(interval, continuum_upkeep.s(), name=UPKEEP)


def register_activity(app: Celery, name: str, perform: Callable[[str, int, str], object]) -> None:
    """One Celery task per activity, named after it, so Flower groups by activity."""

    def run_activity(*args: Any, **kwargs: Any) -> None:
        task_id = valid_uuid(args[0]) if len(args) == 2 and not kwargs else None
        attempt = valid_attempt(args[1]) if task_id is not None else None
        if task_id is None or attempt is None:
            log.warning("ignored malformed %s message: args=%r kwargs=%r", name, args, kwargs)
            return
        perform(task_id, attempt, name)

    run_activity.__name__ = name.rsplit(".", 1)[-1]
    app.task(name=name, **_TASK_OPTIONS)(run_activity)


class CeleryPublisher:
    """Publishes ids only, after commit, with ``argsrepr`` that makes Flower useful."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.app.send_task(
            ADVANCE,
            args=[run_id],
            countdown=countdown,
            root_id=run_id,
            argsrepr=f"run={run_id}",
            ignore_result=True,
        )

    def publish_activity(self, message: TaskMessage) -> None:
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
            soft_time_limit=message.timeout,
            time_limit=message.timeout + HARD_LIMIT_GRACE,
            root_id=message.run_id,
            argsrepr=(
                f"run={message.run_id} activity={message.activity} attempt={message.attempt}"
            ),
            ignore_result=True,
            **options,
        )
