"""RetryPolicy validation and the pure backoff schedule."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum_celery.engine.retry import RetryPolicy, next_delay
from continuum_celery.errors import ContinuumError, InvalidRetryPolicy


def test_defaults_retry_like_temporal_without_limit() -> None:
    policy = RetryPolicy()
    assert policy.to_dict() == {
        "max_attempts": None,
        "backoff": "exponential",
        "base": 1.0,
        "jitter": 0.0,
        "max_backoff": 100.0,
    }
    delays = [next_delay(policy, attempt, 0.5) for attempt in (1, 2, 3, 7, 8, 1000)]
    assert delays == [1.0, 2.0, 4.0, 64.0, 100.0, 100.0]


def test_one_attempt_means_no_retry() -> None:
    assert next_delay(RetryPolicy(max_attempts=1), 1, 0.5) is None


@pytest.mark.parametrize("value", [0, -1, 1.5, True, False, "3"])
def test_bad_max_attempts_are_rejected(value: Any) -> None:
    with pytest.raises(InvalidRetryPolicy, match=r"^max_attempts must be an int >= 1 or None, "):
        RetryPolicy(max_attempts=value)


@pytest.mark.parametrize("value", ["linear", "Exponential", "", None])
def test_bad_backoff_is_rejected(value: Any) -> None:
    with pytest.raises(InvalidRetryPolicy, match="backoff must be 'constant' or 'exponential'"):
        RetryPolicy(backoff=value)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("base", -0.5, "base must be a finite number >= 0"),
        ("base", math.inf, "base must be a finite number >= 0"),
        ("base", math.nan, "base must be a finite number >= 0"),
        ("base", True, "base must be a number of seconds"),
        ("base", "1", "base must be a number of seconds"),
        ("jitter", -1, "jitter must be a finite number >= 0"),
        ("jitter", math.inf, "jitter must be a finite number >= 0"),
        ("max_backoff", math.nan, "max_backoff must be a finite number >= 0"),
        ("max_backoff", -3, "max_backoff must be a finite number >= 0"),
    ],
)
def test_bad_seconds_are_rejected(field: str, value: Any, match: str) -> None:
    with pytest.raises(InvalidRetryPolicy, match=match):
        RetryPolicy(**{field: value})


def test_base_above_max_backoff_is_rejected() -> None:
    message = r"base \(10s\) must not exceed max_backoff \(5s\)"
    with pytest.raises(InvalidRetryPolicy, match=message):
        RetryPolicy(base=10, max_backoff=5)
    assert RetryPolicy(base=5, max_backoff=5).base == 5  # equal is fine


def test_invalid_retry_policy_is_a_value_error_and_a_continuum_error() -> None:
    assert issubclass(InvalidRetryPolicy, ValueError)
    assert issubclass(InvalidRetryPolicy, ContinuumError)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_policy_round_trips_through_a_dict() -> None:
    policy = RetryPolicy(max_attempts=4, backoff="constant", base=2.5, jitter=0.5, max_backoff=9)
    assert RetryPolicy.from_dict(policy.to_dict()) == policy
    with pytest.raises(InvalidRetryPolicy):
        RetryPolicy.from_dict(policy.to_dict() | {"max_attempts": 0})


def test_constant_backoff_waits_base_until_attempts_are_used_up() -> None:
    policy = RetryPolicy(max_attempts=4, backoff="constant", base=2.5)
    assert [next_delay(policy, attempt, 0.0) for attempt in range(1, 6)] == [
        2.5,
        2.5,
        2.5,
        None,
        None,
    ]


def test_exponential_backoff_doubles_and_caps_at_max_backoff() -> None:
    policy = RetryPolicy(max_attempts=8, base=1.5, max_backoff=20)
    delays = [next_delay(policy, attempt, 0.0) for attempt in range(1, 9)]
    assert delays == [1.5, 3.0, 6.0, 12.0, 20.0, 20.0, 20.0, None]


def test_very_late_attempts_stay_at_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10**6, base=1, max_backoff=30)
    assert next_delay(policy, 5000, 0.0) == 30.0
    assert next_delay(policy, 10**6 - 1, 0.0) == 30.0


def test_jitter_adds_up_to_jitter_seconds() -> None:
    policy = RetryPolicy(max_attempts=5, base=2, jitter=0.5, max_backoff=60)
    assert next_delay(policy, 1, 0.0) == 2.0
    assert next_delay(policy, 1, 0.5) == 2.25
    assert next_delay(policy, 2, 0.999) == pytest.approx(4.4995)


def test_jitter_never_pushes_the_delay_past_the_cap() -> None:
    policy = RetryPolicy(max_attempts=20, base=1, jitter=2, max_backoff=10)
    assert next_delay(policy, 10, 0.0) == 8.0
    top = next_delay(policy, 10, 0.999999)
    assert top is not None
    assert 9.99 < top < 10.0


def test_zero_base_constant_backoff_is_immediate() -> None:
    policy = RetryPolicy(max_attempts=3, backoff="constant", base=0, max_backoff=0)
    assert next_delay(policy, 1, 0.7) == 0.0


seconds = st.floats(min_value=0, max_value=1000, allow_nan=False)


@given(
    max_attempts=st.integers(1, 50),
    backoff=st.sampled_from(["constant", "exponential"]),
    base=seconds,
    jitter=seconds,
    extra=seconds,
    attempt=st.integers(1, 80),
    unit=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_delay_stays_within_the_jitter_window_and_the_cap(
    max_attempts: int,
    backoff: str,
    base: float,
    jitter: float,
    extra: float,
    attempt: int,
    unit: float,
) -> None:
    policy = RetryPolicy(max_attempts, backoff, base, jitter, base + extra)  # type: ignore[arg-type]
    delay = next_delay(policy, attempt, unit)
    if attempt >= max_attempts:
        assert delay is None
        return
    assert delay is not None
    plain = base if backoff == "constant" else base * 2.0 ** (attempt - 1)
    plain = min(plain, policy.max_backoff)
    tolerance = 1e-9 * max(1.0, policy.max_backoff)
    assert 0.0 <= delay <= policy.max_backoff + tolerance
    assert plain - jitter - tolerance <= delay <= plain + jitter + tolerance


@pytest.mark.parametrize("field", ["base", "jitter", "max_backoff"])
def test_a_backoff_longer_than_a_century_is_refused_at_declaration(field: str) -> None:
    with pytest.raises(InvalidRetryPolicy, match=f"{field} must be at most a century"):
        RetryPolicy(max_attempts=3, **{field: 1e300})
