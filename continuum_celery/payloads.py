"""JSON is the only shape a value may take on its way through the journal.

Arguments, results, signal payloads and side-effect values are all checked here
before anything is written, so a bad value fails at the caller with a clear error
instead of half-way through a transaction or, worse, on replay. That includes text
Postgres cannot store. ``as_journaled`` models what the journal hands back, so
live code can see a value it made itself as replay will.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
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


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What Postgres cannot store in text or ``jsonb``: NUL, and surrogate code points
(which have no UTF-8 form at all)."""


def unstorable_char(text: str) -> str | None:
    """The first character of ``text`` that Postgres cannot store, or None.

    This runs on every string of every argument and result, so ASCII text (nearly
    all of it) costs two C-level scans and no regex.
    """
    if text.isascii():
        return "\x00" if "\x00" in text else None
    found = _UNSTORABLE.search(text)
    return None if found is None else found.group()


def _unstorable(text: str) -> str:
    """What is wrong with ``text``, which holds a character Postgres cannot store."""
    char = unstorable_char(text) or "\x00"
    if char == "\x00":
        return "a NUL character (\\u0000), which Postgres cannot store"
    return f"a surrogate code point (\\u{ord(char):04x}), which UTF-8 cannot encode"


def check_text(text: str, what: str) -> str:
    """Refuse a string bound for a ``text`` column (a name, a key) Postgres cannot store.

    Checked before anything is written, so the caller gets a ValueError rather than
    a database error half-way through a transaction.
    """
    if unstorable_char(text) is not None:
        raise ValueError(f"{what} {text!r} contains {_unstorable(text)}")
    return text


def storable(text: str) -> str:
    """``text`` with what Postgres cannot store escaped (NUL becomes ``\\u0000``).

    For error and log messages: they come from arbitrary code and must be written
    as they are, never refused.
    """
    if unstorable_char(text) is None:
        return text
    return _UNSTORABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def check_json(value: Any, what: str, path: str = "$", depth: int = 0) -> None:
    """Reject anything JSON would silently change or refuse, or Postgres cannot store.

    ``json.dumps`` turns tuples into lists, non-str keys into strings and dict
    subclasses into plain dicts; on replay the workflow would then see a different
    value than it produced. Checking exact types keeps a value identical across the
    journal round trip. A string with NUL or a surrogate would fail inside the
    writing transaction, or on a later replay's, so it is refused here.
    """
    kind = type(value)
    if kind is str:  # the common case, inlined: ASCII without NUL needs no regex
        if "\x00" not in value and (value.isascii() or _UNSTORABLE.search(value) is None):
            return
        raise NotSerializable(f"{what}: {path} contains {_unstorable(value)}")
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
            _check_key(key, what, path)
            check_json(item, what, f"{path}.{key}", depth + 1)
        return
    raise NotSerializable(
        f"{what}: {path} is a {kind.__name__}, which is not JSON "
        "(use dict, list, str, int, float, bool or None)"
    )


def _check_key(key: Any, what: str, path: str) -> None:
    if type(key) is not str:
        raise NotSerializable(f"{what}: {path} has a non-string key {key!r} (JSON keys are str)")
    if unstorable_char(key) is not None:
        raise NotSerializable(f"{what}: {path} has a key {key!r} containing {_unstorable(key)}")


def encode(value: Any, what: str, limit: int = DEFAULT_MAX_PAYLOAD_BYTES) -> str:
    """Validate and encode one value, enforcing the size limit on the encoded form."""
    check_json(value, what)
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except ValueError as error:  # an int past Python's int-to-str digit limit
        raise NotSerializable(f"{what}: {error}") from None
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


def as_journaled(value: Any) -> Any:
    """``value`` exactly as the journal hands it back: what ``jsonb`` keeps of it.

    A value the workflow computes itself (a side effect) must be the same live as
    when replayed from the journal, type included, or code that iterates it or
    branches on it decides differently on replay, with no drift to notice.
    ``jsonb`` sorts object keys by length, then bytewise, and stores numbers as
    ``numeric`` (see :func:`_journaled_float`). Containers are always new, so
    the result shares nothing with ``value``; other values are returned as they are.
    Takes values :func:`check_json` accepts.
    """
    kind = type(value)
    if kind is float:
        return _journaled_float(value)
    if kind is dict:
        return {key: as_journaled(value[key]) for key in sorted(value, key=_journal_key)}
    if kind is list:
        return [as_journaled(item) for item in value]
    return value


def _journal_key(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return len(raw), raw


def _journaled_float(number: float) -> float | int:
    """What ``jsonb`` makes of a float that ``json.dumps`` wrote with ``repr``.

    ``numeric`` keeps that decimal text and its display scale. ``repr`` uses a
    positive exponent exactly from 1e16 up (``1e+16``, ``1.5e+300``), whose scale
    is 0: it comes back as the integer of exactly that decimal, which is not
    always ``int(number)``. Smaller floats, negative exponents included, come back
    as the same float; ``-0.0`` as ``0.0``, as ``numeric`` has no negative zero.
    """
    if -1e16 < number < 1e16:
        return number if number else 0.0
    return int(Decimal(repr(number)))


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
