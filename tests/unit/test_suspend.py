"""The suspension unwinds workflow code and cannot be swallowed silently."""

from __future__ import annotations

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Failed, Suspended
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from tests.unit.driver import Driver, FakeLive, activity

INFO = WorkflowInfo("run-1", "tests.workflow")
step_a = activity(lambda: "a", "steps.a")
step_b = activity(lambda: "b", "steps.b")
ACTIVITIES = [step_a, step_b]

SWALLOWED = "SuspendSwallowed: "


def test_swallow_then_return_fails_the_run() -> None:
    def wf() -> str:
        try:  # noqa: SIM105 - the pattern under test, spelled out
            step_a()
        except BaseException:
            pass
        return "done"

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    assert decision.outcome == Failed(
        SWALLOWED + "workflow returned while waiting on activity:steps.a:0: "
        "the suspension was caught by workflow code"
    )


def test_swallow_then_another_effect_fails_without_scheduling_it() -> None:
    def wf() -> str:
        try:  # noqa: SIM105 - the pattern under test, spelled out
            step_a()
        except BaseException:
            pass
        return step_b()

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    assert decision.outcome == Failed(
        SWALLOWED + "workflow code caught the suspension while waiting on activity:steps.a:0 "
        "and kept running; do not catch BaseException around workflow calls"
    )
    assert [c.command_id for c in decision.commands] == ["activity:steps.a:0"]


def test_swallow_then_raise_reports_the_swallow() -> None:
    def wf() -> str:
        try:  # noqa: SIM105 - the pattern under test, spelled out
            step_a()
        except BaseException:
            pass
        raise ValueError("unrelated")

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    assert decision.outcome == Failed(
        SWALLOWED + "suspension swallowed, then the workflow raised ValueError('unrelated')"
    )


def test_catching_the_swallow_error_does_not_help() -> None:
    def wf() -> str:
        try:  # noqa: SIM105 - the pattern under test, spelled out
            step_a()
        except BaseException:
            pass
        try:
            workflow.sleep(1)
        except Exception:
            return "still going"
        return "unreachable"

    decision = replay(wf, [], {}, [], INFO, FakeLive())
    outcome = decision.outcome
    assert isinstance(outcome, Failed)
    assert outcome.error.startswith(SWALLOWED + "workflow returned while waiting on")
    assert [c.type for c in decision.commands] == ["activity_scheduled"]


def test_swallowing_a_recorded_but_unfinished_activity_also_fails() -> None:
    def wf() -> str:
        try:  # noqa: SIM105 - the pattern under test, spelled out
            step_a()
        except BaseException:
            pass
        return "done"

    driver = Driver(wf, ACTIVITIES, hold=lambda command: True)
    driver.step()  # journals the schedule; the replay below is not at the live tail
    decision = driver.replay()
    assert decision.commands == []
    outcome = decision.outcome
    assert isinstance(outcome, Failed)
    assert outcome.error.startswith(SWALLOWED)


def test_except_exception_lets_the_suspension_through() -> None:
    def wf() -> str:
        try:
            return f"got {step_a()}"
        except Exception as error:  # the suspension is not an Exception
            return f"caught {type(error).__name__}"

    driver = Driver(wf, ACTIVITIES, hold=lambda command: True)
    assert driver.run() == Suspended(("activity:steps.a:0",))
    driver.run_activity("activity:steps.a:0")
    assert driver.run() == Completed("got a")


def test_except_exception_still_catches_a_real_activity_failure() -> None:
    def wf() -> str:
        try:
            return f"got {step_a()}"
        except Exception as error:
            return f"caught {type(error).__name__}"

    driver = Driver(wf, ACTIVITIES, hold=lambda command: True)
    driver.run()
    driver.fail("activity:steps.a:0", "TimeoutError", "too slow")
    assert driver.run() == Completed("caught ActivityFailed")


def test_effects_in_a_finally_block_do_not_fail_a_suspending_run() -> None:
    def wf() -> str:
        try:
            return step_a()
        finally:
            workflow.logger.info("step a left")

    driver = Driver(wf, ACTIVITIES, hold=lambda command: True)
    assert driver.run() == Suspended(("activity:steps.a:0",))
