"""What a schedule's spec strings mean: cron expressions and intervals with offsets.

A schedule has one or more specs; its ticks are the union of theirs. Cron
expressions are read by ``cronsim`` (five fields; ranges, lists, steps, month and
day names, ``L``, ``#``), with the usual ``@hourly``-style shorthands spelled out
here. An interval is ``@every <duration>[/<offset>]``: ticks at the Unix epoch plus
the offset plus whole multiples of the duration, in UTC, so ``@every 1h/15m``
fires at a quarter past every hour whatever the zone. Anything else is refused
with an ``InvalidSchedule`` that says what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cronsim import CronSim, CronSimError

from ..errors import InvalidSchedule

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_SPECS = 20
MAX_SPEC_LENGTH = 200
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclass(frozen=True)
class CronSpec:
    """Five cron fields, matched against the schedule's local wall clock."""

    text: str
    expression: str


@dataclass(frozen=True)
class IntervalSpec:
    """Every ``every``, shifted by ``offset`` from the Unix epoch (UTC)."""

    text: str
    every: timedelta
    offset: timedelta


Spec = CronSpec | IntervalSpec


def parse_specs(spec: str | Sequence[str]) -> tuple[Spec, ...]:
    """One spec string or a list of them, each parsed; refuses an empty list."""
    texts = [spec] if isinstance(spec, str) else spec
    if not isinstance(texts, Sequence) or not texts:
        raise InvalidSchedule(f"spec must be a cron or interval string or a list of them, "
                              f"not {spec!r}")  # fmt: skip
    if len(texts) > MAX_SPECS:
        raise InvalidSchedule(f"a schedule takes at most {MAX_SPECS} specs, not {len(texts)}")
    return tuple(parse_spec(text) for text in texts)


def parse_spec(text: object) -> Spec:
    if not isinstance(text, str):
        raise InvalidSchedule(f"each spec must be a str, not {text!r}")
    if not text.strip() or len(text) > MAX_SPEC_LENGTH or not text.isprintable():
        raise InvalidSchedule(f"spec must be 1 to {MAX_SPEC_LENGTH} printable characters, "
                              f"not {text!r}")  # fmt: skip
    stripped = " ".join(text.split())
    if stripped.startswith("@every"):
        return _interval(text, stripped[len("@every") :].strip())
    return CronSpec(text, _cron(text, MACROS.get(stripped.lower(), stripped)))


def _cron(text: str, expression: str) -> str:
    if expression.startswith("@"):
        known = ", ".join([*MACROS, "@every"])
        raise InvalidSchedule(f"unknown shorthand in spec {text!r}: use one of {known}")
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidSchedule(f"cron spec {text!r} has {len(fields)} fields, not 5 "
                              "(minute hour day-of-month month day-of-week)")  # fmt: skip
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except (CronSimError, ValueError, IndexError) as error:
        raise InvalidSchedule(f"cron spec {text!r} does not parse: {error}") from None
    return expression


def _interval(text: str, rest: str) -> IntervalSpec:
    every_text, _, offset_text = rest.partition("/")
    every = _duration(text, every_text)
    offset = _duration(text, offset_text) if offset_text else timedelta(0)
    if every < timedelta(seconds=1):
        raise InvalidSchedule(f"interval spec {text!r}: the interval must be at least 1s")
    if offset >= every:
        raise InvalidSchedule(f"interval spec {text!r}: the offset must be shorter than "
                              "the interval")  # fmt: skip
    return IntervalSpec(text, every, offset)


def _duration(text: str, value: str) -> timedelta:
    """``1d2h3m4s``-style durations, each part optional, at least one present."""
    match = _DURATION.fullmatch(value.strip())
    if not value.strip() or match is None:
        raise InvalidSchedule(
            f"interval spec {text!r}: {value.strip()!r} is not a duration like 90s, 15m,"
            " 1h30m or 1d (write @every 1h/15m for an offset)"
        )
    seconds = sum(int(n) * s for n, s in zip(match.groups(), _UNITS.values(), strict=True) if n)
    return timedelta(seconds=seconds)
