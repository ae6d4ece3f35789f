"""Run ids: any string of 1-200 printable characters, a UUID by default.

A business id (``"order-42"``) lets a caller find, signal or restart the run of a
business object without storing a generated id anywhere. A string that spells a
UUID (any case, with or without dashes or braces, ``urn:uuid:``) is stored and
looked up in its canonical lowercase form, so callers that pass ``uuid.UUID``
values or upper-case copies keep finding their runs; any other string is taken
exactly as given.
"""

from __future__ import annotations

import re
import uuid

MAX_RUN_ID_LENGTH = 200

_UUID_SPELLING = re.compile(
    r"(?:urn:uuid:)?\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?",
    re.IGNORECASE,
)


def is_run_id(value: object) -> bool:
    """Could ``value`` be a stored run id? (Celery messages are checked with this.)"""
    return isinstance(value, str) and 0 < len(value) <= MAX_RUN_ID_LENGTH and value.isprintable()


def check_run_id(value: object, what: str = "run_id") -> str:
    """``value`` as the journal stores it; TypeError or ValueError if it cannot be one.

    Printable excludes NUL, control characters, lone surrogates and line breaks:
    an id shows up in logs, Flower and URLs, and Postgres cannot store the first.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not is_run_id(value):
        raise ValueError(
            f"{what} must be 1 to {MAX_RUN_ID_LENGTH} printable characters, not {value!r}"
        )
    return canonical(value)


def canonical(value: str) -> str:
    """The lowercase dashed form of a UUID spelling; anything else unchanged."""
    if len(value) < 32 or _UUID_SPELLING.fullmatch(value) is None:
        return value
    return str(uuid.UUID(value))


def new_run_id(value: object | None) -> str:
    """The id for a new run: the caller's, checked, or a fresh UUID."""
    return str(uuid.uuid4()) if value is None else check_run_id(value)
