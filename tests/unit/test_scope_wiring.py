"""An app's scope reaches every store that reads or changes runs, and upkeep's.

Nothing here connects: building a ``Continuum`` and a worker's upkeep loop opens no
connection, so the wiring can be checked without a database.
"""

from __future__ import annotations

import pytest
from celery import Celery

from continuum_celery import Continuum
from continuum_celery.checks import check_scope
from continuum_celery.runtime.sweeper import UpkeepSettings
from continuum_celery.runtime.upkeep_loop import build_upkeep_loop

URL = "postgresql://nobody@127.0.0.1:1/never_connected"


def engine(**options: object) -> Continuum:
    return Continuum(Celery("scoped-unit", set_as_current=False), URL, worker_upkeep=False,
                     **options)  # type: ignore[arg-type]  # fmt: skip


def test_an_app_without_a_scope_is_in_the_default_one() -> None:
    cx = engine()
    assert cx.scope == cx.runs.scope == cx.tasks.scope == cx.sweeper.sweep.scope == "default"


def test_every_store_and_the_upkeep_loop_share_the_apps_scope() -> None:
    cx = engine(scope="billing")
    assert cx.runs.scope == cx.tasks.scope == cx.sweeper.sweep.scope == "billing"
    loop = build_upkeep_loop(URL, 1.0, cx.performer, cx.publisher, UpkeepSettings(), 1.0, "me")
    assert loop.leader.scope == loop.sweeper.sweep.scope == loop.sweeper.tasks.scope == "billing"
    assert loop.sweeper.performer.tasks.scope == "billing"
    loop.leader.db.dispose()


@pytest.mark.parametrize(
    ("bad", "error"),
    [(None, TypeError), (b"billing", TypeError), ("", ValueError), ("x" * 256, ValueError),
     ("bill\x00ing", ValueError)],
)  # fmt: skip
def test_a_bad_scope_is_refused(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="scope"):
        check_scope(bad)
    with pytest.raises(error, match="scope"):
        engine(scope=bad)


def test_a_good_scope_is_kept_as_given() -> None:
    assert check_scope("shipping-eu") == "shipping-eu"
