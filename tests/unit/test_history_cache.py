"""The per-process history cache keeps only prefixes of a run's journal."""

from __future__ import annotations

from datetime import UTC, datetime

from continuum_celery.engine.events import Event
from continuum_celery.journal.history import HistoryCache

AT = datetime(2026, 1, 1, tzinfo=UTC)


def events(first: int, last: int) -> list[Event]:
    return [Event(seq, "signal_awaited", f"c{seq}", {}, AT) for seq in range(first, last + 1)]


def test_a_read_from_the_start_is_kept() -> None:
    cache = HistoryCache()
    cache.absorb("r", 0, events(1, 3))
    assert cache.known("r") == 3


def test_a_read_after_what_is_held_extends_it() -> None:
    cache = HistoryCache()
    cache.remember("r", events(1, 2))
    cache.absorb("r", 2, events(3, 4))
    assert cache.known("r") == 4


def test_a_read_that_does_not_follow_what_is_held_is_dropped() -> None:
    """Read after seq 1 while the cache meanwhile learned 1..3: keeping it would
    leave a gap or a repeat."""
    cache = HistoryCache()
    cache.remember("r", events(1, 3))
    cache.absorb("r", 1, events(2, 5))
    assert cache.known("r") == 3


def test_a_read_with_a_hole_is_dropped() -> None:
    cache = HistoryCache()
    cache.absorb("r", 0, [*events(1, 2), *events(4, 4)])
    assert cache.known("r") == 0


def test_an_empty_read_keeps_what_is_held() -> None:
    cache = HistoryCache()
    cache.remember("r", events(1, 2))
    cache.absorb("r", 2, [])
    assert cache.known("r") == 2 and cache.known("other") == 0
