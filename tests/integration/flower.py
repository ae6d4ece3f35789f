"""Flower as a subprocess, read through its HTTP API, the way an operator sees tasks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.harness import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Flower:
    def __init__(self, app: str, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        argv = [sys.executable, "-m", "celery", "-A", app, "flower",
                f"--port={self.port}", "--address=127.0.0.1"]  # fmt: skip
        environ = {**os.environ, **env, "FLOWER_UNAUTHENTICATED_API": "true",
                   "PYTHONPATH": str(REPO_ROOT)}  # fmt: skip
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=REPO_ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, timeout: float = 30.0) -> Flower:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, urllib.error.URLError):
                self.tasks()
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("flower did not start:\n" + self.log_path.read_text())
            time.sleep(0.1)

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Every task Flower knows, by uuid."""
        url = f"http://127.0.0.1:{self.port}/api/tasks"
        with urllib.request.urlopen(url, timeout=5) as response:
            found: dict[str, dict[str, Any]] = json.loads(response.read())
            return found

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
