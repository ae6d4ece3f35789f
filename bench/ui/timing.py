"""Timing pages through the ASGI app in-process: what a browser's request costs the
server, rendering included, without a network between."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from fastapi.testclient import TestClient


def measure(client: TestClient, path: str, calls: int) -> dict[str, Any]:
    """p50 / p99 / max over ``calls`` GETs of ``path`` (after one warm-up call)."""
    first = client.get(path)
    first.raise_for_status()
    took: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return {"path": path, "calls": calls, "bytes": len(first.content),
            "p50_ms": round(statistics.median(took), 1),
            "p99_ms": round(took[min(len(took) - 1, int(len(took) * 0.99))], 1),
            "max_ms": round(took[-1], 1), "load_average": round(os.getloadavg()[0], 2)}  # fmt: skip
