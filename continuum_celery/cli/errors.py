"""Mistakes an operator can fix become one line on stderr and exit code 2."""

from __future__ import annotations

from urllib.parse import urlsplit

import click

from ..errors import ContinuumError
from ..journal.db import unavailable

USER_ERRORS = (ContinuumError, ValueError, TypeError, LookupError)


class UserError(click.ClickException):
    """A refused request: what was wrong, never a traceback."""

    exit_code = 2


class Unexpected(click.ClickException):
    """A bug, not a mistake: still one line, so scripts can parse stderr."""

    exit_code = 1


def one_line(error: BaseException) -> str:
    """The first line of the message: driver errors go on for paragraphs."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def translate(error: Exception, database: str | None) -> click.ClickException:
    """The operator's version of ``error``."""
    if unavailable(error):
        return UserError(f"cannot reach the database{_where(database)}: {one_line(error)}")
    if isinstance(error, USER_ERRORS):
        return UserError(one_line(error))
    return Unexpected(f"unexpected {type(error).__name__}: {one_line(error)}")


def _where(url: str | None) -> str:
    """Host and port only: a URL may carry a password."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f" at {parts.hostname}:{parts.port or 5432}"
