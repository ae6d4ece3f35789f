"""Bad input gets a clear, typed error, and nothing is written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from types import ModuleType

import pytest
from sqlalchemy import text

from continuum_celery import (
    Continuum,
    ContinuumError,
    InvalidRetryPolicy,
    NotSerializable,
    PayloadTooLarge,
    RetryPolicy,
    RunFinished,
    RunNotFound,
    UnknownActivity,
)
from continuum_celery.journal.db import ConfigurationError

TABLES = ("cx_runs", "cx_events", "cx_tasks", "cx_signals", "cx_start_keys", "cx_waits")


def row_counts(flows: ModuleType) -> dict[str, int]:
    with flows.cx.db.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}  # noqa: S608


@pytest.fixture
def unchanged(flows: ModuleType) -> Iterator[None]:
    """Fail the test if it wrote any row anywhere."""
    before = row_counts(flows)
    yield
    assert row_counts(flows) == before, "a rejected request wrote something"


@pytest.mark.usefixtures("unchanged")
class TestNothingWritten:
    @pytest.mark.parametrize("bad", [object(), {1, 2}, datetime(2026, 1, 1), float("nan"),
                                     {"k": (1, 2)}, {1: "int key"}, b"bytes"])  # fmt: skip
    def test_unserializable_arguments(self, flows: ModuleType, bad: object) -> None:
        with pytest.raises(NotSerializable) as error:
            flows.chain.delay(bad)
        assert isinstance(error.value, TypeError) and isinstance(error.value, ContinuumError)
        assert "JSON" in str(error.value) and "$.args[0]" in str(error.value)

    def test_oversized_arguments(self, flows: ModuleType) -> None:
        with pytest.raises(PayloadTooLarge, match="payload limit") as error:
            flows.chain.delay("x" * (flows.cx.max_payload_bytes + 1))
        assert isinstance(error.value, ValueError)

    @pytest.mark.parametrize("bad", [None, 42, "", "no\x00such", "lone \ud800"])
    def test_unusable_workflow_names(self, flows: ModuleType, bad: object) -> None:
        with pytest.raises((TypeError, ValueError), match="workflow"):
            flows.cx.start(bad)

    def test_signal_to_an_unknown_run(self, flows: ModuleType) -> None:
        with pytest.raises(RunNotFound):
            flows.cx.signal(str(uuid.uuid4()), "item", 1)
        with pytest.raises(RunNotFound):
            flows.cx.signal("not-a-run-id", "item", 1)

    def test_bad_start_options(self, flows: ModuleType) -> None:
        with pytest.raises(ValueError, match="printable"):
            flows.chain.apply_async(args=(1,), run_id="no\npe")
        with pytest.raises(ValueError, match="timezone-aware"):
            flows.chain.apply_async(args=(1,), eta=datetime(2030, 1, 1))
        with pytest.raises(ValueError, match="namespace"):
            flows.chain.apply_async(args=(1,), namespace="")
        with pytest.raises(ValueError, match="idempotency_key"):
            flows.chain.apply_async(args=(1,), idempotency_key="k" * 256)

    def test_unknown_runs_are_not_found(self, flows: ModuleType) -> None:
        for call in (flows.cx.get_run, flows.cx.run, flows.cx.history, flows.cx.cancel):
            with pytest.raises(RunNotFound):
                call(str(uuid.uuid4()))


def test_oversized_signal_payload(flows: ModuleType) -> None:
    handle = flows.chain.apply_async(args=(0,), eta=datetime.fromisoformat("2100-01-01T00:00Z"))
    before = row_counts(flows)
    with pytest.raises(PayloadTooLarge):
        handle.signal("item", "x" * (flows.cx.max_payload_bytes + 1))
    with pytest.raises(NotSerializable):
        handle.signal("item", object())
    assert row_counts(flows) == before
    handle.cancel()


@pytest.mark.usefixtures("worker")
def test_signal_or_cancel_of_a_finished_run(flows: ModuleType) -> None:
    handle = flows.chain.delay(1)
    handle.result(timeout=30)
    before = row_counts(flows)
    with pytest.raises(RunFinished, match="completed"):
        handle.signal("item", 1)
    with pytest.raises(RunFinished, match="completed"):
        handle.cancel()
    assert row_counts(flows) == before


def test_invalid_retry_policies_fail_at_declaration(flows: ModuleType) -> None:
    bad_policies: list[dict[str, object]] = [
        {"max_attempts": 0},
        {"max_attempts": 2.5},
        {"backoff": "linear"},
        {"base": -1},
        {"jitter": float("inf")},
        {"base": 100, "max_backoff": 10},
    ]
    for bad in bad_policies:
        with pytest.raises(InvalidRetryPolicy):
            RetryPolicy(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        flows.cx.activity(timeout=0)(lambda: None)
    with pytest.raises(TypeError, match="RetryPolicy"):
        flows.cx.activity(retry={"max_attempts": 3})(lambda: None)
    with pytest.raises(TypeError):
        flows.add.options(retries=3)


def test_unknown_activity_names(flows: ModuleType) -> None:
    with pytest.raises(UnknownActivity):
        flows.cx.registry.activity("no.such.activity")
    delivery = flows.cx.performer.perform(str(uuid.uuid4()), 1, "no.such.activity")
    assert delivery.ignored is not None and "no.such.activity" in delivery.ignored


def test_a_missing_database_url_is_a_configuration_error(
    flows: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONTINUUM_DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="CONTINUUM_DATABASE_URL"):
        Continuum(flows.app)
    with pytest.raises(ConfigurationError, match="postgresql"):
        Continuum(flows.app, database_url="mysql://localhost/db")


@pytest.mark.parametrize(("option", "value"), [("inline_budget", -1.0), ("resident_runs", -1)])
def test_negative_runtime_settings_are_configuration_errors(
    flows: ModuleType, option: str, value: float
) -> None:
    with pytest.raises(ConfigurationError, match=option):
        Continuum(flows.app, database_url="postgresql://localhost/db", **{option: value})


UNSTORABLE = ["nul \x00 byte", "lone \ud800 half"]


@pytest.fixture(scope="module")
def parked_run(flows: ModuleType) -> Iterator[str]:
    """A run that exists but does not start before the tests are over."""
    handle = flows.chain.apply_async(args=(0,), eta=datetime.fromisoformat("2100-01-01T00:00Z"))
    yield handle.run_id
    handle.cancel()


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("bad", UNSTORABLE, ids=["nul", "surrogate"])
class TestUnstorableTextIsRefusedUpFront:
    """NUL and surrogates fail inside Postgres; they are refused before any write."""

    def test_in_arguments_and_attributes(self, flows: ModuleType, bad: str) -> None:
        starts = [
            lambda: flows.chain.delay(bad),
            lambda: flows.chain.apply_async(args=([{"k": bad}],)),
            lambda: flows.chain.apply_async(kwargs={"steps": {bad: 1}}),
            lambda: flows.chain.apply_async(args=(1,), attributes={"customer": bad}),
            lambda: flows.cx.start(flows.chain, [[bad]]),
        ]
        for start in starts:
            with pytest.raises(NotSerializable, match=r"\$\S* (contains|has a key)"):
                start()

    def test_in_start_options(self, flows: ModuleType, bad: str) -> None:
        with pytest.raises(ValueError, match="idempotency_key"):
            flows.chain.apply_async(args=(1,), idempotency_key=bad)
        with pytest.raises(ValueError, match="namespace"):
            flows.chain.apply_async(args=(1,), namespace=bad)
        with pytest.raises(ValueError, match="printable"):
            flows.chain.apply_async(args=(1,), run_id=f"{uuid.uuid4()}{bad}")

    def test_in_signals(self, flows: ModuleType, parked_run: str, bad: str) -> None:
        run_id = parked_run
        history = flows.cx.history(run_id)
        with pytest.raises(NotSerializable, match=r"\$\.a contains"):
            flows.cx.signal(run_id, "item", {"a": bad})
        with pytest.raises(NotSerializable, match=r"\$ has a key"):
            flows.cx.signal(run_id, "item", {bad: 1})
        with pytest.raises(ValueError, match="signal name"):
            flows.cx.signal(run_id, bad, 1)
        with pytest.raises(ValueError, match="printable"):
            flows.cx.signal(f"{run_id}{bad}", "item", 1)
        assert flows.cx.history(run_id) == history
