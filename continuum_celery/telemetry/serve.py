"""Serving a prefork worker's metrics from its main process.

Celery's pool processes each record into their own files under
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode); the main
process serves the sum over HTTP. The directory must be chosen before any
process records a value, so ``Continuum(metrics_port=...)`` prepares it while the
app is imported, before the pool forks.
"""

from __future__ import annotations

import logging
import os
import tempfile

log = logging.getLogger("continuum_celery.telemetry")

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess() -> str:
    """The multiprocess directory: ``$PROMETHEUS_MULTIPROC_DIR``, or a fresh one
    (set in the environment, so the forked pool processes use it too)."""
    path = os.environ.get(ENV)
    if not path:
        path = tempfile.mkdtemp(prefix="continuum-metrics-")
        os.environ[ENV] = path
    from prometheus_client import values

    # Values made from now on go to the directory, even if prometheus-client was
    # imported before the variable was set (it reads it once, at import).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return path


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve the sum over every process's files on ``port`` (a daemon thread)."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr, registry=registry)
    log.info("metrics served on http://%s:%d/metrics", addr, port)
