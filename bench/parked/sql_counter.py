"""What the bench process itself sends to Postgres while it times an upkeep tick."""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event


def read_from(path: Path, offset: int) -> bytes:
    """The file's bytes from ``offset`` on; none if it is not there (yet)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except OSError:
        return b""


class SqlCounter:
    """What the bench process sends to Postgres through one engine.

    Statements are the process' own count (``bench/apps/common.py`` counts every
    ``execute`` on the pooled psycopg connections, including the statements the
    journal runs on them directly); COMMIT, ROLLBACK and pool checkouts come from
    SQLAlchemy's events. With ``pool_pre_ping`` each checkout is one more round trip
    (an autocommitted ``SELECT 1``); without it a checkout costs none.
    """

    def __init__(self, engine: Any, count_dir: Path) -> None:
        self.counts: Counter[str] = Counter()
        self.pre_ping = bool(getattr(engine.pool, "_pre_ping", False))
        self.statements_file = count_dir / f"{os.getpid()}.statements"
        self.statements = self._statements()
        event.listen(engine, "commit", self._on("commits"))
        event.listen(engine, "rollback", self._on("rollbacks"))
        event.listen(engine.pool, "checkout", self._on("checkouts"))
        event.listen(engine.pool, "reset", self._on_reset)

    def _on_reset(self, dbapi_connection: Any, *args: Any) -> None:
        """A connection returned inside a transaction is reset with a ROLLBACK."""
        status = getattr(getattr(dbapi_connection, "info", None), "transaction_status", None)
        if status is not None and status != psycopg.pq.TransactionStatus.IDLE:
            self.counts["rollbacks"] += 1

    def _statements(self) -> int:
        data = read_from(self.statements_file, 0)
        return int(struct.unpack("<Q", data)[0]) if len(data) == 8 else 0

    def _on(self, key: str) -> Callable[..., None]:
        def count(*args: Any, **kwargs: Any) -> None:
            self.counts[key] += 1

        return count

    def take(self) -> Counter[str]:
        counts, self.counts = self.counts, Counter()
        statements = self._statements()
        counts["statements"] = statements - self.statements
        self.statements = statements
        counts["round_trips"] = sum(counts[k] for k in ("statements", "commits", "rollbacks"))
        if self.pre_ping:
            counts["round_trips"] += counts["checkouts"]
        return counts
