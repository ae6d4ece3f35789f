"""Throwaway databases for tests whose runs must stay out of the session database.

Upkeep scans a whole database, so a test with workers of its own (or millions of
parked rows) gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


@contextmanager
def fresh_database(server_url: str, prefix: str = "cx_tmp") -> Iterator[str]:
    """Create an empty database on the server of ``server_url``; yield its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin_url = urlunsplit(urlsplit(server_url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=30) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
