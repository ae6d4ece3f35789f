"""The lint checker: the guard's calls found in workflow source, by line."""

from __future__ import annotations

import textwrap

import pytest

from continuum_celery.lint import SourceError, check_source


def findings(source: str) -> list[tuple[int, str, str]]:
    _, found = check_source(textwrap.dedent(source), "m.py")
    return [(f.line, f.call, f.replacement) for f in found]


def test_names_are_resolved_through_the_imports() -> None:
    source = """
        import datetime as dt
        import random, uuid
        from time import time as clock, sleep
        from datetime import datetime
        from pathlib import Path
        import secrets

        @cx.workflow()
        def flow():
            a = clock()
            b = dt.datetime.now()
            c = datetime.utcnow()
            d = random.randint(1, 6)
            e = uuid.uuid4()
            sleep(1)
            f = open("x")
            g = Path("p").read_text()
            h = secrets.token_hex()
    """
    assert findings(source) == [
        (11, "time.time", "workflow.now()"),
        (12, "datetime.datetime.now", "workflow.now()"),
        (13, "datetime.datetime.utcnow", "workflow.now()"),
        (14, "random.randint", "workflow.random()"),
        (15, "uuid.uuid4", "workflow.uuid4()"),
        (16, "time.sleep", "workflow.sleep()"),
        (17, "open", "an activity"),
        (18, "pathlib.Path.read_text", "an activity"),
        (19, "secrets.token_hex", "workflow.side_effect()"),
    ]


def test_only_workflow_functions_are_checked_and_guard_false_is_respected() -> None:
    source = """
        import time

        def helper():
            return time.time()

        @cx.workflow
        def bare():
            return time.time()

        @app.cx.workflow(name="x", version=2)
        def named():
            def inner():
                return time.monotonic()
            return inner()

        @cx.workflow(guard=False)
        def unguarded():
            return time.time()

        @cx.activity()
        def act():
            return time.time()
    """
    assert [(line, call) for line, call, _ in findings(source)] == [
        (9, "time.time"),
        (14, "time.monotonic"),
    ]


def test_workflows_named_by_line_are_checked_whatever_their_decorator() -> None:
    source = "import random\n\ndef flow():\n    return random.random()\n"
    count, found = check_source(source, "m.py", lines=[3])
    assert count == 1 and [f.line for f in found] == [4]
    assert check_source(source, "m.py") == (0, [])


def test_a_local_name_that_is_not_an_import_is_not_flagged() -> None:
    source = """
        @cx.workflow()
        def flow(rng):
            return rng.random() + workflow.random() + len("time")
    """
    assert findings(source) == []


def test_unparsable_source_is_a_source_error_naming_the_line() -> None:
    with pytest.raises(SourceError, match=r"m.py:2: cannot parse"):
        check_source("x = 1\ndef (:\n", "m.py")
