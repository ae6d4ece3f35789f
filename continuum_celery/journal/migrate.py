"""Forward-only migrations, applied in order under an advisory lock.

Two processes (say, every worker at boot) may call ``migrate()`` at once: the
transaction-scoped advisory lock makes the second wait, then find nothing to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from sqlalchemy import Connection, text

from ..errors import SchemaNotMigrated
from .db import Database, execute
from .queries import q

APPLIED_MIGRATIONS = q("SELECT version FROM cx_schema_migrations")


_LOCK_KEY = 0x63785F6D6967  # "cx_mig"
_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """Migrations shipped inside the package, sorted by version."""
    found = []
    for entry in resources.files("continuum_celery").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def migrate(db: Database) -> list[int]:
    """Apply what is missing; returns the versions applied by this call."""
    with db.engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS cx_schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        done = applied_versions(conn)
        pending = [m for m in available() if m.version not in done]
        for migration in pending:
            conn.exec_driver_sql(migration.sql)
            conn.execute(
                text("INSERT INTO cx_schema_migrations (version, name) VALUES (:v, :n)"),
                {"v": migration.version, "n": migration.name},
            )
    return [m.version for m in pending]


def applied_versions(conn: Connection) -> set[int]:
    rows = conn.execute(text("SELECT version FROM cx_schema_migrations"))
    return {int(row[0]) for row in rows}


def missing_versions(db: Database) -> list[int]:
    """Versions this code ships that the database has not applied (all, if none)."""
    try:
        with db.engine.connect() as conn:
            applied = {int(row.version) for row in execute(conn, APPLIED_MIGRATIONS)}
    except psycopg.errors.UndefinedTable:
        applied = set()
    return [m.version for m in available() if m.version not in applied]


def require_schema(db: Database) -> None:
    """Raise SchemaNotMigrated, naming the fix, unless every migration is applied."""
    missing = missing_versions(db)
    if not missing:
        return
    everything = len(missing) == len(available())
    what = (
        "has no continuum_celery tables"
        if everything
        else ("lacks migration(s) " + ", ".join(f"{v:04d}" for v in missing))
    )
    raise SchemaNotMigrated(
        f"the database {what}: run `continuum-celery migrate` (or cx.migrate()) first"
    )


class SchemaGate:
    """Checks the schema once per process, at the first call that needs it.

    A failed check is not remembered: once someone migrates, the next call passes.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.passed = False

    def check(self) -> None:
        if not self.passed:
            require_schema(self.db)
            self.passed = True
