"""Run ids: which strings are accepted, and how UUID spellings are normalized."""

from __future__ import annotations

import uuid

import pytest

from continuum_celery.runids import check_run_id, is_run_id, new_run_id
from continuum_celery.runtime.stamping import stamp_versions

ID = uuid.UUID("5f0c3a52-8f3e-4d0c-9a57-6c1b1e0e2a11")
CANONICAL = str(ID)


@pytest.mark.parametrize(
    "given",
    ["order-42", "заказ №42 ✓", "x" * 200, "a b", "'; DROP TABLE cx_runs; --", "1", "🙂"],
)
def test_business_ids_are_taken_as_given(given: str) -> None:
    assert check_run_id(given) == given
    assert is_run_id(given)


@pytest.mark.parametrize(
    "spelling",
    [CANONICAL, CANONICAL.upper(), ID.hex, ID.hex.upper(), f"{{{CANONICAL}}}",
     f"urn:uuid:{CANONICAL}", ID],
)  # fmt: skip
def test_a_uuid_in_any_spelling_is_its_canonical_form(spelling: object) -> None:
    assert check_run_id(spelling) == CANONICAL


@pytest.mark.parametrize(
    "almost",
    [f"{ID.hex[:-1]}_", f"0x{ID.hex[2:]}", f" {CANONICAL}", f"{CANONICAL}-x", ID.hex[:-1]],
)
def test_strings_that_only_look_like_uuids_are_not_rewritten(almost: str) -> None:
    assert check_run_id(almost) == almost


@pytest.mark.parametrize(
    "bad",
    ["", "x" * 201, "a\x00b", "tab\there", "line\nbreak", "zero\u200bwidth", "half \ud800",
     "bell\x07", "\x7f"],
    ids=["empty", "201", "nul", "tab", "newline", "format-char", "surrogate", "control", "del"],
)  # fmt: skip
def test_unusable_strings_are_value_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="1 to 200 printable characters"):
        check_run_id(bad)
    assert not is_run_id(bad)


@pytest.mark.parametrize("bad", [42, b"order-42", ["order-42"], 4.2])
def test_non_strings_are_type_errors(bad: object) -> None:
    with pytest.raises(TypeError, match="run_id must be a str"):
        check_run_id(bad)
    assert not is_run_id(bad)


def test_a_new_run_gets_a_fresh_uuid_unless_it_is_given_one() -> None:
    first, second = new_run_id(None), new_run_id(None)
    assert first != second and str(uuid.UUID(first)) == first
    assert new_run_id("order-42") == "order-42"
    with pytest.raises(ValueError):
        new_run_id("")


def test_a_child_whose_code_this_worker_lacks_is_pinned_by_the_worker_that_has_it() -> None:
    from continuum_celery.definitions import Registry
    from continuum_celery.engine.commands import Command, Decision, Suspended
    from continuum_celery.journal.records import Lease
    from continuum_celery.runtime.advance import Advancer
    from tests.unit.driver import FakeLive

    advancer = Advancer(None, Registry(), None, FakeLive(), "test")  # type: ignore[arg-type]
    lease = Lease("r", 1, "parent", 1, "default", [], {}, {}, None, [])
    data = {"workflow": "elsewhere.child", "child_run_id": "c", "args": [], "kwargs": {}}
    decision = Decision([Command("child_started", "child:elsewhere.child:0", data)],
                        Suspended(("child:elsewhere.child:0",)))  # fmt: skip
    stamp_versions(advancer.registry, lease, decision)
    assert decision.commands[0].data["version"] == 0  # the newest of the worker that runs it
