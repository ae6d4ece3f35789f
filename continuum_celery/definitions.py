"""Declared activities and workflows, and the registry that finds them by name."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .engine import context, effects
from .engine.effects import ActivityHandle
from .engine.guard import declare_workflow_code, engine_side
from .engine.retry import RetryPolicy
from .errors import DuplicateRegistration, UnknownActivity, UnknownWorkflow
from .payloads import DEFAULT_MAX_PAYLOAD_BYTES, check_text, normalize_args

if TYPE_CHECKING:
    from .client import RunHandle

DEFAULT_TIMEOUT = 60.0
"""Seconds one attempt may run before its claim dies and the attempt counts as failed."""


def check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0 or timeout > 86400:
        raise ValueError(f"timeout must be > 0 and at most 86400 seconds, not {timeout!r}")
    return float(timeout)


def check_priority(priority: object) -> int | None:
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 255:
        raise ValueError(f"priority must be an int from 0 to 255, not {priority!r}")
    return priority


@dataclass(frozen=True)
class ActivityOptions:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = DEFAULT_TIMEOUT
    queue: str | None = None
    priority: int | None = None
    idempotency_key: IdempotencyKey | None = None
    compensate: BoundActivity | None = None

    def __post_init__(self) -> None:
        key = self.idempotency_key
        if key is not None and not callable(key):
            check_key(key)
        if self.compensate is not None and not isinstance(self.compensate, BoundActivity):
            raise TypeError("compensate must be an activity bound with .bind(...)")
        if not isinstance(self.retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(self.retry).__name__}")
        check_timeout(self.timeout)
        check_priority(self.priority)
        if self.queue is not None and (not isinstance(self.queue, str) or not self.queue):
            raise ValueError(f"queue must be a non-empty str, not {self.queue!r}")
        if self.queue is not None:
            check_text(self.queue, "queue")

    @cached_property
    def _retry_dict(self) -> dict[str, Any]:
        return self.retry.to_dict()

    def spec(
        self, args: list[Any] | None = None, kwargs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """What the task row needs; journaled with ``activity_scheduled``."""
        spec: dict[str, Any] = {
            "queue": self.queue,
            "priority": self.priority,
            "timeout": self.timeout,
            "retry": self._retry_dict,
        }
        key = self.idempotency_key
        if callable(key):
            key = check_key(key(*(args or []), **(kwargs or {})))
        if key is not None:
            spec["idempotency_key"] = key
        if self.compensate is not None:
            spec["compensate"] = self.compensate.describe()
        return spec


IdempotencyKey = str | Callable[..., str]


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise ValueError(
            f"idempotency_key must be a non-empty str of at most 255 chars, not {key!r}"
        )
    return check_text(key, "idempotency_key")


class Activity:
    """A side-effecting function the journal runs at least once and records once.

    Inside a workflow, calling it schedules it durably and returns its result (or
    raises ActivityFailed); outside a workflow it is the plain function.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        options: ActivityOptions,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.fn = fn
        self.name = check_text(name, "activity name")
        self.defaults = options
        self.max_payload_bytes = max_payload_bytes
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self.__wrapped__ = fn

    @engine_side
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return ActivityCall(self, self.defaults)(*args, **kwargs)

    @engine_side
    def start(self, *args: Any, **kwargs: Any) -> ActivityHandle:
        return ActivityCall(self, self.defaults).start(*args, **kwargs)

    def bind(self, *args: Any, **kwargs: Any) -> BoundActivity:
        """This activity with its arguments fixed, e.g. as a compensation."""
        arg_list, kw = normalize_args(
            args, kwargs, f"arguments of {self.name}", self.max_payload_bytes
        )
        return BoundActivity(self, arg_list, kw)

    def options(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        idempotency_key: IdempotencyKey | None = None,
        compensate: BoundActivity | None = None,
    ) -> ActivityCall:
        """Override retry, timeout, queue, priority, idempotency key or compensation."""
        changes: dict[str, Any] = {
            k: v
            for k, v in {
                "retry": retry,
                "timeout": timeout,
                "queue": queue,
                "priority": priority,
                "idempotency_key": idempotency_key,
                "compensate": compensate,
            }.items()
            if v is not None
        }
        return ActivityCall(self, replace(self.defaults, **changes))

    def __repr__(self) -> str:
        return f"<Activity {self.name}>"


@dataclass(frozen=True)
class BoundActivity:
    """An activity plus fixed arguments: what ``compensate=`` registers."""

    activity: Activity
    args: list[Any]
    kwargs: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        spec = self.activity.defaults.spec(self.args, self.kwargs)
        spec.pop("compensate", None)
        return {"activity": self.activity.name, "args": self.args, "kwargs": self.kwargs,
                "spec": spec}  # fmt: skip


class ActivityCall:
    """An activity with per-call options, ready to be called or started."""

    def __init__(self, activity: Activity, options: ActivityOptions) -> None:
        self.activity = activity
        self.opts = options

    @engine_side
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if context.current() is None:
            return self.activity.fn(*args, **kwargs)
        return self.start(*args, **kwargs).result()

    @engine_side
    def start(self, *args: Any, **kwargs: Any) -> ActivityHandle:
        """Schedule without waiting; collect with ``handle.result()`` or ``workflow.gather``."""
        state = context.require(f"{self.activity.name}.start")
        return effects.start_activity(
            state, self.activity.name, lambda: self._describe(args, kwargs)
        )

    def _describe(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The ``activity_scheduled`` data: validated arguments plus the task's options."""
        what = f"arguments of {self.activity.name}"
        arg_list, kw = normalize_args(args, kwargs, what, self.activity.max_payload_bytes)
        data = {"activity": self.activity.name, "attempt": 1, "args": arg_list, "kwargs": kw}
        return data | self.opts.spec(arg_list, kw)


class Workflow:
    """A durable workflow. Start it like a Celery task: ``.delay()`` / ``.apply_async()``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        starter: Starter,
        version: int = 1,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        guarded: bool = True,
    ) -> None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"workflow version must be an int >= 1, not {version!r}")
        if not isinstance(guarded, bool):
            raise TypeError(f"guard must be True or False, not {guarded!r}")
        self.fn = fn
        self.guarded = guarded
        """Whether the determinism guard watches this workflow's code."""
        if guarded:
            declare_workflow_code(fn)
        self.name = check_text(name, "workflow name")
        self.version = version
        self.max_payload_bytes = max_payload_bytes
        self._starter = starter
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self.__wrapped__ = fn

    def delay(self, *args: Any, **kwargs: Any) -> RunHandle:
        return self._starter(self, args, kwargs)

    def apply_async(
        self,
        args: Any = (),
        kwargs: dict[str, Any] | None = None,
        *,
        run_id: str | None = None,
        idempotency_key: str | None = None,
        namespace: str = "default",
        attributes: dict[str, Any] | None = None,
        eta: Any = None,
    ) -> RunHandle:
        return self._starter(
            self,
            args,
            kwargs,
            run_id=run_id,
            idempotency_key=idempotency_key,
            namespace=namespace,
            attributes=attributes,
            eta=eta,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"workflow {self.name} is started with .delay() or .apply_async(), not called"
        )

    def __repr__(self) -> str:
        return f"<Workflow {self.name} v{self.version}>"


Starter = Callable[..., "RunHandle"]
"""Starts a run of a workflow: ``starter(workflow, args, kwargs, **options)``."""


class Registry:
    """Name (and version) -> definition, for the worker side that only gets names."""

    def __init__(self) -> None:
        self.workflows: dict[str, dict[int, Workflow]] = {}
        self.activities: dict[str, Activity] = {}

    def add_workflow(self, workflow: Workflow) -> None:
        versions = self.workflows.setdefault(workflow.name, {})
        existing = versions.get(workflow.version)
        if existing is not None and existing.fn is not workflow.fn:
            raise DuplicateRegistration(
                f"workflow {workflow.name!r} version {workflow.version} is already registered"
            )
        versions[workflow.version] = workflow

    def add_activity(self, activity: Activity) -> None:
        existing = self.activities.get(activity.name)
        if existing is not None and existing.fn is not activity.fn:
            raise DuplicateRegistration(
                f"another activity is already registered as {activity.name!r}"
            )
        self.activities[activity.name] = activity

    def workflow(self, name: str, version: int | None = None) -> Workflow:
        """The given version, or the newest one when ``version`` is None."""
        versions = self.workflows.get(name)
        if not versions:
            raise UnknownWorkflow(f"no workflow named {name!r} is registered")
        found = versions.get(max(versions) if version is None else version)
        if found is None:
            raise UnknownWorkflow(
                f"workflow {name!r} version {version} is not registered here "
                f"(this process has {sorted(versions)})"
            )
        return found

    def activity(self, name: str) -> Activity:
        found = self.activities.get(name)
        if found is None:
            raise UnknownActivity(f"no activity named {name!r} is registered")
        return found
