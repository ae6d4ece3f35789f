"""Throwaway databases for tests (the ``cx_worker`` fixture): create, migrate, drop.

``CREATE DATABASE`` takes no bind parameters, so the name is quoted by psycopg's
``sql.Identifier``; it is always one made here (``cx_pytest_`` and random hex),
never a caller's value.
"""

from __future__ import annotations

import secrets

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from .db import Database
from .migrate import migrate


def _admin_url(server_url: str) -> str:
    url = make_url(server_url).set(drivername="postgresql", database="postgres")
    return url.render_as_string(hide_password=False)


def create_database(server_url: str) -> str:
    """A new, migrated database on ``server_url``'s server; returns its URL."""
    name = f"cx_pytest_{secrets.token_hex(4)}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    with psycopg.connect(_admin_url(server_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)
    database_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    db = Database(database_url)
    try:
        migrate(db)
    finally:
        db.dispose()
    return database_url


def drop_database(database_url: str) -> None:
    """Drop a database ``create_database`` made, ending its sessions first."""
    name = make_url(database_url).database or ""
    if not name.startswith("cx_pytest_"):
        raise ValueError(f"refusing to drop {name!r}: not a throwaway test database")
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(_admin_url(database_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement)
