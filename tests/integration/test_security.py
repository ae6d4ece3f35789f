"""Security properties: JSON-only messages, parameterized SQL, no pickle, size limits.

* a pickled Celery message is refused by a real worker before anything in it is
  decoded, let alone run: the worker accepts JSON only;
* every SQL statement the package runs is a literal with bind parameters (a static
  check over the package source), and ``journal/queries.py`` and
  ``journal/task_queries.py`` hold the shared ones as module-level constants;
* nothing in the package imports pickle or configures a pickle serializer;
* payload size limits hold for workflow arguments, signal payloads, activity
  arguments and results, workflow results and side-effect values;
* each Celery app's engine tasks are its own, so one app's messages never reach
  another engine's journal.
"""

from __future__ import annotations

import ast
import re
import runpy
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import TextClause, text

import continuum_celery
from continuum_celery import (
    Continuum,
    NonRetryableError,
    NotSerializable,
    PayloadTooLarge,
    RetryPolicy,
)
from continuum_celery.celery_app.tasks import ADVANCE, UPKEEP
from continuum_celery.definitions import Activity, ActivityOptions, Registry
from continuum_celery.engine.commands import Failed
from continuum_celery.engine.context import WorkflowInfo
from continuum_celery.engine.replay import replay
from continuum_celery.journal import queries, task_queries
from continuum_celery.journal.db import Database
from continuum_celery.journal.records import ClaimedTask, NewRun, TaskMessage
from continuum_celery.journal.store import RunStore
from continuum_celery.journal.tasks import AttemptError, TaskStore
from continuum_celery.runtime.live import SystemSources
from continuum_celery.runtime.perform import Performer
from tests.integration.checks import assert_sound, types
from tests.integration.harness import WorkerProcess

PACKAGE = Path(continuum_celery.__file__).resolve().parent
REPO_ROOT = PACKAGE.parent


def package_modules() -> list[Path]:
    found = sorted(PACKAGE.rglob("*.py"))
    assert len(found) > 20, "the package source was not found"
    return found


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


# === (a) JSON is the only content type a worker accepts ================================


class OpensAFile:
    """Unpickling this creates a file: proof that a pickled body was deserialized."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def held_back_task(flows: ModuleType, key: str) -> tuple[str, str]:
    """A run of ``slow_single`` with one ready activity task whose message was never
    sent (and that upkeep will not send either, until told to)."""
    run_id = str(uuid.uuid4())
    name = flows.slow_single.name
    flows.cx.runs.start_run(NewRun(run_id, name, [key, 0.0], {}))
    lease = flows.cx.runs.acquire(run_id, "security-test")  # before upkeep wakes it
    assert lease is not None
    info = WorkflowInfo(run_id, name)
    fn = flows.cx.registry.workflow(name).fn
    decision = replay(fn, lease.args, lease.kwargs, lease.history, info, SystemSources())
    result = flows.cx.runs.commit_decision(lease, decision)
    (message,) = result.tasks
    hold_back(flows, message.task_id)
    return run_id, message.task_id


def hold_back(flows: ModuleType, task_id: str) -> None:
    """Upkeep re-publishes unclaimed tasks once stale; keep this one out of its sight."""
    with flows.cx.db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE cx_tasks SET published_at = clock_timestamp() + interval '1 hour'"
                " WHERE id = :id"
            ),
            {"id": task_id},
        )


def let_upkeep_publish(flows: ModuleType, task_id: str) -> None:
    with flows.cx.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE cx_tasks SET published_at = NULL WHERE id = :id"), {"id": task_id}
        )


def attempts(flows: ModuleType, task_id: str) -> int:
    with flows.cx.db.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM cx_attempts WHERE task_id = :id"), {"id": task_id}
            ).scalar_one()
        )


REFUSAL = "Refusing to deserialize untrusted content of type pickle"


def test_a_pickled_message_is_refused_by_a_real_worker(
    flows: ModuleType, worker: WorkerProcess, tmp_path: Path
) -> None:
    key = uuid.uuid4().hex
    run_id, task_id = held_back_task(flows, key)
    history = flows.cx.history(run_id)
    marker = tmp_path / "unpickled"
    refusals_before = worker.log().count(REFUSAL)
    counted = flows.counted.name
    sent = {
        # the real, claimable attempt, only pickled
        f"pickled-activity-{key}": (counted, [task_id, 1], {}),
        # a wakeup for the run, pickled
        f"pickled-advance-{key}": (ADVANCE, [run_id], {}),
        # a body that runs code on whoever unpickles it
        f"pickled-gadget-{key}": (ADVANCE, [OpensAFile(marker)], {}),
    }
    for message_id, (name, args, kwargs) in sent.items():
        flows.app.send_task(name, args=args, kwargs=kwargs, task_id=message_id, serializer="pickle")

    wait_for(
        lambda: worker.log().count(REFUSAL) >= refusals_before + len(sent),
        what="the worker to refuse every pickled message",
    )
    log = worker.log()
    assert "ContentDisallowed" in log or "Received invalid task message" in log
    for message_id in sent:
        assert f"[{message_id}] received" not in log, f"{message_id} was accepted"
    assert not marker.exists(), "a pickled body was deserialized"
    assert attempts(flows, task_id) == 0, "the pickled activity message claimed the task"
    assert flows.calls(key) == 0, "the activity body ran"
    assert flows.cx.history(run_id) == history
    assert flows.cx.get_run(run_id).state == "running"

    # Control: the very same attempt, published as JSON by upkeep, runs normally.
    let_upkeep_publish(flows, task_id)
    assert flows.cx.run(run_id).result(timeout=30) == "done"
    assert flows.calls(key) == 1
    assert types(flows.cx.history(run_id)) == ["activity_scheduled", "activity_completed"]
    assert_sound(flows.cx.history(run_id))


def test_every_task_the_engine_registers_serializes_json(database_url: str) -> None:
    app = Celery("security_probe", set_as_current=False)
    cx = Continuum(app, database_url=database_url, upkeep_beat=True)
    cx.activity(name="probe.act")(lambda: None)
    ours = [name for name in app.tasks if name.startswith("continuum.") or name == "probe.act"]
    assert {ADVANCE, UPKEEP, "probe.act"} <= set(ours)
    for name in ours:
        assert app.tasks[name].serializer == "json", name
    assert list(app.conf.accept_content) == ["json"], "the engine never widens accept_content"
    cx.db.dispose()


class SpyRuns:
    """Stands in for a RunStore: records which engine a wakeup reached."""

    def __init__(self) -> None:
        self.acquired: list[str] = []

    def wake_eagerly(self, run_id: str, *_: object) -> bool:
        self.acquired.append(run_id)
        return True  # "nothing to do"

    def acquire(self, run_id: str, owner: str) -> None:
        self.acquired.append(run_id)


def test_a_wakeup_on_one_app_never_reaches_another_engine() -> None:
    """Two engines in one process: each app's tasks call its own engine.

    Celery's ``app.task`` shares tasks with every app by default; the engine's tasks
    must not be, or app B's wakeups would replay against app A's journal.
    """
    engines = []
    for name in ("tenant_a", "tenant_b"):
        app = Celery(name, broker="memory://", set_as_current=False)
        cx = Continuum(app, database_url=f"postgresql://nobody@127.0.0.1:1/{name}")
        cx.advancer.runs = SpyRuns()  # type: ignore[assignment]
        engines.append((app, cx))
    run_id = str(uuid.uuid4())
    for app, cx in engines:
        app.tasks[ADVANCE].run(run_id)
        assert cx.advancer.runs.acquired == [run_id], (  # type: ignore[attr-defined]
            f"{app.main}'s wakeup was handled by another engine"
        )


def test_the_example_celery_config_is_json_only() -> None:
    config = runpy.run_path(str(REPO_ROOT / "celeryconfig.py"))
    assert config["accept_content"] == ["json"]
    assert config["task_serializer"] == "json"
    assert config["result_serializer"] == "json"


# === (b) every SQL statement is parameterized ==========================================

SQL_CALLS = frozenset({"text", "q", "exec_driver_sql", "execute"})
# The one statement that is not a literal: the packaged migration files, run verbatim.
ALLOWED_DYNAMIC = frozenset(
    {
        ("journal/migrate.py", "exec_driver_sql", "migration.sql"),
        # journal/db.py's execute() runs a named statement's own text, compiled once.
        ("journal/db.py", "execute", "sql"),
        # The query compiler: SQL fragments from fixed tables (columns, operators,
        # orders), every value and attribute key a bind parameter. Hostile values never
        # reach the text: tests/unit/test_listing_compile.py.
        ("journal/compiler.py", "text", "statement"),
        # CREATE/DROP DATABASE take no parameters: the name is one journal/scratch.py
        # makes itself (cx_pytest_ and random hex), quoted by psycopg's sql.Identifier.
        ("journal/scratch.py", "execute", "statement"),
    }
)


def callee_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def is_literal(node: ast.AST) -> bool:
    """A str literal, or literals joined with ``+`` (implicit joins are one literal)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_literal(node.left) and is_literal(node.right)
    return False


def formatting(node: ast.AST) -> str | None:
    """Why ``node`` builds SQL from values, if it does."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.JoinedStr) and any(
            isinstance(v, ast.FormattedValue) for v in sub.values
        ):
            return "an f-string"
        if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Mod):
            return "%-formatting"
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr in ("format", "format_map", "join", "replace")
        ):
            return f"a .{sub.func.attr}() call"
        if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Add) and not is_literal(sub):
            return "concatenation with a non-literal"
    return None


def module_statements(tree: ast.Module) -> set[str]:
    """Module-level names bound to ``text(<literal>)`` or ``q(<literal>)``."""
    names = set()
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and callee_name(node.value) in ("text", "q")
            and len(node.value.args) == 1
            and is_literal(node.value.args[0])
        ):
            names.add(node.targets[0].id)
    return names


QUERIES_TREE = ast.parse((PACKAGE / "journal" / "queries.py").read_text())
TASK_QUERIES_TREE = ast.parse((PACKAGE / "journal" / "task_queries.py").read_text())
STATEMENT_MODULES = {"Q": (QUERIES_TREE, queries), "TQ": (TASK_QUERIES_TREE, task_queries)}
"""The shared statement modules, by the alias every journal module imports them as."""
QUERY_NAMES = module_statements(QUERIES_TREE) | module_statements(TASK_QUERIES_TREE)


@dataclass
class Finding:
    where: str
    call: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.call}(...) {self.why}"


def sql_findings(source: str, module: str) -> list[Finding]:
    """Every SQL call whose statement is not a literal, a named literal or allowed."""
    tree = ast.parse(source)
    local = module_statements(tree)
    # ``def q(sql): return text(sql)`` in queries.py passes its own parameter through;
    # every q(...) call is then checked for a literal like any other.
    wrappers = {
        id(call)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef) and module == "journal/queries.py" and fn.name == "q"
        for call in ast.walk(fn)
        if isinstance(call, ast.Call)
        and callee_name(call) == "text"
        and len(call.args) == 1
        and isinstance(call.args[0], ast.Name)
        and call.args[0].id in {a.arg for a in fn.args.args}
    }
    findings = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = callee_name(node)
        if name not in SQL_CALLS or not node.args or id(node) in wrappers:
            continue
        statement = node.args[0]
        if isinstance(node.func, ast.Name) and name == "execute" and len(node.args) > 1:
            statement = node.args[1]  # the journal's execute(conn, statement, params)
        where = f"{module}:{node.lineno}"
        if (
            name == "execute"
            and isinstance(statement, ast.Call)
            and callee_name(statement) in ("text", "q")
        ):
            continue  # the text()/q() call is checked itself
        why = formatting(statement)
        if why is not None:
            findings.append(Finding(where, name, f"builds its SQL with {why}"))
            continue
        if name in ("text", "q"):
            if not is_literal(statement) and (module, name, ast.unparse(statement)) not in (
                ALLOWED_DYNAMIC
            ):
                findings.append(Finding(where, name, "takes a statement that is not a literal"))
        elif name == "exec_driver_sql" or (module, name, ast.unparse(statement)) in ALLOWED_DYNAMIC:
            if (module, name, ast.unparse(statement)) not in ALLOWED_DYNAMIC:
                findings.append(Finding(where, name, "runs raw SQL that is not a migration"))
        elif not (
            (
                isinstance(statement, ast.Attribute)
                and isinstance(statement.value, ast.Name)
                and statement.value.id in STATEMENT_MODULES
                and statement.attr in module_statements(STATEMENT_MODULES[statement.value.id][0])
            )
            or (isinstance(statement, ast.Name) and statement.id in local)
        ):
            findings.append(
                Finding(where, name, f"runs {ast.unparse(statement)!r}, not a named statement")
            )
    return findings


def test_every_sql_statement_in_the_package_is_a_parameterized_literal() -> None:
    findings = []
    calls = 0
    for path in package_modules():
        source = path.read_text()
        findings += sql_findings(source, relative(path))
        calls += sum(
            isinstance(n, ast.Call) and callee_name(n) in SQL_CALLS
            for n in ast.walk(ast.parse(source))
        )
    assert calls > 60, f"only {calls} SQL calls found: the scan is not looking at the code"
    assert not findings, "SQL built from values:\n" + "\n".join(map(str, findings))


@pytest.mark.parametrize(
    ("snippet", "why"),
    [
        ('conn.execute(text(f"SELECT * FROM t WHERE id = {run_id}"))', "f-string"),
        ('conn.execute(text("SELECT * FROM t WHERE id = %s" % run_id))', "%-formatting"),
        ('conn.execute(text("SELECT * FROM t WHERE id = {}".format(run_id)))', ".format()"),
        ('conn.execute(text("SELECT * FROM t WHERE id = " + run_id))', "concatenation"),
        ('X = q("SELECT 1 FROM " + table)', "concatenation"),
        ('conn.exec_driver_sql(f"DROP TABLE {name}")', "f-string"),
        ("conn.exec_driver_sql(statement)", "not a migration"),
        ("conn.execute(statement)", "not a named statement"),
        ("conn.execute(Q.NO_SUCH_QUERY)", "not a named statement"),
        ("conn.execute(text(sql))", "not a literal"),
    ],
)
def test_the_sql_scan_catches_built_statements(snippet: str, why: str) -> None:
    findings = sql_findings(snippet, "journal/store.py")
    assert len(findings) == 1 and why in str(findings[0]), findings


def test_the_sql_scan_accepts_the_safe_forms() -> None:
    safe = "\n".join(
        [
            'A = q("SELECT 1 FROM t WHERE id = :id" " AND x = :x")',
            'B = text("SELECT 2" + " FROM t")',
            'conn.execute(Q.GET_RUN, {"id": run_id})',
            'conn.execute(text("SELECT :v"), {"v": 1})',
            "conn.execute(A)",
        ]
    )
    assert sql_findings(safe, "journal/store.py") == []


def test_every_statement_in_queries_is_a_module_level_constant() -> None:
    q_def = next(n for n in QUERIES_TREE.body if isinstance(n, ast.FunctionDef) and n.name == "q")
    inside_q = {id(n) for n in ast.walk(q_def)}
    assert not [n for n in ast.walk(q_def) if isinstance(n, (ast.JoinedStr, ast.BinOp))]
    for alias, (tree, module) in STATEMENT_MODULES.items():
        q_calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        statement_calls = [n for n in q_calls if callee_name(n) in ("q", "text")]
        module_level = {id(node.value) for node in tree.body if isinstance(node, ast.Assign)}
        stray = [
            f"{module.__name__}:{n.lineno}"
            for n in statement_calls
            if id(n) not in module_level and id(n) not in inside_q
        ]
        assert not stray, f"statements built outside a module-level constant: {stray}"
        names = module_statements(tree)
        inner = 1 if alias == "Q" else 0  # text(sql) inside q
        assert len(names) == len(statement_calls) - inner
        assert all(name.isupper() for name in names), "constants are UPPER_CASE"
        # At runtime, each one is a TextClause carrying bind parameters, never a template.
        for name in names:
            statement = getattr(module, name)
            assert isinstance(statement, TextClause), name
            for template in ("{", "}", "%s", "%("):
                assert template not in statement.text, f"{name} contains {template!r}"

    # And the package runs no shared statement that those modules do not define.
    used = {
        (node.value.id, node.attr)
        for path in package_modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in STATEMENT_MODULES
    }
    unknown = {
        f"{alias}.{name}"
        for alias, name in used
        if name not in module_statements(STATEMENT_MODULES[alias][0])
    }
    assert not unknown, f"unknown statements: {unknown}"
    assert len(used) >= 30
    assert {alias for alias, _ in used} == set(STATEMENT_MODULES)


# === (c) no pickle anywhere ===============================================================

PICKLERS = frozenset({"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "shelve", "marshal"})
SERIALIZER_SETTINGS = frozenset(
    {"serializer", "task_serializer", "result_serializer", "event_serializer",
     "accept_content", "result_accept_content"}
)  # fmt: skip
# grep: a pickle module imported or called, or a serializer setting given a non-JSON name.
PICKLE_USE = re.compile(
    r"^\s*(import|from)\s+(_?c?pickle|cloudpickle|dill|shelve|marshal)\b"
    r"|\b(_?c?pickle|cloudpickle|dill|marshal)\s*\.\s*(loads?|dumps?|Unpickler|Pickler)\b"
    r"|serializer['\"]?\s*[=:]\s*['\"](?!json['\"])"
)


def non_json(node: ast.AST | None) -> bool:
    """True unless the value is "json" or a list/tuple/set of just "json"."""
    if node is None:
        return False
    values = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
    names = [n for n in ast.walk(node) if isinstance(n, ast.Name)]
    return bool(names) or any(v != "json" for v in values) or not values


def setting_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Subscript):
        return setting_name(node.slice)
    return None


def pickle_findings(source: str, module: str) -> list[str]:
    """Pickle imported or enabled, or a Celery serializer setting that is not JSON.

    Naming pickle is fine (a deny-list, a warning); using or enabling it is not.
    """
    findings = []
    for node in ast.walk(ast.parse(source)):
        where = f"{module}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PICKLERS:
                    findings.append(f"{where}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in PICKLERS:
                findings.append(f"{where}: from {node.module} import ...")
            if any(a.name == "enable_insecure_serializers" for a in node.names):
                findings.append(f"{where}: imports enable_insecure_serializers")
        elif isinstance(node, ast.Call):
            called = callee_name(node)
            literal_args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            imports_pickler = called in ("__import__", "import_module") and any(
                str(a).split(".")[0] in PICKLERS for a in literal_args
            )
            sets_serializer = (
                called == "setattr"
                and len(node.args) == 3
                and setting_name(node.args[1]) in SERIALIZER_SETTINGS
                and non_json(node.args[2])
            )
            if called == "enable_insecure_serializers" or imports_pickler or sets_serializer:
                findings.append(f"{where}: {ast.unparse(node)}")
        elif isinstance(node, ast.keyword) and node.arg in SERIALIZER_SETTINGS:
            if non_json(node.value):
                findings.append(f"{where}: {node.arg}={ast.unparse(node.value)}")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None and setting_name(key) in SERIALIZER_SETTINGS and non_json(value):
                    findings.append(f"{where}: {ast.unparse(key)}: {ast.unparse(value)}")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if setting_name(target) in SERIALIZER_SETTINGS and non_json(node.value):
                    findings.append(f"{where}: {ast.unparse(target)} = ...")
    return findings


def grep_pickle(source: str, module: str) -> list[str]:
    return [
        f"{module}:{number}: {line.strip()}"
        for number, line in enumerate(source.splitlines(), 1)
        if PICKLE_USE.search(line)
    ]


def test_no_module_imports_pickle_or_configures_a_pickle_serializer() -> None:
    findings = []
    for path in package_modules():
        source = path.read_text()
        findings += pickle_findings(source, relative(path))
        findings += grep_pickle(source, relative(path))
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "import cloudpickle as cp",
        "from pickle import loads",
        "from kombu.serialization import enable_insecure_serializers",
        "enable_insecure_serializers(['pickle'])",
        "importlib.import_module('dill')",
        "app.conf.update(task_serializer='pickle')",
        "app.conf.accept_content = ['json', 'pickle']",
        "app.conf['accept_content'] = ['json', 'pickle']",
        "setattr(app.conf, 'task_serializer', 'pickle')",
        "app.task(name='x', serializer='yaml')",
        "OPTIONS = {'serializer': 'pickle', 'acks_late': True}",
        "task_serializer = 'pickle'",
        "app.conf.update(accept_content=CONTENT)",
    ],
)
def test_the_pickle_scan_catches_each_form(snippet: str) -> None:
    assert pickle_findings(snippet, "x.py"), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "data = pickle.loads(body)",
        "app.task(serializer='pickle')",
        "OPTIONS = {'serializer': 'yaml'}",
    ],
)
def test_the_pickle_grep_catches_each_form(snippet: str) -> None:
    assert grep_pickle(snippet, "x.py"), snippet


def test_naming_pickle_in_a_deny_list_is_not_using_it() -> None:
    deny_list = "\n".join(
        [
            'UNSAFE = frozenset({"pickle", "application/x-python-serialize", "yaml"})',
            'OPTIONS = {"serializer": "json", "acks_late": True}',
            'app.conf.update(task_serializer="json", accept_content=["json"])',
            "# never accept pickle: it runs code from the wire",
        ]
    )
    assert pickle_findings(deny_list, "x.py") == []
    assert grep_pickle(deny_list, "x.py") == []


# === (d) payload size limits ============================================================

LIMIT = 1024


def fake_claim(activity: str = "limits.big") -> ClaimedTask:
    return ClaimedTask(
        task_id=str(uuid.uuid4()),
        run_id=str(uuid.uuid4()),
        command_id=f"activity:{activity}:0",
        activity=activity,
        attempt=1,
        claim_token=7,
        args=[],
        kwargs={},
        timeout=60.0,
    )


def run_body(fn: Any, limit: int = LIMIT) -> Any:
    performer = Performer(TaskStore(Database("postgresql://unused/none")), Registry(), None)  # type: ignore[arg-type]
    return performer._run_body(fake_claim(), fn, limit)


def test_an_oversized_activity_result_is_a_non_retryable_failure() -> None:
    outcome = run_body(lambda: "x" * LIMIT)
    assert isinstance(outcome, AttemptError)
    assert outcome.error_type == "PayloadTooLarge"
    assert "payload limit" in outcome.message and f"{LIMIT}-byte" in outcome.message
    assert "result of limits.big" in outcome.message
    assert outcome.retryable is False and outcome.outcome == "failed"


def test_the_result_limit_counts_encoded_bytes() -> None:
    assert run_body(lambda: "x" * (LIMIT - 2)) == "x" * (LIMIT - 2)  # plus two quotes
    too_big = run_body(lambda: "x" * (LIMIT - 1))
    assert isinstance(too_big, AttemptError) and too_big.error_type == "PayloadTooLarge"
    multibyte = run_body(lambda: "\u00e9" * (LIMIT // 2))  # two bytes each in UTF-8
    assert isinstance(multibyte, AttemptError) and not multibyte.retryable
    nested = run_body(lambda: {"rows": [{"v": "y" * 100} for _ in range(20)]})
    assert isinstance(nested, AttemptError) and nested.error_type == "PayloadTooLarge"


def test_other_failures_keep_their_retry_semantics() -> None:
    """Control: only the size refusal (and NonRetryableError) is final."""

    def raises() -> None:
        raise ConnectionError("flaky")

    def refuses() -> None:
        raise NonRetryableError("no")

    assert run_body(raises) == AttemptError("ConnectionError", "flaky", retryable=True)
    assert run_body(refuses).retryable is False
    unserializable = run_body(lambda: {"when": object()})
    assert isinstance(unserializable, AttemptError)
    assert unserializable.error_type == "NotSerializable" and not unserializable.retryable


class CollectingPublisher:
    def __init__(self) -> None:
        self.activities: list[TaskMessage] = []
        self.advances: list[str] = []

    def publish_advance(self, run_id: str, countdown: float | None = None) -> None:
        self.advances.append(run_id)

    def publish_activity(self, message: TaskMessage) -> None:
        self.activities.append(message)


@pytest.fixture(scope="module")
def db(journal_db: Database) -> Database:
    return journal_db


def test_an_oversized_result_is_journaled_as_a_final_failure(db: Database) -> None:
    """Through the journal: one body execution, no retry despite the policy."""
    executions = []

    def big() -> str:
        executions.append(1)
        return "z" * LIMIT

    activity = Activity(big, "limits.big", ActivityOptions(RetryPolicy(max_attempts=3)), LIMIT)

    def flow() -> str:
        try:
            return str(activity())
        except continuum_celery.ActivityFailed as error:
            return error.error_type

    registry = Registry()
    registry.add_activity(activity)
    runs, tasks, publisher = RunStore(db), TaskStore(db), CollectingPublisher()
    run_id, _ = runs.start_run(NewRun(str(uuid.uuid4()), "limits.flow", [], {}))

    def advance() -> Any:
        lease = runs.acquire(run_id, "limits")
        assert lease is not None
        info = WorkflowInfo(run_id, "limits.flow")
        decision = replay(flow, [], {}, lease.history, info, SystemSources())
        return runs.commit_decision(lease, decision)

    (message,) = advance().tasks
    performer = Performer(tasks, registry, publisher)  # type: ignore[arg-type]
    delivery = performer.perform(message.task_id, 1, "limits.big")
    assert delivery.ignored is None and delivery.error is not None  # it ran, and failed
    assert executions == [1]
    assert publisher.activities == [], "no retry was published"
    assert publisher.advances == [run_id]
    history = runs.history(run_id)
    assert types(history) == ["activity_scheduled", "activity_failed"]
    assert history[-1].data["error_type"] == "PayloadTooLarge"
    assert history[-1].data["attempt"] == 1
    assert advance().finished
    assert runs.get_run(run_id).result == "PayloadTooLarge"


def test_oversized_activity_arguments_fail_the_workflow_not_the_journal() -> None:
    activity = Activity(lambda s: s, "limits.echo", ActivityOptions(), LIMIT)

    def flow() -> Any:
        return activity("a" * LIMIT)

    info = WorkflowInfo(str(uuid.uuid4()), "limits.args")
    decision = replay(flow, [], {}, [], info, SystemSources())
    assert decision.commands == [], "nothing was scheduled"
    assert isinstance(decision.outcome, Failed)
    assert decision.outcome.error.startswith("PayloadTooLarge")
    assert "arguments of limits.echo" in decision.outcome.error


@pytest.fixture
def small_cx(journal_url: str) -> Iterator[Continuum]:
    app = Celery("limits", broker="memory://", set_as_current=False)
    cx = Continuum(app, database_url=journal_url, max_payload_bytes=LIMIT)
    cx.migrate()

    @cx.workflow(name="limits.waiting")
    def waiting() -> Any:
        return continuum_celery.workflow.wait_signal("go")

    @cx.workflow(name="limits.big_result")
    def big_result() -> str:
        return "r" * LIMIT

    @cx.workflow(name="limits.big_side_effect")
    def big_side_effect() -> int:
        value = continuum_celery.workflow.side_effect(lambda: "s" * LIMIT, name="big")
        return len(value)

    cx.publisher = CollectingPublisher()  # type: ignore[assignment]
    cx.advancer.publisher = cx.publisher
    yield cx
    cx.db.dispose()


COUNTS = text(
    "SELECT (SELECT count(*) FROM cx_runs) AS runs, (SELECT count(*) FROM cx_events) AS events,"
    " (SELECT count(*) FROM cx_signals) AS signals,"
    " (SELECT count(*) FROM cx_start_keys) AS start_keys"
)


def counts(cx: Continuum) -> dict[str, int]:
    with cx.db.engine.connect() as conn:
        return dict(conn.execute(COUNTS).one()._mapping)


def test_oversized_workflow_arguments_are_refused_before_anything_is_written(
    small_cx: Continuum,
) -> None:
    before = counts(small_cx)
    big = "b" * LIMIT
    for call in (
        lambda: small_cx.start("limits.waiting", big),
        lambda: small_cx.start("limits.waiting", k=big),
        lambda: small_cx.start("limits.waiting", "a" * (LIMIT // 2), k="b" * (LIMIT // 2)),
        lambda: small_cx.start("limits.waiting", attributes={"a": big}),
    ):
        with pytest.raises(PayloadTooLarge, match="payload limit"):
            call()
    with pytest.raises(NotSerializable):
        small_cx.start("limits.waiting", object())
    assert counts(small_cx) == before
    assert small_cx.publisher.advances == []  # type: ignore[attr-defined]


def test_oversized_signal_payloads_are_refused_and_not_buffered(small_cx: Continuum) -> None:
    handle = small_cx.start("limits.waiting")
    before = counts(small_cx)
    with pytest.raises(PayloadTooLarge, match="payload limit"):
        handle.signal("go", "s" * LIMIT)
    with pytest.raises(PayloadTooLarge):
        handle.signal("go", {"rows": ["s" * 100] * 20})
    assert counts(small_cx) == before, "the refused signal left no row"

    # The next, small, signal is the one the workflow receives.
    handle.signal("go", "small")
    for _ in range(3):
        small_cx.advancer.advance(handle.run_id)
    assert handle.result(timeout=5) == "small"
    assert types(handle.history()) == ["signal_awaited", "signal_received"]


def test_an_oversized_workflow_result_fails_the_run(small_cx: Continuum) -> None:
    handle = small_cx.start("limits.big_result")
    small_cx.advancer.advance(handle.run_id)
    run = small_cx.get_run(handle.run_id)
    assert run.state == "failed", f"a {LIMIT + 2}-byte result was journaled as {run.state}"
    assert run.error is not None and "PayloadTooLarge" in run.error


def test_an_oversized_side_effect_value_is_never_journaled(small_cx: Continuum) -> None:
    handle = small_cx.start("limits.big_side_effect")
    small_cx.advancer.advance(handle.run_id)
    run = small_cx.get_run(handle.run_id)
    recorded = [e for e in handle.history() if e.type == "side_effect"]
    assert all("value" not in e.data for e in recorded), "the oversized value was journaled"
    assert [e.data.get("error", {}).get("type") for e in recorded] == ["PayloadTooLarge"]
    assert run.state == "failed" and "PayloadTooLarge" in (run.error or "")
