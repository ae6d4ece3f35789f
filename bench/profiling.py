"""py-spy over a worker's pool children while a measured window runs.

Where a target is out of reach, the profile is what names the obstacle; the raw
samples go to ``bench/results/profile-continuum-<pid>.txt`` and
``python -m bench.profile_summary`` folds them.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def profiling(enabled: bool, pids: list[int], out: list[str]) -> Iterator[None]:
    """Optionally sample the pool children with py-spy during the loaded window."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not enabled or not Path(spy).exists():
        if enabled:
            log("--profile: py-spy not found, not profiling")
        yield
        return
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    procs = []
    for pid in pids:
        path = RESULTS_DIR / f"profile-continuum-{pid}.txt"
        procs.append(
            subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                 "--output", str(path), "--idle"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        out.append(str(path.relative_to(REPO_ROOT)))
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
