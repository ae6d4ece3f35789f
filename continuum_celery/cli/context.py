"""Which ``Continuum`` a command talks to: the user's app, or a minimal one."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click
from celery import Celery

from ..core import Continuum
from ..journal.records import DEFAULT_SCOPE
from .errors import UserError, translate

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """The global options, wherever on the command line they were given."""

    database_url: str | None = None
    app: str | None = None
    scope: str | None = None
    """Whose runs ``health`` and ``prune`` look at, without an app (``Continuum(scope=)``)."""
    celery_app: Any = None
    """Set under ``celery -A app continuum``: its ``Continuum`` is used."""
    built: Continuum | None = None

    def cx(self) -> Continuum:
        """Built on first use, so ``--help`` and bad arguments need no database."""
        if self.built is None:
            self.built = self._build()
        return self.built

    def _build(self) -> Continuum:
        if self.celery_app is not None:
            self._refuse_overrides("under `celery -A app continuum`, -A names the app")
            return continuum_of(self.celery_app, "the Celery app")
        if self.app is not None:
            self._refuse_overrides("--app brings its own database")
            return continuum_of(load(self.app), self.app)
        url = self.database_url or os.environ.get("CONTINUUM_DATABASE_URL")
        return minimal(url, DEFAULT_SCOPE if self.scope is None else self.scope)

    def _refuse_overrides(self, why: str) -> None:
        if self.database_url is not None:
            raise UserError(f"--database-url cannot be combined with the app: {why}")
        if self.scope is not None:
            raise UserError(f"--scope cannot be combined with the app: {why}")
        if self.app is not None and self.celery_app is not None:
            raise UserError(f"--app cannot be used here: {why}")

    def url_for_errors(self) -> str | None:
        """The database a failure happened on, for its message."""
        if self.built is not None:
            return self.built.db.dsn
        return self.database_url or os.environ.get("CONTINUUM_DATABASE_URL")


def minimal(url: str | None, scope: str = DEFAULT_SCOPE) -> Continuum:
    """A client-only ``Continuum``: publishes to ``$CELERY_BROKER_URL``, runs no code."""
    if not url:
        raise UserError("no database: pass --database-url or set CONTINUUM_DATABASE_URL")
    app = Celery("continuum-cli", broker=os.environ.get("CELERY_BROKER_URL"), set_as_current=False)
    return Continuum(app, url, worker_upkeep=False, scope=scope)


def load(spec: str) -> Any:
    """``module:attribute`` (or a module with one ``Continuum``), from the cwd too."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(f"cannot import {module_name!r} for --app: {error}") from None
    if attribute:
        return _attribute(module, attribute, spec)
    return _only_continuum(module, spec)


def _attribute(module: Any, attribute: str, spec: str) -> Any:
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise UserError(f"--app {spec}: {module.__name__} has no {attribute!r}") from None


def _only_continuum(module: Any, spec: str) -> Continuum:
    found = {id(v): v for v in vars(module).values() if isinstance(v, Continuum)}
    if len(found) != 1:
        raise UserError(f"--app {spec}: name the Continuum object, as module:attribute")
    return next(iter(found.values()))


def continuum_of(obj: Any, what: str) -> Continuum:
    """A ``Continuum``, or the one a Celery app was given to."""
    found = obj if isinstance(obj, Continuum) else getattr(obj, "continuum", None)
    if not isinstance(found, Continuum):
        raise UserError(f"{what} is not a Continuum, nor a Celery app with one")
    return found


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None:
            setattr(ctx.ensure_object(Settings), name, value)

    return callback


def global_options(command: F) -> F:
    """``--database-url``, ``--scope`` and ``--app``, on the group and every command."""
    command = click.option(
        "--scope", metavar="NAME", expose_value=False, callback=_store("scope"),
        help="Without --app: the app scope health and prune look at (default: default).",
    )(command)  # fmt: skip
    command = click.option(
        "--app", metavar="MODULE:OBJ", expose_value=False, callback=_store("app"),
        help="Your Continuum object (or its Celery app): its database and broker.",
    )(command)  # fmt: skip
    return click.option(
        "--database-url", metavar="URL", expose_value=False, callback=_store("database_url"),
        help="postgresql:// URL (default: $CONTINUUM_DATABASE_URL).",
    )(command)  # fmt: skip


def cx() -> Continuum:
    """The ``Continuum`` of the command being run."""
    return click.get_current_context().ensure_object(Settings).cx()


class Group(click.Group):
    """A group whose commands' errors are translated, once, at the outermost group."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            settings = ctx.find_object(Settings)
            raise translate(error, settings.url_for_errors() if settings else None) from None
