"""Saved views: named runs queries in Postgres, so a link to one works for everyone."""

from __future__ import annotations

from ..views import SavedView
from .db import Database, Record, execute
from .queries import q

SAVE_VIEW = q(
    "INSERT INTO cx_saved_views (name, query, created_by) VALUES (:name, :query, :by)"
    " ON CONFLICT (name) DO UPDATE SET query = EXCLUDED.query,"
    " created_by = EXCLUDED.created_by, created_at = clock_timestamp()"
)
ALL_VIEWS = q("SELECT name, query, created_by, created_at FROM cx_saved_views ORDER BY name")
GET_VIEW = q("SELECT name, query, created_by, created_at FROM cx_saved_views WHERE name = :name")
DELETE_VIEW = q("DELETE FROM cx_saved_views WHERE name = :name RETURNING name")


def save(db: Database, name: str, query: str, by: str) -> None:
    with db.engine.begin() as conn:
        execute(conn, SAVE_VIEW, {"name": name, "query": query, "by": by})


def all_views(db: Database) -> list[SavedView]:
    with db.engine.connect() as conn:
        return [_view(row) for row in execute(conn, ALL_VIEWS)]


def get(db: Database, name: str) -> SavedView | None:
    with db.engine.connect() as conn:
        row = execute(conn, GET_VIEW, {"name": name}).first()
    return None if row is None else _view(row)


def delete(db: Database, name: str) -> bool:
    with db.engine.begin() as conn:
        return execute(conn, DELETE_VIEW, {"name": name}).first() is not None


def _view(row: Record) -> SavedView:
    return SavedView(row.name, row.query, row.created_by, row.created_at)
