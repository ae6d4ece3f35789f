"""Every operator action leaves one audit row, written with its effect; a refused
action leaves none. On real workers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import ModuleType

import pytest
from celery import Celery

from continuum_celery import Continuum, InvalidQuery, RunFinished, RunNotFound
from tests.integration.checks import types, wait_for

pytestmark = pytest.mark.usefixtures("worker")


def awaiting(flows: ModuleType, run_id: str) -> bool:
    return "signal_awaited" in types(flows.cx.history(run_id))


def actions(flows: ModuleType, run_id: str) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.actor, e.reason) for e in flows.cx.audit(run_id)]


def test_signal_cancel_and_terminate_are_audited_with_actor_and_reason(
    flows: ModuleType,
) -> None:
    before = datetime.now(UTC)
    handle = flows.signal_or_timeout.delay(60.0)
    wait_for(lambda: awaiting(flows, handle.run_id))
    flows.cx.signal(handle.run_id, "other", 1, actor="bob", reason="nudge")
    flows.cx.terminate(handle.run_id, "stuck", actor="dave")
    assert actions(flows, handle.run_id) == [
        ("signal", "bob", "nudge"),
        ("terminate", "dave", "stuck"),
    ]
    signal, terminate = flows.cx.audit(handle.run_id)
    assert signal.details == {"name": "other"} and signal.run_id == handle.run_id
    assert before <= signal.created_at <= terminate.created_at

    other = flows.signal_or_timeout.delay(60.0)
    wait_for(lambda: awaiting(flows, other.run_id))
    flows.cx.cancel(other.run_id, "customer asked", actor="carol")
    [cancel] = flows.cx.audit(other.run_id)
    assert (cancel.action, cancel.actor, cancel.reason) == ("cancel", "carol", "customer asked")
    assert cancel.details == {"first_request": True}
    [request] = [e for e in flows.cx.history(other.run_id) if e.type == "cancel_requested"]
    assert request.data["by"] == "carol"
    latest = flows.cx.audit_log(since=before, actor="dave")
    assert [(e.run_id, e.action) for e in latest] == [(handle.run_id, "terminate")]


def test_a_signal_without_an_actor_is_audited_as_the_engines_default(flows: ModuleType) -> None:
    handle = flows.signal_or_timeout.delay(60.0)
    wait_for(lambda: awaiting(flows, handle.run_id))
    flows.cx.signal(handle.run_id, "approve", "yes")
    assert handle.result(timeout=15) == "yes"
    assert actions(flows, handle.run_id) == [("signal", flows.cx.actor, None)]
    assert "@" in flows.cx.actor


def test_retry_activity_and_fork_are_audited(flows: ModuleType) -> None:
    key = uuid.uuid4().hex
    handle = flows.patient.delay(key)
    wait_for(lambda: flows.calls(f"{key}-backs-off") == 1)
    wait_for(lambda: flows.cx.activity_tasks(handle.run_id)[0].attempt == 2)
    assert flows.cx.retry_activity(handle.run_id, actor="erin", reason="fixed upstream") == 1
    assert handle.result(timeout=15) == "second attempt"
    [retry] = flows.cx.audit(handle.run_id)
    assert (retry.action, retry.actor, retry.reason) == ("retry_activity", "erin", "fixed upstream")
    assert retry.details == {"activities": [flows.backs_off.name]}

    fork = flows.cx.fork(handle.run_id, at_seq=1, reason="again", actor="frank")
    assert fork.result(timeout=15) == "second attempt"
    entry = flows.cx.audit(handle.run_id)[-1]
    assert (entry.action, entry.actor, entry.reason) == ("fork", "frank", "again")
    assert entry.details == {"fork_run_id": fork.run_id, "at_seq": 1}
    [note] = [e for e in fork.history() if e.type == "run_forked"]
    assert (note.data["by"], note.data["reason"]) == ("frank", "again")


def test_refused_actions_write_no_audit_row(flows: ModuleType) -> None:
    done = flows.chain.delay(1)
    done.result(timeout=15)
    with pytest.raises(RunFinished):
        flows.cx.cancel(done.run_id, "too late", actor="gina")
    with pytest.raises(RunFinished):
        flows.cx.signal(done.run_id, "late", actor="gina")
    with pytest.raises(ValueError, match="at_seq must be"):
        flows.cx.fork(done.run_id, at_seq=999, actor="gina")
    assert flows.cx.audit(done.run_id) == []
    unknown = f"no-such-run-{uuid.uuid4().hex}"
    with pytest.raises(RunNotFound):
        flows.cx.signal(unknown, "hello", actor="gina")
    with pytest.raises(RunNotFound):
        flows.cx.audit(unknown)
    assert flows.cx.audit_log(actor="gina") == []


def test_the_engines_actor_setting_is_the_default_actor(
    flows: ModuleType, database_url: str, broker_url: str
) -> None:
    handle = flows.signal_or_timeout.delay(60.0)
    wait_for(lambda: awaiting(flows, handle.run_id))
    app = Celery("audit-actor", broker=broker_url, set_as_current=False)
    ops_cx = Continuum(app, database_url=database_url, actor="ops-bot")
    ops_cx.signal(handle.run_id, "unrelated", reason="buffered only")
    ops_cx.cancel(handle.run_id, "by the bot")
    assert actions(flows, handle.run_id) == [
        ("signal", "ops-bot", "buffered only"),
        ("cancel", "ops-bot", "by the bot"),
    ]
    with pytest.raises(TypeError, match="actor must be"):
        Continuum(app, database_url=database_url, actor="")


def test_audit_log_query_selects_the_runs_the_entries_are_about(flows: ModuleType) -> None:
    """The query language picks runs by their fields and attributes, and entries by
    their own action, actor and time; the keyword filters still narrow it."""
    customer, other = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    mine = [flows.signal_or_timeout.apply_async((60.0,), attributes={"customer": customer})
            for _ in range(2)]  # fmt: skip
    theirs = flows.signal_or_timeout.apply_async((60.0,), attributes={"customer": other})
    for handle in [*mine, theirs]:
        wait_for(lambda h=handle: awaiting(flows, h.run_id))
    flows.cx.signal(mine[0].run_id, "note", 1, actor="ann", reason="checking")
    flows.cx.terminate(mine[1].run_id, "duplicate", actor="ben")
    flows.cx.terminate(theirs.run_id, "duplicate", actor="ann")
    about = f'attributes.customer = "{customer}"'

    def found(query: str, **filters: str) -> list[tuple[str, str]]:
        return [(e.run_id, e.action) for e in flows.cx.audit_log(query, **filters)]  # type: ignore[arg-type]

    both = [(mine[1].run_id, "terminate"), (mine[0].run_id, "signal")]
    assert found(about) == both, "newest first, only the customer's runs"
    assert found(f'workflow = "{flows.signal_or_timeout.name}" AND {about}') == both
    assert found(about, action="terminate") == both[:1]
    assert found(f'{about} AND actor = "ann"') == both[1:]
    assert found(f'{about} AND reason STARTS_WITH "check" AND at > -1h') == both[1:]
    assert found(f'{about} AND at > "2999-01-01"') == []
    anns = found(f'actor = "ann" AND (attributes.customer IN ("{customer}", "{other}"))')
    assert anns == [(theirs.run_id, "terminate"), (mine[0].run_id, "signal")]
    assert found(f'run_id = "{theirs.run_id}"') == [(theirs.run_id, "terminate")]
    assert found(f'{about} AND state = "terminated"') == both[:1], "the run's state now"
    with pytest.raises(InvalidQuery, match="position 0"):
        flows.cx.audit_log("colour = 1")
    flows.cx.terminate(mine[0].run_id, "done", actor="ben")
