"""What every part of the soak shares: where the scripts are, a timestamped log, and
retrying through the seconds a Postgres restart takes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

SCRIPTS = Path(__file__).resolve().parent
REPO_ROOT = SCRIPTS.parent

T = TypeVar("T")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def with_path(url: str, path: str) -> str:
    """``url`` pointing at another database: the soak names servers, not databases."""
    return urlunsplit(urlsplit(url)._replace(path=path))


def retrying(what: str, fn: Callable[[], T], attempts: int = 60) -> T:
    """``fn()``, tried once a second while it raises; the last try's error propagates.

    The soak restarts Postgres under its own feet, so its reads and starts must ride
    out a few seconds of refused connections."""
    for _ in range(attempts - 1):
        try:
            return fn()
        except Exception as error:  # Postgres restarting, say
            log(f"{what} failed ({type(error).__name__}: {error}); retrying")
            time.sleep(1)
    return fn()
