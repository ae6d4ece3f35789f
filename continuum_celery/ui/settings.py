"""Who may use the UI and what it may do: credentials, roles, switched-off actions.

Read from the environment (or an ``--auth`` file with the same lines) so secrets
stay out of code:

* ``CONTINUUM_UI_TOKENS="viewer:TOKEN1,operator:TOKEN2"`` for bearer tokens,
* ``CONTINUUM_UI_USERS="alice:PASSWORD:operator,bob:PASSWORD:viewer"`` for basic auth,
* ``CONTINUUM_UI_DISABLED_ACTIONS="terminate,fork"`` and ``CONTINUUM_UI_FLOWER_URL``.

With no credentials at all the UI is read-only and only binds to loopback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("viewer", "operator")
ACTIONS = ("signal", "cancel", "terminate", "fork", "retry_activity")
"""The actions on one run, from its page."""
SWITCHABLE = (*ACTIONS, "bulk", "schedules")
"""Everything ``disabled_actions`` may name: a run's actions, bulk jobs (create and
abort) and the schedule actions (pause, unpause, trigger)."""


@dataclass(frozen=True)
class Principal:
    """Who is asking, with the role their credential carries."""

    name: str
    role: str

    @property
    def operator(self) -> bool:
        return self.role == "operator"


ANONYMOUS = Principal("anonymous", "viewer")


@dataclass(frozen=True)
class UiSettings:
    tokens: Mapping[str, Principal] = field(default_factory=dict)
    users: Mapping[str, tuple[str, Principal]] = field(default_factory=dict)
    disabled_actions: frozenset[str] = frozenset()
    flower_url: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.disabled_actions) - set(SWITCHABLE)
        if unknown:
            raise ValueError(f"disabled_actions: unknown {sorted(unknown)}; known {SWITCHABLE}")

    @property
    def configured(self) -> bool:
        """Whether any credential exists; without one the UI is read-only."""
        return bool(self.tokens or self.users)

    def allows(self, action: str) -> bool:
        return self.configured and action not in self.disabled_actions

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> UiSettings:
        env = os.environ if env is None else env
        return cls.parse(_env_lines(env), env.get("CONTINUUM_UI_FLOWER_URL") or None)

    @classmethod
    def from_file(cls, path: str | Path, flower_url: str | None = None) -> UiSettings:
        """``tokens=...``, ``users=...`` and ``disabled_actions=...`` lines."""
        lines = Path(path).read_text().splitlines()
        return cls.parse(_file_lines(lines), flower_url)

    @classmethod
    def parse(cls, entries: Mapping[str, str], flower_url: str | None) -> UiSettings:
        disabled = frozenset(_items(entries.get("disabled_actions", "")))
        return cls(_tokens(entries.get("tokens", "")), _users(entries.get("users", "")),
                   disabled, flower_url)  # fmt: skip


def _env_lines(env: Mapping[str, str]) -> dict[str, str]:
    names = {"tokens": "CONTINUUM_UI_TOKENS", "users": "CONTINUUM_UI_USERS",
             "disabled_actions": "CONTINUUM_UI_DISABLED_ACTIONS"}  # fmt: skip
    return {key: env.get(name, "") for key, name in names.items()}


def _file_lines(lines: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in ("tokens", "users", "disabled_actions"):
            raise ValueError(
                f"auth file: expected tokens=, users= or disabled_actions=, not {key!r}"
            )
        found[key.strip()] = ",".join(filter(None, [found.get(key.strip(), ""), value.strip()]))
    return found


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _role(role: str, where: str) -> str:
    if role not in ROLES:
        raise ValueError(f"{where}: role must be one of {ROLES}, not {role!r}")
    return role


def _tokens(text: str) -> dict[str, Principal]:
    found = {}
    for index, item in enumerate(_items(text), 1):
        role, sep, token = item.partition(":")
        if not sep or len(token) < 16:
            raise ValueError(f"token {index}: expected role:token with a token of 16+ characters")
        found[token] = Principal(f"token-{index}", _role(role, f"token {index}"))
    return found


def _users(text: str) -> dict[str, tuple[str, Principal]]:
    found = {}
    for item in _items(text):
        user, _, rest = item.partition(":")
        password, _, role = rest.rpartition(":")
        if not user or not password:
            raise ValueError(f"user {user!r}: expected user:password:role")
        found[user] = (password, Principal(user, _role(role, f"user {user!r}")))
    return found
