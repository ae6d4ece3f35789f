"""Checking what callers configure and pass in, before anything is written.

Each check raises a clear, typed error (``TypeError``, ``ValueError`` or
``ConfigurationError``) naming the setting, so a mistake fails where it is made.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TypeVar

from .celery_app.tasks import HARD_LIMIT_GRACE
from .journal.db import ConfigurationError
from .payloads import check_text

N = TypeVar("N", int, float)


def check_workflow_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"workflow must be a workflow or its name, not {name!r}")
    if not name:
        raise ValueError("workflow name must be a non-empty str")
    return check_text(name, "workflow name")


def age_seconds(age: timedelta | float | None) -> float | None:
    """A retention age in seconds: a positive timedelta or number, or None (keep all)."""
    if age is None:
        return None
    if isinstance(age, timedelta):
        value = age.total_seconds()
    elif isinstance(age, int | float) and not isinstance(age, bool):
        value = float(age)
    else:
        raise TypeError(f"retention must be a timedelta or a number of seconds, not {age!r}")
    if not 0 < value < math.inf:
        raise ConfigurationError(f"retention must be a positive age, not {age!r}")
    return value


def check_scope(scope: object) -> str:
    """An app's scope names its runs in a shared database: a short, non-empty str."""
    if not isinstance(scope, str):
        raise TypeError(f"scope must be a str, not {scope!r}")
    if not scope or len(scope) > 255:
        raise ValueError(f"scope must be a non-empty str of at most 255 characters, not {scope!r}")
    return check_text(scope, "scope")


def wakeup_time_limit(seconds: float) -> float:
    """The wakeup's hard limit must leave room for the grace before the kill."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ConfigurationError(f"wakeup_time_limit must be a number, not {seconds!r}")
    if not HARD_LIMIT_GRACE < seconds < math.inf:
        raise ConfigurationError(
            f"wakeup_time_limit must be over {HARD_LIMIT_GRACE:g} seconds, not {seconds!r}"
        )
    return float(seconds)


def check_start_options(key: str | None, namespace: str, eta: datetime | None) -> None:
    if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
        raise ValueError("idempotency_key must be a non-empty str of at most 255 characters")
    if key is not None:
        check_text(key, "idempotency_key")
    if not isinstance(namespace, str) or not namespace:
        raise ValueError(f"namespace must be a non-empty str, not {namespace!r}")
    check_text(namespace, "namespace")
    if eta is not None and (not isinstance(eta, datetime) or eta.tzinfo is None):
        raise ValueError("eta must be a timezone-aware datetime")


def at_least_zero(value: N, name: str) -> N:
    """A count or a number of seconds that may be 0 but not negative."""
    if value < 0:
        raise ConfigurationError(f"{name} must be >= 0, not {value!r}")
    return value


def flag(value: object, what: str) -> bool:
    """A setting that is on or off: exactly True or False (not 0 / "no")."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, not {value!r}")
    return value


def port(value: object, what: str) -> int:
    """A TCP port to listen on: an int from 1 to 65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {value!r}")
    if not 0 < value < 65536:
        raise ValueError(f"{what} must be from 1 to 65535, not {value!r}")
    return value
