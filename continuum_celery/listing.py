"""What ``cx.list_runs`` and ``cx.count_runs`` check and hand back: argument checks,
the page object and its opaque cursor. Pure: the SQL is in ``journal/listing.py``.

A cursor carries the last row's order key and run id, plus the order and a digest of
the query it belongs to, so a cursor from another listing is refused rather than
silently answering a different question.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .client import Run
from .errors import InvalidQuery

MAX_LIMIT = 1000
ORDERS = ("-created_at", "created_at")
GROUPS = ("state", "workflow", "namespace")


@dataclass(frozen=True)
class RunPage:
    """One page of a listing; pass ``next_cursor`` back for the next one."""

    runs: list[Run]
    next_cursor: str | None


def check_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError(f"limit must be an int, not {type(limit).__name__}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


def check_order(order: object) -> str:
    if not isinstance(order, str):
        raise TypeError(f"order must be a str, not {type(order).__name__}")
    if order not in ORDERS:
        raise InvalidQuery(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    return order


def check_group_by(group_by: object) -> tuple[str, ...]:
    if isinstance(group_by, str) or not isinstance(group_by, Sequence):
        raise TypeError("group_by must be a tuple of field names, such as ('state',)")
    for name in group_by:
        if name not in GROUPS:
            raise InvalidQuery(f"group_by takes {', '.join(GROUPS)}, not {name!r}")
    if len(set(group_by)) != len(group_by):
        raise InvalidQuery("group_by names a field twice")
    return tuple(group_by)


def digest(query: str, order: str) -> str:
    """Which listing a cursor belongs to: its query and order."""
    return hashlib.sha256(f"{order}\n{query}".encode()).hexdigest()[:16]


def encode_cursor(key: tuple[datetime, str], query: str, order: str) -> str:
    payload = {"l": digest(query, order), "t": key[0].isoformat(), "id": key[1]}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(cursor: object, query: str, order: str) -> tuple[datetime, str] | None:
    """The key a cursor stands for; ``None`` for no cursor (the first page)."""
    if cursor is None:
        return None
    if not isinstance(cursor, str):
        raise TypeError(f"cursor must be a str or None, not {type(cursor).__name__}")
    payload = _payload(cursor)
    if payload.get("l") != digest(query, order):
        raise ValueError("cursor belongs to another query or order")
    return _key(payload)


def _payload(cursor: str) -> dict[str, object]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ValueError("cursor is not one that list_runs returned") from None
    if not isinstance(payload, dict):
        raise ValueError("cursor is not one that list_runs returned")
    return payload


def _key(payload: dict[str, object]) -> tuple[datetime, str]:
    when, run_id = payload.get("t"), payload.get("id")
    if not isinstance(when, str) or not isinstance(run_id, str):
        raise ValueError("cursor is not one that list_runs returned")
    try:
        instant = datetime.fromisoformat(when)
    except ValueError:
        raise ValueError("cursor is not one that list_runs returned") from None
    if instant.tzinfo is None or "\x00" in run_id:
        raise ValueError("cursor is not one that list_runs returned")
    return instant, run_id
