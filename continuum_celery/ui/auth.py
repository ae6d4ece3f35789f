"""Secure by default: who is asking, what they may do, and the browser's guard rails.

* Credentials are bearer tokens or basic auth, each with a role. Without any
  configured, everyone is an anonymous viewer: reading works, every action is refused.
* Every state-changing request is a POST that carries the CSRF token: a random value
  in an HttpOnly, SameSite=Strict cookie that the page repeats in a form field or the
  ``X-CSRF-Token`` header (double submit). A bearer token sent in a header is not
  ambient, so such requests need none.
* Every response carries a CSP that allows scripts and styles only from this app.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request
from starlette.responses import Response

from .settings import ANONYMOUS, Principal, UiSettings

CSRF_COOKIE = "cx_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Unauthorized(HTTPException):
    def __init__(self, settings: UiSettings) -> None:
        scheme = 'Basic realm="continuum", charset="UTF-8"' if settings.users else "Bearer"
        super().__init__(401, "credentials required", {"WWW-Authenticate": scheme})


def identify(request: Request, settings: UiSettings) -> tuple[Principal, bool]:
    """The principal, and whether it came from a bearer header (exempt from CSRF)."""
    if not settings.configured:
        return ANONYMOUS, False
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return _by_token(value.strip(), settings), True
    if scheme.lower() == "basic":
        return _by_password(value.strip(), settings), False
    raise Unauthorized(settings)


def _by_token(token: str, settings: UiSettings) -> Principal:
    for known, principal in settings.tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            return principal
    raise Unauthorized(settings)


def _by_password(value: str, settings: UiSettings) -> Principal:
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized(settings) from None
    known = settings.users.get(user)
    if known is None or not hmac.compare_digest(known[0].encode(), password.encode()):
        raise Unauthorized(settings)
    return known[1]


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, else a new one the response will set."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse (403) a cookie-authenticated POST whose token does not match its cookie."""
    if getattr(request.state, "bearer", False):
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")


def middleware(
    settings: UiSettings,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Identify every request (static files excepted) and add the security headers."""

    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            if not request.url.path.startswith(request.scope.get("root_path", "") + "/static/"):
                request.state.principal, request.state.bearer = identify(request, settings)
            response = await call_next(request)
        except HTTPException as refused:
            response = Response(refused.detail, refused.status_code, refused.headers)
        _finish(request, response)
        return response

    return guard


def _finish(request: Request, response: Response) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    new = getattr(request.state, "new_csrf", None)
    if new is not None:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")  # fmt: skip


def principal(request: Request) -> Principal:
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else ANONYMOUS


def require_action(request: Request, settings: UiSettings, action: str) -> Principal:
    """The operator allowed to take ``action`` now, else 403 saying why."""
    who = principal(request)
    if not settings.configured:
        raise HTTPException(403, "read-only: no credentials are configured for this UI")
    if action in settings.disabled_actions:
        raise HTTPException(403, f"the {action} action is switched off for this UI")
    if not who.operator:
        raise HTTPException(403, f"{who.name} is a {who.role}: actions need the operator role")
    return who
