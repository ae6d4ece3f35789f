"""The run's environment: fresh databases and a claimed Redis db, removed on close.

Every run gets a database and a Redis db number of its own, so a bench run and a test
session on the same servers never read each other's rows or flush each other's queues.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

from bench.apps.common import COUNT_ENV

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
# The key format the test suite uses to claim a Redis db number, so a bench run and a
# test session on the same server never flush each other's queues.
REDIS_CLAIM_KEY = "continuum-test:claimed-db:{}"
REDIS_CLAIM_TTL = 6 * 3600


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@dataclass
class Env:
    """A fresh database (plus one for DBOS) and a claimed Redis db; removed on close."""

    pg_server: str
    redis_server: str
    redis_db: int | None
    keep_db: bool
    name: str = field(default_factory=lambda: f"cx_bench_{secrets.token_hex(4)}")
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cx-bench-")))
    databases: list[str] = field(default_factory=list)
    db_number: int = 0
    _claim: str = ""

    @property
    def admin_url(self) -> str:
        return _with_path(self.pg_server, "/postgres")

    def db_url(self, name: str | None = None) -> str:
        return _with_path(self.pg_server, f"/{name or self.name}")

    @property
    def broker_url(self) -> str:
        return _with_path(self.redis_server, f"/{self.db_number}")

    @property
    def dbos_name(self) -> str:
        return f"{self.name}_dbos"

    @property
    def count_dir(self) -> Path:
        return self.log_dir / "publish-counts"

    def open(self) -> Env:
        self.create_database(self.name)
        self._claim = f"bench-{os.getpid()}-{secrets.token_hex(4)}"
        self.db_number = self.redis_db if self.redis_db is not None else self._claim_db()
        redis.Redis.from_url(self.broker_url).flushdb()
        return self

    def _claim_db(self) -> int:
        """A db number 1-15 no test session or other run holds (else any one of them)."""
        admin = redis.Redis.from_url(_with_path(self.redis_server, "/0"))
        try:
            candidates = random.sample(range(1, 16), 15)
            return next(
                (n for n in candidates
                 if admin.set(REDIS_CLAIM_KEY.format(n), self._claim, nx=True, ex=REDIS_CLAIM_TTL)),
                candidates[0],
            )  # fmt: skip
        finally:
            admin.close()

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.databases.append(name)

    def close(self, succeeded: bool) -> None:
        """Worker logs are kept only when the run failed: they are what explains it."""
        if succeeded:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        else:
            log(f"worker logs kept in {self.log_dir}")
        self._release_redis()
        if self.keep_db:
            log(f"kept databases {self.databases}")
            return
        self._drop_databases()

    def _release_redis(self) -> None:
        with contextlib.suppress(Exception):
            redis.Redis.from_url(self.broker_url).flushdb()
        with contextlib.suppress(Exception):
            admin = redis.Redis.from_url(_with_path(self.redis_server, "/0"))
            if admin.get(REDIS_CLAIM_KEY.format(self.db_number)) == self._claim.encode():
                admin.delete(REDIS_CLAIM_KEY.format(self.db_number))

    def _drop_databases(self) -> None:
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                for name in self.databases:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,),
                    )
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
        except psycopg.Error as error:
            log(f"could not drop {self.databases}: {error}")

    def worker_env(self) -> dict[str, str]:
        self.count_dir.mkdir(parents=True, exist_ok=True)
        return {
            "CELERY_BROKER_URL": self.broker_url,
            "CONTINUUM_DATABASE_URL": self.db_url(),
            COUNT_ENV: str(self.count_dir),
        }


def environment_info(env: Env) -> dict[str, Any]:
    """Versions and settings recorded with the results, so runs can be compared."""
    import celery

    with psycopg.connect(env.admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        pg_version = row[0] if row else "?"
        sync = conn.execute("SHOW synchronous_commit").fetchone()
    info = redis.Redis.from_url(env.broker_url).info("server")
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "celery": celery.__version__,
        "postgres": pg_version,
        "postgres_synchronous_commit": sync[0] if sync else "?",
        "redis": info.get("redis_version"),
        "database": env.name,
        "redis_db": env.db_number,
    }
