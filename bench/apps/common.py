"""What both benchmark apps share: the step body, and identical Celery settings.

Both apps read the same environment variables a deployment would set:

- ``CELERY_BROKER_URL``: the Redis broker (the bench gives each run its own db number);
- ``CONTINUUM_DATABASE_URL``: the Postgres database (only the durable app uses it);
- ``BENCH_PUBLISH_COUNT_DIR`` (optional): count every message this process publishes
  (Celery's ``after_task_publish`` signal) and every SQL statement it sends through
  SQLAlchemy, each in a memory-mapped 8-byte file per process in that directory; the
  bench sums them. That makes the message count exact and per run (the Redis LPUSH
  count is server-wide). Each costs one in-memory increment more.

The settings are the ones ``celeryconfig.py`` recommends for durable workflows (JSON,
no result backend, late acks, prefetch 1), applied to *both* apps, so the plain Celery
baseline runs on exactly the same broker, pool and acknowledgement mode.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery
from celery.signals import after_task_publish
from sqlalchemy import event
from sqlalchemy.pool import Pool

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def step(i: int) -> int:
    """The no-op step every system runs: no I/O, no sleep."""
    return i


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER)


def make_app(name: str, queue: str) -> Celery:
    app = Celery(name, broker=broker_url(), set_as_current=False)
    settings: dict[str, Any] = {
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": 3600},
        # A queue per app, so a stray worker of the other app can never take its tasks.
        "task_default_queue": queue,
    }
    app.conf.update(settings)
    install_counters()
    return app


COUNT_ENV = "BENCH_PUBLISH_COUNT_DIR"


class _Counter:
    """One mmap'd little-endian uint64 per process and kind, re-created after a fork."""

    def __init__(self, directory: str, kind: str) -> None:
        self.directory = Path(directory)
        self.kind = kind
        self.pid = 0
        self.count = 0
        self.map: mmap.mmap | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.pid != os.getpid():
            path = self.directory / f"{os.getpid()}.{self.kind}"
            path.write_bytes(b"\0" * 8)
            with path.open("r+b") as handle:
                self.map = mmap.mmap(handle.fileno(), 8)
            self.pid, self.count = os.getpid(), 0
        self.count += 1
        assert self.map is not None
        struct.pack_into("<Q", self.map, 0, self.count)


_installed = False


def install_counters() -> None:
    """Count publishes and SQL statements of this process; idempotent.

    Both hooks are process-wide (Celery's ``after_task_publish`` signal, and a
    counting psycopg cursor on every pooled connection SQLAlchemy opens), so one
    receiver counts every app. The journal runs its statements on the pooled psycopg
    connection directly, so counting at the cursor sees them all; BEGIN and COMMIT
    are not cursor statements (``xact_commit`` covers those).
    """
    global _installed
    directory = os.environ.get(COUNT_ENV)
    if not directory or _installed:
        return
    _installed = True
    after_task_publish.connect(_Counter(directory, "publishes"), weak=False)
    event.listen(Pool, "connect", _counting_cursors(_Counter(directory, "statements")))


def _counting_cursors(counter: _Counter) -> Any:
    class CountingCursor(psycopg.Cursor[Any]):
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            counter()
            return super().execute(*args, **kwargs)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, psycopg.Connection):
            dbapi_connection.cursor_factory = CountingCursor

    return on_connect


def read_counts(directory: Path, kind: str) -> int:
    total = 0
    for path in directory.glob(f"*.{kind}"):
        data = path.read_bytes()
        if len(data) == 8:
            total += struct.unpack("<Q", data)[0]
    return total
