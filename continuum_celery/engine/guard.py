"""The determinism guard: workflow code that reads the clock, draws randomness,
sleeps or does I/O is stopped at the call, with :class:`NondeterminismError`.

How: while workflow code runs, this thread's profile function (``sys.setprofile``)
sees every call. A ``c_call`` of a banned builtin (``time.time``, ``open``, the
bound ``random.random``, ``datetime.now``) or the ``call`` of a banned Python
function (``uuid.uuid4``, ``random.randint``, ``socket.socket``) is refused when
its *caller* is workflow code: a file outside the standard library,
site-packages and this package, or a file that declares a workflow. So
``logging`` may read the clock inside workflow code, and ``from time import
time`` in the user's module is still caught (the builtin is the same object).

Why a profile function and not patched module attributes: a patch misses names
bound before it (``from time import time``), cannot reach the methods of C types
(``datetime.now``), and would sit in every thread's way; a profile function
belongs to one thread, so the worker's other threads (upkeep, lease renewal)
never see it. It is installed only around workflow code, and the engine's own
entry points (``workflow.*``, activity calls, handles) switch it off while they
run, so a step pays for a handful of events, not for the engine's work.

A violation is also noted on the replay state, so code that catches the error
cannot carry on: the pass ends ``blocked`` with it, as for drift.
"""

from __future__ import annotations

import functools
import importlib
import os
import site
import sys
import sysconfig
import types
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from ..errors import NondeterminismError
from . import context
from .banned import BANNED

P = ParamSpec("P")
R = TypeVar("R")

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _resolve(dotted: str) -> Any:
    """The object a dotted name of :data:`BANNED` calls (a class: its ``__init__``)."""
    parts = dotted.split(".")
    found: Any = importlib.import_module(parts[0])
    for part in parts[1:]:
        found = getattr(found, part)
    return vars(found)["__init__"] if isinstance(found, type) else found


def _tables() -> tuple[dict[Any, str], dict[types.CodeType, dict[int, str]]]:
    """Builtins by identity; Python functions by code object, then by ``self``
    (``random.choice`` and ``secrets.choice`` share a code object; the id 0 stands
    for any ``self``, as for a plain function)."""
    builtins: dict[Any, str] = {}
    codes: dict[types.CodeType, dict[int, str]] = {}
    for name in BANNED:
        target = _resolve(name)
        if isinstance(target, types.MethodType):
            owners = codes.setdefault(target.__func__.__code__, {})
            owners[id(target.__self__)] = name
        elif isinstance(target, types.FunctionType):
            codes.setdefault(target.__code__, {})[0] = name
        else:
            builtins.setdefault(target, name)
    return builtins, codes


_BUILTINS, _CODES = _tables()


def _library_roots() -> tuple[str, ...]:
    """Where the standard library, installed packages and this package live."""
    paths = [sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    paths += [*getattr(site, "getsitepackages", list)(), site.getusersitepackages(), _PACKAGE]
    return tuple({os.path.join(os.path.realpath(path), "") for path in paths} | {_PACKAGE})


_LIBRARIES = _library_roots()
_workflow_files: set[str] = set()
_verdicts: dict[str, bool] = {}


def declare_workflow_code(fn: Callable[..., Any]) -> None:
    """The file defining ``fn`` is workflow code, even where libraries live
    (an application installed into site-packages)."""
    code = getattr(fn, "__code__", None)
    if code is not None and code.co_filename not in _workflow_files:
        _workflow_files.add(code.co_filename)
        _verdicts.clear()


def is_workflow_code(filename: str) -> bool:
    verdict = _verdicts.get(filename)
    if verdict is None:
        verdict = _verdicts[filename] = _classify(filename)
    return verdict


def _classify(filename: str) -> bool:
    if filename in _workflow_files:
        return True
    if filename.startswith("<"):  # frozen modules and generated code
        return False
    path = os.path.realpath(filename)
    return not (path.startswith(_LIBRARIES) or filename.startswith(_LIBRARIES))


def _check(frame: types.FrameType, event: str, arg: Any) -> None:
    """The profile function; cheap for every call that is not banned."""
    if event == "c_call":
        try:
            name = _BUILTINS.get(arg)
        except TypeError:  # not hashable: not one of ours
            return
        if name is not None and is_workflow_code(frame.f_code.co_filename):
            _reject(name, frame)
    elif event == "call":
        owners = _CODES.get(frame.f_code)
        if owners is not None:
            _check_python_call(frame, owners)


def _check_python_call(frame: types.FrameType, owners: dict[int, str]) -> None:
    caller = frame.f_back
    if caller is None or not is_workflow_code(caller.f_code.co_filename):
        return
    name = owners.get(0) or owners.get(id(frame.f_locals.get("self")))
    if name is not None:
        _reject(name, caller)


def _reject(name: str, caller: types.FrameType) -> None:
    """Raise at the call (Python then drops the profile function for this pass)."""
    where = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
    shown = name.removeprefix("builtins.")
    error = NondeterminismError(f"{shown}()", BANNED[name], where)
    state = context.current()
    if state is not None:
        state.violated(error)
    raise error


def run_guarded(enabled: bool, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args)`` with the guard on for this thread, unless another profiler is
    installed (``cProfile``): that one is left alone, unguarded."""
    if not enabled or sys.getprofile() is not None:
        return fn(*args, **kwargs)
    sys.setprofile(_check)
    try:
        return fn(*args, **kwargs)
    finally:
        sys.setprofile(None)


def pause() -> bool:
    """Switch the guard off for engine work; True if it was on (to :func:`resume`)."""
    if sys.getprofile() is not _check:
        return False
    sys.setprofile(None)
    return True


def resume(was_on: bool) -> None:
    if was_on:
        sys.setprofile(_check)


def engine_side(fn: Callable[P, R]) -> Callable[P, R]:
    """An entry point of the engine: runs unguarded (and unprofiled, so cheaply);
    a ``side_effect`` function it calls may read the clock, which is its purpose."""

    @functools.wraps(fn)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        if sys.getprofile() is not _check:
            return fn(*args, **kwargs)
        sys.setprofile(None)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.setprofile(_check)

    return paused


def active() -> bool:
    """Whether the guard is watching this thread right now."""
    return sys.getprofile() is _check
