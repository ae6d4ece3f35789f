"""The template environment: autoescaped everywhere, with the few filters pages need."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from .auth import csrf_token, principal

TEMPLATES = Path(__file__).resolve().parent / "templates"


def pretty(value: Any) -> str:
    """JSON for a <pre>: returned as plain text, so autoescaping applies to it."""
    return json.dumps(value, indent=2, default=str, ensure_ascii=False, sort_keys=True)


def compact(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)


def pathpart(value: str) -> str:
    """A run id as one URL path segment: everything but unreserved characters quoted."""
    return quote(str(value), safe="")


def seconds(value: float | None) -> str:
    """``1.204s``-style, readable from milliseconds to hours."""
    if value is None:
        return ""
    if abs(value) < 60:
        return f"{value:.3f}s"
    minutes, rest = divmod(value, 60)
    return f"{int(minutes)}m{rest:04.1f}s" if minutes < 60 else f"{value / 3600:.1f}h"


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)  # fmt: skip
ENV.filters.update(pretty=pretty, compact=compact, when=when, seconds=seconds, pathpart=pathpart)


def page(request: Request, name: str, code: int = 200, **values: Any) -> HTMLResponse:
    """Render ``name`` with what every page needs: links under the prefix, the user,
    and the CSRF token for its forms."""
    root: str = request.scope.get("root_path", "")

    def url(path: str, **query: Any) -> str:
        params = {k: v for k, v in query.items() if v not in (None, "")}
        return root + path + ("?" + urlencode(params) if params else "")

    html: str = ENV.get_template(name).render(request=request, url=url, who=principal(request),
                                         csrf=csrf_token(request), **values)  # fmt: skip
    return HTMLResponse(html, code)


def refusal(request: Request, status: int, detail: str, headers: Any = None) -> HTMLResponse:
    """A refused page request, as a page saying why."""
    response = page(request, "error.html", status, status=status, detail=detail)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
