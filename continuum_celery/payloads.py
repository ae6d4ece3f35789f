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


def check_json(value: Any, what: str, path: str = "$") -> None:
    """Reject anything JSON would silently change or refuse.

    ``json.dumps`` turns tuples into lists and non-str keys into strings; on replay
    the workflow would then see a different value than it produced. Checking the
    exact types keeps a value identical across the journal round trip.
    """
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            raise NotSerializable(f"{what}: {path} is {value!r}, which JSON cannot hold")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, what, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotSerializable(
                    f"{what}: {path} has a non-string key {key!r} (JSON keys are str)"
                )
            check_json(item, what, f"{path}.{key}")
        return
    raise NotSerializable(
        f"{what}: {path} is a {type(value).__name__}, which is not JSON "
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
