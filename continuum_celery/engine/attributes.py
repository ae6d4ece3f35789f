"""Search attributes a workflow sets on its own run, as journaled decisions.

``workflow.upsert_attributes`` journals an ``attributes_upserted`` decision
whose data says which keys to set and which to remove. The journal merges it
into ``cx_runs.attributes`` in the same transaction; the engine merges it into
the attributes ``workflow.info()`` shows, live and on replay alike.

A replay reads the run's attributes as they are now, upserts included, yet code
before the first upsert must see them as they were at start. So the first
upsert also records them as ``base``, and a replay starts from that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .events import Event

UPSERTED = "attributes_upserted"
KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALARS = (str, int, float, bool)


def check(changes: Any) -> dict[str, Any]:
    """The changes as a plain dict, or a clear error for what cannot be queried.

    Keys must be what the query language accepts after ``attributes.``; values
    are scalars or lists of scalars, as nested objects cannot be queried.
    """
    if not isinstance(changes, Mapping):
        raise TypeError(f"attributes must be a dict, not {type(changes).__name__}")
    for key, value in changes.items():
        _check_key(key)
        _check_value(key, value)
    return dict(changes)


def _check_key(key: Any) -> None:
    if not isinstance(key, str):
        raise TypeError(f"attribute keys must be str, not {key!r}")
    if KEY.fullmatch(key) is None:
        raise ValueError(f"attribute key {key!r} must be non-empty letters, digits, '_' or '-'")


def _check_value(key: str, value: Any) -> None:
    if value is None or isinstance(value, _SCALARS):
        return
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, _SCALARS):
                raise TypeError(f"attribute {key!r}: list items must be scalars, not {item!r}")
        return
    raise TypeError(
        f"attribute {key!r} must be a str, number, bool, list of those or None, "
        f"not {type(value).__name__}"
    )


def changes_data(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The decision's data: keys to set, and keys to remove (a value of None)."""
    return {
        "set": {key: value for key, value in changes.items() if value is not None},
        "unset": sorted(key for key, value in changes.items() if value is None),
    }


def merged(attributes: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` after one recorded upsert, as the journal's update computes it."""
    result = {**attributes, **data.get("set", {})}
    for key in data.get("unset", ()):
        result.pop(key, None)
    return result


def starting(history: Sequence[Event], attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes the run started with: the first upsert's ``base``, if any.

    ``attributes`` are the run's current ones, which are the starting ones until
    the run makes its first upsert.
    """
    for event in history:
        if event.type == UPSERTED and "base" in event.data:
            return dict(event.data["base"])
    return dict(attributes)
