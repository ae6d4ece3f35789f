"""The soak's ``celery worker`` processes: started, SIGKILLed with everything they
forked, and started again."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from soak_common import SCRIPTS


class Worker:
    """One ``celery worker`` process group, killable with everything it forked."""

    def __init__(self, index: int, env: dict[str, str], state: Path, concurrency: int) -> None:
        self.index = index
        self.env = env
        self.state = state
        self.concurrency = concurrency
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def log_path(self) -> Path:
        return self.state / f"worker{self.index}.log"

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "soak_app", "worker",
            "--loglevel", "info", "--concurrency", str(self.concurrency), "--pool", "prefork",
            "--hostname", f"soak{self.index}-{os.getpid()}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip

    def start(self) -> None:
        """A new session, so that a kill reaches the pool children too."""
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv(),
                cwd=SCRIPTS,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        # Orphaned pool children stay in the group; make sure they are gone too.
        deadline = time.monotonic() + 10
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            time.sleep(0.05)
        self.proc = None

    def ready(self) -> bool:
        """Ready once its log says so as many times as it was started."""
        try:
            return self.log_path.read_text(errors="replace").count(" ready.") >= self.starts
        except FileNotFoundError:
            return False


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is still in the group, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def start_all(workers: list[Worker], state: Path, timeout: float = 60) -> None:
    """Start every worker and wait until all are ready."""
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + timeout
    while not all(w.ready() for w in workers):
        if time.monotonic() > deadline:
            raise SystemExit(f"workers did not start; see {state}")
        time.sleep(0.1)


def kill_all(workers: list[Worker]) -> None:
    for worker in workers:
        worker.kill()
