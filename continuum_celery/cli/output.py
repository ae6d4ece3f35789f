"""Printing JSON the same way everywhere: dates as ISO text, nothing lost."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import click


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, default=_default, indent=indent)


def echo_json(value: Any) -> None:
    click.echo(dumps(value))
