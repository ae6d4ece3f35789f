"""The workers' memory, per process, as the kernel accounts it.

RSS counts pages shared between forked processes once per process; PSS splits them,
so the two together show whether parked runs grow shared or private memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.metrics import group_pids
from bench.workers import Workers


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _pss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _role(pid: int, main: int, count_dir: Path) -> str:
    """The main process; a pool child (it has sent SQL); or the embedded beat (it never does)."""
    if pid == main:
        return "main"
    return "pool" if (count_dir / f"{pid}.statements").exists() else "beat"


def worker_memory(workers: Workers) -> dict[str, Any]:
    """RSS and PSS of every process of every worker (main, embedded beat, pool)."""
    processes = []
    for proc in workers.procs:
        for pid in group_pids([proc.pid]):
            rss, pss = _status_kb(pid, "VmRSS"), _pss_kb(pid)
            if rss is None:
                continue
            role = _role(pid, proc.pid, workers.env.count_dir)
            processes.append(
                {"pid": pid, "role": role, "rss_mb": rss / 1024, "pss_mb": (pss or 0) / 1024}
            )
    return {
        "rss_mb": sum(p["rss_mb"] for p in processes),
        "pss_mb": sum(p["pss_mb"] for p in processes),
        "processes": sorted(processes, key=lambda p: (p["role"], p["pid"])),
    }
