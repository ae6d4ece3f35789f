"""Saved views: a named runs query stored in Postgres and shared by its name.

The query is parsed before it is saved, so a saved view always lists something.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .errors import ContinuumError
from .journal import saved_views
from .ops import acting
from .payloads import check_text
from .query import parse as parse_query

if TYPE_CHECKING:
    from .core import Continuum
    from .views import SavedView

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
MAX_QUERY = 4000


class UnknownView(ContinuumError, LookupError):
    """No saved view has that name."""


def check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a view name must be a str, not {type(name).__name__}")
    if not NAME.fullmatch(name):
        raise ValueError("a view name is 1 to 64 letters, digits, spaces, '_', '.' or '-'")
    return name


def save_view(cx: Continuum, name: str, query: str, actor: str | None = None) -> None:
    """Store ``query`` under ``name`` (replacing an older one of that name)."""
    name = check_name(name)
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, not {type(query).__name__}")
    if len(query) > MAX_QUERY:
        raise ValueError(f"query must be at most {MAX_QUERY} characters")
    parse_query(check_text(query, "query"))
    cx.schema.check()
    saved_views.save(cx.db, name, query, acting(cx, actor, None).actor)


def saved_view(cx: Continuum, name: str) -> SavedView:
    cx.schema.check()
    found = saved_views.get(cx.db, check_name(name))
    if found is None:
        raise UnknownView(f"no saved view named {name!r}")
    return found


def saved_views_all(cx: Continuum) -> list[SavedView]:
    cx.schema.check()
    return saved_views.all_views(cx.db)


def delete_view(cx: Continuum, name: str) -> None:
    cx.schema.check()
    if not saved_views.delete(cx.db, check_name(name)):
        raise UnknownView(f"no saved view named {name!r}")
