"""Time values in queries: ISO-8601 instants and relative offsets like ``-15m``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ..errors import InvalidQuery
from .nodes import RelativeTime

_RELATIVE = re.compile(r"([-+]?)(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EXPECTED = "expected an ISO-8601 time or a relative one such as -15m, -2h, -7d"


def parse_time(text: str, position: int) -> datetime | RelativeTime:
    """A quoted time value; an ISO time without an offset is taken as UTC."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative is not None:
        sign, amount, unit = relative.groups()
        seconds = float(amount) * _UNITS[unit]
        return RelativeTime(-seconds if sign == "-" else seconds)
    return _instant(text, position)


def _instant(text: str, position: int) -> datetime:
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidQuery(EXPECTED, position) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
