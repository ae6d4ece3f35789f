"""What ``lint`` checks: a file read as it is, or a module imported to find the
workflows it registers (and, if the import fails, its source read all the same)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..definitions import Workflow
from .checker import Finding, SourceError, check_source


class LintTargetError(ValueError):
    """A target that is neither a readable Python file nor a findable module."""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    workflows: int = 0
    notes: list[str] = field(default_factory=list)
    """Things the user should know that are not findings (an import that failed)."""


def lint(targets: list[str]) -> Report:
    """Check every target; a bad target raises before anything is reported."""
    report = Report()
    for path, (lines, skip) in [_resolve(target, report.notes) for target in targets]:
        count, findings = check_source(_read(path), path, lines, skip)
        report.workflows += count
        report.findings.extend(findings)
    return report


Lines = tuple[set[int], set[int]]
"""First lines of the registered workflows that are guarded, and of those that are not."""


def _resolve(target: str, notes: list[str]) -> tuple[str, Lines]:
    """(source file, the workflows it registers) for one target."""
    if target.endswith(".py") or os.sep in target:
        if not Path(target).is_file():
            raise LintTargetError(f"no such file: {target}")
        return target, (set(), set())
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    path = _source_of(target)
    try:
        module = importlib.import_module(target)
    except Exception as error:  # the user's code: anything may fail at import
        notes.append(f"{target}: import failed ({type(error).__name__}: {error});"
                     " checked its decorators only")  # fmt: skip
        return path, (set(), set())
    return path, registered_lines(module, path)


def _source_of(name: str) -> str:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as error:
        raise LintTargetError(f"cannot find module {name!r}: {error}") from None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise LintTargetError(f"cannot find the Python source of module {name!r}")
    return spec.origin


def registered_lines(module: Any, path: str) -> Lines:
    """The workflows defined in ``module``'s file, guarded ones and the others."""
    guarded: set[int] = set()
    unguarded: set[int] = set()
    for value in vars(module).values():
        code = getattr(getattr(value, "fn", None), "__code__", None)
        if isinstance(value, Workflow) and code is not None and _same(code.co_filename, path):
            (guarded if value.guarded else unguarded).add(code.co_firstlineno)
    return guarded, unguarded


def _same(left: str, right: str) -> bool:
    try:
        return os.path.samefile(left, right)
    except OSError:
        return False


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LintTargetError(f"cannot read {path}: {error}") from None


__all__ = ["LintTargetError", "Report", "SourceError", "lint"]
