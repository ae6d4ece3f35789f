"""How workflow errors, bad values and misuse outside a workflow are reported."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from continuum_celery import workflow
from continuum_celery.definitions import (
    Activity,
    ActivityOptions,
    Registry,
    Workflow,
)
from continuum_celery.engine.commands import Completed, Failed
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from continuum_celery.engine.retry import RetryPolicy
from continuum_celery.errors import (
    ContinuumError,
    DuplicateRegistration,
    NotInWorkflow,
    UnknownActivity,
    UnknownWorkflow,
)
from tests.unit.driver import Driver, FakeLive, activity

INFO = WorkflowInfo("run-1", "tests.workflow")
NOT_JSON = "which is not JSON (use dict, list, str, int, float, bool or None)"
echo = activity(lambda value: value, "util.echo")


def run(fn: Callable[..., Any], *args: Any) -> Any:
    return replay(fn, list(args), {}, [], INFO, FakeLive()).outcome


def test_workflow_exception_becomes_the_failure() -> None:
    def wf(order: str) -> None:
        raise ValueError(f"bad order {order}")

    assert run(wf, "o-1") == Failed("ValueError: bad order o-1")


def test_exception_after_recorded_steps_fails_the_run() -> None:
    def wf() -> None:
        value = echo(41)
        raise LookupError(f"no item {value + 1}")

    driver = Driver(wf, [echo])
    assert driver.run() == Failed("LookupError: no item 42")
    assert driver.types() == ["activity_scheduled", "activity_completed"]


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ({1, 2}, "$ is a set"),
        ((1, 2), "$ is a tuple"),
        ({"at": datetime(2024, 1, 1, tzinfo=UTC)}, "$.at is a datetime"),
        ([1, b"raw"], "$[1] is a bytes"),
    ],
)
def test_non_json_result_fails_the_run(value: Any, detail: str) -> None:
    def wf() -> Any:
        return value

    assert run(wf) == Failed(f"NotSerializable: workflow result: {detail}, {NOT_JSON}")


def test_non_finite_and_non_string_key_results_fail_the_run() -> None:
    def nan() -> Any:
        return {"ratio": float("nan")}

    def int_keys() -> Any:
        return {1: "one"}

    assert run(nan) == Failed(
        "NotSerializable: workflow result: $.ratio is nan, which JSON cannot hold"
    )
    outcome = run(int_keys)
    assert isinstance(outcome, Failed)
    assert outcome.error.startswith("NotSerializable: workflow result: $ has a non-string key 1")


def test_self_referencing_result_fails_the_run_instead_of_crashing_replay() -> None:
    def wf() -> Any:
        loop: list[Any] = []
        loop.append(loop)
        return loop

    outcome = run(wf)  # today: RecursionError out of replay()
    assert isinstance(outcome, Failed)
    assert "workflow result" in outcome.error


def test_non_json_activity_arguments_fail_the_run() -> None:
    def wf() -> Any:
        return echo({"when": datetime(2024, 1, 1, tzinfo=UTC)})

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    assert decision.outcome == Failed(
        f"NotSerializable: arguments of util.echo: $.args[0].when is a datetime, {NOT_JSON}"
    )
    assert decision.commands == []


def test_oversized_activity_arguments_fail_with_the_limit() -> None:
    small = Activity(lambda text: text, "util.small", ActivityOptions(), max_payload_bytes=64)

    def wf() -> Any:
        return small("x" * 100)

    outcome = run(wf)
    assert outcome == Failed(
        "PayloadTooLarge: arguments of util.small is 125 bytes, over the 64-byte payload limit"
    )


def test_gather_takes_only_handles() -> None:
    def wf() -> Any:
        return workflow.gather(echo.start(1), 2)  # type: ignore[arg-type]

    assert run(wf) == Failed("TypeError: gather() takes activity handles, not int")


def test_gather_of_nothing_is_an_empty_list() -> None:
    def wf() -> Any:
        return workflow.gather()

    assert run(wf) == Completed([])


OUTSIDE: list[tuple[str, Callable[[], Any]]] = [
    ("workflow.sleep", lambda: workflow.sleep(1)),
    ("workflow.wait_signal", lambda: workflow.wait_signal("go")),
    ("workflow.gather", lambda: workflow.gather()),
    ("workflow.now", workflow.now),
    ("workflow.uuid4", workflow.uuid4),
    ("workflow.random", workflow.random),
    ("workflow.side_effect", lambda: workflow.side_effect(lambda: 1)),
    ("workflow.patched", lambda: workflow.patched("fix")),
    ("workflow.info", workflow.info),
    ("workflow.logger", lambda: workflow.logger.info("hello")),
    ("util.echo.start", lambda: echo.start(1)),
]


@pytest.mark.parametrize(("what", "call"), OUTSIDE, ids=[name for name, _ in OUTSIDE])
def test_workflow_calls_outside_a_workflow_raise_not_in_workflow(
    what: str, call: Callable[[], Any]
) -> None:
    with pytest.raises(NotInWorkflow, match=rf"^{what} can only be called inside workflow code$"):
        call()


def test_not_in_workflow_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        workflow.sleep(1)
    assert issubclass(NotInWorkflow, ContinuumError)


class RecordingStarter:
    def __init__(self) -> None:
        self.started: list[tuple[str, Any, Any, dict[str, Any]]] = []

    def __call__(self, workflow: Workflow, args: Any, kwargs: Any, **options: Any) -> Any:
        self.started.append((workflow.name, args, kwargs, options))
        return "handle"


def checkout(order: str) -> str:
    return order


def test_calling_a_workflow_directly_is_a_type_error() -> None:
    starter = RecordingStarter()
    wf = Workflow(checkout, "shop.checkout", starter)
    with pytest.raises(TypeError, match=r"workflow shop\.checkout is started with \.delay\(\)"):
        wf("o-1")
    assert starter.started == []


def test_delay_hands_the_call_to_the_starter() -> None:
    starter = RecordingStarter()
    wf = Workflow(checkout, "shop.checkout", starter)
    assert wf.delay("o-1", rush=True) == "handle"
    assert starter.started == [("shop.checkout", ("o-1",), {"rush": True}, {})]


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"timeout": 0}, ValueError, "timeout must be > 0"),
        ({"timeout": 86401}, ValueError, "at most 86400"),
        ({"timeout": True}, TypeError, "timeout must be a number"),
        ({"priority": 256}, ValueError, "priority must be an int from 0 to 255"),
        ({"priority": -1}, ValueError, "priority must be an int from 0 to 255"),
        ({"queue": ""}, ValueError, "queue must be a non-empty str"),
    ],
)
def test_bad_per_call_options_are_rejected(
    changes: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        echo.options(**changes)


def test_activity_options_need_a_retry_policy() -> None:
    with pytest.raises(TypeError, match="retry must be a RetryPolicy, not dict"):
        ActivityOptions(retry={"max_attempts": 3})  # type: ignore[arg-type]


def test_zero_priority_is_kept_by_options() -> None:
    call = echo.options(priority=0, retry=RetryPolicy(max_attempts=2))
    assert call.opts.priority == 0
    assert call.opts.retry.max_attempts == 2
    assert echo.defaults.priority is None


def test_registry_finds_by_name_and_rejects_duplicates() -> None:
    registry = Registry()
    registry.add_activity(echo)
    registry.add_activity(echo)  # the same definition again is fine
    assert registry.activity("util.echo") is echo
    with pytest.raises(DuplicateRegistration, match=r"'util[.]echo'"):
        registry.add_activity(activity(lambda value: value, "util.echo"))
    with pytest.raises(UnknownActivity, match=r"'util[.]nope'"):
        registry.activity("util.nope")
    with pytest.raises(UnknownWorkflow, match=r"'shop[.]nope'"):
        registry.workflow("shop.nope")
    assert issubclass(UnknownWorkflow, LookupError)
    assert issubclass(DuplicateRegistration, ValueError)
