"""Loading the pytest plugin in pytester runs, installed or not.

Installed, the ``pytest11`` entry point loads it in every session; from a source
tree whose installed metadata predates the entry point, it is named with ``-p``.
"""

from __future__ import annotations

from importlib.metadata import entry_points

PLUGIN = "continuum_celery.testing.plugin"


def plugin_args() -> list[str]:
    installed = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", PLUGIN]
