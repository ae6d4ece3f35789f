"""A database of the bench's own, created for one run and dropped after it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


def _admin(server: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_with_path(server, "/postgres"), autocommit=True)


@contextmanager
def bench_database(server: str, keep: bool) -> Iterator[str]:
    """Yield the URL of a fresh ``cx_bench_ops_<hex>``; dropped unless ``keep``."""
    name = f"cx_bench_ops_{secrets.token_hex(4)}"
    with _admin(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_path(server, f"/{name}")
    finally:
        if not keep:
            with _admin(server) as admin:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                admin.execute(drop.format(sql.Identifier(name)))
