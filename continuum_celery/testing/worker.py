"""What ``cx_worker`` runs: a throwaway database and a real ``celery worker`` on it.

The database is created on the server named by ``CONTINUUM_DATABASE_URL`` (or the
plugin's option), migrated, and dropped afterwards, so each test session or
xdist worker gets its own. The worker is a subprocess started the way you start
yours (``celery -A <module> worker``), with ``CONTINUUM_DATABASE_URL`` pointing
at that database: your app should read its URL from there (pass no
``database_url=`` to ``Continuum``, or pass ``os.environ[...]``).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ..errors import ContinuumError
from ..journal.scratch import create_database, drop_database

_READY = re.compile(r"@\S+ ready\.")


class WorkerStartError(ContinuumError):
    """The worker exited, or was not ready in time; the message ends with its log."""


@contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    """A fresh database on ``server_url``'s server, migrated; dropped on exit."""
    database_url = create_database(server_url)
    try:
        yield database_url
    finally:
        drop_database(database_url)


class CeleryWorker:
    """A running ``celery -A <app> worker`` subprocess, on the throwaway database."""

    def __init__(self, app: str, database_url: str, log_path: Path,
                 broker_url: str | None = None) -> None:  # fmt: skip
        self.app = app
        self.database_url = database_url
        self.log_path = log_path
        broker = ["--broker", broker_url] if broker_url else []
        self.argv = [sys.executable, "-m", "celery", *broker, "-A", app, "worker",
                     "--loglevel", "info", "--concurrency", "2", "--pool", "prefork",
                     "--hostname", f"cx-pytest-{secrets.token_hex(3)}@%h",
                     "--without-mingle", "--without-gossip"]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> CeleryWorker:
        env = {**os.environ, "CONTINUUM_DATABASE_URL": self.database_url}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH")) if p)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while not _READY.search(self.log()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise WorkerStartError(f"celery worker for {self.app} not ready:\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """Warm shutdown (SIGTERM to the main process), then nothing of it is left."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # its pool children, if any outlived it
        proc.wait()
        return proc.returncode

    def __repr__(self) -> str:
        return f"<CeleryWorker {self.app} on {make_url(self.database_url).database}>"

    def __enter__(self) -> CeleryWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
