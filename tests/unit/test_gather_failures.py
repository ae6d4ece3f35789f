"""A gather that meets several failures raises the one journaled first, live and on replay.

Live, a gather raises as soon as one failure lands; other failures land later. A
replay from the top finds all of them in the history and must still raise the
one the live run saw, or the run would return a value its own journal contradicts.
"""

from __future__ import annotations

from typing import Any

from continuum_celery import testing, workflow
from continuum_celery.engine.commands import Completed, Decision, Suspended
from continuum_celery.engine.replay import replay
from continuum_celery.errors import ActivityFailed
from tests.unit.driver import Driver, FakeLive, activity
from tests.unit.test_replay import INFO


def _fail(label: str) -> None:
    raise ValueError(label)


slow = activity(_fail, "ops.slow_fail")
fast = activity(_fail, "ops.fast_fail")
note = activity(lambda seen: seen, "ops.note")
SLOW, FAST, NOTE = "activity:ops.slow_fail:0", "activity:ops.fast_fail:0", "activity:ops.note:0"


def first_failure_seen() -> dict[str, Any]:
    """Catches the gather's failure, journals which one it saw, then sleeps."""
    handles = [slow.start("slow"), fast.start("fast")]
    try:
        workflow.gather(*handles)
        seen = "none"
    except ActivityFailed as error:
        seen = error.error_message
    noted = note(seen)
    workflow.sleep(60)
    return {"seen": seen, "noted": noted}


def fast_then_slow() -> Driver:
    """The fast activity fails first; the slow one fails while the note is pending."""
    driver = Driver(first_failure_seen, [slow, fast, note], hold=lambda command: True)
    assert isinstance(driver.run(), Suspended)
    driver.run_activity(FAST)
    assert isinstance(driver.run(), Suspended)  # live: saw "fast", scheduled the note
    driver.run_activity(SLOW)
    driver.run_activity(NOTE)
    driver.run()
    driver.fire("timer:sleep:0")
    return driver


def test_live_run_and_replay_from_the_top_see_the_failure_that_landed_first() -> None:
    driver = fast_then_slow()

    assert driver.run() == Completed({"seen": "fast", "noted": "fast"})
    types = [(e.type, e.command_id) for e in driver.history if e.type == "activity_failed"]
    assert types == [("activity_failed", FAST), ("activity_failed", SLOW)]
    again = replay(first_failure_seen, [], {}, driver.history, INFO, FakeLive())
    assert again == Decision([], Completed({"seen": "fast", "noted": "fast"}))


def test_every_prefix_of_the_history_replays_to_what_was_decided_after_it() -> None:
    driver = fast_then_slow()
    note_seq = next(e.seq for e in driver.history if e.command_id == NOTE)

    for cut in range(note_seq, len(driver.history) + 1):
        decision = replay(first_failure_seen, [], {}, driver.history[:cut], INFO, FakeLive())
        assert not decision.commands or decision.commands[0].command_id != NOTE
        assert decision.outcome != Completed({"seen": "slow", "noted": "fast"})


def test_a_recorded_history_with_two_failures_passes_assert_replays() -> None:
    driver = fast_then_slow()
    result = {"seen": "fast", "noted": "fast"}
    recorded = testing.RecordedRun("run-1", "tests.workflow", 1, [], {}, "completed", result,
                                   None, driver.history)  # fmt: skip

    assert testing.assert_replays(recorded, first_failure_seen).outcome == Completed(result)


def test_failures_that_were_journaled_together_raise_the_lower_seq() -> None:
    driver = Driver(first_failure_seen, [slow, fast, note], hold=lambda command: True)
    driver.run()
    driver.fail(FAST, "ValueError", "fast")
    driver.fail(SLOW, "ValueError", "slow")  # both land before the next replay

    decision = driver.step()
    assert [c.data["args"] for c in decision.commands] == [["fast"]]
