"""Log lines for how runs end, once the commit that ended them is in.

An operator tailing a worker at ``-l info`` sees every run that ends: failed,
blocked and terminated ones at ERROR, each with the run id, workflow and error.
"""

from __future__ import annotations

import logging

from ..journal.records import RunEnding
from .hooks import NOOP, Hooks, guarded

log = logging.getLogger("continuum_celery.runs")

_QUIET = frozenset({"completed", "continued"})


def report(ending: RunEnding | None, hooks: Hooks = NOOP) -> None:
    if ending is None:
        return
    if hooks.enabled:
        guarded(hooks.run_ended, ending)
    level = logging.INFO if ending.state in _QUIET else logging.ERROR
    if ending.state == "cancelled":
        level = logging.WARNING
    why = f": {ending.error}" if ending.error else ""
    log.log(level, "run %s (%s) %s%s", ending.run_id, ending.workflow, ending.state, why)
