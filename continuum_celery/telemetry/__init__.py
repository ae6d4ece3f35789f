"""Optional telemetry: OpenTelemetry spans (``[otel]`` extra) and Prometheus metrics
(``[metrics]`` extra). Nothing here is imported unless asked for, so the core
install needs neither.

``Continuum(app, telemetry=True)`` turns on both (or ``telemetry="traces"`` /
``"metrics"``); ``instrument(cx)`` does the same for an engine built without.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..journal.db import ConfigurationError
from ..runtime.hooks import Fanout, Hooks

if TYPE_CHECKING:
    from ..core import Continuum

KINDS = ("traces", "metrics")
EXTRA = {"traces": "otel", "metrics": "metrics"}


def kinds(telemetry: bool | str | Sequence[str]) -> tuple[str, ...]:
    """Which telemetry ``Continuum(telemetry=...)`` asks for, checked."""
    if isinstance(telemetry, bool):
        return KINDS if telemetry else ()
    asked = (telemetry,) if isinstance(telemetry, str) else tuple(telemetry)
    for kind in asked:
        if kind not in KINDS:
            raise ValueError(f"telemetry must be True, False or some of {KINDS}, not {kind!r}")
    return asked


def build(cx: Continuum, asked: Sequence[str], registry: Any = None) -> Hooks:
    """The hooks for ``asked``; a missing package is named with its extra."""
    members: list[Hooks] = []
    for kind in asked:
        try:
            members.append(_member(cx, kind, registry))
        except ImportError as error:
            raise ConfigurationError(
                f"telemetry {kind!r} needs `pip install continuum-celery[{EXTRA[kind]}]` ({error})"
            ) from None
    return members[0] if len(members) == 1 else Fanout(members)


def _member(cx: Continuum, kind: str, registry: Any) -> Hooks:
    if kind == "traces":
        from .otel import Tracing

        return Tracing(cx.runs.trace_context)
    from .metrics import Metrics

    return Metrics() if registry is None else Metrics(registry)


def instrument(
    cx: Continuum, telemetry: bool | str | Sequence[str] = True, *, registry: Any = None
) -> Hooks:
    """Turn telemetry on for an engine (in every process that runs its work:
    call it where the app is built, as ``Continuum(telemetry=...)`` does).
    ``registry``: a Prometheus ``CollectorRegistry`` other than the default."""
    hooks = build(cx, kinds(telemetry), registry) if kinds(telemetry) else Hooks()
    cx.set_hooks(hooks)
    return hooks


__all__ = ["instrument"]
