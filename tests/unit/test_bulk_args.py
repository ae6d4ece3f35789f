"""``cx.bulk`` checks its whole request before it reads or writes anything: these
run against an engine whose database does not exist, so any refusal that came
after a query would show up as a connection error instead."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery

from continuum_celery import Continuum, InvalidQuery, NotSerializable, PayloadTooLarge
from continuum_celery.bulk import check

NOWHERE = "postgresql://nobody@127.0.0.1:1/none"
QUERY = 'state = "failed"'


@pytest.fixture(scope="module")
def cx() -> Continuum:
    app = Celery("bulk-args", broker="memory://", set_as_current=False)
    return Continuum(app, NOWHERE, worker_upkeep=False, max_payload_bytes=1000)


@pytest.mark.parametrize(
    ("action", "query", "kwargs", "error", "words"),
    [
        ("delete", QUERY, {}, ValueError, "cancel, terminate, fork, signal"),
        (3, QUERY, {}, TypeError, "action must be a str"),
        ("cancel", "state = failed", {}, InvalidQuery, "position"),
        ("cancel", 'colour = "red"', {}, InvalidQuery, "colour"),
        ("cancel", "", {}, ValueError, "empty"),
        ("cancel", None, {}, TypeError, "query must be a str"),
        ("cancel", QUERY, {"name": "x"}, TypeError, "no argument name"),
        ("terminate", QUERY, {"at_seq": 2}, TypeError, "no argument at_seq"),
        ("signal", QUERY, {}, TypeError, "name="),
        ("signal", QUERY, {"name": ""}, TypeError, "name="),
        ("signal", QUERY, {"name": "go", "payload": object()}, NotSerializable, "payload"),
        ("signal", QUERY, {"name": "go", "payload": "x" * 2000}, PayloadTooLarge, "payload"),
        ("fork", QUERY, {"at_seq": "3"}, TypeError, "at_seq"),
        ("fork", QUERY, {"at_seq": True}, TypeError, "at_seq"),
        ("fork", QUERY, {"at_seq": 0}, ValueError, "at least 1"),
        ("fork", QUERY, {"at": "failure"}, TypeError, "no argument at"),
        ("cancel", QUERY, {"reason": None}, TypeError, "reason"),
        ("cancel", QUERY, {"reason": ""}, TypeError, "reason"),
        ("cancel", QUERY, {"reason": "x" * 1001}, ValueError, "reason"),
        ("cancel", QUERY, {"dry_run": "yes"}, TypeError, "dry_run"),
        ("cancel", QUERY, {"sample": -1}, ValueError, "sample"),
        ("cancel", QUERY, {"sample": 1.5}, TypeError, "sample"),
        ("cancel", QUERY, {"actor": ""}, TypeError, "actor"),
    ],
)
def test_a_bad_request_is_refused_before_the_database_is_touched(
    cx: Continuum, action: Any, query: Any, kwargs: dict[str, Any], error: type, words: str
) -> None:
    kwargs = {"reason": "why", **kwargs}
    with pytest.raises(error, match=words):
        cx.bulk(action, query, **kwargs)


def test_a_good_request_is_checked_whole() -> None:
    app = Celery("bulk-args", broker="memory://", set_as_current=False)
    engine = Continuum(app, NOWHERE, worker_upkeep=False, actor="ops")
    request = check(engine, "signal", QUERY, "release", None, {"name": "go"})
    assert (request.action, request.query) == ("signal", QUERY)
    assert request.args == {"name": "go", "payload": None}
    assert (request.by.actor, request.by.reason, request.by.job) == ("ops", "release", None)
    fork = check(engine, "fork", QUERY, "again", "bob", {})
    assert fork.args == {"at_seq": None} and fork.by.actor == "bob"  # from its failure
