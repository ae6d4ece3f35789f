"""workflow.patched and workflow.logger: lenient markers in the journal."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from continuum_celery import workflow
from continuum_celery.engine.commands import Completed, Decision, Failed, Suspended
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from tests.unit.driver import Driver, FakeLive, activity

INFO = WorkflowInfo("run-1", "tests.workflow")
LOGGER = "continuum_celery.workflow"
calls: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()


def _charge(amount: int) -> int:
    calls["charge"] += 1
    return amount


def _fee(amount: int) -> int:
    calls["fee"] += 1
    return amount // 10


charge = activity(_charge, "shop.charge")
fee = activity(_fee, "shop.fee")
ACTIVITIES = [charge, fee]


def before_patch() -> int:
    return charge(100)


def after_patch() -> list[object]:
    extra = fee(100) if workflow.patched("add-fee") else 0
    total = charge(100) + extra
    return [workflow.patched("add-fee"), total]


def test_patched_is_true_on_a_fresh_run_and_records_one_marker() -> None:
    driver = Driver(after_patch, ACTIVITIES)
    assert driver.run() == Completed([True, 110])
    patched = driver.events("patched")
    assert [(e.seq, e.command_id, e.data) for e in patched] == [
        (1, "patched:add-fee:0", {"patch_id": "add-fee", "value": True})
    ]
    assert driver.types()[1:] == ["activity_scheduled", "activity_completed"] * 2


def test_patched_is_false_when_replaying_a_history_from_before_the_patch() -> None:
    old = Driver(before_patch, ACTIVITIES)
    assert old.run() == Completed(100)

    new = Driver(after_patch, ACTIVITIES, history=old.history)
    decision = new.step()
    assert decision.outcome == Completed([False, 100])
    assert decision.commands == []  # no marker for the old run, memoized second answer
    assert calls == Counter({"charge": 1})


def test_patched_answer_sticks_for_the_whole_run() -> None:
    def asks_twice() -> list[bool]:
        first = workflow.patched("fix")
        charge(1)
        return [first, workflow.patched("fix")]

    old = Driver(before_patch, ACTIVITIES)
    old.run()
    replayed = Driver(asks_twice, ACTIVITIES, history=old.history)
    replayed.step()
    # the second call is at the live tail, yet it repeats the first answer
    assert replayed.outcome == Completed([False, False])
    assert replayed.decisions[-1].commands == []

    fresh = Driver(asks_twice, ACTIVITIES)
    assert fresh.run() == Completed([True, True])
    assert [e.command_id for e in fresh.events("patched")] == ["patched:fix:0"]


def test_recorded_marker_replays_as_true_without_new_events() -> None:
    driver = Driver(after_patch, ACTIVITIES)
    driver.run()
    decision = replay(after_patch, [], {}, driver.history, INFO, FakeLive())
    assert decision.commands == []
    assert decision.outcome == Completed([True, 110])


def test_removing_a_finished_patch_is_not_drift() -> None:
    driver = Driver(after_patch, ACTIVITIES)
    driver.run()

    def patch_removed() -> list[object]:
        extra = fee(100)  # the patched path is now the only path
        return [True, charge(100) + extra]

    decision = replay(patch_removed, [], {}, driver.history, INFO, FakeLive())
    assert decision.outcome == Completed([True, 110])
    assert decision.commands == []


def test_patched_at_the_live_tail_of_an_old_run_takes_the_new_path() -> None:
    old = Driver(before_patch, ACTIVITIES, hold=lambda command: True)
    assert old.run() == Suspended(("activity:shop.charge:0",))

    def patched_after_charge() -> list[object]:
        total = charge(100)
        if workflow.patched("audit"):
            total += fee(50)
        return [total]

    new = Driver(patched_after_charge, ACTIVITIES, history=old.history)
    new.complete("activity:shop.charge:0", 100)
    assert new.run() == Completed([105])
    assert [e.command_id for e in new.events("patched")] == ["patched:audit:0"]


def test_patch_ids_must_be_non_empty_strings() -> None:
    def wf() -> bool:
        return workflow.patched("")

    assert replay(wf, [], {}, [], INFO, FakeLive()).outcome == Failed(
        "TypeError: patch id must be a non-empty str, not ''"
    )


def test_dropping_a_log_line_before_a_patch_check_is_not_drift() -> None:
    def logged() -> int:
        workflow.logger.info("starting")
        return fee(100) if workflow.patched("add-fee") else charge(100)

    def quiet() -> int:
        return fee(100) if workflow.patched("add-fee") else charge(100)

    driver = Driver(logged, ACTIVITIES)
    assert driver.run() == Completed(10)
    assert driver.types()[:2] == ["workflow_log", "patched"]
    assert replay(quiet, [], {}, driver.history, INFO, FakeLive()).outcome == Completed(10)


# --- logging ----------------------------------------------------------------------------


def chatty(order: str) -> int:
    workflow.logger.info("checkout %s started", order)
    total = charge(7)
    workflow.logger.warning("charged %d", total)
    workflow.logger.debug("debug detail")
    workflow.logger.error("done")
    return total


def test_logger_speaks_once_per_call_at_the_live_tail(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    driver = Driver(chatty, ACTIVITIES, ["o-9"])
    assert driver.run() == Completed(7)

    assert len(driver.decisions) == 2
    records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert records == [
        (LOGGER, "INFO", "[run-1] checkout o-9 started"),
        (LOGGER, "WARNING", "[run-1] charged 7"),
        (LOGGER, "DEBUG", "[run-1] debug detail"),
        (LOGGER, "ERROR", "[run-1] done"),
    ]
    logs = driver.events("workflow_log")
    assert [(e.command_id, e.data) for e in logs] == [
        ("workflow_log:log:0", {"level": "INFO", "message": "checkout o-9 started"}),
        ("workflow_log:log:1", {"level": "WARNING", "message": "charged 7"}),
        ("workflow_log:log:2", {"level": "DEBUG", "message": "debug detail"}),
        ("workflow_log:log:3", {"level": "ERROR", "message": "done"}),
    ]


def test_logger_is_silent_on_replay(caplog: pytest.LogCaptureFixture) -> None:
    driver = Driver(chatty, ACTIVITIES, ["o-9"])
    driver.run()
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    decision = replay(chatty, ["o-9"], {}, driver.history, INFO, FakeLive())
    assert decision == Decision([], Completed(7))
    assert caplog.records == []


def test_log_lines_added_to_old_code_stay_silent_and_unrecorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = Driver(before_patch, ACTIVITIES)
    old.run()
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    def now_logs() -> int:
        workflow.logger.info("about to charge")
        return charge(100)

    decision = replay(now_logs, [], {}, old.history, INFO, FakeLive())
    assert decision.outcome == Completed(100)
    assert decision.commands == []
    assert caplog.records == []


def test_log_lines_removed_from_code_are_not_drift() -> None:
    driver = Driver(chatty, ACTIVITIES, ["o-9"])
    driver.run()

    def silent(order: str) -> int:
        return charge(7)

    decision = replay(silent, ["o-9"], {}, driver.history, INFO, FakeLive())
    assert decision.outcome == Completed(7)
    assert decision.commands == []
