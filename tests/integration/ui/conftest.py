"""The UI over the session's real database and worker: test clients by role, and one
uvicorn server on a free loopback port shared by the browser tests."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from continuum_celery.ui import UiSettings, create_app
from continuum_celery.ui.settings import Principal
from tests.integration.ui.browser import chromium

__all__ = ["chromium"]  # the session's browser, for test_browser.py

PREFIX = "/continuum"
OPERATOR_TOKEN = "operator-token-0123456789"
VIEWER_TOKEN = "viewer-token-0123456789ab"
USERS = {"olive": ("olive-password", "operator"), "victor": ("victor-password", "viewer")}


def secured() -> UiSettings:
    return UiSettings(
        tokens={OPERATOR_TOKEN: Principal("token-op", "operator"),
                VIEWER_TOKEN: Principal("token-viewer", "viewer")},
        users={name: (pw, Principal(name, role)) for name, (pw, role) in USERS.items()},
        flower_url="http://flower.example:5555",
    )  # fmt: skip


def basic(user: str) -> dict[str, str]:
    raw = f"{user}:{USERS[user][0]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def secured_app(flows: ModuleType) -> object:
    return create_app(flows.cx, prefix=PREFIX, settings=secured())


@pytest.fixture(scope="session")
def open_app(flows: ModuleType) -> object:
    """No credentials configured: read-only for everyone."""
    return create_app(flows.cx, prefix=PREFIX, settings=UiSettings())


@pytest.fixture
def client(secured_app: object) -> Iterator[TestClient]:
    with TestClient(secured_app, base_url="http://testserver") as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture
def open_client(open_app: object) -> Iterator[TestClient]:
    with TestClient(open_app, base_url="http://testserver") as c:  # type: ignore[arg-type]
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def served(secured_app: object) -> Iterator[str]:
    """The secured app under uvicorn in a thread; its base URL (with the prefix)."""
    port = free_port()
    config = uvicorn.Config(secured_app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}{PREFIX}"
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    httpx.get(base + "/static/app.css").raise_for_status()
    yield base
    server.should_exit = True
    thread.join(10)
