"""The effects workflow code can ask for, each as a replay step.

Every function here takes the current :class:`ReplayState`; the public
``workflow`` facade and activity objects only find that state and call in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..errors import ActivityFailed, SideEffectFailed, SignalTimeout
from ..payloads import as_journaled, encode, private_copy, storable
from . import attributes
from .context import Compensable, ReplayState
from .events import Event
from .guard import engine_side


class ActivityHandle:
    """A scheduled activity whose result the workflow may wait for later."""

    def __init__(
        self,
        state: ReplayState,
        command_id: str,
        activity: str,
        compensate: dict[str, Any] | None = None,
    ) -> None:
        self._state = state
        self.command_id = command_id
        self.activity = activity
        self.compensate = compensate

    @engine_side
    def result(self) -> Any:
        """The activity's result; suspends the workflow until there is one."""
        return wait_all([self])[0]

    def __repr__(self) -> str:
        return f"<ActivityHandle {self.command_id}>"


def start_activity(
    state: ReplayState, activity: str, describe: Callable[[], dict[str, Any]]
) -> ActivityHandle:
    """Schedule an activity; ``describe`` builds its event data, only when it is new."""
    command_id = state.next_command_id("activity", activity)
    recorded = state.decide("activity_scheduled", command_id, describe)
    data = recorded.data if recorded is not None else state.commands[-1].data
    return ActivityHandle(state, command_id, activity, data.get("compensate"))


def wait_all(handles: Sequence[ActivityHandle]) -> list[Any]:
    """Results in order once every handle is resolved; the first failure raises."""
    if not handles:
        return []
    state = handles[0]._state
    state.guard()
    while True:
        events = [state.resolution(h.command_id) for h in handles]
        failure = _first_failure(handles, events)
        if failure is not None:
            raise failure
        pending = [h.command_id for h, e in zip(handles, events, strict=True) if e is None]
        if not pending:
            break
        state.block(",".join(pending), needs=len(pending))
    for handle in handles:
        _arm_compensation(state, handle)
    return [private_copy(e.data.get("result")) for e in events if e is not None]


def _first_failure(
    handles: Sequence[ActivityHandle], events: Sequence[Event | None]
) -> ActivityFailed | None:
    """The failure journaled first, whatever the handles' order.

    A wait sees exactly what had been journaled when the code got past it. Live,
    a gather raises as soon as one failure lands; any other failure lands later, at
    a higher seq. So the failure with the lowest seq is the one the live run saw,
    and a replay that finds more failures in the history must still pick it.
    """
    failed = [
        (event.seq, handle.activity, event)
        for handle, event in zip(handles, events, strict=True)
        if event is not None and event.type == "activity_failed"
    ]
    if not failed:
        return None
    _, activity, event = min(failed, key=lambda item: item[0])
    return _activity_error(activity, event)


def _arm_compensation(state: ReplayState, handle: ActivityHandle) -> None:
    """Push the handle's compensation once, when the workflow first sees it succeed.

    The order in which code observes results is deterministic, so replay rebuilds
    the same stack.
    """
    if handle.compensate is None or handle.command_id in state.armed:
        return
    state.armed.add(handle.command_id)
    bound = handle.compensate
    state.compensations.append(
        Compensable(handle.command_id, bound["activity"], bound["args"], bound["kwargs"],
                    bound["spec"])
    )  # fmt: skip


def _activity_error(activity: str, event: Event) -> ActivityFailed:
    data = event.data
    return ActivityFailed(
        activity,
        str(data.get("error_type", "Error")),
        str(data.get("message", "")),
        int(data.get("attempt", 1)),
    )


def sleep(state: ReplayState, seconds: float) -> None:
    command_id = state.next_command_id("timer", "sleep")
    state.decide("timer_started", command_id, {"timer_id": command_id, "seconds": seconds})
    while state.resolution(command_id) is None:
        state.block(command_id)


def wait_signal(state: ReplayState, name: str, timeout: float | None) -> Any:
    command_id = state.next_command_id("signal", name)
    data: dict[str, Any] = {"name": name, "timeout": timeout}
    if timeout is not None:
        data["timer_id"] = command_id
    state.decide("signal_awaited", command_id, data)
    while (event := state.resolution(command_id)) is None:
        state.block(command_id)
    if event.type == "timer_fired":
        raise SignalTimeout(f"no {name!r} signal within {timeout} seconds")
    return private_copy(event.data.get("payload"))


def side_effect(state: ReplayState, kind: str, produce: Callable[[], Any]) -> Any:
    """Run ``produce`` once at the live tail; afterwards return the journaled value.

    Live code gets the value as the journal will return it on replay (``jsonb``
    key order, ``1e16`` as an int), so it decides the same both times. A failure
    is journaled too and raised as :class:`SideEffectFailed` both live and on
    replay, so code that catches it takes the same path every time.
    """
    command_id = state.next_command_id("side_effect", kind)
    recorded = state.decide("side_effect", command_id, {"kind": kind})
    if recorded is None:
        recorded_data = state.commands[-1].data
        try:
            value = produce()
            encode(value, f"side_effect {kind!r} value", state.max_payload_bytes)
            recorded_data["value"] = as_journaled(value)
        except Exception as error:
            recorded_data["error"] = {"type": storable(type(error).__name__),
                                      "message": storable(str(error))}  # fmt: skip
    else:
        recorded_data = recorded.data
    failure = recorded_data.get("error")
    if failure is not None:
        raise SideEffectFailed(kind, str(failure.get("type")), str(failure.get("message")))
    return private_copy(recorded_data.get("value"))


def now(state: ReplayState) -> datetime:
    text = side_effect(state, "now", lambda: state.live.now().isoformat())
    return datetime.fromisoformat(text)


def uuid4(state: ReplayState) -> uuid.UUID:
    return uuid.UUID(side_effect(state, "uuid4", state.live.uuid4))


def random(state: ReplayState) -> float:
    return float(side_effect(state, "random", state.live.random))


def patched(state: ReplayState, patch_id: str) -> bool:
    """True on runs that reached this point with the patch in place.

    Old histories that predate the patch replay with False, so both code paths can
    live side by side until the old runs are gone. The first answer per run sticks.
    """
    if patch_id in state.patches:
        return state.patches[patch_id]
    command_id = state.next_command_id("patched", patch_id)
    recorded = state.take_marker("patched", command_id)
    if recorded is not None:
        value = bool(recorded.data.get("value"))
    elif state.live_tail:
        value = True
        state.record("patched", command_id, {"patch_id": patch_id, "value": True})
    else:
        value = False
    state.patches[patch_id] = value
    return value


def log(state: ReplayState, level: str, message: str) -> bool:
    """Journal a log line at the live tail; True when the caller should emit it."""
    command_id = state.next_command_id("workflow_log", "log")
    if state.take_marker("workflow_log", command_id) is not None or not state.live_tail:
        return False
    state.record("workflow_log", command_id, {"level": level, "message": message})
    return True


def upsert_attributes(state: ReplayState, changes: dict[str, Any]) -> None:
    """Journal a change to the run's search attributes and apply it to ``state``.

    The recorded data is applied on replay as well, so ``workflow.info()`` shows
    the same attributes at the same point of the code every time.
    """
    command_id = state.next_command_id("attributes", "upsert")
    first = state.ordinals[("attributes", "upsert")] == 1
    recorded = state.decide(
        attributes.UPSERTED, command_id, lambda: _upsert_data(state, changes, first)
    )
    data = recorded.data if recorded is not None else state.commands[-1].data
    state.attributes = attributes.merged(state.attributes, data)


def _upsert_data(state: ReplayState, changes: dict[str, Any], first: bool) -> dict[str, Any]:
    """New upsert data; values as the journal will hand them back, so live sees the
    same as replay. The first upsert keeps the starting attributes (``base``)."""
    encode(changes, "attributes", state.max_payload_bytes)
    data = as_journaled(attributes.changes_data(changes))
    if first:
        data["base"] = private_copy(state.attributes)
    return dict(data)
