"""Polling reads: Postgres reads that never count as commits, and Redis sorted sets.

The bench measures ``xact_commit``; if its own polling committed, every wait would
add to the numbers it reports.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, cast

import psycopg
import redis

from bench.environment import log


class RolledBackReads:
    """A polling connection whose reads all end in ROLLBACK, so polling never adds to
    ``xact_commit``; it reconnects if the server restarted meanwhile."""

    def __init__(self, url: str, label: str) -> None:
        self.url, self.label = url, label
        self.conn = psycopg.connect(url, autocommit=False)

    def query(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        for attempt in range(60):
            try:
                try:
                    return self.conn.execute(query, params).fetchall()
                finally:
                    self.conn.rollback()
            except psycopg.OperationalError as error:
                if attempt == 0:
                    log(f"{self.label}: lost the polling connection ({error}); reconnecting")
                time.sleep(0.5)
                with contextlib.suppress(psycopg.Error):
                    self.conn.close()
                    self.conn = psycopg.connect(self.url, autocommit=False)
        raise RuntimeError(f"{self.label}: could not reach Postgres for 30 s")

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


def scored(client: redis.Redis, key: str) -> list[tuple[bytes, float]]:
    """A sorted set's (member, score) pairs, lowest score first.

    redis-py types its replies for the sync and async clients at once; a sync
    ``ZRANGE ... WITHSCORES`` returns these pairs.
    """
    pairs = cast(list[tuple[bytes, float]], client.zrange(key, 0, -1, withscores=True))
    return [(member, float(score)) for member, score in pairs]
