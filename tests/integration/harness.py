"""Real ``celery worker`` processes for integration tests.

Workers run as separate process groups (``start_new_session=True``) so a test can
kill -9, freeze and thaw a worker together with its pool children, exactly as an
operator or the OOM killer would, and nothing leaks into the pytest process.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Test outcome per phase, filled in by the makereport hook in tests/conftest.py,
# so fixtures can tell at teardown whether the test failed.
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()

# Celery prints "<name>@<host> ready." once the consumer is running (at -l info).
_READY = re.compile(r"@\S+ ready\.")
_names = itertools.count(1)


class WorkerStartError(RuntimeError):
    """The worker exited or never became ready; the message carries its log tail."""


class WorkerProcess:
    """One ``celery -A <app> worker`` subprocess and everything it forks."""

    def __init__(
        self,
        app: str,
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        queues: Sequence[str] | None = None,
        beat: bool = False,
        env: dict[str, str] | None = None,
        loglevel: str = "info",
        name: str | None = None,
        extra_args: Sequence[str] = (),
        log_dir: Path | None = None,
    ) -> None:
        self.app = app
        self.name = name or f"w{next(_names)}-{os.getpid()}"
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="cx-worker-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"{self.name}.log"
        self.env = env or {}
        self.argv = [
            sys.executable, "-m", "celery", "-A", app, "worker",
            "--loglevel", loglevel,
            "--concurrency", str(concurrency),
            "--pool", pool,
            "--hostname", f"{self.name}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        if queues:
            self.argv += ["--queues", ",".join(queues)]
        if beat:
            self.argv += ["--beat", "--schedule", str(self.log_dir / f"{self.name}-beat")]
        self.argv += list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        """Launch and block until the consumer is up, so tests never race startup."""
        if self.proc is not None:
            raise RuntimeError(f"worker {self.name} already started")
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        with self.log_path.open("ab") as log:
            since = log.tell()  # a restarted worker appends: only its own "ready" counts
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not _READY.search(self.log()[since:]):
            if self.proc.poll() is not None:
                self._reap_group()
                raise WorkerStartError(
                    f"worker {self.name} exited with {self.proc.returncode} before ready:\n"
                    + self.log_tail()
                )
            if time.monotonic() > deadline:
                self.kill()
                raise WorkerStartError(
                    f"worker {self.name} not ready after {timeout}s:\n" + self.log_tail()
                )
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 15.0) -> int | None:
        """Warm shutdown: let running tasks finish, then make sure nothing is left.

        SIGTERM goes to the main process only, as Celery documents: pool children
        reset SIGTERM to its default, so signalling the whole group would kill
        in-flight tasks like a crash instead of draining them.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(signal.SIGCONT)  # a paused worker cannot shut down
            self._signal_main(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self._reap_group()
        return self.proc.returncode

    def restart(self, timeout: float = 30.0) -> WorkerProcess:
        """Warm shutdown, then a fresh process with the same name: a deploy."""
        self.stop()
        self.proc = None
        return self.start(timeout)

    def kill(self) -> int | None:
        """SIGKILL the whole group at once, like a machine or container dying."""
        if self.proc is None:
            return None
        self._reap_group()
        return self.proc.returncode

    def pause(self) -> None:
        """SIGSTOP the group: the broker connection stays open but nothing runs."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the group after :meth:`pause`."""
        self._signal_group(signal.SIGCONT)

    # -- inspection --------------------------------------------------------------

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"worker {self.name} not started")
        return self.proc.pid

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """Live (non-zombie) processes of the group, orphaned pool children included."""
        if self.proc is None:
            return []
        return _group_members(self.proc.pid)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    # -- context manager ---------------------------------------------------------

    def __enter__(self) -> WorkerProcess:
        return self if self.proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<WorkerProcess {self.name} app={self.app} {state} log={self.log_path}>"

    # -- internals ---------------------------------------------------------------

    def _signal_main(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def _signal_group(self, sig: signal.Signals) -> None:
        # The group outlives its leader while orphaned pool children remain in it.
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def _reap_group(self, timeout: float = 10.0) -> None:
        """SIGKILL whatever is left of the group and wait until it is really gone."""
        assert self.proc is not None
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while _group_members(self.proc.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name}: {self.pids()} survived SIGKILL")
            self._signal_group(signal.SIGKILL)
            time.sleep(0.02)


def _group_members(pgid: int) -> list[int]:
    """Scan /proc, since orphaned pool children are no longer our descendants."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return sorted(members)


WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def worker_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers with ``worker_factory("pkg.app_module", env={...}, **options)``.

    Workers still running at teardown are killed (SIGKILL, instant): a test that
    wants a warm shutdown calls ``stop()`` itself, which takes a few seconds
    because the prefork pool drains first. If the test failed, each worker's log
    tail is printed, which pytest shows with the failure.
    """
    workers: list[WorkerProcess] = []

    def make(app: str, *, start_timeout: float = 30.0, **options: Any) -> WorkerProcess:
        options.setdefault("log_dir", tmp_path / "workers")
        worker = WorkerProcess(app, **options)
        workers.append(worker)
        return worker.start(start_timeout)

    yield make

    reports = request.node.stash.get(PHASE_REPORTS, {})
    failed = any(rep.failed for rep in reports.values())
    for worker in workers:
        try:
            worker.kill()
        finally:
            if failed:  # shown under "Captured stdout teardown" in the failure report
                print(f"\n----- {worker.log_path} (tail) -----\n{worker.log_tail(200)}")
