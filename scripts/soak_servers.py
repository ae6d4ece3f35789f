"""The soak's own corner of the shared servers: a fresh database, a claimed Redis
database, and the Postgres restart that is part of the chaos."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import subprocess
import time

import psycopg
import redis
from psycopg import sql
from soak_common import log, with_path

REDIS_CLAIM_KEY = "continuum-test:claimed-db:{}"  # shared with tests/conftest.py


def create_database(pg: str) -> tuple[str, str]:
    """A new database, so runs of earlier soaks never mix into the checks."""
    name = f"cx_soak_{secrets.token_hex(4)}"
    with psycopg.connect(with_path(pg, "/postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, with_path(pg, f"/{name}")


def drop_database(pg: str, name: str) -> None:
    """Retried: the drop may come right after a Postgres restart."""
    for _ in range(10):
        try:
            _drop(pg, name)
            return
        except psycopg.Error as error:
            log(f"drop database {name} failed ({error}); retrying")
            time.sleep(1)


def _drop(pg: str, name: str) -> None:
    with psycopg.connect(with_path(pg, "/postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def claim_redis_db(server: str) -> tuple[int, str]:
    """A Redis database no test session uses: the soak flushes it on purpose."""
    admin = redis.Redis.from_url(with_path(server, "/0"), socket_connect_timeout=5)
    token = f"soak-{os.getpid()}-{secrets.token_hex(4)}"
    for number in random.sample(range(1, 16), 15):
        if admin.set(REDIS_CLAIM_KEY.format(number), token, nx=True, ex=6 * 3600):
            return number, token
    raise SystemExit("every Redis database 1-15 is claimed by a test session; try later")


def release_redis_db(server: str, number: int, token: str) -> None:
    """Empty the database and give up the claim, if it is still ours."""
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(with_path(server, f"/{number}")).flushdb()
        admin = redis.Redis.from_url(with_path(server, "/0"))
        if admin.get(REDIS_CLAIM_KEY.format(number)) == token.encode():
            admin.delete(REDIS_CLAIM_KEY.format(number))


def flush_broker(broker_url: str) -> None:
    redis.Redis.from_url(broker_url).flushdb()


def restart_postgres() -> float:
    """Restart the newest local cluster; returns the seconds it took."""
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        check=True,
        timeout=120,
    )
    return time.monotonic() - started
