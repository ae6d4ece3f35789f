"""Refusals as HTTP answers: a typed error becomes a 4xx with its one-line message.

JSON for the API (``{"error": ..., "position": ...}``), a page for the browser.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..errors import ContinuumError, InvalidQuery, RunFinished, RunNotFound
from ..progress import unreachable as unavailable
from .render import refusal


def status_of(error: Exception) -> int:
    if isinstance(error, RunFinished):
        return 409
    if isinstance(error, RunNotFound | LookupError):
        return 404
    if isinstance(error, ValueError | TypeError):
        return 400
    if unavailable(error):
        return 503
    return 409 if isinstance(error, ContinuumError) else 500


def message(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_api(request: Request) -> bool:
    return request.url.path.startswith(request.scope.get("root_path", "") + "/api/")


async def answer(request: Request, error: Exception) -> Response:
    """JSON under /api, a page elsewhere; a bug stays a 500 (and is logged)."""
    status = status_of(error)
    if status >= 500 and not unavailable(error):
        raise error
    if not is_api(request):
        return refusal(request, status, message(error))
    position = error.position if isinstance(error, InvalidQuery) else None
    return JSONResponse({"error": message(error), "position": position}, status)


async def http_error(request: Request, error: HTTPException) -> Response:
    if not is_api(request):
        return refusal(request, error.status_code, str(error.detail), error.headers)
    body = {"error": str(error.detail), "position": None}
    return JSONResponse(body, error.status_code, headers=error.headers)
