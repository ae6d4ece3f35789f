"""The determinism guard: each banned call made by workflow code is refused at the
call, with the replacement named; libraries, the engine, other threads and
``guard=False`` workflows are left alone."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import pathlib
import random
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from time import time as bound_early  # bound before any workflow runs
from typing import Any

import pytest

from continuum_celery import NondeterminismError, workflow
from continuum_celery.engine import guard
from continuum_celery.engine.commands import Blocked, Completed, Decision
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.events import Event
from continuum_celery.engine.replay import replay
from continuum_celery.engine.residents import ResidentCache
from tests.unit.driver import FakeLive

INFO = WorkflowInfo("run-1", "tests.guard")

BANNED_CALLS: list[tuple[str, Callable[[], Any], str, str]] = [
    ("time", lambda: time.time(), "time.time()", "workflow.now()"),
    ("time_ns", lambda: time.time_ns(), "time.time_ns()", "workflow.now()"),
    ("monotonic", lambda: time.monotonic(), "time.monotonic()", "workflow.now()"),
    ("perf_counter", lambda: time.perf_counter(), "time.perf_counter()", "workflow.now()"),
    ("bound early", lambda: bound_early(), "time.time()", "workflow.now()"),
    ("sleep", lambda: time.sleep(5), "time.sleep()", "workflow.sleep()"),
    ("now", lambda: dt.datetime.now(), "datetime.datetime.now()", "workflow.now()"),
    ("now utc", lambda: dt.datetime.now(dt.UTC), "datetime.datetime.now()", "workflow.now()"),
    ("utcnow", lambda: dt.datetime.utcnow(), "datetime.datetime.utcnow()", "workflow.now()"),
    ("today", lambda: dt.date.today(), "datetime.date.today()", "workflow.now()"),
    ("random", lambda: random.random(), "random.random()", "workflow.random()"),
    ("randint", lambda: random.randint(1, 6), "random.randint()", "workflow.random()"),
    ("choice", lambda: random.choice("ab"), "random.choice()", "workflow.random()"),
    ("shuffle", lambda: random.shuffle([1, 2]), "random.shuffle()", "workflow.random()"),
    ("uuid4", lambda: uuid.uuid4(), "uuid.uuid4()", "workflow.uuid4()"),
    ("uuid1", lambda: uuid.uuid1(), "uuid.uuid1()", "workflow.uuid4()"),
    ("urandom", lambda: os.urandom(4), "os.urandom()", "workflow.random()"),
    ("token_hex", lambda: secrets.token_hex(), "secrets.token_hex()", "workflow.side_effect()"),
    ("secret choice", lambda: secrets.choice("ab"), "secrets.choice()", "workflow.side_effect"),
    ("open", lambda: open(__file__), "open()", "an activity"),  # noqa: SIM115
    ("os.open", lambda: os.open(__file__, os.O_RDONLY), "os.open()", "an activity"),
    ("read_text", lambda: pathlib.Path(__file__).read_text(), "Path.read_text()", "an activity"),
    ("socket", lambda: socket.socket(), "socket.socket()", "an activity"),
    ("connect", lambda: socket.create_connection(("127.0.0.1", 9)), "create_connection()", ""),
]


def run(fn: Callable[[], Any], guarded: bool = True) -> Decision:
    return replay(fn, [], {}, [], INFO, FakeLive(), guarded=guarded)


def blocked_error(decision: Decision) -> str:
    assert isinstance(decision.outcome, Blocked), decision.outcome
    return decision.outcome.error


@pytest.mark.parametrize(("call", "shown", "instead"), [c[1:] for c in BANNED_CALLS],
                         ids=[c[0] for c in BANNED_CALLS])  # fmt: skip
def test_each_banned_call_is_refused_naming_it_and_its_replacement(
    call: Callable[[], Any], shown: str, instead: str
) -> None:
    def flow() -> str:
        call()
        return "went on"

    error = blocked_error(run(flow))
    assert error.startswith("NondeterminismError: ")
    assert shown in error and instead in error
    assert "test_guard.py:" in error  # where: the line in workflow code
    assert sys.getprofile() is None  # the guard is gone after the pass


def test_the_refused_call_does_not_happen() -> None:
    opened: list[Any] = []

    def flow() -> None:
        opened.append(open(__file__))  # noqa: SIM115  (refused before it opens)

    run(flow)
    assert opened == []


def test_a_caught_violation_still_blocks_the_run() -> None:
    def flow() -> str:
        with contextlib.suppress(NondeterminismError):
            random.random()
        return "swallowed"

    assert "random.random()" in blocked_error(run(flow))


def test_effects_after_a_caught_violation_raise_it_again() -> None:
    seen: list[str] = []

    def flow() -> None:
        with contextlib.suppress(Exception):
            time.time()
        try:
            workflow.sleep(1)
        except NondeterminismError as error:
            seen.append(str(error))

    decision = run(flow)
    assert decision.commands == []  # nothing journaled after the violation
    assert "time.time()" in seen[0]


def test_deterministic_replacements_and_libraries_are_allowed() -> None:
    def flow() -> dict[str, Any]:
        logging.getLogger("tests.guard").warning("logging reads the clock: %s", "fine")
        workflow.logger.info("so does the replay-safe logger")
        seeded = random.Random(7)  # an instance of one's own, seeded: deterministic
        return {
            "now": workflow.now().isoformat(),
            "roll": workflow.random(),
            "id": str(workflow.uuid4()),
            "stamp": workflow.side_effect(lambda: time.time()) > 0,  # its purpose
            "seeded": [seeded.random(), seeded.randint(1, 6)],
            "parsed": dt.datetime.fromisoformat("2024-01-01T00:00:00").year,
        }

    outcome = run(flow).outcome
    assert isinstance(outcome, Completed), outcome
    assert outcome.result["stamp"] is True
    assert outcome.result["parsed"] == 2024


def test_guard_off_lets_the_code_call_anything() -> None:
    def flow() -> float:
        return time.time() + random.random()

    assert isinstance(run(flow, guarded=False).outcome, Completed)


def test_other_threads_are_unaffected_while_workflow_code_runs() -> None:
    results: list[Any] = []

    def elsewhere() -> None:
        results.extend([time.time(), random.random(), uuid.uuid4()])
        with open(__file__) as handle:
            results.append(handle.readline())

    def flow() -> str:
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert guard.active()  # still watching this thread
        return "done"

    assert isinstance(run(flow).outcome, Completed)
    assert len(results) == 4


def test_a_resident_instance_is_unwatched_while_parked_and_watched_when_resumed() -> None:
    def flow() -> None:
        workflow.sleep(1)
        time.monotonic()

    cache, live = ResidentCache(), FakeLive()
    first = cache.decide(flow, [], {}, [], INFO, live)
    assert sys.getprofile() is None and "run-1" in cache
    timer = first.commands[0]
    history = [
        Event(1, timer.type, timer.command_id, timer.data),
        Event(2, "timer_fired", timer.command_id, {"timer_id": timer.command_id}),
    ]
    assert "time.monotonic()" in blocked_error(cache.decide(flow, [], {}, history, INFO, live))
    assert "run-1" not in cache  # not kept: the next try replays from the top
    assert sys.getprofile() is None


def test_another_profiler_is_left_alone() -> None:
    def mine(frame: Any, event: str, arg: Any) -> None:
        return None

    sys.setprofile(mine)
    try:
        outcome = run(lambda: time.time()).outcome
        assert sys.getprofile() is mine
    finally:
        sys.setprofile(None)
    assert isinstance(outcome, Completed)


def test_library_files_are_not_workflow_code_unless_they_declare_a_workflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard, "_workflow_files", set())
    monkeypatch.setattr(guard, "_verdicts", {})
    assert guard.is_workflow_code(__file__)
    assert not guard.is_workflow_code(logging.__file__)
    assert not guard.is_workflow_code(guard.__file__)
    assert not guard.is_workflow_code(pytest.__file__)
    assert not guard.is_workflow_code("<frozen importlib._bootstrap>")
    code = compile("def flow():\n    pass\n", pytest.__file__, "exec")
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    guard.declare_workflow_code(namespace["flow"])  # an app installed in site-packages
    assert guard.is_workflow_code(pytest.__file__)


def test_guard_is_on_by_default_and_off_per_workflow_or_per_continuum() -> None:
    from celery import Celery

    from continuum_celery import Continuum

    def make(**options: Any) -> Continuum:
        app = Celery("guard-options", set_as_current=False)
        return Continuum(app, "postgresql://127.0.0.1:1/none", worker_upkeep=False, **options)

    cx, lax = make(), make(determinism_guard=False)
    assert cx.workflow(name="a")(lambda: None).guarded is True
    assert cx.workflow(name="b", guard=False)(lambda: None).guarded is False
    assert lax.workflow(name="c")(lambda: None).guarded is False
    assert lax.workflow(name="d", guard=True)(lambda: None).guarded is True
    with pytest.raises(TypeError, match="guard must be True or False"):
        cx.workflow(name="e", guard="no")(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="determinism_guard must be True or False"):
        make(determinism_guard=1)
    assert "e" not in cx.registry.workflows  # refused before it was registered
