"""The static check, pure: Python source in, the banned calls of its workflows out.

A workflow function is one decorated ``@<anything>.workflow`` (with or without
arguments, unless ``guard=False``), or one the caller names by line (a registered
workflow found by importing the module). Names are resolved through the module's
imports, so ``from time import time`` then ``time()`` is ``time.time``, and
``import datetime as dt`` then ``dt.datetime.now()`` is ``datetime.datetime.now``.
It sees names, not values: a banned function passed around under another name is
for the runtime guard to catch.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..engine.banned import BANNED

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True, order=True)
class Finding:
    """One banned call in a workflow function."""

    path: str
    line: int
    column: int
    workflow: str
    call: str
    replacement: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}:{self.column}: workflow {self.workflow} calls"
            f" {self.call}(): use {self.replacement} instead"
        )


class SourceError(ValueError):
    """The source cannot be read as Python."""


def check_source(
    source: str, path: str, lines: Iterable[int] = (), skip: Iterable[int] = ()
) -> tuple[int, list[Finding]]:
    """(workflow functions found, their findings) for one module's ``source``.

    ``lines`` are the first lines (``def`` or decorator) of functions known to be
    workflows whatever their decorator says; ``skip`` those of workflows known to
    run unguarded.
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        raise SourceError(f"{path}:{error.lineno}: cannot parse: {error.msg}") from None
    names = imported_names(tree)
    functions = list(workflow_functions(tree, set(lines), set(skip)))
    findings = [f for fn in functions for f in _calls_in(fn, names, path)]
    return len(functions), sorted(set(findings))


def imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted name it stands for, from every import in the module."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def workflow_functions(tree: ast.Module, lines: set[int], skip: set[int]) -> Iterator[FunctionNode]:
    for node in ast.walk(tree):
        if not isinstance(node, FunctionNode):
            continue
        starts = {node.lineno, *(d.lineno for d in node.decorator_list)}
        if starts & skip:
            continue
        if starts & lines or any(_is_workflow_decorator(d) for d in node.decorator_list):
            yield node


def _is_workflow_decorator(decorator: ast.expr) -> bool:
    """``@x.workflow``, ``@x.workflow(...)`` (not with ``guard=False``), ``@workflow``."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    if name != "workflow":
        return False
    if isinstance(decorator, ast.Call):
        return not any(_is_false(k) for k in decorator.keywords if k.arg == "guard")
    return True


def _is_false(keyword: ast.keyword) -> bool:
    return isinstance(keyword.value, ast.Constant) and keyword.value.value is False


def _calls_in(function: FunctionNode, names: dict[str, str], path: str) -> Iterator[Finding]:
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        dotted = dotted_name(node.func, names)
        if dotted in BANNED:
            shown = dotted.removeprefix("builtins.")
            yield Finding(path, node.lineno, node.col_offset + 1, function.name, shown,
                          BANNED[dotted])  # fmt: skip


def dotted_name(node: ast.expr, names: dict[str, str]) -> str | None:
    """What ``node`` names, through the imports; a call's result counts as an
    instance of what it calls (``Path(p).read_text`` is ``pathlib.Path.read_text``)."""
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        return f"builtins.{node.id}" if hasattr(builtins, node.id) else None
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value, names)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call):
        return dotted_name(node.func, names)
    return None
