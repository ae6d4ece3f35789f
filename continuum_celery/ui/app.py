"""The ASGI app: the JSON API, the pages, static assets, and the prefix it lives under."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core import Continuum
from ..errors import ContinuumError
from . import api, auth, errors, jobs_pages, pages
from .routing import register_run_ids
from .settings import UiSettings

HERE = Path(__file__).resolve().parent


def create_app(
    cx: Continuum,
    *,
    prefix: str = "/continuum",
    settings: UiSettings | None = None,
    disabled_actions: tuple[str, ...] | None = None,
    flower_url: str | None = None,
) -> ASGIApp:
    """The operator UI for ``cx`` as an ASGI app that lives under ``prefix``.

    Mount it at that prefix in a FastAPI, Starlette or Django-ASGI project, or serve
    it alone (``continuum-celery ui``). ``settings`` default to the environment
    (see ``ui.settings``); ``disabled_actions`` and ``flower_url`` override theirs.
    """
    settings = settings or UiSettings.from_env()
    if disabled_actions is not None or flower_url is not None:
        settings = _override(settings, disabled_actions, flower_url)
    return Prefixed(build(cx, settings), _check_prefix(prefix))


def _override(s: UiSettings, disabled: tuple[str, ...] | None, flower: str | None) -> UiSettings:
    return UiSettings(s.tokens, s.users,
                      frozenset(disabled) if disabled is not None else s.disabled_actions,
                      flower if flower is not None else s.flower_url)  # fmt: skip


def _check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
    prefix = prefix.rstrip("/")
    if prefix and (not prefix.startswith("/") or any(c in prefix for c in "?#% ")):
        raise ValueError(f"prefix must be a path such as /continuum, not {prefix!r}")
    return prefix


def build(cx: Continuum, settings: UiSettings) -> FastAPI:
    register_run_ids()
    app = FastAPI(title="continuum_celery operator API", version="1",
                  docs_url=None, redoc_url=None)  # fmt: skip
    app.middleware("http")(auth.middleware(settings))
    for kind in (ContinuumError, ValueError, TypeError, LookupError):
        app.add_exception_handler(kind, errors.answer)
    app.add_exception_handler(HTTPException, errors.http_error)  # type: ignore[arg-type]
    app.include_router(api.router(cx, settings))
    app.include_router(pages.router(cx, settings))
    app.include_router(jobs_pages.router(cx, settings))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


class Prefixed:
    """Serve ``app`` under ``prefix`` whether the host strips it (a mount sets
    ``root_path``) or passes the full path (standalone, or a Django router)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.prefix:
            await self.app(scope, receive, send)
            return
        root, path = scope.get("root_path", ""), scope["path"]
        if root.endswith(self.prefix):
            await self.app(scope, receive, send)
        elif path == self.prefix:
            await RedirectResponse(self.prefix + "/")(scope, receive, send)
        elif path.startswith(self.prefix + "/"):
            await self.app({**scope, "root_path": root + self.prefix}, receive, send)
        else:
            await Response("not found", 404)(scope, receive, send)
