"""The workflows and activities the integration tests drive through real workers.

Configured from the environment, as a deployment would be: the database from
``CONTINUUM_DATABASE_URL``, the broker from ``CELERY_BROKER_URL``. Activities
append one line per body execution to ``$CX_TEST_STATE_DIR/calls-<key>``, so a
test can count how often a body really ran, across processes.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from celery import Celery

from continuum_celery import (
    ActivityCancelled,
    ActivityFailed,
    Continuum,
    NonRetryableError,
    RetryPolicy,
    RunCancelled,
    RunFailed,
    activity,
    workflow,
)
from continuum_celery.runtime.sweeper import UpkeepSettings

app = Celery("flows", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)
cx = Continuum(
    app,
    claim_ttl=1.0,  # short, so any activity over ~0.3 s exercises claim renewal
    upkeep_interval=0.5,
    upkeep=UpkeepSettings(wake_stale_after=1.0, task_stale_after=3.0),
)

STATE_DIR = Path(os.environ.get("CX_TEST_STATE_DIR", "/tmp/cx-test-state"))


def record_call(key: str) -> int:
    """Count one body execution under ``key``; returns how many ran before this one."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    path = STATE_DIR / f"calls-{key}"
    before = len(path.read_text().splitlines()) if path.exists() else 0
    with path.open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    return before


def calls(key: str) -> int:
    path = STATE_DIR / f"calls-{key}"
    return len(path.read_text().splitlines()) if path.exists() else 0


# --- activities --------------------------------------------------------------------


@cx.activity()
def add(a: int, b: int) -> int:
    return a + b


@cx.activity()
def counted(key: str, value: Any, pause: float = 0.0) -> Any:
    record_call(key)
    time.sleep(pause)
    return value


@cx.activity(retry=RetryPolicy(max_attempts=4, backoff="constant", base=0.2))
def flaky(key: str, failures: int) -> int:
    """Fails its first ``failures`` executions, then returns the execution count."""
    before = record_call(key)
    if before < failures:
        raise ConnectionError(f"transient failure {before + 1}")
    return before + 1


@cx.activity(retry=RetryPolicy(max_attempts=3, backoff="exponential", base=0.1))
def always_fails(key: str) -> None:
    record_call(key)
    raise ValueError(f"bad input {key}")


@cx.activity(retry=RetryPolicy(max_attempts=5, base=0.1))
def refuses(key: str) -> None:
    record_call(key)
    raise NonRetryableError("card declined")


@cx.activity(retry=RetryPolicy(max_attempts=3, base=0.1))
def unserializable(key: str) -> object:
    record_call(key)
    return {"when": object()}


@cx.activity(timeout=1.0, retry=RetryPolicy(max_attempts=2, base=0.1))
def too_slow(key: str) -> str:
    record_call(key)
    time.sleep(5)
    return "finished"


@cx.activity(retry=RetryPolicy(max_attempts=1))
def fail_after(label: str, pause: float) -> None:
    time.sleep(pause)
    raise ValueError(label)


# --- workflows ---------------------------------------------------------------------


@cx.workflow()
def chain(steps: int) -> int:
    total = 0
    for i in range(steps):
        total = add(total, i)
    return total


@cx.workflow()
def fan_out(width: int) -> list[int]:
    handles = [add.start(i, i) for i in range(width)]
    return workflow.gather(*handles)


@cx.workflow()
def wait_for_signals(count: int) -> list[Any]:
    return [workflow.wait_signal("item") for _ in range(count)]


@cx.workflow()
def signal_or_timeout(timeout: float) -> str:
    try:
        return str(workflow.wait_signal("approve", timeout=timeout))
    except workflow.SignalTimeout:
        return "timed out"


@cx.workflow()
def sleeper(seconds: float) -> dict[str, float]:
    started = workflow.now()
    workflow.sleep(seconds)
    ended = workflow.now()
    return {"slept": (ended - started).total_seconds()}


@cx.workflow()
def retrying(key: str, failures: int) -> int:
    return flaky(key, failures)


@cx.workflow()
def exhausting(key: str) -> dict[str, Any]:
    try:
        always_fails(key)
    except ActivityFailed as error:
        return {"type": error.error_type, "message": error.error_message, "attempt": error.attempt}
    return {"type": None}


@cx.workflow()
def first_failure(key: str, rest: float) -> dict[str, Any]:
    """Gathers a slow and a fast failure, journals which one it saw, then rests."""
    handles = [fail_after.start("slow", 1.5), fail_after.start("fast", 0.1)]
    try:
        workflow.gather(*handles)
        seen = "none"
    except ActivityFailed as error:
        seen = error.error_message
    noted = counted(key, seen)
    workflow.sleep(rest)
    return {"seen": seen, "noted": noted}


@cx.workflow()
def uncaught_failure(key: str) -> None:
    refuses(key)


@cx.workflow()
def bad_result(key: str) -> str:
    try:
        unserializable(key)
    except ActivityFailed as error:
        return error.error_type
    return "no error"


@cx.workflow()
def timing_out(key: str) -> str:
    try:
        return str(too_slow(key))
    except ActivityFailed as error:
        return f"{error.error_type} after {error.attempt}"


@cx.workflow()
def slow_single(key: str, pause: float) -> Any:
    return counted(key, "done", pause)


@cx.workflow()
def order(order_id: str, amount: int) -> dict[str, Any]:
    """The README's shape: a charge, a review signal with a timeout, a short timer."""
    receipt = counted(f"charge-{order_id}", {"order": order_id, "amount": amount})
    try:
        verdict = workflow.wait_signal("review", timeout=30)
    except workflow.SignalTimeout:
        verdict = "approved"
    workflow.sleep(0.5)
    return {"status": "ok" if verdict == "approved" else "rejected", "receipt": receipt}


@cx.workflow()
def drifting(key: str) -> str:
    """Reads a file mid-workflow, which workflow code must never do: a stand-in for a
    deploy that changed the code under a waiting run."""
    if (STATE_DIR / f"variant-{key}").exists():
        add(1, 1)
    else:
        counted(key, 1)
    workflow.wait_signal("go")
    return "done"


@cx.workflow()
def rolls_dice(key: str) -> float:
    """Calls ``random.random()`` in workflow code: the determinism guard holds the run."""
    return add(1, 2) + random.random()


@cx.workflow(guard=False)
def rolls_dice_unguarded(key: str) -> float:
    """The same, with the guard switched off for this workflow."""
    return add(1, 2) + random.random()


@cx.activity(timeout=20.0)
def progress(key: str, seconds: float) -> int:
    """Outlives its 1 s claim TTL several times over, heart-beating as it goes."""
    record_call(key)
    beats = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            activity.heartbeat({"beats": beats})
        except ActivityCancelled:
            (STATE_DIR / f"cancelled-{key}").write_text(str(beats))
            raise
        beats += 1
        time.sleep(0.1)
    return beats


@cx.workflow()
def long_running(key: str, seconds: float) -> int:
    return progress(key, seconds)


# --- composition ----------------------------------------------------------------------


@cx.workflow()
def child_flow(n: int) -> int:
    return add(n, n)


@cx.workflow()
def parent_flow(count: int) -> dict[str, Any]:
    handles = [workflow.start_child(child_flow, i) for i in range(count)]
    return {"results": [h.result() for h in handles], "children": [h.run_id for h in handles]}


@cx.workflow()
def waiting_child() -> Any:
    return workflow.wait_signal("never")


@cx.workflow()
def parent_of_waiter() -> str:
    handle = workflow.start_child(waiting_child)
    try:
        return str(handle.result())
    except RunCancelled:
        return "child cancelled"


@cx.workflow()
def countdown(n: int, total: int) -> int:
    if n == 0:
        return total
    total = add(total, n)
    workflow.continue_as_new(n - 1, total)


@cx.workflow()
def relay(links: int, received: list[Any]) -> list[Any]:
    received = [*received, workflow.wait_signal("baton")]
    if links == 1:
        return received
    workflow.continue_as_new(links - 1, received)


@cx.activity()
def book(key: str, item: str) -> str:
    record_call(f"{key}-book")
    return f"booked {item}"


@cx.activity(retry=RetryPolicy(max_attempts=2, base=0.1))
def unbook(key: str, item: str) -> str:
    record_call(f"{key}-unbook")
    with (STATE_DIR / f"unbooked-{key}").open("a") as handle:
        handle.write(f"{item}\n")
    if item == "hotel" and key.startswith("fail"):
        raise NonRetryableError("hotel refuses to cancel")
    return f"unbooked {item}"


@cx.workflow()
def trip(key: str, parallel: bool) -> list[dict[str, Any]]:
    for item in ("flight", "hotel", "car"):
        book.options(compensate=unbook.bind(key, item))(key, item)
    outcomes = workflow.compensate_all(parallel=parallel)
    return [{"activity": o.activity, "ok": o.ok, "result": o.result, "error": o.error}
            for o in outcomes]  # fmt: skip


@cx.activity(idempotency_key=lambda key: f"pay-{key}")
def pay(key: str) -> dict[str, Any]:
    record_call(f"pay-{key}")
    return {"paid": key, "pid": os.getpid(), "at": time.time()}


@cx.workflow()
def checkout(key: str) -> dict[str, Any]:
    return pay(key)


@cx.workflow()
def primitives(key: str) -> dict[str, Any]:
    """Every workflow-side record: side effects, a patch marker and a log line."""
    token = workflow.uuid4()
    roll = workflow.random()
    when = workflow.now()
    label = workflow.side_effect(lambda: f"label-{key}", name="label")
    workflow.logger.info("primitives for %s", key)
    patched = workflow.patched("use-label")
    return {"token": str(token), "roll": roll, "when": when.isoformat(), "label": label,
            "patched": patched, "info": workflow.info().workflow}  # fmt: skip


@cx.workflow()
def failing_child(key: str) -> None:
    refuses(key)


@cx.workflow()
def parent_of_failing(key: str) -> str:
    try:
        workflow.run_child(failing_child, key)
    except RunFailed as error:
        return f"child failed: {error.error}"
    return "child succeeded"


# --- inline dispatch: two activities on a queue only tests' own workers consume -------

INLINE_QUEUE = "inline-hops"


@cx.activity(queue=INLINE_QUEUE)
def first_hop(key: str) -> str:
    record_call(f"{key}-first")
    return "first"


@cx.activity(queue=INLINE_QUEUE, retry=RetryPolicy(max_attempts=3, backoff="constant", base=0.1))
def second_hop(key: str, pause: float) -> str:
    earlier = record_call(key)
    if earlier == 0:
        time.sleep(pause)  # the first attempt lingers, so a test can kill its worker
    return f"second, after {earlier} earlier attempt(s)"


@cx.workflow()
def hops(key: str, pause: float) -> list[str]:
    return [first_hop(key), second_hop(key, pause)]


# --- values Postgres cannot store (NUL, surrogates): refused, never wedging a run ------

UNSTORABLE = {"nul": "nul \x00 byte", "surrogate": "lone \ud800 half"}


@cx.activity()
def unstorable_value(kind: str) -> str:
    return UNSTORABLE[kind]


@cx.activity(retry=RetryPolicy(max_attempts=1))
def raises_unstorable(kind: str) -> None:
    raise ValueError(UNSTORABLE[kind])


@cx.workflow()
def returns_unstorable(kind: str) -> dict[str, Any]:
    return {"text": UNSTORABLE[kind]}


@cx.workflow()
def raises_unstorable_flow(kind: str) -> None:
    workflow.logger.warning("about to fail: %s", UNSTORABLE[kind])
    raise ValueError(UNSTORABLE[kind])


@cx.workflow()
def unstorable_inside(kind: str) -> dict[str, str]:
    """Offers an unstorable value to each effect in turn; returns what each raised."""
    bad = UNSTORABLE[kind]
    attempts = [
        ("activity_args", lambda: add(bad, 1)),
        ("activity_result", lambda: unstorable_value(kind)),
        ("activity_error", lambda: raises_unstorable(kind)),
        ("side_effect", lambda: workflow.side_effect(lambda: {"v": bad}, name="unstorable")),
        ("child_args", lambda: workflow.start_child(child_flow, bad)),
        ("signal_name", lambda: workflow.wait_signal(bad)),
        ("continue_as_new", lambda: workflow.continue_as_new(bad)),  # last: it ends the run
    ]
    seen = {}
    for what, attempt in attempts:
        try:
            attempt()
            seen[what] = "accepted"
        except Exception as error:
            seen[what] = f"{type(error).__name__}: {error}"
    return seen


# --- cancel, terminate, retry now ------------------------------------------------------


@cx.workflow()
def cancellable_trip(key: str) -> str:
    """Books, then waits for approval; a cancel undoes the booking, then re-raises."""
    book.options(compensate=unbook.bind(key, "flight"))(key, "flight")
    try:
        workflow.wait_signal("approve")
    except workflow.Cancelled:
        workflow.compensate_all()
        raise
    return "approved"


@cx.activity(retry=RetryPolicy(max_attempts=3, backoff="constant", base=3600.0, max_backoff=3600.0))
def backs_off(key: str) -> str:
    """Fails its first attempt; the next one is an hour away unless retried now."""
    if record_call(f"{key}-backs-off") == 0:
        raise ValueError("the first attempt always fails")
    return "second attempt"


@cx.workflow()
def patient(key: str) -> str:
    return str(backs_off(key))


@cx.activity(queue=INLINE_QUEUE)
def stalls_once(key: str, pause: float) -> str:
    """The default retry policy; its first attempt stalls (for a worker to be killed)."""
    if record_call(key) == 0:
        time.sleep(pause)
    return "done"


@cx.workflow()
def slow_on_queue(key: str, pause: float) -> str:
    return str(stalls_once(key, pause))


@cx.activity(queue=INLINE_QUEUE, retry=RetryPolicy(max_attempts=2, backoff="constant", base=0.1))
def kills_its_worker(key: str) -> str:
    """Ends its own pool process at once, every time (as a segfault or an OOM kill)."""
    record_call(key)
    os._exit(1)


@cx.workflow()
def killing(key: str) -> str:
    return str(kills_its_worker(key))


@cx.activity(retry=RetryPolicy(max_attempts=1))
def fails_until_fixed(key: str) -> str:
    """Fails until the test "fixes" the outside world (a file in the state dir)."""
    record_call(f"{key}-fixable")
    if not (STATE_DIR / f"fixed-{key}").exists():
        raise ValueError("the outside world is broken")
    return "fixed"


@cx.workflow()
def fixable(key: str) -> list[Any]:
    first = counted(f"{key}-first", 3)
    return [first, fails_until_fixed(key)]


@cx.workflow()
def tracked(order_id: str) -> dict[str, Any]:
    """Sets search attributes as the order moves on; returns what it saw of them."""
    seen = [workflow.info().attributes]
    workflow.upsert_attributes({"order": order_id, "stage": "paid", "draft": None})
    total = add(1, 2)
    workflow.upsert_attributes({"stage": "shipped", "items": [1, 2]})
    seen.append(workflow.info().attributes)
    return {"total": total, "seen": seen}


@cx.workflow()
def tracked_rounds(rounds: int) -> dict[str, Any]:
    """Upserts, then continues as new: each successor starts with the attributes."""
    if rounds == 0:
        return workflow.info().attributes
    workflow.upsert_attributes({f"round-{rounds}": True})
    workflow.continue_as_new(rounds - 1)
