"""JSON is the only shape a value may take on its way through the journal.

Arguments, results, signal payloads and side-effect values are all checked here
before anything is written, so a bad value fails at the caller with a clear error
instead of half-way through a transaction or, worse, on replay.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import NotSerializable, PayloadTooLarge

JSON = Any
DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024
"""Default per-value limit, the size Temporal warns at: big enough for documents,
small enough that one run cannot bloat a journal row."""

_SCALARS = (str, int, float, bool, type(None))


MAX_DEPTH = 64
"""Nesting deeper than this is refused: it is almost surely a cycle or a mistake, and
deep recursion would otherwise crash the replay instead of failing the run."""


def check_json(value: Any, what: str, path: str = "$", depth: int = 0) -> None:
    """Reject anything JSON would silently change or refuse.

    ``json.dumps`` turns tuples into lists, non-str keys into strings and dict
    subclasses into plain dicts; on replay the workflow would then see a different
    value than it produced. Checking exact types keeps a value identical across the
    journal round trip.
    """
    kind = type(value)
    if kind in _SCALARS:
        if kind is float and not math.isfinite(value):
            raise NotSerializable(f"{what}: {path} is {value!r}, which JSON cannot hold")
        return
    if depth >= MAX_DEPTH:
        raise NotSerializable(f"{what}: {path} is nested more than {MAX_DEPTH} levels deep")
    if kind is list:
        for index, item in enumerate(value):
            check_json(item, what, f"{path}[{index}]", depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise NotSerializable(
                    f"{what}: {path} has a non-string key {key!r} (JSON keys are str)"
                )
            check_json(item, what, f"{path}.{key}", depth + 1)
        return
    raise NotSerializable(
        f"{what}: {path} is a {kind.__name__}, which is not JSON "
        "(use dict, list, str, int, float, bool or None)"
    )


def encode(value: Any, what: str, limit: int = DEFAULT_MAX_PAYLOAD_BYTES) -> str:
    """Validate and encode one value, enforcing the size limit on the encoded form."""
    check_json(value, what)
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode())
    if size > limit:
        raise PayloadTooLarge(f"{what} is {size} bytes, over the {limit}-byte payload limit")
    return text


def normalize_args(
    args: Any, kwargs: Any, what: str, limit: int
) -> tuple[list[Any], dict[str, Any]]:
    """Turn call arguments into the exact JSON shapes replay will hand back."""
    if not isinstance(args, (list, tuple)):
        raise NotSerializable(f"{what}: args must be a list or tuple, not {type(args).__name__}")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise NotSerializable(f"{what}: kwargs must be a dict, not {type(kwargs).__name__}")
    arg_list = list(args)
    encode({"args": arg_list, "kwargs": kwargs}, what, limit)
    return arg_list, dict(kwargs)


def in_journal_order(value: Any) -> Any:
    """``value`` with every object's keys in the order a ``jsonb`` column returns them.

    ``jsonb`` sorts keys by length, then bytewise. A value the workflow computes
    itself (a side effect) must look the same live as it will when replayed from
    the journal, or code that iterates it would decide differently on replay.
    """
    if isinstance(value, dict):
        ordered = sorted(value, key=lambda key: (len(key.encode()), key.encode()))
        return {key: in_journal_order(value[key]) for key in ordered}
    if isinstance(value, list):
        return [in_journal_order(item) for item in value]
    return value


def private_copy(value: Any) -> Any:
    """A copy of a journaled JSON value that workflow code may change at will.

    Journaled events are shared: the history cache, resident instances and later
    replays all read the same objects. Code that appended to an activity's result
    list would otherwise change what every later replay in this process sees.
    """
    if isinstance(value, dict):
        return {key: private_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [private_copy(item) for item in value]
    return value
