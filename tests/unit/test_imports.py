"""The package's import graph: no cycles, and the rooms depend inward only.

Walks every module's imports as Python runs them (``if TYPE_CHECKING:`` blocks are
annotations, not dependencies), so a new import that closes a circle, or a journal
module reaching into the runtime, fails here rather than at some import order in
production.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "continuum_celery"
FORBIDDEN = {
    "continuum_celery.engine": ("continuum_celery.journal", "continuum_celery.runtime",
                                "continuum_celery.celery_app", "celery", "sqlalchemy",
                                "psycopg"),
    "continuum_celery.query": ("continuum_celery.journal", "continuum_celery.runtime",
                               "continuum_celery.celery_app", "celery", "sqlalchemy",
                               "psycopg"),
    "continuum_celery.schedules": ("continuum_celery.journal", "continuum_celery.runtime",
                                   "continuum_celery.celery_app", "celery", "sqlalchemy",
                                   "psycopg"),
    "continuum_celery.journal": ("continuum_celery.runtime", "continuum_celery.celery_app",
                                 "celery"),
    "continuum_celery.runtime": ("continuum_celery.celery_app", "celery"),
    # The web UI reads and acts through Continuum and the operator modules only.
    "continuum_celery.ui": ("continuum_celery.journal", "continuum_celery.runtime",
                            "continuum_celery.celery_app", "continuum_celery.cli",
                            "sqlalchemy", "psycopg"),
    # Telemetry watches the runtime through its hooks; it never drives Celery.
    "continuum_celery.telemetry": ("continuum_celery.celery_app", "continuum_celery.cli",
                                   "continuum_celery.ui", "celery"),
}  # fmt: skip
# Only the UI (and the ``ui`` command, when it runs) may import the ``[ui]`` extra.
UI_ONLY = ("fastapi", "starlette", "jinja2", "uvicorn", "pydantic")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def runtime_imports(name: str) -> Iterator[str]:
    """What ``name`` imports when it runs, as absolute module names."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    for node in _executed(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield from _from_targets(name, path, node)


def _executed(body: list[ast.stmt]) -> Iterator[ast.AST]:
    for node in body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            yield from _executed(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _executed([child])


def _from_targets(name: str, path: Path, node: ast.ImportFrom) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        module = ".".join([*base, node.module] if node.module else base)
    else:
        module = node.module or ""
    for alias in node.names:  # ``from . import ops`` depends on the submodule only
        submodule = f"{module}.{alias.name}"
        yield submodule if submodule in MODULES else module


def internal_graph() -> dict[str, set[str]]:
    return {name: {m for m in runtime_imports(name) if m in MODULES and m != name}
            for name in MODULES}  # fmt: skip


def test_the_package_has_no_import_cycle() -> None:
    graph = internal_graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_each_room_imports_only_inward(room: str) -> None:
    offending = [
        f"{name} imports {target}"
        for name in MODULES
        if name == room or name.startswith(room + ".")
        for target in runtime_imports(name)
        if any(target == f or target.startswith(f + ".") for f in FORBIDDEN[room])
    ]
    assert offending == []


def test_only_the_ui_imports_the_ui_extra() -> None:
    """A core install has none of these: nothing outside ``ui`` imports them (the
    ``ui`` command imports them inside its function, when it runs)."""
    offending = [
        f"{name} imports {target}"
        for name in MODULES
        if not (name == "continuum_celery.ui" or name.startswith("continuum_celery.ui."))
        for target in _top_level_imports(name)
        if any(target == m or target.startswith(m + ".") for m in UI_ONLY)
        or target == "continuum_celery.ui"
        or target.startswith("continuum_celery.ui.")
    ]
    assert offending == []


def _top_level_imports(name: str) -> Iterator[str]:
    """Imports run at import time: module level and class bodies, not functions."""
    path = MODULES[name]
    for node in _module_level(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield from _from_targets(name, path, node)


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.ClassDef):
            yield from _module_level(
                [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
            )


# The telemetry extras, and the only modules that may import them when imported.
TELEMETRY_EXTRAS = {
    "opentelemetry": ("continuum_celery.telemetry.otel", "continuum_celery.telemetry.traces"),
    "prometheus_client": ("continuum_celery.telemetry.metrics",),
}


def test_only_telemetry_modules_import_the_telemetry_extras() -> None:
    """A core install has neither: ``Continuum`` imports them only when asked to."""
    offending = [
        f"{name} imports {target}"
        for name in MODULES
        for target in _top_level_imports(name)
        for extra, allowed in TELEMETRY_EXTRAS.items()
        if (target == extra or target.startswith(extra + ".")) and name not in allowed
    ]
    assert offending == []
