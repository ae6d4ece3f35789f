"""Only exact JSON may travel through the journal."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum_celery.errors import ContinuumError, NotSerializable, PayloadError, PayloadTooLarge
from continuum_celery.payloads import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    check_json,
    encode,
    normalize_args,
)


def test_plain_json_is_accepted() -> None:
    value = {"a": [1, 2.5, "x", True, None, {"b": []}], "c": {}, "d": -0.0, "e": 10**30}
    check_json(value, "value")
    assert json.loads(encode(value, "value")) == value


def test_encode_is_compact_and_keeps_unicode() -> None:
    assert encode({"name": "Zoë", "tags": [1, 2]}, "value") == '{"name":"Zoë","tags":[1,2]}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1, 2), "$ is a tuple"),
        ({"pair": (1, 2)}, "$.pair is a tuple"),
        ([0, [1, (2,)]], "$[1][1] is a tuple"),
        ({1, 2}, "$ is a set"),
        ({"tags": frozenset({"a"})}, "$.tags is a frozenset"),
        ({"at": datetime(2024, 1, 1, tzinfo=UTC)}, "$.at is a datetime"),
        ({"price": Decimal("1.10")}, "$.price is a Decimal"),
        (b"bytes", "$ is a bytes"),
        (object(), "$ is a object"),
    ],
)
def test_values_json_would_change_or_refuse_are_rejected(value: Any, message: str) -> None:
    with pytest.raises(NotSerializable) as caught:
        check_json(value, "the value")
    assert str(caught.value).startswith(f"the value: {message}, which is not JSON")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "one"}, "$ has a non-string key 1"),
        ({"outer": {None: 1}}, "$.outer has a non-string key None"),
        ([{(1, 2): "x"}], "$[0] has a non-string key (1, 2)"),
    ],
)
def test_non_string_keys_are_rejected(value: Any, message: str) -> None:
    with pytest.raises(NotSerializable) as caught:
        check_json(value, "the value")
    assert str(caught.value).startswith(f"the value: {message}")


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_rejected(number: float) -> None:
    with pytest.raises(NotSerializable, match=rf"^v: \$\.x\[1\] is {number!r}, which JSON cannot"):
        check_json({"x": [0.5, number]}, "v")
    with pytest.raises(NotSerializable):
        encode(number, "v")


def test_oversized_values_name_their_size_and_the_limit() -> None:
    text = "x" * 100
    assert encode(text, "note", limit=102) == f'"{text}"'
    with pytest.raises(PayloadTooLarge) as caught:
        encode(text, "note", limit=101)
    assert str(caught.value) == "note is 102 bytes, over the 101-byte payload limit"


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    encode("é" * 10, "note", limit=22)
    with pytest.raises(PayloadTooLarge, match="note is 22 bytes, over the 21-byte payload limit"):
        encode("é" * 10, "note", limit=21)


def test_default_limit_is_256_kib() -> None:
    assert DEFAULT_MAX_PAYLOAD_BYTES == 256 * 1024
    encode("x" * (DEFAULT_MAX_PAYLOAD_BYTES - 2), "big")
    with pytest.raises(PayloadTooLarge, match=rf"over the {DEFAULT_MAX_PAYLOAD_BYTES}-byte"):
        encode("x" * (DEFAULT_MAX_PAYLOAD_BYTES - 1), "big")


def test_payload_errors_are_classic_python_errors_too() -> None:
    assert issubclass(NotSerializable, TypeError)
    assert issubclass(NotSerializable, PayloadError)
    assert issubclass(PayloadTooLarge, ValueError)
    assert issubclass(PayloadTooLarge, PayloadError)
    assert issubclass(PayloadError, ContinuumError)
    with pytest.raises(TypeError):
        check_json({1, 2}, "v")
    with pytest.raises(ValueError, match="over the 1-byte"):
        encode("ab", "v", limit=1)


def test_normalize_args_turns_top_level_tuples_into_lists() -> None:
    args, kwargs = normalize_args((1, "a", [2]), None, "call", 1000)
    assert args == [1, "a", [2]]
    assert type(args) is list
    assert kwargs == {}
    args, kwargs = normalize_args([], {"k": {"n": 1}}, "call", 1000)
    assert (args, kwargs) == ([], {"k": {"n": 1}})


def test_normalize_args_still_rejects_tuples_inside() -> None:
    with pytest.raises(NotSerializable, match=r"^call: \$\.args\[0\]\[1\] is a tuple"):
        normalize_args(([1, (2, 3)],), {}, "call", 1000)
    with pytest.raises(NotSerializable, match=r"^call: \$\.kwargs\.point is a tuple"):
        normalize_args((), {"point": (1, 2)}, "call", 1000)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ("abc", {}, "args must be a list or tuple, not str"),
        ({"a": 1}, {}, "args must be a list or tuple, not dict"),
        ((), [("k", 1)], "kwargs must be a dict, not list"),
        ((), {1: "x"}, "non-string key 1"),
    ],
)
def test_normalize_args_rejects_bad_shapes(args: Any, kwargs: Any, match: str) -> None:
    with pytest.raises(NotSerializable, match=match):
        normalize_args(args, kwargs, "call", 1000)


def test_normalize_args_enforces_the_limit_on_args_and_kwargs_together() -> None:
    # {"args":["xxxxxxxxxx"],"kwargs":{"y":"zzzzzzzzzz"}} is 51 bytes
    normalize_args(("x" * 10,), {"y": "z" * 10}, "call", 51)
    with pytest.raises(PayloadTooLarge, match=r"^call is 52 bytes, over the 51-byte payload limit"):
        normalize_args(("x" * 10,), {"y": "z" * 11}, "call", 51)


storable_chars = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(storable_chars, max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(storable_chars, max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_accepted_values_survive_the_json_round_trip_unchanged(value: Any) -> None:
    check_json(value, "v")
    assert json.loads(encode(value, "v")) == value
